"""End to end: the smoke preset through the real CLI, determinism and resume."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from partnas_lib import cli
from partnas_lib.config import get_preset

pytestmark = pytest.mark.slow

METRIC_KEYS = {"mpjpe", "pa_mpjpe", "per_part_mpjpe", "per_joint_mpjpe", "mean_pose_mpjpe",
               "num_test_samples", "params", "preset", "seed"}


def _reproduce(out: Path, *extra: str) -> dict:
    assert cli.main(["reproduce", "--preset", "smoke", "--out", str(out), "--no-progress", *extra]) == 0
    return json.loads((out / "metrics.json").read_text())


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, cache_dir) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("smoke") / "run"
    return out, _reproduce(out)


def test_smoke_run_writes_the_full_run_directory(smoke_run):
    out, metrics = smoke_run
    for rel in ["config.json", "genotype.json", "search/alpha_history.json", "checkpoints/model.pt",
                "checkpoints/search_last.pt", "checkpoints/retrain_last.pt", "metrics.json", "log.txt",
                "predictions.npz"]:
        assert (out / rel).is_file(), rel
    assert METRIC_KEYS <= set(metrics)
    assert metrics["preset"] == "smoke" and metrics["seed"] == 0
    assert len(metrics["per_joint_mpjpe"]) == 17
    assert set(metrics["per_part_mpjpe"]) == {"torso_head", "right_arm", "left_arm", "right_leg", "left_leg"}
    assert metrics["num_test_samples"] == get_preset("smoke").data.num_test
    assert all(math.isfinite(v) for v in metrics["per_joint_mpjpe"])
    history = json.loads((out / "search/alpha_history.json").read_text())
    cfg = get_preset("smoke")
    assert len(history["epochs"]) == cfg.search.epochs + 1  # initial state + one per epoch
    alpha = history["epochs"][-1]["parts"]["left_arm"]["alpha"]
    assert len(alpha) == 9 and all(abs(sum(row) - 1) < 1e-5 for row in alpha)


def test_smoke_run_learns(smoke_run):
    _, metrics = smoke_run
    assert metrics["mpjpe"] < metrics["mean_pose_mpjpe"]
    assert metrics["pa_mpjpe"] < metrics["mpjpe"]


def test_same_seed_same_genotype_and_metrics(smoke_run, tmp_path):
    out, metrics = smoke_run
    again = _reproduce(tmp_path / "again")
    assert (tmp_path / "again" / "genotype.json").read_text() == (out / "genotype.json").read_text()
    for key in ("mpjpe", "pa_mpjpe", "mean_pose_mpjpe", "per_joint_mpjpe", "per_part_mpjpe"):
        assert again[key] == metrics[key], key


def test_killed_run_resumes_to_the_same_result(smoke_run, tmp_path):
    """SIGKILL a smoke run right after its first checkpoint, resume it, compare."""
    out, metrics = smoke_run
    killed = tmp_path / "killed"
    # same thread count as this process: float reductions must happen in the same order
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": str(torch.get_num_threads())}
    proc = subprocess.Popen([sys.executable, "-m", "partnas_lib.cli", "reproduce", "--preset", "smoke",
                             "--out", str(killed), "--no-progress"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = killed / "checkpoints" / "search_last.pt"
    deadline = time.time() + 120
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert ckpt.exists() and not (killed / "metrics.json").exists()
    resumed = _reproduce(killed, "--resume")
    assert (killed / "genotype.json").read_text() == (out / "genotype.json").read_text()
    assert resumed["mpjpe"] == metrics["mpjpe"]
    assert resumed["per_joint_mpjpe"] == metrics["per_joint_mpjpe"]


def test_dry_run_paper_preset_builds_and_counts(capsys):
    assert cli.main(["reproduce", "--preset", "paper", "--dry-run"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["image_size"] == 256
    assert report["volume_shape"] == [1, 17, 64, 64, 64]
    assert report["derived_volume_shape"] == [1, 17, 64, 64, 64]
    assert 8.0e6 < report["trunk_params"] < 9.0e6  # ResNet-50 to layer3
    # the method's efficiency claim: at most 0.38x the 34.3 M of the ResNet-50 deconv baseline
    assert 8.5e6 < report["derived_params"] < 0.38 * 34.3e6


@pytest.mark.parametrize("args,message", [
    (["--preset", "huge"], "invalid choice: 'huge'"),
    (["--set", "retrain.epochs=-1"], "retrain.epochs = -1 is out of range"),
    (["--set", "retrain.epoch=3"], "unknown config field 'epoch'"),
    (["--set", "model.parts=4"], "unknown part grouping '4'"),
    (["--set", "search.ops=none,conv_9x9"], "unknown op"),
    (["--set", 'model.parts={"a": [0, 1]}'], "are in no part"),
])
def test_bad_command_line_input_gives_clear_errors(args, message, tmp_path, capsys):
    try:
        code = cli.main(["reproduce", "--out", str(tmp_path / "x"), *args])
    except SystemExit as e:  # argparse rejects unknown choices itself
        code = e.code
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()  # nothing half-written


def test_malformed_config_file_is_named(tmp_path, capsys):
    bad = tmp_path / "config.json"
    bad.write_text('{"seed": 1, "model": {"trunk_depth": 18, "colour": 3}}')
    assert cli.main(["reproduce", "--config", str(bad), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "colour" in err
