"""Gestures and strikes: what people do with their arms (and a leg) while standing.

Communicative gestures are a large share of everyday upper-body motion (McNeill, *Hand and
Mind*, 1992): waving hello or goodbye, showing someone the way, calling out to someone, and the
beat gestures of talking, made with the forearms in front of the body.  Strikes (punching,
kicking) are the common "sports" actions.  Each sampler starts from quiet standing
(:func:`~partnas_lib.data.synth.posture.standing`) and poses the active limb; the one-sided
actions mostly use the right side (:func:`~partnas_lib.data.synth.posture.pick_side`).

Arm angles, with the signs of :mod:`~partnas_lib.data.synth.body`: with the arm raised to the
side (abduction ~90 deg) a positive shoulder twist (external rotation) turns the bent forearm
up, the "hello" pose; with the arm raised forward (flexion ~90 deg) elbow flexion alone brings
the forearm up.  Shoulder ranges stay within the published active ranges (flexion to ~180,
abduction to ~170, external rotation to ~90 deg; AAOS, *Joint Motion*, 1965).
"""

from __future__ import annotations

import numpy as np

from partnas_lib.data.synth.posture import SIDES, head_look, other_side, pick_side, relaxed_arm, standing


def _wave_arm(rng: np.random.Generator, a: dict[str, float], side: str) -> None:
    """One arm raised with the forearm up, the hand somewhere in its side-to-side swing."""
    swing = np.sin(rng.uniform(0, 2 * np.pi))  # the wave: forearm rocks about the upper arm
    mode = rng.choice(["side", "front", "overhead"])
    if mode == "side":  # upper arm out to the side, forearm vertical
        a[f"{side}_shoulder_flex"] = rng.uniform(0, 40)
        a[f"{side}_shoulder_abd"] = rng.uniform(60, 110)
        a[f"{side}_shoulder_twist"] = rng.uniform(40, 70) + 15 * swing
        a[f"{side}_elbow_flex"] = rng.uniform(50, 120)
    elif mode == "front":  # hand raised in front of the shoulder
        a[f"{side}_shoulder_flex"] = rng.uniform(60, 120)
        a[f"{side}_shoulder_abd"] = rng.uniform(10, 50) + 15 * swing
        a[f"{side}_shoulder_twist"] = rng.uniform(-20, 40)
        a[f"{side}_elbow_flex"] = rng.uniform(40, 110)
    else:  # a big wave over the head
        a[f"{side}_shoulder_flex"] = rng.uniform(120, 170)
        a[f"{side}_shoulder_abd"] = rng.uniform(10, 40) + 20 * swing
        a[f"{side}_shoulder_twist"] = rng.uniform(-20, 20)
        a[f"{side}_elbow_flex"] = rng.uniform(0, 45)


#: Arm poses of the gestures, as ``(flex, abd, twist, elbow)`` ranges in degrees: an arm
#: extended to show the way, a hand cupped at the mouth (upper arm forward and across, elbow
#: fully bent), a talking forearm in front of the body.
ARM_GESTURES: dict[str, tuple[tuple[float, float], ...]] = {
    "show": ((10, 90), (20, 90), (-30, 30), (0, 40)),
    "call": ((65, 95), (-30, 0), (-60, -20), (120, 145)),
    "talk": ((0, 45), (0, 35), (-30, 30), (50, 115)),
}


def pose_arm(rng: np.random.Generator, a: dict[str, float], side: str, gesture: str) -> None:
    """Pose one arm in one of :data:`ARM_GESTURES`, uniformly within its ranges."""
    flex, abd, twist, elbow = ARM_GESTURES[gesture]
    a[f"{side}_shoulder_flex"] = rng.uniform(*flex)
    a[f"{side}_shoulder_abd"] = rng.uniform(*abd)
    a[f"{side}_shoulder_twist"] = rng.uniform(*twist)
    a[f"{side}_elbow_flex"] = rng.uniform(*elbow)


def gesture_arm(rng: np.random.Generator, a: dict[str, float], side: str) -> None:
    """One arm of a communicative gesture, for actions that gesture while doing something else
    (walking): a wave, or one of :data:`ARM_GESTURES`."""
    mode = str(rng.choice(["wave", *ARM_GESTURES]))
    if mode == "wave":
        _wave_arm(rng, a, side)
    else:
        pose_arm(rng, a, side, mode)


def waving(rng: np.random.Generator, a: dict[str, float]) -> None:
    """Waving hello or goodbye: one hand, or both (about a quarter of the time)."""
    standing(rng, a)
    side = pick_side(rng)
    _wave_arm(rng, a, side)
    if rng.uniform() < 0.25:
        _wave_arm(rng, a, other_side(side))
    head_look(rng, a, flex=-rng.uniform(0, 10))


def guiding(rng: np.random.Generator, a: dict[str, float]) -> None:
    """Showing the way: an arm extended towards a direction, or an open-palm "this way" with the
    forearm forward; the trunk turns a little towards it and one foot may step."""
    standing(rng, a)
    side = pick_side(rng, right_handed=0.6)  # people point with the arm on the side of the target
    if rng.uniform() < 0.6:  # arm extended
        pose_arm(rng, a, side, "show")
    else:  # forearm forward, palm up
        a[f"{side}_shoulder_flex"] = rng.uniform(10, 50)
        a[f"{side}_shoulder_abd"] = rng.uniform(10, 50)
        a[f"{side}_shoulder_twist"] = rng.uniform(-10, 40)
        a[f"{side}_elbow_flex"] = rng.uniform(40, 100)
    turn = rng.uniform(0, 20) * (1 if side == "l" else -1)
    a["chest_twist"] = turn
    a["neck_twist"] = turn + rng.normal(0, 15)
    if rng.uniform() < 0.4:  # a step towards it
        a[f"{side}_hip_flex"] = rng.uniform(10, 30)
        a[f"{side}_knee_flex"] = rng.uniform(5, 25)


def calling(rng: np.random.Generator, a: dict[str, float]) -> None:
    """Calling out to someone: a hand (or both) cupped at the mouth, or a hand raised high."""
    standing(rng, a)
    side = pick_side(rng)
    hands = [side, other_side(side)] if rng.uniform() < 0.4 else [side]
    if rng.uniform() < 0.6:
        for s in hands:
            pose_arm(rng, a, s, "call")
        head_look(rng, a, flex=-rng.uniform(0, 15))
    else:
        a[f"{side}_shoulder_flex"] = rng.uniform(130, 175)
        a[f"{side}_shoulder_abd"] = rng.uniform(0, 30)
        a[f"{side}_elbow_flex"] = rng.uniform(0, 30)
    a["spine_flex"] = rng.uniform(-8, 5)  # leaning back a little to project the voice


def talking(rng: np.random.Generator, a: dict[str, float]) -> None:
    """Conversation: beat and descriptive gestures with the forearms in front of the body."""
    standing(rng, a)
    for side in SIDES:
        if rng.uniform() >= 0.2:  # otherwise this hand stays relaxed
            pose_arm(rng, a, side, "talk")


def punching(rng: np.random.Generator, a: dict[str, float]) -> None:
    """A fighting stance: lead foot forward, a guard hand near the face, the other hand punching
    (straight: elbow extended at shoulder height; hook: upper arm out, elbow bent)."""
    standing(rng, a)
    side = pick_side(rng)
    other = other_side(side)
    a[f"{other}_hip_flex"] = rng.uniform(15, 35)  # lead leg forward
    a[f"{side}_hip_flex"] = -rng.uniform(0, 15)
    for s in SIDES:
        a[f"{s}_knee_flex"] = rng.uniform(10, 35)
        a[f"{s}_hip_abd"] = rng.uniform(5, 20)
    a[f"{other}_shoulder_flex"] = rng.uniform(20, 60)  # guard
    a[f"{other}_shoulder_abd"] = rng.uniform(0, 30)
    a[f"{other}_shoulder_twist"] = rng.uniform(-20, 20)
    a[f"{other}_elbow_flex"] = rng.uniform(105, 145)
    if rng.uniform() < 0.6:  # straight punch
        a[f"{side}_shoulder_flex"] = rng.uniform(60, 100)
        a[f"{side}_shoulder_abd"] = rng.uniform(-10, 20)
        a[f"{side}_elbow_flex"] = rng.uniform(0, 40)
    else:  # hook
        a[f"{side}_shoulder_flex"] = rng.uniform(30, 70)
        a[f"{side}_shoulder_abd"] = rng.uniform(50, 90)
        a[f"{side}_elbow_flex"] = rng.uniform(70, 110)
    a["chest_twist"] = rng.uniform(5, 25) * (1 if side == "r" else -1)  # the punching shoulder comes forward
    a["spine_flex"] = rng.uniform(0, 12)
    head_look(rng, a)


def kicking(rng: np.random.Generator, a: dict[str, float]) -> None:
    """Standing on one leg and kicking with the other (front kick with the knee extending, or
    a chambered knee); the arms go out for balance and the trunk leans back."""
    standing(rng, a)
    side = pick_side(rng)
    a[f"{other_side(side)}_knee_flex"] = rng.uniform(5, 25)  # support leg
    a[f"{side}_hip_flex"] = rng.uniform(30, 100)
    a[f"{side}_knee_flex"] = rng.uniform(0, 90)
    a[f"{side}_hip_abd"] = rng.uniform(-5, 30)
    a["spine_flex"] = -rng.uniform(0, 15)
    for s in SIDES:
        if rng.uniform() < 0.7:
            a[f"{s}_shoulder_flex"] = rng.uniform(-10, 50)
            a[f"{s}_shoulder_abd"] = rng.uniform(20, 60)
            a[f"{s}_elbow_flex"] = rng.uniform(20, 100)
        else:
            relaxed_arm(rng, a, s)


__all__ = ["ARM_GESTURES", "calling", "gesture_arm", "guiding", "kicking", "pose_arm", "punching", "talking", "waving"]
