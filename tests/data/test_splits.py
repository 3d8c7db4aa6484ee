"""Real-data configs reach the same training code: Human3.6M (+ MPII mixing) via load_split."""

from __future__ import annotations

import numpy as np
import pytest
from format_fixtures import write_h36m_3dmppe, write_h36m_cdf, write_h36m_videopose3d, write_mpii_json

from partnas_lib.config import apply_overrides, get_preset
from partnas_lib.data.datasets.h36m import load_h36m
from partnas_lib.data.datasets.h36m_facts import H36M_SPLITS, H36MSelection
from partnas_lib.data.splits import load_split, require_images


@pytest.fixture
def h36m_cfg(tmp_path, monkeypatch):
    root = write_h36m_3dmppe(tmp_path / "Human36M", subjects=(1, 9))
    monkeypatch.setitem(H36M_SPLITS, "fixture_train", H36MSelection((1,), 1))
    monkeypatch.setitem(H36M_SPLITS, "fixture_test", H36MSelection((9,), 1))
    cfg = get_preset("smoke")
    cfg.progress = False
    overrides = ["data.dataset=h36m", f"data.root={root}", "data.train_subset=fixture_train",
                 "data.test_subset=fixture_test", "data.num_train=1000", "data.num_test=1000", "data.num_val=0"]
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


def test_layouts_without_images_are_refused_for_every_split(tmp_path):
    """VideoPose3D's files and the original release hold poses only: no split of them may reach a
    network (it would see black crops); the error names the folder, the layout and the way out."""
    cfg = get_preset("smoke")
    cfg.progress = False
    for layout, root in (("videopose3d", write_h36m_videopose3d(tmp_path / "vp3d", subjects=(1,), num_frames=2)),
                         ("cdf", write_h36m_cdf(tmp_path / "cdf", subjects=(1,), actions=(2,), subactions=(1,),
                                                cameras=(1,), num_frames=2))):
        cfg = apply_overrides(cfg, ["data.dataset=h36m", f"data.root={root}"])
        for split in ("train", "val", "test"):
            with pytest.raises(ValueError, match=rf"{root}: Human3\.6M layout '{layout}' has no images: .*"
                                                 r"data_scripts/prepare_h36m\.py"):
                load_split(cfg, split)


def test_samples_without_images_are_refused(tmp_path):
    """Whatever the loader: a sample whose meta says has_image=False never reaches training."""
    root = write_h36m_3dmppe(tmp_path / "Human36M", subjects=(1,), frames=(0,), with_images=False)
    arrays = load_h36m(root, selection=H36MSelection((1,), 1), image_size=32, with_images=False)
    with pytest.raises(ValueError, match=r"somewhere: 2 of 2 samples have no image \(first: source=h36m, "
                                         r"layout=3dmppe, subject=S1"):
        require_images(arrays, "somewhere")
