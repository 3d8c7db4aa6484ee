"""Exact resume: a search and a retrain SIGKILLed in the middle of an epoch continue from their
last step checkpoint (``train.checkpoint_every``) and end exactly where an uninterrupted run with
the same seed ends; a damaged checkpoint is detected and the previous one is used; a NaN loss
stops the run and keeps the last good checkpoint."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from partnas_lib import cli
from partnas_lib.train.checkpoint import load_checkpoint

# 256 training images, batch 16: the search takes 8 steps per epoch (two halves of 128, alpha/beta
# learning from the first epoch on), the retrain 16; a checkpoint after every step, so a kill
# lands mid-epoch; both are killed in their first epoch, so the resumed run crosses an epoch end.
SMALL = ["--preset", "smoke", "--no-progress", "--set", "data.num_train=256", "--set", "data.num_test=32",
         "--set", "search.batch_size=16", "--set", "search.warmup_epochs=0", "--set", "retrain.batch_size=16",
         "--set", "retrain.epochs=2", "--set", "train.checkpoint_every=1"]


METRICS = ("mpjpe", "pa_mpjpe", "per_joint_mpjpe", "per_part_mpjpe", "mean_pose_mpjpe")


def _env() -> dict[str, str]:
    # the same thread count as this process: float reductions must happen in the same order
    return {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": str(torch.get_num_threads())}


def _kill_when_logged(args: list[str], log: Path, pattern: str, timeout: float = 300) -> None:
    """Start ``partnas ARGS`` in a subprocess and SIGKILL it as soon as ``log`` matches ``pattern``."""
    proc = subprocess.Popen([sys.executable, "-m", "partnas_lib.cli", *args], env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + timeout
    try:
        while time.time() < deadline and proc.poll() is None:
            if log.exists() and re.search(pattern, log.read_text()):
                break
            time.sleep(0.02)
        else:
            err = proc.stderr.read().decode() if proc.poll() is not None else ""
            pytest.fail(f"partnas {' '.join(args)} ended or timed out before logging {pattern!r}: {err[-2000:]}")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stderr.close()


@pytest.fixture(scope="module")
def reference(tmp_path_factory, cache_dir) -> Path:
    """An uninterrupted search, retrain and evaluation."""
    out = tmp_path_factory.mktemp("resume") / "reference"
    assert cli.main(["search", "--out", str(out), *SMALL]) == 0
    assert cli.main(["retrain", "--out", str(out), *SMALL]) == 0
    assert cli.main(["evaluate", "--out", str(out), "--no-progress"]) == 0
    return out


@pytest.mark.slow
def test_search_killed_mid_epoch_resumes_to_the_same_genotype(reference, tmp_path):
    out = tmp_path / "killed"
    _kill_when_logged(["search", "--out", str(out), *SMALL], out / "log.txt",
                      r"search: checkpoint at epoch 1 step 2/8")
    ckpt = load_checkpoint(out / "checkpoints" / "search_last.pt")
    assert ckpt["epoch"] == 0 and 2 <= ckpt["step"] < 8  # mid-epoch, alpha/beta learning
    assert not (out / "genotype.json").exists()
    assert cli.main(["search", "--out", str(out), "--resume", "--no-progress"]) == 0
    assert f"at epoch 1 step {ckpt['step']} of 2 epochs" in (out / "log.txt").read_text()
    assert (out / "genotype.json").read_text() == (reference / "genotype.json").read_text()
    mine = json.loads((out / "search" / "alpha_history.json").read_text())
    ref = json.loads((reference / "search" / "alpha_history.json").read_text())
    for a, b in zip(mine["epochs"], ref["epochs"], strict=True):
        assert a["parts"] == b["parts"]  # alpha/beta bit for bit
        assert a.get("w_loss") == b.get("w_loss") and a.get("a_loss") == b.get("a_loss")


@pytest.mark.slow
def test_retrain_killed_mid_epoch_resumes_to_the_same_metrics(reference, tmp_path):
    """Killed in epoch 1; then the newest checkpoint is damaged on disk as well: the resume
    detects it, falls back to the previous one, and still ends bit for bit where the
    uninterrupted run did."""
    out = tmp_path / "killed"
    out.mkdir()
    shutil.copy(reference / "genotype.json", out / "genotype.json")
    _kill_when_logged(["retrain", "--out", str(out), *SMALL], out / "log.txt",
                      r"retrain: checkpoint at epoch 1 step 5/16")
    last = out / "checkpoints" / "retrain_last.pt"
    prev = out / "checkpoints" / "retrain_prev.pt"
    assert prev.exists() and not (out / "checkpoints" / "model.pt").exists()
    step_prev = load_checkpoint(prev)["step"]
    data = bytearray(last.read_bytes())
    data[len(data) // 2] ^= 0xFF  # a flipped byte that torch.load would read silently
    last.write_bytes(bytes(data))

    assert cli.main(["retrain", "--out", str(out), "--resume", "--no-progress"]) == 0
    log = (out / "log.txt").read_text()
    assert f"checkpoint {last} is corrupt" in log and f"using the previous good checkpoint {prev}" in log
    assert step_prev >= 4 and f"at epoch 1 step {step_prev} of 2 epochs" in log
    assert cli.main(["evaluate", "--out", str(out), "--no-progress"]) == 0
    mine = json.loads((out / "metrics.json").read_text())
    ref = json.loads((reference / "metrics.json").read_text())
    for key in METRICS:
        assert mine[key] == ref[key], key
    a = torch.load(out / "checkpoints" / "model.pt", weights_only=False)
    b = torch.load(reference / "checkpoints" / "model.pt", weights_only=False)
    assert a["losses"] == b["losses"]
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in b["model"])


def test_nan_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(tmp_path, capsys, monkeypatch,
                                                                        cache_dir):
    import partnas_lib.train.retrain as retrain_mod

    real = retrain_mod.pose_loss
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        calls["n"] += 1
        loss = real(*args, **kwargs)
        return loss * float("nan") if calls["n"] == 6 else loss  # step index 5 of epoch 1

    monkeypatch.setattr(retrain_mod, "pose_loss", poisoned)
    out = tmp_path / "nan"
    args = [a if a != "train.checkpoint_every=1" else "train.checkpoint_every=2" for a in SMALL]
    code = cli.main(["reproduce", "--out", str(out), "--model", "random", *args])
    assert code == 2
    err = capsys.readouterr().err
    assert "retrain epoch 1 step 5: the loss is nan; stopping (the last checkpoint is kept)" in err
    ckpt = load_checkpoint(out / "checkpoints" / "retrain_last.pt")
    assert (ckpt["epoch"], ckpt["step"]) == (0, 4)  # the checkpoint after step 4, written before the NaN
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values() if v.is_floating_point())
    assert not (out / "checkpoints" / "model.pt").exists() and not (out / "metrics.json").exists()
