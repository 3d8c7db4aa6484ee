"""MPJPE, PA-MPJPE and the per-part / per-joint summary, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from partnas_lib.eval.metrics import mpjpe, pa_mpjpe, procrustes_align, summarize
from partnas_lib.skeleton import get_grouping


def _pose(seed=0):
    return np.random.default_rng(seed).normal(scale=300, size=(1, 17, 3))


def test_mpjpe_hand_computed():
    gt = np.zeros((1, 17, 3))
    pred = np.zeros((1, 17, 3))
    pred[0, 5] = [30, 40, 0]  # one joint off by 50 mm
    assert mpjpe(pred, gt) == pytest.approx(50 / 17)
    # a global translation is removed by root alignment
    assert mpjpe(gt + 123.0, gt) == pytest.approx(0)


def test_pa_mpjpe_ignores_similarity_transforms():
    gt = _pose()
    angle = 0.7
    r = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    pred = 1.7 * gt @ r.T + np.array([100.0, -50, 3000])
    assert pa_mpjpe(pred, gt) == pytest.approx(0, abs=1e-6)
    assert mpjpe(pred, gt) > 100


def test_pa_mpjpe_does_not_allow_reflections():
    gt = _pose(1)
    mirrored = gt * np.array([-1, 1, 1])
    aligned = procrustes_align(mirrored, gt)
    centred = mirrored[0] - mirrored[0].mean(0), aligned[0] - aligned[0].mean(0)
    r_det = np.linalg.det(np.linalg.lstsq(*centred, rcond=None)[0])
    assert r_det > 0
    assert pa_mpjpe(mirrored, gt) > 1.0


def test_pa_mpjpe_hand_computed_for_pure_noise_on_one_axis():
    # 2 symmetric points: the best similarity maps pred exactly; PA error is 0
    gt = np.array([[[0, 0, 0.0], [10, 0, 0]] + [[0, 0, 0.0]] * 15])
    assert pa_mpjpe(gt * 3, gt) == pytest.approx(0, abs=1e-9)


def test_summary_per_part_and_per_joint():
    gt = np.zeros((2, 17, 3))
    pred = gt.copy()
    pred[:, 13] = [0, 0, 34.0]  # left wrist off by 34 mm
    s = summarize(pred, gt, get_grouping("5"))
    assert s["per_joint_mpjpe"][13] == pytest.approx(34)
    assert s["per_part_mpjpe"]["left_arm"] == pytest.approx(34 / 3)
    assert s["per_part_mpjpe"]["right_arm"] == 0
    assert s["mpjpe"] == pytest.approx(2.0)


def test_per_part_mpjpe_leaves_out_the_root_whose_error_is_zero():
    gt = np.zeros((1, 17, 3))
    pred = gt.copy()
    pred[:, [7, 8, 9, 10]] = [0, 0, 20.0]  # the four torso/head joints above the pelvis, 20 mm off
    s = summarize(pred, gt, get_grouping("5"))
    assert s["per_joint_mpjpe"][0] == 0  # the root: aligned, zero by construction
    assert s["per_part_mpjpe"]["torso_head"] == pytest.approx(20.0)  # 4 joints, not 80 / 5 = 16
    assert s["mpjpe"] == pytest.approx(80 / 17)  # the overall MPJPE keeps all 17 joints
    one_each = summarize(pred, gt, get_grouping("17"))["per_part_mpjpe"]
    assert one_each["pelvis"] == 0 and one_each["spine"] == pytest.approx(20.0)  # a root-only part keeps it
