"""Human3.6M protocols by name (data/protocols.py) through load_split, on a 3DMPPE-layout fixture
holding every protocol subject (S1, S5-S9, S11; camera 1; frames 0, 5 and 64 of Directions)."""

from __future__ import annotations

import json

import pytest
from format_fixtures import write_h36m_3dmppe
from PIL import Image

from partnas_lib.config import H36M_PROTOCOLS, apply_overrides, get_preset
from partnas_lib.data.protocols import PROTOCOLS, h36m_subsets
from partnas_lib.data.splits import load_split

SUBJECTS = (1, 5, 6, 7, 8, 9, 11)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """The fixture's annotations with plain grey frames (the pixels do not matter here, and drawing
    21 people would cost seconds)."""
    root = write_h36m_3dmppe(tmp_path_factory.mktemp("h36m") / "Human36M", subjects=SUBJECTS, cameras=(1,),
                             with_images=False)
    for s in SUBJECTS:
        for im in json.loads((root / "annotations" / f"Human36M_subject{s}_data.json").read_text())["images"]:
            path = root / "images" / im["file_name"]
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (im["width"], im["height"]), (120, 110, 100)).save(path)
    return root


def _cfg(root, *overrides: str):
    cfg = get_preset("paper")  # its synthetic caps (100 000 / 2000 / 5000) must not apply to a protocol
    cfg.progress = False
    cfg.data.image_size = 64
    return apply_overrides(cfg, ["data.dataset=h36m", f"data.root={root}", *overrides])


def _key(meta: dict) -> tuple:
    return meta["subject"], meta["action_idx"], meta["subaction_idx"], meta["cam_idx"], meta["frame"]


def test_protocol_names_are_defined_once():
    assert set(PROTOCOLS) == set(H36M_PROTOCOLS)
    assert {p.metric for p in PROTOCOLS.values()} == {"mpjpe", "pa_mpjpe"}


@pytest.mark.parametrize("protocol,train_subjects,test_subjects", [
    ("mpjpe_s9_s11", {"S1", "S5", "S6", "S7", "S8"}, {"S9", "S11"}),
    ("pa_mpjpe_s11", {"S1", "S5", "S6", "S7", "S8", "S9"}, {"S11"}),
])
def test_protocol_uses_every_frame_of_its_subjects(root, protocol, train_subjects, test_subjects):
    cfg = _cfg(root, f"data.protocol={protocol}")
    assert (cfg.data.num_train, cfg.data.num_val, cfg.data.num_test) == (0, 0, 0)  # no caps unless asked
    train, test, val = (load_split(cfg, s) for s in ("train", "test", "val"))
    assert {m["subject"] for m in train.meta} == train_subjects
    assert {m["subject"] for m in test.meta} == test_subjects
    assert {m["frame"] for m in train.meta} == {0, 5} and {m["frame"] for m in test.meta} == {0, 64}
    assert len(train) == 2 * len(train_subjects) and len(test) == 2 * len(test_subjects) and len(val) == 0
    assert all(m["has_image"] for m in train.meta + test.meta)


def test_validation_comes_from_training_subjects_and_is_held_out(root):
    cfg = _cfg(root, "data.protocol=mpjpe_s9_s11", "data.num_val=4")
    train, val, test = (load_split(cfg, s) for s in ("train", "val", "test"))
    assert len(val) == 4 and len(train) == 10 - 4 and len(test) == 4
    assert {m["subject"] for m in val.meta} <= {"S1", "S5", "S6", "S7", "S8"}
    assert not {_key(m) for m in val.meta} & {_key(m) for m in train.meta}
    with pytest.raises(ValueError, match=r"data\.num_val = 6 is too large: the training subset "
                                         r"train_s1_s5_s6_s7_s8_every5 holds 10 samples"):
        load_split(_cfg(root, "data.protocol=mpjpe_s9_s11", "data.num_val=6"), "train")


def test_caps_set_with_the_protocol_are_kept(root):
    cfg = _cfg(root, "data.protocol=mpjpe_s9_s11", "data.num_train=4")
    assert (cfg.data.num_train, cfg.data.num_test) == (4, 0)
    assert len(load_split(cfg, "train")) == 4 and len(load_split(cfg, "test")) == 4


def test_no_protocol_keeps_the_subsets_and_zero_means_all(root):
    cfg = _cfg(root, "data.train_subset=train_s1_s5_s6_s7_s8_s9_every5", "data.num_train=0", "data.num_val=0",
               "data.num_test=3")
    assert h36m_subsets(cfg.data) == ("train_s1_s5_s6_s7_s8_s9_every5", "test_s9_s11_every64")
    assert len(load_split(cfg, "train")) == 12 and len(load_split(cfg, "test")) == 3


def test_protocol_and_contradicting_subset_is_an_error(root):
    cfg = _cfg(root, "data.protocol=mpjpe_s9_s11", "data.test_subset=test_s11_every64")
    with pytest.raises(ValueError, match=r"data\.test_subset = 'test_s11_every64' contradicts data\.protocol = "
                                         r"'mpjpe_s9_s11', which trains on train_s1_s5_s6_s7_s8_every5"):
        load_split(cfg, "test")


@pytest.mark.parametrize("overrides,message", [
    (["data.protocol=p1"], "'Protocol 1' is PA-MPJPE on S11 in 3DMPPE but MPJPE on S9, S11 in VideoPose3D"),
    (["data.protocol=s9"], "data.protocol = 's9' is out of range; expected '' or one of mpjpe_s9_s11, pa_mpjpe_s11"),
    (["data.dataset=synthetic", "data.protocol=pa_mpjpe_s11"], "expected '' unless data.dataset=h36m"),
    (["data.num_train=0", "data.dataset=synthetic"], "data.num_train = 0 is out of range"),
])
def test_bad_protocol_settings_are_config_errors(root, overrides, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _cfg(root, *overrides)
