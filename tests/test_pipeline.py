"""End to end: the smoke preset through the real CLI, determinism and resume; several search seeds
(in turn or through Ray Tune); ``reproduce --model`` without a search.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import format_fixtures as ff
import pytest
import torch

from partnas_lib import cli, pipeline
from partnas_lib.config import get_preset
from partnas_lib.nas.genotype import Genotype

METRIC_KEYS = {"mpjpe", "pa_mpjpe", "per_part_mpjpe", "per_joint_mpjpe", "mean_pose_mpjpe",
               "num_test_samples", "params", "preset", "seed"}
# smaller than smoke, for the runs that only check what is written
TINY = ["data.num_train=64", "data.num_test=16", "data.num_val=0", "search.batch_size=16",
        "retrain.batch_size=16", "search.epochs=1", "retrain.epochs=1"]
SETS = [a for o in TINY for a in ("--set", o)]
# the seed searches through Ray Tune start from the arguments of tests/train/test_distributed.py
ARGS = ["--preset", "smoke", "--no-progress", "--set", "data.num_train=256", "--set", "data.num_test=32",
        "--set", "retrain.epochs=2"]


def _reproduce(out: Path, *extra: str) -> dict:
    assert cli.main(["reproduce", "--preset", "smoke", "--out", str(out), "--no-progress", *extra]) == 0
    return json.loads((out / "metrics.json").read_text())


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, cache_dir) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("smoke") / "run"
    return out, _reproduce(out)


@pytest.mark.slow
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


@pytest.mark.slow
def test_smoke_run_learns(smoke_run):
    _, metrics = smoke_run
    assert metrics["mpjpe"] < metrics["mean_pose_mpjpe"]
    assert metrics["pa_mpjpe"] < metrics["mpjpe"]


@pytest.mark.slow
def test_evaluate_on_other_data_keeps_the_runs_own_metrics(smoke_run, tmp_path, capsys):
    """``evaluate --data ...`` (or any other test data) writes OUT/eval/<data>/, not metrics.json."""
    src, metrics = smoke_run
    out = tmp_path / "run"
    shutil.copytree(src, out)
    own, own_log = (out / "metrics.json").read_bytes(), (out / "log.txt").read_bytes()
    assert cli.main(["evaluate", "--out", str(out), "--no-progress", "--set", "data.num_test=8"]) == 0
    other = out / "eval" / "procedural"
    assert json.loads((other / "metrics.json").read_text())["num_test_samples"] == 8
    assert (other / "metrics.md").is_file() and (other / "predictions.npz").is_file()
    # metrics.json comes last: its presence marks a finished evaluation (partnas ablate relies on it)
    written = {f: (other / f).stat().st_mtime_ns for f in ("metrics.md", "predictions.npz", "metrics.json")}
    assert written["metrics.json"] >= max(written["metrics.md"], written["predictions.npz"])
    assert str(other / "metrics.json") in capsys.readouterr().out
    assert (out / "metrics.json").read_bytes() == own  # the run's own result is untouched
    assert (out / "log.txt").read_bytes() == own_log and "evaluate: MPJPE" in (other / "log.txt").read_text()
    assert cli.main(["evaluate", "--out", str(out), "--no-progress"]) == 0  # its own data: in place
    assert json.loads((out / "metrics.json").read_text())["mpjpe"] == pytest.approx(metrics["mpjpe"])


def test_data_names_for_evaluation_folders():
    cfg = get_preset("smoke")
    for source, name in [("procedural", "procedural"), ("bvh:/data/bandai-namco-1/", "bvh-bandai-namco-1"),
                         ("mix:0.3:bvh:~/clips", "mix0.3-bvh-clips")]:
        cfg.data.pose_source = source
        assert pipeline.data_name(cfg) == name
    cfg.data.dataset, cfg.data.protocol = "h36m", "mpjpe_s9_s11"
    assert pipeline.data_name(cfg) == "h36m-mpjpe_s9_s11"


@pytest.mark.slow
def test_same_seed_same_genotype_and_metrics(smoke_run, tmp_path):
    out, metrics = smoke_run
    again = _reproduce(tmp_path / "again")
    assert (tmp_path / "again" / "genotype.json").read_text() == (out / "genotype.json").read_text()
    for key in ("mpjpe", "pa_mpjpe", "mean_pose_mpjpe", "per_joint_mpjpe", "per_part_mpjpe"):
        assert again[key] == metrics[key], key


@pytest.mark.slow
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


def test_search_several_seeds_reports_agreement(tmp_path, cache_dir, capsys):
    out = tmp_path / "seeds"
    assert cli.main(["search", "--preset", "smoke", "--out", str(out), "--seeds", "0", "1", "--no-progress",
                     *SETS]) == 0
    assert "Agreement of 2 genotypes" in capsys.readouterr().out
    summary = json.loads((out / "agreement.json").read_text())
    assert summary["labels"] == ["seed0", "seed1"]
    assert (out / "seed0" / "genotype.json").is_file() and (out / "seed1" / "genotype.json").is_file()
    assert cli.main(["search", "--preset", "smoke", "--out", str(tmp_path / "b"), "--set",
                     "model.kind=baseline", *SETS]) == 2
    assert "has no search stage" in capsys.readouterr().err


def test_reproduce_model_option_skips_the_search(tmp_path, cache_dir):
    out = tmp_path / "rand"
    assert cli.main(["reproduce", "--preset", "smoke", "--out", str(out), "--model", "random", "--no-progress",
                     *SETS]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model_kind"] == "random" and metrics["search_seconds"] is None
    assert not (out / "search" / "alpha_history.json").exists()
    assert metrics["genotype"] == Genotype.load(out / "genotype.json").to_json()["parts"]


def test_ray_missing_is_a_clear_error_and_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    out = tmp_path / "seeds"
    assert cli.main(["search", "--out", str(out), *ARGS, "--seeds", "0", "1", "--ray"]) == 2
    assert "--ray needs Ray Tune, which is not installed: pip install 'partnas[ray]'" in capsys.readouterr().err
    assert not out.exists()
    assert cli.main(["search", "--out", str(out), *ARGS, "--ray"]) == 2
    assert "give them with --seeds" in capsys.readouterr().err


def _fake_ray() -> types.ModuleType:
    """The slice of the Ray Tune API that partnas uses, running trials one after another."""
    ray = types.ModuleType("ray")
    tune = types.ModuleType("ray.tune")
    calls = {}

    class Result:
        def __init__(self, metrics, error=None):
            self.metrics, self.error = metrics, error

    class Tuner:
        def __init__(self, trainable, param_space, run_config):
            self.trainable, self.space = trainable, param_space
            calls["run_config"] = run_config

        def fit(self):
            grid = self.space["seed"]["grid_search"]
            return [Result(self.trainable({**self.space, "seed": s})) for s in grid]

    def with_resources(fn, resources):
        calls["resources"] = resources
        return fn

    tune.Tuner, tune.with_resources = Tuner, with_resources
    tune.grid_search = lambda values: {"grid_search": list(values)}
    tune.RunConfig = lambda **kw: kw
    ray.tune, ray.calls = tune, calls
    return ray


def test_ray_search_seeds_collects_one_genotype_per_seed(tmp_path, monkeypatch, cache_dir):
    """The glue around Ray Tune (the real thing is tested where ``pip install 'partnas[ray]'``
    is installed: ``test_ray_search_seeds_real``)."""
    ray = _fake_ray()
    monkeypatch.setitem(sys.modules, "ray", ray)
    monkeypatch.setitem(sys.modules, "ray.tune", ray.tune)
    out = tmp_path / "seeds"
    small = [*ARGS, "--set", "data.num_train=64", "--set", "search.epochs=1", "--set", "search.batch_size=16"]
    assert cli.main(["search", "--out", str(out), *small, "--seeds", "3", "4", "--ray",
                     "--cpus-per-trial", "1", "--gpus-per-trial", "0.5"]) == 0
    assert ray.calls["resources"] == {"cpu": 1.0, "gpu": 0.5}
    assert ray.calls["run_config"]["storage_path"] == str((out / "ray_results").absolute())
    summary = json.loads((out / "agreement.json").read_text())
    assert summary["labels"] == ["seed3", "seed4"] and summary["num_genotypes"] == 2
    for seed in (3, 4):
        assert json.loads((out / f"seed{seed}" / "config.json").read_text())["seed"] == seed
        assert (out / f"seed{seed}" / "genotype.json").is_file()


@pytest.mark.slow
def test_ray_search_seeds_real(tmp_path, cache_dir):
    pytest.importorskip("ray.tune", reason="Ray Tune is an optional extra: pip install 'partnas[ray]'")
    out = tmp_path / "seeds"
    small = [*ARGS, "--set", "data.num_train=64", "--set", "search.epochs=1", "--set", "search.batch_size=16"]
    assert cli.main(["search", "--out", str(out), *small, "--seeds", "0", "1", "--ray"]) == 0
    assert all((out / f"seed{s}" / "genotype.json").is_file() for s in (0, 1))
    assert (out / "agreement.json").is_file()


@pytest.mark.slow
def test_human36m_protocol_run_writes_its_card_and_per_action_table(tmp_path, cache_dir):
    """A whole (tiny) run on Human3.6M by protocol name: the card in metrics.json is read off the
    Human3.6M samples used, and metrics.md prints the per-action table."""
    root = ff.write_h36m_3dmppe(tmp_path / "Human36M", subjects=(1, 5, 6, 7, 8, 9, 11), cameras=(1,))
    out = tmp_path / "run"
    metrics = _reproduce(out, "--model", "baseline", "--set", "data.dataset=h36m", "--set", f"data.root={root}",
                         "--set", "data.protocol=mpjpe_s9_s11", "--set", "retrain.batch_size=4",
                         "--set", "retrain.epochs=1")
    card = metrics["protocol"]
    assert card["protocol"] == "mpjpe_s9_s11" and card["reported_metric"] == "mpjpe"
    assert card["test_split"]["subjects"] == ["S9", "S11"] and card["test_split"]["samples"] == 4
    assert card["train_split"]["subjects"] == ["S1", "S5", "S6", "S7", "S8"] and card["train_split"]["samples"] == 10
    assert list(metrics["per_action_mpjpe"]) == ["Directions"] and "Directions" in metrics["per_action_pa_mpjpe"]
    md = (out / "metrics.md").read_text()
    assert "| metric | Dir. | all samples |" in md and "| protocol | mpjpe_s9_s11 |" in md
