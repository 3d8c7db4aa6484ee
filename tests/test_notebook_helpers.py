"""partnas_lib.notebook: the helpers the notebooks call."""

from __future__ import annotations

import json

import numpy as np
import pytest

from partnas_lib import notebook as nb


def test_write_metrics_converts_numpy_and_refuses_nan(tmp_path):
    path = nb.write_metrics(tmp_path / "sub" / "m.json", {"a": np.float32(1.5), "b": np.arange(3), "c": (1, 2)})
    assert json.loads(path.read_text()) == {"a": 1.5, "b": [0, 1, 2], "c": [1, 2]}
    with pytest.raises(ValueError, match="non-finite values for \\['x.y'\\]"):
        nb.write_metrics(tmp_path / "bad.json", {"x": {"y": float("nan")}})


def test_find_ablation_reads_yours_or_the_newest_committed(tmp_path):
    """Notebook 05's ``ABLATION`` parameter: a folder or a file of yours, else the committed one."""
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "ablation.json").write_text("{}")
    assert nb.find_ablation(tmp_path / "mine") == tmp_path / "mine" / "ablation.json"
    assert nb.find_ablation(str(tmp_path / "mine" / "ablation.json")) == tmp_path / "mine" / "ablation.json"
    with pytest.raises(FileNotFoundError, match="no ablation file at .*empty"):
        nb.find_ablation(tmp_path / "empty")
    committed = nb.find_ablation("")
    root = nb.repo_root()
    if root is not None:  # a source checkout: the newest of the committed ablations
        expected = next(root / f for f in nb.COMMITTED_ABLATIONS if (root / f).is_file())
        assert committed == expected
