"""Building blocks every action shares: quiet standing, relaxed arms, and where the head looks.

The angle names and their signs are those of :mod:`~partnas_lib.data.synth.body` (positive
flexion is the anatomical one; abduction and twist are mirrored left/right).  Each function
writes into an angle dict ``a`` in place, so an action can start from quiet standing and
overwrite only what it changes.

Quiet standing is not a rigid "attention" pose: the weight shifts between the feet (pelvic
obliquity a few degrees), the trunk sways by a few degrees, and the arms hang, rest on the
hips or hold something in front -- the postures people adopt between actions.
"""

from __future__ import annotations

import numpy as np

SIDES: tuple[str, str] = ("l", "r")


def pick_side(rng: np.random.Generator, right_handed: float = 0.85) -> str:
    """The arm or leg that does a one-sided action: the right one for about 85-90 % of people
    (Gilbert & Wysocki 1992, hand preference in a survey of over a million people)."""
    return "r" if rng.uniform() < right_handed else "l"


def other_side(side: str) -> str:
    """The opposite side: ``"l"`` <-> ``"r"``."""
    return "l" if side == "r" else "r"


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
    """Both feet on the floor, knees nearly straight, feet a little apart and turned out."""
    for side in SIDES:
        a[f"{side}_hip_flex"] = rng.normal(0, 6)
        a[f"{side}_hip_abd"] = rng.uniform(0, 12)
        a[f"{side}_hip_twist"] = rng.normal(0, 10)
        a[f"{side}_knee_flex"] = rng.uniform(0, 12)


def standing(rng: np.random.Generator, a: dict[str, float]) -> None:
    """Quiet standing: upright trunk, standing legs, relaxed arms, head looking around."""
    upright_trunk(rng, a)
    standing_legs(rng, a)
    for side in SIDES:
        relaxed_arm(rng, a, side)
    head_look(rng, a)


__all__ = ["SIDES", "head_look", "other_side", "pick_side", "relaxed_arm", "standing", "standing_legs", "upright_trunk"]
