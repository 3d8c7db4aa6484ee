"""Benchmark scripts at smoke size on the CPU: every phase runs and the JSON has its fields.

The real check runs on one GPU (paper preset, bf16, channels_last; README "Benchmarks"); here
``--tiny`` runs the same code paths in seconds, torchrun and the one-process DDP group included.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO


@pytest.mark.slow
def test_gpu_check_tiny_writes_every_field(tmp_path, cache_dir):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--tiny", "--out", str(tmp_path)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads((tmp_path / "gpu.json").read_text())
    assert result["ok"] and result["tiny"] and result["preset"] == "smoke"
    assert {"torch", "cuda", "device", "device_name"} <= set(result["environment"])
    for phase in ("search", "retrain"):
        r = result[phase]
        assert r["ok"] and r["steps"] == 2 and len(r["step_seconds"]) == 2
        assert r["images_per_second"] > 0 and r["peak_memory_bytes"] > 0
        assert {"bf16_autocast", "channels_last", "params", "memory_method"} <= set(r)
    assert result["search"]["images_per_step"] == 2 * result["batch"]  # an alpha batch and a weight batch
    assert result["torchrun"]["ok"] and result["torchrun"]["genotype_written"]
    assert "--nproc_per_node=1" in result["torchrun"]["command"]
    assert result["ddp"]["ok"] and result["ddp"]["world_size"] == 1 and result["ddp"]["backend"] == "gloo"
    assert result["total_seconds"] > 0


@pytest.mark.slow
def test_bench_levers_runs_at_smoke_size_and_records_every_lever(tmp_path):
    """bench_levers.py without the (minutes-long) compilation: every lever trains and is timed,
    and the ratios are relative to the baseline and to the eager network."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = tmp_path / "levers.json"
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_levers.py"), "--preset", "smoke",
                           "--threads", "1", "--iters", "1", "--batch", "4", "--no-compile", "--out", str(out)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(out.read_text())
    speed = result["train_images_per_s"]
    assert set(speed) == {"baseline", "eager (random seed 0)", "bf16 autocast", "same cell x5, separate heads",
                          "same cell x5, one grouped head"}
    assert all(v > 0 for v in speed.values())
    assert result["over_baseline"]["baseline"] == pytest.approx(1.0)
    assert result["over_eager"]["eager (random seed 0)"] == pytest.approx(1.0)
