"""The thread policy: partnas jobs on one machine share its cores."""

from __future__ import annotations

import os

import pytest
import torch

from partnas_lib import threads


def test_thread_policy_shares_cores_between_partnas_jobs(tmp_path, monkeypatch):
    monkeypatch.setenv("PARTNAS_CACHE", str(tmp_path))
    monkeypatch.delenv("PARTNAS_THREADS", raising=False)
    before = torch.get_num_threads()
    threads.release()
    try:
        assert threads.configure(2) == 2 and torch.get_num_threads() == 2
        n_auto = threads.configure("auto")
        assert (tmp_path / "threads" / f"{os.getpid()}.pid").exists()
        assert n_auto == threads.available_cores()  # alone on the machine
        (tmp_path / "threads" / "999999999.pid").write_text("stale")  # a dead job is not counted ...
        assert threads.live_jobs() == 1 and not (tmp_path / "threads" / "999999999.pid").exists()
        (tmp_path / "threads" / f"{os.getppid()}.pid").write_text("x")  # ... a live one is
        assert threads.live_jobs() == 2
        threads._policy.last_check = -1e9
        assert threads.rebalance() == max(1, threads.available_cores() // 2)
        with pytest.raises(ValueError, match="positive integer"):
            threads.configure("many")
    finally:
        threads.configure(before)
        threads.release()
    assert not (tmp_path / "threads" / f"{os.getpid()}.pid").exists()
