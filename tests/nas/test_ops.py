"""The op registry.  Every op's shape and gradients: tests/models/test_all_models.py."""

from __future__ import annotations

import pytest

from partnas_lib.nas.ops import build_op


def test_unknown_op_is_named():
    with pytest.raises(ValueError, match="unknown op 'conv_7x7'"):
        build_op("conv_7x7", 8, True)
