"""The everyday action repertoire: gait curves, gestures, bows, and how often each is drawn."""

from __future__ import annotations

import numpy as np
import pytest

from partnas_lib.data.synth import gait, gestures, posture
from partnas_lib.data.synth.actions import ACTION_WEIGHTS, ACTIONS, draw_action, sample_angles
from partnas_lib.data.synth.body import Body, forward_kinematics, neutral_angles

BODY = Body.mean()


def _angles(sampler, n: int, seed: int = 0) -> list[dict[str, float]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        a = neutral_angles()
        sampler(rng, a)
        out.append(a)
    return out


def _joints(action: str, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([forward_kinematics(BODY, sample_angles(rng, action)) for _ in range(n)])


def test_gait_curve_hits_its_keyframes_and_wraps_around():
    for phase, value in gait.WALK_KNEE_FLEX:
        assert gait.gait_curve(gait.WALK_KNEE_FLEX, phase) == pytest.approx(value)
        assert gait.gait_curve(gait.WALK_KNEE_FLEX, phase + 1.0) == pytest.approx(value)
    # halfway between the last keyframe (0.95, 5) and the first one a cycle later (1.0, 5)
    assert gait.gait_curve(gait.WALK_KNEE_FLEX, 0.975) == pytest.approx(5.0)
    # between (0.0, 30) and (0.1, 27): linear
    assert gait.gait_curve(gait.WALK_HIP_FLEX, 0.05) == pytest.approx(28.5)


def test_gait_amplitude_scales_about_the_mean():
    phases = np.linspace(0, 1, 200, endpoint=False)
    base = np.array([gait.gait_curve(gait.RUN_KNEE_FLEX, p) for p in phases])
    big = np.array([gait.gait_curve(gait.RUN_KNEE_FLEX, p, amplitude=1.3) for p in phases])
    assert big.mean() == pytest.approx(base.mean(), abs=0.5)
    assert np.ptp(big) == pytest.approx(1.3 * np.ptp(base), rel=1e-6)


def test_walking_legs_and_arms_swing_in_antiphase():
    a = _angles(gait.walking, 400)
    r_hip, l_hip = [np.array([x[f"{s}_hip_flex"] for x in a]) for s in ("r", "l")]
    r_arm = np.array([x["r_shoulder_flex"] for x in a])
    assert np.corrcoef(r_hip, l_hip)[0, 1] < -0.5  # one thigh forward while the other is back
    assert np.corrcoef(r_hip, r_arm)[0, 1] < -0.3  # the arm swings against its own leg
    knee = np.array([x["r_knee_flex"] for x in a])
    assert 50 < knee.max() < 90 and knee.min() < 10  # ~60 deg in swing, near straight at heel strike
    # the curves minus ~10 deg of pelvic tilt: the thigh swings ~20 deg either side of vertical
    assert -40 < r_hip.min() < -15 and 15 < r_hip.max() < 45


def test_thigh_swings_about_the_vertical_in_walking():
    """Pelvic tilt (gait.PELVIC_TILT): the feet are not all in front of the pelvis."""
    j = _joints("walking", 400)
    ankle_forward = j[:, [3, 6], 0]  # x is forward in the body frame
    assert abs(np.median(ankle_forward)) < 100
    assert np.mean(ankle_forward < 0) > 0.4


def test_hip_abduction_for_width_puts_straight_legs_that_far_apart():
    for width in (0.0, 100.0, 170.0, 260.0, 400.0):
        a = neutral_angles()
        for side in ("l", "r"):
            a[f"{side}_hip_abd"] = posture.hip_abduction_for_width(width)
        j = forward_kinematics(BODY, a)
        assert j[6, 1] - j[3, 1] == pytest.approx(width, abs=1e-6)
    assert posture.hip_abduction_for_width(2 * posture.MEAN_HIP_HALF_WIDTH) == pytest.approx(0.0)
    assert posture.hip_abduction_for_width(170.0) < 0  # feet closer than the hip joints: adducted


@pytest.mark.parametrize("action", ["standing", "walking", "running"])
def test_feet_are_as_far_apart_as_people_put_them(action):
    """Ankle distance across the body (y) near FOOT_WIDTH_MM, not the 26 cm of the hip joints."""
    j = _joints(action, 400)
    width = np.abs(j[:, 6, 1] - j[:, 3, 1])
    mean, sd = posture.FOOT_WIDTH_MM[action]
    assert abs(np.median(width) - mean) < max(0.5 * sd, 35)
    assert np.median(width) < np.median(np.abs(j[:, 4, 1] - j[:, 1, 1]))  # inside the hips


def test_running_flexes_knees_and_elbows_more_than_walking():
    walk, run = _angles(gait.walking, 300), _angles(gait.running, 300)
    knee = [x["r_knee_flex"] for x in run]
    assert max(knee) > 100 and np.percentile(knee, 90) > 70  # 90-105 deg (sprint: more) in mid swing
    assert np.percentile([x["r_elbow_flex"] for x in run], 10) > 55  # elbows stay bent
    for key in ("r_knee_flex", "r_elbow_flex"):
        assert np.median([x[key] for x in run]) > np.median([x[key] for x in walk]) + 15


def test_side_stepping_abducts_the_legs():
    a = _angles(gait.side_stepping, 200)
    assert max(max(x["l_hip_abd"], x["r_hip_abd"]) for x in a) > 15


def test_waving_raises_a_hand_above_its_shoulder():
    j = _joints("waving", 200)
    wrist_above = np.maximum(j[:, 13, 2] - j[:, 11, 2], j[:, 16, 2] - j[:, 14, 2])  # left, right
    assert np.mean(wrist_above > 0) > 0.8


def test_calling_brings_a_hand_near_the_head_or_above_it():
    j = _joints("calling", 200)
    near_head = np.minimum(np.linalg.norm(j[:, 13] - j[:, 9], axis=1), np.linalg.norm(j[:, 16] - j[:, 9], axis=1))
    above = np.maximum(j[:, 13, 2], j[:, 16, 2]) > j[:, 10, 2]
    assert np.mean((near_head < 250) | above) > 0.8


def test_bowing_tips_the_trunk_forward_over_vertical_legs():
    j = _joints("bowing", 200)
    trunk = j[:, 8] - j[:, 0]
    lean = np.degrees(np.arctan2(trunk[:, 0], trunk[:, 2]))  # forward is +x in the body frame
    assert np.median(lean) > 20 and lean.min() > 0
    thigh = j[:, 2] - j[:, 1]
    assert np.median(np.degrees(np.arctan2(np.abs(thigh[:, 0]), -thigh[:, 2]))) < 15


def test_kicking_lifts_one_foot_well_off_the_floor():
    j = _joints("kicking", 200)
    assert np.median(np.abs(j[:, 3, 2] - j[:, 6, 2])) > 200


def test_one_sided_actions_prefer_the_right_arm():
    rng = np.random.default_rng(3)
    right = 0
    for _ in range(300):
        a = neutral_angles()
        gestures.waving(rng, a)
        right += a["r_shoulder_abd"] + a["r_shoulder_flex"] > a["l_shoulder_abd"] + a["l_shoulder_flex"]
    assert right / 300 > 0.7


def test_draw_action_follows_the_weights():
    rng = np.random.default_rng(0)
    n = 20_000
    counts = dict.fromkeys(ACTIONS, 0)
    for _ in range(n):
        counts[draw_action(rng)] += 1
    for name, weight in ACTION_WEIGHTS.items():
        sd = np.sqrt(n * weight * (1 - weight))
        assert abs(counts[name] - n * weight) < 4 * sd, name
    assert ACTION_WEIGHTS["walking"] > ACTION_WEIGHTS["crouching"]


def test_hamstrings_limit_hip_flexion_with_a_straight_knee():
    from partnas_lib.data.synth.body import STRAIGHT_LEG_RAISE, clip_to_limits

    straight = clip_to_limits({**neutral_angles(), "r_hip_flex": 120.0, "r_knee_flex": 0.0})
    bent = clip_to_limits({**neutral_angles(), "r_hip_flex": 120.0, "r_knee_flex": 60.0})
    assert straight["r_hip_flex"] == STRAIGHT_LEG_RAISE
    assert bent["r_hip_flex"] == 120.0


def test_shoulder_joint_rises_with_the_arm():
    from partnas_lib.data.synth.body import CLAVICLE_ELEVATION

    down = forward_kinematics(BODY, neutral_angles())
    up = forward_kinematics(BODY, {**neutral_angles(), "l_shoulder_flex": 180.0})
    rise = up[11, 2] - down[11, 2]
    # the thorax -> shoulder bone turns up by CLAVICLE_ELEVATION * 180 deg about the forward axis
    assert 20 < rise < BODY.thorax_shoulder * np.sin(np.radians(CLAVICLE_ELEVATION * 180 + 10))
    assert np.allclose(up[14], down[14])  # the other shoulder stays
    assert np.linalg.norm(up[11] - up[8]) == pytest.approx(BODY.thorax_shoulder)
