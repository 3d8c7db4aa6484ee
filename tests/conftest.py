"""Shared fixtures and paths, importable by name from every folder of tests/ (pyproject: pythonpath):
tiny configs, a per-session cache for rendered synthetic splits, the torch thread count."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from partnas_lib.config import Config, get_preset

REPO = Path(__file__).resolve().parents[1]
MOCAP = REPO.parent / "shared" / "data" / "mocap" / "bandai-namco-1"

# At most two torch threads (the test networks are tiny), and never more than OMP_NUM_THREADS when
# that is set: on a busy 2-core machine a second thread that waits for a core makes every OpenMP
# barrier spin, and a 20 ms forward pass takes seconds.
if "OMP_NUM_THREADS" not in os.environ:
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(autouse=True)
def _keep_torch_threads():
    """A ``partnas`` command run in process applies its ``--threads`` policy (``auto``: all the
    cores) and leaves it set: give every test the thread count the session started with."""
    n = torch.get_num_threads()
    yield
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("partnas-cache")
    os.environ["PARTNAS_CACHE"] = str(path)
    return path


@pytest.fixture
def smoke_cfg(cache_dir) -> Config:
    cfg = get_preset("smoke")
    cfg.progress = False
    cfg.data.cache_dir = str(cache_dir)
    return cfg


def tiny_cfg(cache_dir: Path) -> Config:
    """Smaller than smoke: for unit tests that only need a forward/backward pass."""
    cfg = get_preset("smoke")
    cfg.progress = False
    cfg.data.cache_dir = str(cache_dir)
    cfg.data.num_train, cfg.data.num_test, cfg.data.num_val = 64, 16, 0
    return cfg


def search_cfg(parts: str = "5", k: int = 4, edge_norm: bool = True) -> Config:
    """The smoke preset with a part grouping, PC-DARTS's K and edge normalisation set (validated)."""
    cfg = get_preset("smoke")
    cfg.model.parts = parts
    cfg.search.partial_channels = k
    cfg.search.edge_norm = edge_norm
    cfg.validate()
    return cfg
