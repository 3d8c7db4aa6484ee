"""eval.analysis: body statistics and error splits, by hand."""

from __future__ import annotations

import numpy as np
import pytest
from toy_data import standing_pose, toy_arrays

from partnas_lib.data.synth.body import Body
from partnas_lib.eval import analysis as eval_analysis
from partnas_lib.skeleton import bone_lengths


def test_body_statistics():
    pose = standing_pose()
    assert bone_lengths(pose).shape == (16,)
    assert eval_analysis.left_right_asymmetry(pose) == pytest.approx(0.0, abs=1e-6)
    stretched = pose.copy()
    stretched[13] += (stretched[13] - stretched[12]) * 0.1  # left forearm 10 % longer
    body = Body.mean()
    assert eval_analysis.left_right_asymmetry(stretched) == pytest.approx(0.1 * body.elbow_wrist, rel=1e-6)
    expected = (body.pelvis_spine + body.spine_thorax + body.thorax_nose + body.nose_head
                + body.pelvis_hip + body.hip_knee + body.knee_ankle)
    assert eval_analysis.person_heights(pose) == pytest.approx(expected)
    arrays = toy_arrays()
    assert eval_analysis.reprojection_errors(arrays).max() < 1e-3
    assert eval_analysis.min_pairwise_distance(np.array([[0, 0], [3, 4], [10, 0]])) == 5.0


def test_errors_and_limb_split():
    gt = np.stack([standing_pose(), standing_pose()])
    pred = gt + np.array([0.0, 0.0, 100.0])  # everything 10 cm deeper
    np.testing.assert_allclose(eval_analysis.per_sample_errors(pred, gt), 0.0, atol=1e-9)  # root-aligned
    np.testing.assert_allclose(eval_analysis.absolute_errors(pred, gt), 100.0)
    split = eval_analysis.split_limbs({"torso_head": 1.0, "right_arm": 2.0, "left_leg": 4.0})
    assert split == {"limbs": 3.0, "torso": 1.0}
