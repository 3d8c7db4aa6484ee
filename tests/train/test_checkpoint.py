"""Checkpoints: a corrupt or truncated newest checkpoint falls back to the previous one."""

from __future__ import annotations

import pytest

from partnas_lib.train.checkpoint import load_resumable, save_checkpoint


def test_no_usable_checkpoint_is_a_clear_error(tmp_path):
    last = tmp_path / "search_last.pt"
    save_checkpoint(last, {"epoch": 1})
    save_checkpoint(last, {"epoch": 2}, keep_previous=True)
    assert load_resumable(last)[0]["epoch"] == 2
    last.write_bytes(last.read_bytes()[:200])  # truncated
    state, path = load_resumable(last)
    assert path.name == "search_prev.pt" and state["epoch"] == 1
    (tmp_path / "search_prev.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError) as err:
        load_resumable(last)
    msg = str(err.value)
    assert "no usable checkpoint" in msg and "search_last.pt is corrupt or truncated" in msg
    assert "search_prev.pt is corrupt or truncated" in msg
