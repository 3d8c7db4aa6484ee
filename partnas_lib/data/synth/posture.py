"""Building blocks every action shares: quiet standing, relaxed arms, and where the head looks.

The angle names and their signs are those of :mod:`~partnas_lib.data.synth.body` (positive
flexion is the anatomical one; abduction and twist are mirrored left/right).  Each function
writes into an angle dict ``a`` in place, so an action can start from quiet standing and
overwrite only what it changes.

Quiet standing is not a rigid "attention" pose: the weight shifts between the feet (pelvic
obliquity a few degrees), the trunk sways by a few degrees, and the arms hang, rest on the
hips or hold something in front -- the postures people adopt between actions.

Where the feet go.  People stand and walk with their feet closer together than the skeleton's
hip joints: about 17 cm between the heel centres in quiet standing (McIlroy & Maki,
*Clin. Biomech.* 12, 1997), about 10-15 cm between successive footprints in walking (Donelan,
Kram & Kuo, *Proc. R. Soc. B* 268, 2001) and only a few centimetres in running, where the feet
land almost on one line (Arellano & Kram, *J. Biomech.* 44, 2011).  Human3.6M's hip joints are
about 26 cm apart, so a natural stance *adducts* the hips by a few degrees; :data:`FOOT_WIDTH_MM`
holds these widths and :func:`hip_abduction_for_width` turns a width into the hip angle.
"""

from __future__ import annotations

import numpy as np

from partnas_lib.data.proportions import MEAN_LEG_MM
from partnas_lib.data.synth.body import Body, forward_kinematics

SIDES: tuple[str, str] = ("l", "r")


def pick_side(rng: np.random.Generator, right_handed: float = 0.85) -> str:
    """The arm or leg that does a one-sided action: the right one for about 85-90 % of people
    (Gilbert & Wysocki 1992, hand preference in a survey of over a million people)."""
    return "r" if rng.uniform() < right_handed else "l"


def other_side(side: str) -> str:
    """The opposite side: ``"l"`` <-> ``"r"``."""
    return "l" if side == "r" else "r"


#: Distance between the two ankles (mm), as ``(mean, standard deviation)``, by how the person
#: is standing or moving; sources in the module docstring.
FOOT_WIDTH_MM: dict[str, tuple[float, float]] = {
    "standing": (170.0, 40.0),
    "walking": (120.0, 30.0),
    "running": (60.0, 25.0),
}
#: How far the average body's hip joints sit from the midline (mm): the ``h`` of
#: :func:`hip_abduction_for_width`.
MEAN_HIP_HALF_WIDTH = float(forward_kinematics(Body.mean(), {})[4, 1])


def hip_abduction_for_width(width_mm: float) -> float:
    r"""The hip abduction (degrees, the same on both sides) that puts the ankles of straight legs
    ``width_mm`` apart on the average body:

    .. math:: \theta = \arcsin \frac{w/2 - h}{L},

    with :math:`h` the hip joints' distance from the midline (:data:`MEAN_HIP_HALF_WIDTH`) and
    :math:`L` the leg length.  Negative angles adduct (feet closer than the hips), the everyday
    case."""
    half_offset = width_mm / 2 - MEAN_HIP_HALF_WIDTH
    return float(np.degrees(np.arcsin(np.clip(half_offset / MEAN_LEG_MM, -1.0, 1.0))))


def foot_width_abduction(rng: np.random.Generator, gait: str) -> float:
    """Hip abduction for a foot width drawn from :data:`FOOT_WIDTH_MM` ``[gait]`` (widths kept
    in 0-450 mm, so the feet never cross)."""
    mean, sd = FOOT_WIDTH_MM[gait]
    return hip_abduction_for_width(float(np.clip(rng.normal(mean, sd), 0.0, 450.0)))


def relaxed_arm(rng: np.random.Generator, a: dict[str, float], side: str) -> None:
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


def head_look(rng: np.random.Generator, a: dict[str, float], flex: float = 0.0) -> None:
    """Head looks around a little; ``flex`` biases nodding (negative looks up)."""
    a["neck_flex"] = flex + rng.normal(0, 10)
    a["neck_lat"] = rng.normal(0, 6)
    a["neck_twist"] = rng.normal(0, 20)


def upright_trunk(rng: np.random.Generator, a: dict[str, float]) -> None:
    """Trunk near vertical with the small sway of quiet standing."""
    a["pelvis_roll"] = rng.normal(0, 4)
    a["spine_flex"] = rng.normal(2, 4)
    a["chest_flex"] = rng.normal(0, 3)
    a["spine_twist"] = rng.normal(0, 6)
    a["spine_lat"] = rng.normal(0, 3)


def standing_legs(rng: np.random.Generator, a: dict[str, float]) -> None:
    """Both feet on the floor about a foot's width apart (:data:`FOOT_WIDTH_MM`), knees nearly
    straight, the weight shifting a little between the legs."""
    abduction = foot_width_abduction(rng, "standing")
    for side in SIDES:
        a[f"{side}_hip_flex"] = rng.normal(0, 6)
        a[f"{side}_hip_abd"] = abduction + rng.normal(0, 2)
        a[f"{side}_hip_twist"] = rng.normal(0, 10)
        a[f"{side}_knee_flex"] = rng.uniform(0, 12)


def standing(rng: np.random.Generator, a: dict[str, float]) -> None:
    """Quiet standing: upright trunk, standing legs, relaxed arms, head looking around."""
    upright_trunk(rng, a)
    standing_legs(rng, a)
    for side in SIDES:
        relaxed_arm(rng, a, side)
    head_look(rng, a)


__all__ = [
    "FOOT_WIDTH_MM", "MEAN_HIP_HALF_WIDTH", "SIDES", "foot_width_abduction", "head_look", "hip_abduction_for_width",
    "other_side", "pick_side", "relaxed_arm", "standing", "standing_legs", "upright_trunk",
]
