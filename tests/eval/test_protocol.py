"""The protocol card is read off the samples actually used (eval/protocol.py), and metrics.md
prints it with the per-action table (eval/report.py)."""

from __future__ import annotations

import format_fixtures as ff

from partnas_lib.config import apply_overrides, get_preset
from partnas_lib.data.datasets.h36m import load_h36m
from partnas_lib.data.datasets.h36m_facts import H36MSelection
from partnas_lib.eval.protocol import protocol_card
from partnas_lib.eval.report import metrics_markdown


def test_human36m_card_names_subjects_steps_cameras_and_counts(tmp_path):
    root = ff.write_h36m_3dmppe(tmp_path / "Human36M", subjects=(1, 9, 11), with_images=False)
    cfg = apply_overrides(get_preset("paper"), ["data.dataset=h36m", f"data.root={root}",
                                                "data.protocol=mpjpe_s9_s11", "data.num_val=0"])
    train = load_h36m(root, selection=H36MSelection((1,), 5), image_size=32, with_images=False)
    test = load_h36m(root, selection=H36MSelection((9, 11), 64), image_size=32, with_images=False)
    card = protocol_card(cfg, test, train)
    assert card["dataset"] == "h36m" and card["protocol"] == "mpjpe_s9_s11" and card["reported_metric"] == "mpjpe"
    assert "VideoPose3D" in card["also_called"]
    t = card["test_split"]
    assert t["subset"] == "test_s9_s11_every64" and t["frame_step"] == 64
    assert t["subjects"] == ["S9", "S11"] and t["cameras"] == [1, 2] and t["samples"] == len(test) == 8
    assert t["cap"] == "none: every frame of the subset"
    assert card["train_split"]["subjects"] == ["S1"] and card["train_split"]["frame_step"] == 5
    assert "mean over all test samples" in card["aggregation"] and "pa_mpjpe" in card["metrics"]
    metrics = {"mpjpe": 50.0, "pa_mpjpe": 35.0, "mean_pose_mpjpe": 120.0, "num_test_samples": 8,
               "per_action_mpjpe": {"Directions": 50.0}, "protocol": card}
    md = metrics_markdown(metrics)
    assert "| metric | Dir. | all samples |" in md and "the literature reports `mpjpe`" in md
    assert "| test_split | subset: test_s9_s11_every64; frame_step: 64;" in md


def test_synthetic_card_says_what_was_rendered():
    card = protocol_card(get_preset("smoke"))
    assert card["dataset"] == "synthetic" and "disjoint from training" in card["test_split"]
    assert card["pose_source"] == "procedural" and "protocol" not in card
