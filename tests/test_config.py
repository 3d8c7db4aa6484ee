"""Presets and config validation in the library (the command-line side is in test_cli.py)."""

from __future__ import annotations

import pytest

from partnas_lib.config import get_preset


def test_unknown_preset_in_the_library():
    with pytest.raises(ValueError, match=r"unknown preset 'huge'; expected one of \['cpu', 'paper', 'smoke'\]"):
        get_preset("huge")
