"""Real-data configs reach the same training code: Human3.6M (+ MPII mixing) via load_split."""

from __future__ import annotations

import numpy as np
import pytest
from format_fixtures import write_h36m_3dmppe, write_mpii_json

from partnas_lib.config import apply_overrides, get_preset
from partnas_lib.data.datasets.h36m_facts import H36M_SPLITS, H36MSelection
from partnas_lib.data.splits import load_split


@pytest.fixture
def h36m_cfg(tmp_path, monkeypatch):
    root = write_h36m_3dmppe(tmp_path / "Human36M", subjects=(1, 9))
    monkeypatch.setitem(H36M_SPLITS, "fixture_train", H36MSelection((1,), 1))
    monkeypatch.setitem(H36M_SPLITS, "fixture_test", H36MSelection((9,), 1))
    cfg = get_preset("smoke")
    cfg.progress = False
    overrides = ["data.dataset=h36m", f"data.root={root}", "data.train_subset=fixture_train",
                 "data.test_subset=fixture_test", "data.num_train=1000", "data.num_test=1000"]
    return apply_overrides(cfg, overrides), tmp_path


def test_h36m_splits_are_protocol_subjects(h36m_cfg):
    cfg, _ = h36m_cfg
    train, test = load_split(cfg, "train"), load_split(cfg, "test")
    assert {m["subject"] for m in train.meta} == {"S1"} and {m["subject"] for m in test.meta} == {"S9"}
    assert train.images.shape[1:] == (64, 64, 3) and train.has_3d.all()


def test_mpii_is_mixed_into_training_only(h36m_cfg):
    cfg, tmp = h36m_cfg
    mpii = write_mpii_json(tmp / "MPII")
    plain = load_split(cfg, "train")
    cfg = apply_overrides(cfg, [f"data.mpii_root={mpii}"])
    mixed = load_split(cfg, "train")
    assert len(mixed) > len(plain) and (~mixed.has_3d).sum() == len(mixed) - len(plain)
    assert np.array_equal(mixed.joints_3d[: len(plain)], plain.joints_3d)
    assert load_split(cfg, "test").has_3d.all()


def test_h36m_without_root_is_a_config_error():
    with pytest.raises(ValueError, match="data.root"):
        apply_overrides(get_preset("smoke"), ["data.dataset=h36m"])
