"""Presets and config validation in the library (the command-line side is in test_cli.py)."""

from __future__ import annotations

import pytest

from partnas_lib.config import Config, apply_overrides, get_preset


def test_unknown_preset_in_the_library():
    with pytest.raises(ValueError, match=r"unknown preset 'huge'; expected one of \['cpu', 'paper', 'smoke'\]"):
        get_preset("huge")


def test_new_fields_default_to_the_old_behaviour_and_round_trip(tmp_path):
    """A config.json written before data.protocol / model.pretrained existed still loads, with
    random init, no input normalisation and the subsets as given."""
    old = get_preset("cpu").to_dict()
    for section, key in (("data", "protocol"), ("model", "pretrained"), ("model", "normalize_input")):
        del old[section][key]
    cfg = Config.from_dict(old)
    assert cfg.data.protocol == "" and cfg.model.pretrained == "" and not cfg.model.normalizes_input
    cfg = apply_overrides(cfg, ["data.dataset=h36m", "data.root=/h36m", "data.protocol=pa_mpjpe_s11",
                                "data.num_test=100", "model.normalize_input=on"])
    assert (cfg.data.num_train, cfg.data.num_val, cfg.data.num_test) == (0, 0, 100)
    cfg.save(tmp_path / "config.json")
    assert Config.load(tmp_path / "config.json").to_dict() == cfg.to_dict()
