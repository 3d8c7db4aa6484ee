"""Actions: distributions over joint angles, and a pose placed in the world.

Each of :data:`ACTIONS` is a small function that draws joint angles (walking is a gait cycle,
sitting has hips and knees near 90 deg, ...); :func:`sample_angles` clips them to the
anatomical limits of :mod:`~partnas_lib.data.synth.body`.  :func:`sample_pose` does everything:
angles, forward kinematics, and placement in the world (random yaw about the vertical, random
position near the capture centre, feet on the floor -- :func:`place_in_world`).
"""

from __future__ import annotations

import numpy as np

from partnas_lib.data.synth.body import Body, clip_to_limits, forward_kinematics, neutral_angles, rot_z

ACTIONS: tuple[str, ...] = ("standing", "walking", "reaching", "bending", "crouching", "sitting")


# --------------------------------------------------------------------------------------------
# Actions: distributions over joint angles
# --------------------------------------------------------------------------------------------

def _relaxed_arm(rng: np.random.Generator, a: dict[str, float], side: str) -> None:
    """An arm that is not doing anything in particular: hanging, on the hip, or bent in front."""
    mode = rng.choice(["down", "down", "down", "hip", "front"])
    if mode == "down":
        a[f"{side}_shoulder_flex"] = rng.uniform(-15, 25)
        a[f"{side}_shoulder_abd"] = rng.uniform(6, 22)
        a[f"{side}_elbow_flex"] = rng.uniform(3, 45)
    elif mode == "hip":  # hand on the hip: elbow out to the side and bent
        a[f"{side}_shoulder_flex"] = rng.uniform(-25, 5)
        a[f"{side}_shoulder_abd"] = rng.uniform(35, 60)
        a[f"{side}_shoulder_twist"] = rng.uniform(-40, -15)
        a[f"{side}_elbow_flex"] = rng.uniform(80, 115)
        return
    else:  # forearm across the body (holding something, arms crossed, phone)
        a[f"{side}_shoulder_flex"] = rng.uniform(10, 50)
        a[f"{side}_shoulder_abd"] = rng.uniform(-10, 15)
        a[f"{side}_elbow_flex"] = rng.uniform(80, 140)
    a[f"{side}_shoulder_twist"] = rng.uniform(-30, 30)


def _head(rng: np.random.Generator, a: dict[str, float], flex: float = 0.0) -> None:
    """Head looks around a little; ``flex`` biases nodding (negative looks up)."""
    a["neck_flex"] = flex + rng.normal(0, 10)
    a["neck_lat"] = rng.normal(0, 6)
    a["neck_twist"] = rng.normal(0, 20)


def _standing(rng: np.random.Generator, a: dict[str, float]) -> None:
    a["pelvis_roll"] = rng.normal(0, 4)
    a["spine_flex"] = rng.normal(2, 4)
    a["chest_flex"] = rng.normal(0, 3)
    a["spine_twist"] = rng.normal(0, 6)
    a["spine_lat"] = rng.normal(0, 3)
    for side in ("l", "r"):
        a[f"{side}_hip_flex"] = rng.normal(0, 6)
        a[f"{side}_hip_abd"] = rng.uniform(0, 12)
        a[f"{side}_hip_twist"] = rng.normal(0, 10)
        a[f"{side}_knee_flex"] = rng.uniform(0, 12)
        _relaxed_arm(rng, a, side)
    _head(rng, a)


def _walking(rng: np.random.Generator, a: dict[str, float]) -> None:
    """A gait cycle: phase ``phi`` drives leg swing, knee flexion and arm counter-swing."""
    phi = rng.uniform(0, 2 * np.pi)
    stride = rng.uniform(0.6, 1.3)  # slow stroll .. brisk walk
    a["spine_flex"] = rng.uniform(0, 8)
    a["chest_flex"] = rng.uniform(0, 5)
    a["spine_twist"] = -6 * stride * np.sin(phi)  # shoulders counter-rotate against the hips
    a["pelvis_roll"] = 3 * np.cos(phi)
    for side, phase in (("r", phi), ("l", phi + np.pi)):
        # Thigh swings sinusoidally; the knee flexes most while the leg swings forward.
        a[f"{side}_hip_flex"] = 6 + 24 * stride * np.sin(phase)
        a[f"{side}_knee_flex"] = 5 + 55 * stride * max(0.0, np.cos(phase + 0.3)) ** 2
        a[f"{side}_hip_abd"] = rng.uniform(0, 6)
        a[f"{side}_hip_twist"] = rng.normal(0, 6)
        # The arm of the same side swings opposite to its leg.
        swing = -np.sin(phase)
        a[f"{side}_shoulder_flex"] = 5 + 25 * stride * swing
        a[f"{side}_shoulder_abd"] = rng.uniform(6, 15)
        a[f"{side}_shoulder_twist"] = rng.normal(0, 10)
        a[f"{side}_elbow_flex"] = 15 + 25 * max(0.0, swing) + rng.uniform(0, 15)
    _head(rng, a)


def _reaching(rng: np.random.Generator, a: dict[str, float]) -> None:
    """One or both arms reach forward, up or to the side; the torso follows a little."""
    _standing(rng, a)
    arms = {"left": ["l"], "right": ["r"], "both": ["l", "r"]}[str(rng.choice(["left", "right", "both"]))]
    for side in arms:
        target = rng.choice(["forward", "up", "side", "forward_up"])
        flex, abd = {
            "forward": (rng.uniform(65, 110), rng.uniform(-10, 25)),
            "up": (rng.uniform(140, 178), rng.uniform(0, 30)),
            "side": (rng.uniform(0, 35), rng.uniform(65, 110)),
            "forward_up": (rng.uniform(100, 140), rng.uniform(0, 40)),
        }[str(target)]
        a[f"{side}_shoulder_flex"] = flex
        a[f"{side}_shoulder_abd"] = abd
        a[f"{side}_shoulder_twist"] = rng.uniform(-30, 30)
        a[f"{side}_elbow_flex"] = rng.uniform(0, 35)
    if len(arms) == 1:  # lean and turn towards the reaching arm
        s = 1.0 if arms[0] == "l" else -1.0
        a["chest_twist"] = -s * rng.uniform(0, 15)
        a["spine_lat"] = -s * rng.uniform(0, 10)
    step = str(rng.choice(["l", "r", "none"]))
    if step != "none":  # one foot steps forward
        a[f"{step}_hip_flex"] = rng.uniform(8, 25)
        a[f"{step}_knee_flex"] = rng.uniform(0, 20)
    a["spine_flex"] = rng.uniform(-5, 15)
    _head(rng, a, flex=-10)


def _bending(rng: np.random.Generator, a: dict[str, float]) -> None:
    """Torso forward 30-90 deg, mostly from the hips (pelvis tilts), the rest from the back."""
    _standing(rng, a)
    lean = rng.uniform(30, 90)
    hip_share = rng.uniform(0.5, 0.8)
    a["pelvis_pitch"] = hip_share * lean
    back = (1 - hip_share) * lean
    a["spine_flex"] = 0.6 * back
    a["chest_flex"] = 0.4 * back
    for side in ("l", "r"):
        knee = rng.uniform(0, 35)
        thigh = rng.uniform(-5, 10) + 0.5 * knee  # bent knees push the thighs forward
        # Thigh angle relative to the vertical = hip flexion - pelvis pitch.
        a[f"{side}_hip_flex"] = thigh + a["pelvis_pitch"]
        a[f"{side}_knee_flex"] = knee
        # Arms hang towards the floor (flexion = torso lean keeps them vertical) or reach down.
        a[f"{side}_shoulder_flex"] = lean + rng.uniform(-25, 35)
        a[f"{side}_shoulder_abd"] = rng.uniform(0, 25)
        a[f"{side}_elbow_flex"] = rng.uniform(0, 50)
    _head(rng, a, flex=-rng.uniform(0, 40))


def _crouching(rng: np.random.Generator, a: dict[str, float]) -> None:
    """Deep hip and knee flexion; torso leans forward for balance, arms forward or on knees."""
    a["pelvis_pitch"] = rng.uniform(0, 25)
    a["spine_flex"] = rng.uniform(5, 25)
    a["chest_flex"] = rng.uniform(0, 15)
    a["spine_twist"] = rng.normal(0, 5)
    for side in ("l", "r"):
        thigh = rng.uniform(80, 115)
        a[f"{side}_hip_flex"] = thigh + a["pelvis_pitch"]
        a[f"{side}_knee_flex"] = rng.uniform(105, 150)
        a[f"{side}_hip_abd"] = rng.uniform(5, 30)
        a[f"{side}_hip_twist"] = rng.uniform(-5, 25)
        a[f"{side}_shoulder_flex"] = rng.uniform(10, 90)
        a[f"{side}_shoulder_abd"] = rng.uniform(0, 30)
        a[f"{side}_shoulder_twist"] = rng.uniform(-30, 30)
        a[f"{side}_elbow_flex"] = rng.uniform(10, 100)
    if rng.uniform() < 0.3:  # one knee lower: a lunge-like crouch
        side = str(rng.choice(["l", "r"]))
        a[f"{side}_hip_flex"] = rng.uniform(20, 50) + a["pelvis_pitch"]
        a[f"{side}_knee_flex"] = rng.uniform(90, 130)
    _head(rng, a, flex=-rng.uniform(0, 30))


def _sitting(rng: np.random.Generator, a: dict[str, float]) -> None:
    """On a chair: hips and knees near 90 deg, torso roughly upright, hands on the lap."""
    a["pelvis_pitch"] = rng.uniform(-12, 10)
    a["spine_flex"] = rng.uniform(0, 20)
    a["chest_flex"] = rng.uniform(-5, 15)
    a["spine_twist"] = rng.normal(0, 8)
    a["spine_lat"] = rng.normal(0, 4)
    for side in ("l", "r"):
        thigh = rng.uniform(75, 100)
        a[f"{side}_hip_flex"] = thigh + a["pelvis_pitch"]
        a[f"{side}_knee_flex"] = thigh + rng.uniform(-45, 15)  # shin vertical or feet forward
        a[f"{side}_hip_abd"] = rng.uniform(0, 25)
        a[f"{side}_hip_twist"] = rng.normal(0, 8)
        if rng.uniform() < 0.6:  # hands on the lap / thighs
            a[f"{side}_shoulder_flex"] = rng.uniform(15, 50)
            a[f"{side}_shoulder_abd"] = rng.uniform(0, 20)
            a[f"{side}_shoulder_twist"] = rng.uniform(-20, 20)
            a[f"{side}_elbow_flex"] = rng.uniform(30, 90)
        else:
            _relaxed_arm(rng, a, side)
    _head(rng, a, flex=rng.uniform(-10, 20))


_ACTION_SAMPLERS = {
    "standing": _standing, "walking": _walking, "reaching": _reaching,
    "bending": _bending, "crouching": _crouching, "sitting": _sitting,
}


def sample_angles(rng: np.random.Generator, action: str) -> dict[str, float]:
    """Joint angles (degrees, clipped to :data:`~partnas_lib.data.synth.body.LIMITS`) for one pose of ``action``."""
    if action not in _ACTION_SAMPLERS:
        raise ValueError(f"unknown action {action!r}; expected one of {ACTIONS}")
    angles = neutral_angles()
    _ACTION_SAMPLERS[action](rng, angles)
    return clip_to_limits(angles)


# --------------------------------------------------------------------------------------------
# Placing the body in the world
# --------------------------------------------------------------------------------------------

#: Height of the ankle joints above the floor when standing on it (mm).
ANKLE_HEIGHT = (80.0, 100.0)
#: Chair height for "sitting": the pelvis rests this high (mm), or higher if the legs need it.
CHAIR_HEIGHT = (430.0, 520.0)
#: Subjects stand within this radius (mm) of the capture-volume centre.
PLACEMENT_RADIUS = 1200.0


def place_in_world(joints_body: np.ndarray, yaw_deg: float, position_xy: np.ndarray,
                   floor_offset: float) -> np.ndarray:
    """Rotate body-frame joints by ``yaw_deg`` about the vertical, move the pelvis to
    ``position_xy`` and lift everything by ``floor_offset`` mm."""
    world = joints_body @ rot_z(yaw_deg).T
    world[:, :2] += np.asarray(position_xy, dtype=np.float64)
    world[:, 2] += floor_offset
    return world


def sample_pose(rng: np.random.Generator, body: Body, action: str | None = None) -> tuple[np.ndarray, str]:
    """A random world-space pose ``(17, 3)`` (mm, Human3.6M-17 order) and its action.

    ``action=None`` draws one of :data:`ACTIONS` uniformly.  The body faces a random direction
    (yaw uniform in 0-360 deg about world Z) and stands at a random point within
    :data:`PLACEMENT_RADIUS` of the capture centre.  The lowest ankle rests 80-100 mm above the
    floor, except for ``sitting``, where the pelvis rests at chair height (430-520 mm) -- or
    higher where the subject's lower legs are too long for that chair, so that the feet never go
    through the floor.  (With Human3.6M shank lengths of ~454 mm plus the ankle height, that is
    often the case: sitting pelvis heights are typically 500-660 mm.)
    """
    if action is None:
        action = str(rng.choice(ACTIONS))
    angles = sample_angles(rng, action)
    joints = forward_kinematics(body, angles)
    yaw = rng.uniform(0.0, 360.0)
    radius = PLACEMENT_RADIUS * np.sqrt(rng.uniform())
    theta = rng.uniform(0.0, 2 * np.pi)
    position = radius * np.array([np.cos(theta), np.sin(theta)])
    ankle_height = rng.uniform(*ANKLE_HEIGHT)
    lowest_ankle = min(joints[3, 2], joints[6, 2])
    lift = ankle_height - lowest_ankle  # feet on the floor
    if action == "sitting":
        lift = max(rng.uniform(*CHAIR_HEIGHT), lift)  # pelvis (z = 0 in body frame) on the chair
    return place_in_world(joints, yaw, position, lift), action


__all__ = ["ACTIONS", "ANKLE_HEIGHT", "CHAIR_HEIGHT", "PLACEMENT_RADIUS", "place_in_world", "sample_angles",
           "sample_pose"]
