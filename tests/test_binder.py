"""Binder's launch script: torch threads capped at the session's CPUs, notebooks train the smoke preset."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

START = Path(__file__).resolve().parents[1] / "binder" / "start"


def _env_after_start(**env: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items()
            if k not in ("PARTNAS_PRESET", "OMP_NUM_THREADS", "PARTNAS_THREADS", "CPU_LIMIT")}
    out = subprocess.run(["bash", str(START), "env"], env={**base, **env}, capture_output=True, text=True,
                         check=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


@pytest.mark.parametrize("cpu_limit,threads", [("2.0", "2"), ("0.5", "1"), ("", "1")])
def test_start_caps_threads_at_the_cpu_quota(cpu_limit, threads):
    env = _env_after_start(**({"CPU_LIMIT": cpu_limit} if cpu_limit else {}))
    assert env["OMP_NUM_THREADS"] == threads and env["PARTNAS_THREADS"] == threads


def test_start_makes_smoke_the_notebooks_preset_unless_set():
    assert _env_after_start()["PARTNAS_PRESET"] == "smoke"
    assert _env_after_start(PARTNAS_PRESET="cpu")["PARTNAS_PRESET"] == "cpu"
