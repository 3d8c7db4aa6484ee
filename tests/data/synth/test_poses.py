"""Procedural poses: forward kinematics is exact, limits hold, actions look like actions."""

from __future__ import annotations

import numpy as np
import pytest

from partnas_lib.data.synth.actions import ACTIONS, PLACEMENT_RADIUS, sample_angles, sample_pose
from partnas_lib.data.synth.body import ANGLE_NAMES, Body, forward_kinematics, limits_of, neutral_angles, sample_body
from partnas_lib.skeleton import BONES


def _poses(n_per_action: int = 25, seed: int = 0):
    rng = np.random.default_rng(seed)
    for action in ACTIONS:
        for _ in range(n_per_action):
            body = sample_body(rng)
            joints, got = sample_pose(rng, body, action)
            assert got == action
            yield body, joints, action


def test_bone_lengths_match_body_exactly():
    for body, joints, _ in _poses():
        for p, c in BONES:
            assert np.linalg.norm(joints[c] - joints[p]) == pytest.approx(body.bone_length(p, c), abs=1e-6)


def test_left_and_right_bones_have_equal_length():
    pairs = [((0, 1), (0, 4)), ((1, 2), (4, 5)), ((2, 3), (5, 6)),
             ((8, 11), (8, 14)), ((11, 12), (14, 15)), ((12, 13), (15, 16))]
    for _, joints, _ in _poses(5, seed=1):
        for (a, b), (c, d) in pairs:
            left, right = np.linalg.norm(joints[b] - joints[a]), np.linalg.norm(joints[d] - joints[c])
            assert left == pytest.approx(right, abs=1e-6)


def test_bodies_vary_in_size():
    rng = np.random.default_rng(0)
    heights = [sample_body(rng).height_factor for _ in range(200)]
    assert 0.88 <= min(heights) < 0.92 and 1.08 < max(heights) <= 1.12


def test_poses_of_each_action_are_spread():
    by_action: dict[str, list[np.ndarray]] = {a: [] for a in ACTIONS}
    for _, joints, action in _poses(30, seed=2):
        by_action[action].append(joints - joints[:1])  # root-relative
    for action, poses in by_action.items():
        spread = np.stack(poses).std(axis=0).mean()
        assert spread > 40.0, f"{action}: root-relative poses barely vary ({spread:.1f} mm)"


def test_knees_never_bend_backwards():
    """The shin turns about the knee axis, which points to the body's left: the cross product
    thigh x shin must point left (or vanish for a straight leg)."""
    for _, j, _ in _poses(40, seed=3):
        left = j[4] - j[1]
        for hip, knee, ankle in ((1, 2, 3), (4, 5, 6)):
            n = np.cross(j[knee] - j[hip], j[ankle] - j[knee])
            assert np.dot(n, left) >= -1e-6 * np.linalg.norm(n) * np.linalg.norm(left) - 1e-6


def test_positive_knee_flexion_moves_the_ankle_back():
    angles = neutral_angles() | {"l_knee_flex": 90.0, "r_knee_flex": 30.0}
    j = forward_kinematics(Body.mean(), angles)  # body frame: x forward
    assert j[6, 0] < j[5, 0] - 400 and j[3, 0] < j[2, 0] - 100


def test_sampled_angles_respect_limits():
    rng = np.random.default_rng(4)
    for action in ACTIONS:
        for _ in range(30):
            angles = sample_angles(rng, action)
            assert set(angles) == set(ANGLE_NAMES)
            for name, value in angles.items():
                lo, hi = limits_of(name)
                assert lo <= value <= hi, (action, name, value)


def test_standing_heights_and_feet_on_floor():
    rng = np.random.default_rng(5)
    for _ in range(60):
        joints, _ = sample_pose(rng, sample_body(rng), "standing")
        assert 1400 <= joints[10, 2] <= 2100  # head top
        assert 80 - 1e-6 <= min(joints[3, 2], joints[6, 2]) <= 100 + 1e-6
        assert np.linalg.norm(joints[0, :2]) <= PLACEMENT_RADIUS + 1e-6


def test_sitting_pelvis_at_chair_height_and_feet_above_floor():
    rng = np.random.default_rng(6)
    for _ in range(40):
        joints, _ = sample_pose(rng, sample_body(rng), "sitting")
        assert 430 <= joints[0, 2] <= 800
        assert min(joints[3, 2], joints[6, 2]) >= 80 - 1e-6


def test_crouching_is_lower_than_standing():
    rng = np.random.default_rng(7)
    body = sample_body(rng)
    crouch = np.mean([sample_pose(rng, body, "crouching")[0][0, 2] for _ in range(20)])
    stand = np.mean([sample_pose(rng, body, "standing")[0][0, 2] for _ in range(20)])
    assert crouch < stand - 250


def test_every_action_occurs_and_yaw_varies():
    rng = np.random.default_rng(8)
    seen, facing = set(), []
    for _ in range(200):
        joints, action = sample_pose(rng, sample_body(rng))
        seen.add(action)
        left = joints[4] - joints[1]
        facing.append(np.arctan2(left[1], left[0]))
    assert seen == set(ACTIONS)
    assert np.ptp(facing) > 5.0  # facing directions cover (almost) the full circle


def test_unknown_action_is_rejected():
    with pytest.raises(ValueError, match="unknown action"):
        sample_pose(np.random.default_rng(0), Body.mean(), "dancing")
