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
