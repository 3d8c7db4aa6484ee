"""Actions: distributions over joint angles, and a pose placed in the world.

Each of :data:`ACTIONS` is a small function that draws joint angles; :func:`sample_angles`
clips them to the anatomical limits of :mod:`~partnas_lib.data.synth.body`.  The repertoire is
the everyday one: locomotion from published gait curves (:mod:`~partnas_lib.data.synth.gait`),
gestures and strikes (:mod:`~partnas_lib.data.synth.gestures`), and the postures here --
reaching, bending to pick something up, bowing, crouching, sitting.  :func:`draw_action` picks
one with the weights of :data:`ACTION_WEIGHTS`; :func:`sample_pose` does everything: action,
angles, forward kinematics, and placement in the world (random yaw about the vertical, random
position near the capture centre, feet on the floor -- :func:`place_in_world`).

Why weights?  Upright activity dominates what people are filmed doing: time-use and
activity-monitor studies find adults spend most of their upright time standing and walking
(e.g. Tudor-Locke et al., *Int. J. Behav. Nutr. Phys. Act.* 2011), and a good part of it
gesturing while they talk (McNeill 1992).  Deep flexion -- crouching, sitting, bending to the
floor -- is common but brief.  :data:`ACTION_WEIGHTS` is the project's rough reading of that,
not a fit to any dataset: about 40 % locomotion (a sixth of it gesturing while walking), 30 %
gestures and strikes, 30 % standing and other postures.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from partnas_lib.data.synth import gait, gestures
from partnas_lib.data.synth.body import Body, clip_to_limits, forward_kinematics, neutral_angles, rot_z
from partnas_lib.data.synth.posture import SIDES, head_look, other_side, pick_side, relaxed_arm, standing

# --------------------------------------------------------------------------------------------
# Postures: distributions over joint angles
# --------------------------------------------------------------------------------------------

def _reaching(rng: np.random.Generator, a: dict[str, float]) -> None:
    """One or both arms reach forward, up or to the side; the torso follows a little."""
    standing(rng, a)
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
    head_look(rng, a, flex=-10)


def _bending(rng: np.random.Generator, a: dict[str, float]) -> None:
    """Torso forward 30-90 deg, mostly from the hips (pelvis tilts), the rest from the back."""
    standing(rng, a)
    lean = rng.uniform(30, 90)
    hip_share = rng.uniform(0.5, 0.8)
    a["pelvis_pitch"] = hip_share * lean
    back = (1 - hip_share) * lean
    a["spine_flex"] = 0.6 * back
    a["chest_flex"] = 0.4 * back
    for side in SIDES:
        knee = rng.uniform(0, 35)
        thigh = rng.uniform(-5, 10) + 0.5 * knee  # bent knees push the thighs forward
        # Thigh angle relative to the vertical = hip flexion - pelvis pitch.
        a[f"{side}_hip_flex"] = thigh + a["pelvis_pitch"]
        a[f"{side}_knee_flex"] = knee
        # Arms hang towards the floor (flexion = torso lean keeps them vertical) or reach down.
        a[f"{side}_shoulder_flex"] = lean + rng.uniform(-25, 35)
        a[f"{side}_shoulder_abd"] = rng.uniform(0, 25)
        a[f"{side}_elbow_flex"] = rng.uniform(0, 50)
    head_look(rng, a, flex=-rng.uniform(0, 40))


def _crouching(rng: np.random.Generator, a: dict[str, float]) -> None:
    """Deep hip and knee flexion; torso leans forward for balance, arms forward or on knees."""
    a["pelvis_pitch"] = rng.uniform(0, 25)
    a["spine_flex"] = rng.uniform(5, 25)
    a["chest_flex"] = rng.uniform(0, 15)
    a["spine_twist"] = rng.normal(0, 5)
    for side in SIDES:
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
    head_look(rng, a, flex=-rng.uniform(0, 30))


def _sitting(rng: np.random.Generator, a: dict[str, float]) -> None:
    """On a chair: hips and knees near 90 deg, torso roughly upright, hands on the lap."""
    a["pelvis_pitch"] = rng.uniform(-12, 10)
    a["spine_flex"] = rng.uniform(0, 20)
    a["chest_flex"] = rng.uniform(-5, 15)
    a["spine_twist"] = rng.normal(0, 8)
    a["spine_lat"] = rng.normal(0, 4)
    for side in SIDES:
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
            relaxed_arm(rng, a, side)
    head_look(rng, a, flex=rng.uniform(-10, 20))


def _bowing(rng: np.random.Generator, a: dict[str, float]) -> None:
    """A bow: the trunk tips forward from the hips with the back straight (15, 30 or 45 deg in
    the Japanese etiquette of *eshaku*, *keirei*, *saikeirei*; deeper in apology), the legs stay
    vertical, the arms hang at the sides or the hands meet in front."""
    standing(rng, a)
    lean = float(rng.choice([15.0, 30.0, 45.0, 60.0])) + rng.normal(0, 6)
    a["pelvis_pitch"] = 0.8 * lean
    a["spine_flex"] = 0.15 * lean
    a["chest_flex"] = 0.05 * lean + rng.normal(0, 3)
    a["spine_twist"] = rng.normal(0, 3)
    hands_in_front = rng.uniform() < 0.4
    for side in SIDES:
        a[f"{side}_hip_flex"] = a["pelvis_pitch"] + rng.normal(0, 4)  # thighs stay vertical
        a[f"{side}_knee_flex"] = rng.uniform(0, 10)
        if hands_in_front:
            a[f"{side}_shoulder_flex"] = 0.6 * lean + rng.uniform(0, 20)
            a[f"{side}_shoulder_abd"] = rng.uniform(-15, 5)
            a[f"{side}_elbow_flex"] = rng.uniform(10, 45)
        else:  # arms along the body, or hanging a little forward under gravity
            a[f"{side}_shoulder_flex"] = rng.uniform(0, 0.5) * lean
            a[f"{side}_shoulder_abd"] = rng.uniform(0, 10)
            a[f"{side}_elbow_flex"] = rng.uniform(0, 20)
    head_look(rng, a, flex=rng.uniform(0, 20))  # the head follows the trunk


def _gesturing_while_walking(rng: np.random.Generator, a: dict[str, float]) -> None:
    """Walking while one arm (sometimes both) waves, shows the way, calls or talks: actions
    combine, and the legs keep their gait while the arms do something else."""
    gait.walking(rng, a)
    side = pick_side(rng)
    gestures.gesture_arm(rng, a, side)
    if rng.uniform() < 0.25:
        gestures.gesture_arm(rng, a, other_side(side))


#: Every action, its sampler and its share of :func:`draw_action` (the weights sum to 1; see
#: the module docstring for where they come from).
ACTION_TABLE: dict[str, tuple[Callable[[np.random.Generator, dict[str, float]], None], float]] = {
    "standing": (standing, 0.09),
    "walking": (gait.walking, 0.17),
    "gesturing_while_walking": (_gesturing_while_walking, 0.06),
    "running": (gait.running, 0.11),
    "side_stepping": (gait.side_stepping, 0.06),
    "waving": (gestures.waving, 0.09),
    "guiding": (gestures.guiding, 0.06),
    "calling": (gestures.calling, 0.03),
    "talking": (gestures.talking, 0.05),
    "punching": (gestures.punching, 0.03),
    "kicking": (gestures.kicking, 0.03),
    "bowing": (_bowing, 0.05),
    "reaching": (_reaching, 0.05),
    "bending": (_bending, 0.04),
    "crouching": (_crouching, 0.03),
    "sitting": (_sitting, 0.05),
}
ACTIONS: tuple[str, ...] = tuple(ACTION_TABLE)
ACTION_WEIGHTS: dict[str, float] = {name: w for name, (_, w) in ACTION_TABLE.items()}
assert abs(sum(ACTION_WEIGHTS.values()) - 1.0) < 1e-9


def draw_action(rng: np.random.Generator) -> str:
    """One action name, drawn with the probabilities of :data:`ACTION_WEIGHTS`."""
    return str(rng.choice(ACTIONS, p=list(ACTION_WEIGHTS.values())))


def sample_angles(rng: np.random.Generator, action: str) -> dict[str, float]:
    """Joint angles (degrees, clipped to :data:`~partnas_lib.data.synth.body.LIMITS`) for one pose of ``action``."""
    if action not in ACTION_TABLE:
        raise ValueError(f"unknown action {action!r}; expected one of {ACTIONS}")
    angles = neutral_angles()
    ACTION_TABLE[action][0](rng, angles)
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

    ``action=None`` draws one with :func:`draw_action`.  The body faces a random direction
    (yaw uniform in 0-360 deg about world Z) and stands at a random point within
    :data:`PLACEMENT_RADIUS` of the capture centre.  The lowest ankle rests 80-100 mm above the
    floor, except for ``sitting``, where the pelvis rests at chair height (430-520 mm) -- or
    higher where the subject's lower legs are too long for that chair, so that the feet never go
    through the floor.  (With Human3.6M shank lengths of ~454 mm plus the ankle height, that is
    often the case: sitting pelvis heights are typically 500-660 mm.)
    """
    if action is None:
        action = draw_action(rng)
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


__all__ = ["ACTIONS", "ACTION_TABLE", "ACTION_WEIGHTS", "ANKLE_HEIGHT", "CHAIR_HEIGHT", "PLACEMENT_RADIUS",
           "draw_action", "place_in_world", "sample_angles", "sample_pose"]
