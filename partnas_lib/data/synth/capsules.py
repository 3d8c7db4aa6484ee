"""A posed synthetic person as simple solids: capsules, one per bone, plus torso and head.

The synthetic data must make a network *read a body*: a silhouette with limbs that occlude each
other, shading that shows which way a surface faces, clothes that tell the torso from the legs,
a face that tells front from back.  Drawing dots or colour-coded joints would let a network cheat.
So each person is built from simple solids and ray cast (:mod:`~partnas_lib.data.synth.raycast`):

* **Capsules** (a cylinder with two hemispherical caps: all points within radius ``r`` of a
  segment ``a -> b``), one per bone, plus a few fat capsules for the torso and a short one for
  the head.  A sphere is a capsule whose segment has length 0 (hands, nose).
* Each capsule carries its clothing colours (shirt, trousers, skin, shoes, hair; a colour split
  along the bone draws sleeves and shorts) for the shading.

:func:`build_primitives` builds the capsules of a :class:`~partnas_lib.data.synth.body.Body`
posed at given camera-space joints; :func:`body_frame` gives the torso and head directions the
feet, head and shading are oriented by.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from partnas_lib.data.synth.body import Body

# Joint indices (Human3.6M-17), named for readability.
PELVIS, R_HIP, R_KNEE, R_ANKLE, L_HIP, L_KNEE, L_ANKLE = 0, 1, 2, 3, 4, 5, 6
SPINE, THORAX, NOSE, HEAD = 7, 8, 9, 10
L_SHOULDER, L_ELBOW, L_WRIST, R_SHOULDER, R_ELBOW, R_WRIST = 11, 12, 13, 14, 15, 16

#: Names of the primitives in the order :func:`build_primitives` emits them.
PRIMITIVE_NAMES: tuple[str, ...] = (
    "waist", "chest", "shoulders", "l_flank", "r_flank", "hips",
    "r_thigh", "l_thigh", "r_shin", "l_shin", "r_foot", "l_foot",
    "l_upper_arm", "r_upper_arm", "l_forearm", "r_forearm", "l_hand", "r_hand",
    "neck", "head", "nose",
)
NUM_PRIMITIVES = len(PRIMITIVE_NAMES)


def unit_vector(v: np.ndarray) -> np.ndarray:
    """``v / |v|`` (a zero vector stays near zero instead of dividing by zero)."""
    return v / max(float(np.sqrt(v @ v)), 1e-9)


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross product of two 3-vectors (``np.cross`` is slow for single vectors)."""
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


# --------------------------------------------------------------------------------------------
# Scene description: a person as capsules
# --------------------------------------------------------------------------------------------

@dataclass
class Primitives:
    """Capsules of one image (numpy, camera space mm).  ``P`` rows, one per primitive.

    ``a``, ``b``: segment end points ``(P, 3)``; ``radius`` ``(P,)``.  A capsule is coloured
    ``colour0`` where the closest point on its segment lies before ``split`` (a fraction of the
    length from ``a``) and ``colour1`` after, which draws sleeves, shorts and bare skin.
    ``striped`` marks shirt parts that carry the body's stripes; ``head`` marks the head,
    which gets hair on top and at the back and skin on the face.
    """

    a: np.ndarray
    b: np.ndarray
    radius: np.ndarray
    colour0: np.ndarray
    colour1: np.ndarray
    split: np.ndarray
    striped: np.ndarray
    head: np.ndarray


@dataclass
class BodyFrame:
    """Directions (camera space, unit) derived from the joints, used for feet, head and shading."""

    up: np.ndarray        # pelvis -> thorax
    left: np.ndarray      # right hip -> left hip
    head_up: np.ndarray   # thorax -> head top
    head_fwd: np.ndarray  # where the face points


def body_frame(joints: np.ndarray) -> BodyFrame:
    """Torso and head directions from 17 camera-space joints."""
    up = unit_vector(joints[THORAX] - joints[PELVIS])
    left = unit_vector(joints[L_HIP] - joints[R_HIP])
    head_up = unit_vector(joints[HEAD] - joints[THORAX])
    to_nose = joints[NOSE] - joints[THORAX]
    fwd = to_nose - np.dot(to_nose, head_up) * head_up
    if fwd @ fwd < 1e-12:  # degenerate: fall back to the torso's forward
        fwd = _cross(left, up)
    return BodyFrame(up=up, left=left, head_up=head_up, head_fwd=unit_vector(fwd))


def build_primitives(joints: np.ndarray, body: Body) -> Primitives:
    """The capsules that make up ``body`` posed at ``joints`` (``(17, 3)`` camera mm).

    Torso: fat capsules pelvis-spine ("waist") and spine-thorax ("chest"), shoulder-to-shoulder,
    hip-to-hip and two flanks from each hip to its shoulder, so the trunk is wider than deep.
    Limbs: one capsule per bone.  Feet point forward, perpendicular to the shin.  The head is a
    short vertical capsule above the neck with a small nose sphere on the face.
    """
    # Long because it lists the whole figure, solid by solid, in PRIMITIVE_NAMES order: one place
    # to read (and change) what a synthetic person is made of.
    J = np.asarray(joints, dtype=np.float64)
    f = body_frame(J)
    skin, shirt, trousers, shoes = body.skin, body.shirt, body.trousers, body.shoes
    rows: list[tuple] = []  # (a, b, radius, colour0, colour1, split, striped, head)

    def add(a, b, r, c0, c1=None, split=1.0, striped=0.0, head=0.0):
        rows.append((a, b, r, c0, c0 if c1 is None else c1, split, striped, head))

    # Torso.  The chest capsule stops short of the thorax so its cap does not swallow the neck.
    chest_top = J[THORAX] - f.up * 0.55 * body.r_chest
    stripes = 1.0 if body.stripe_strength > 0 else 0.0
    # The waist capsule starts above the pelvis so the shirt does not cover the crotch.
    add(J[PELVIS] + f.up * 0.7 * body.r_waist, J[SPINE], body.r_waist, shirt, striped=stripes)
    add(J[SPINE], chest_top, body.r_chest, shirt, striped=stripes)
    add(J[L_SHOULDER], J[R_SHOULDER], 1.15 * body.r_upper_arm, shirt, striped=stripes)
    for hip, shoulder in ((L_HIP, L_SHOULDER), (R_HIP, R_SHOULDER)):
        top = J[THORAX] + 0.6 * (J[shoulder] - J[THORAX]) - f.up * 0.35 * body.r_chest
        bottom = J[PELVIS] + 0.7 * (J[hip] - J[PELVIS]) + f.up * 0.5 * body.r_waist
        add(bottom, top, 0.62 * body.r_waist, shirt, striped=stripes)
    add(J[R_HIP] + f.up * 0.3 * body.r_thigh, J[L_HIP] + f.up * 0.3 * body.r_thigh, 1.2 * body.r_thigh, trousers)

    # Legs.  Shorts end 60 % down the thigh; below that the legs are bare.
    for hip, knee in ((R_HIP, R_KNEE), (L_HIP, L_KNEE)):
        add(J[hip], J[knee], body.r_thigh, trousers, skin if body.shorts else trousers,
            split=0.6 if body.shorts else 1.0)
    for knee, ankle in ((R_KNEE, R_ANKLE), (L_KNEE, L_ANKLE)):
        add(J[knee], J[ankle], body.r_shin, skin if body.shorts else trousers)
    for knee, ankle in ((R_KNEE, R_ANKLE), (L_KNEE, L_ANKLE)):
        shin = unit_vector(J[ankle] - J[knee])
        forward = unit_vector(_cross(shin, f.left))  # perpendicular to the shin, towards the toes
        heel = J[ankle] + shin * 0.5 * body.r_foot - forward * 0.15 * body.foot_length
        toe = heel + forward * body.foot_length + shin * 0.2 * body.r_foot
        add(heel, toe, body.r_foot, shoes)

    # Arms: long sleeves reach 88 % down the forearm, short sleeves 45 % down the upper arm.
    for shoulder, elbow in ((L_SHOULDER, L_ELBOW), (R_SHOULDER, R_ELBOW)):
        add(J[shoulder], J[elbow], body.r_upper_arm, shirt, shirt if body.long_sleeves else skin,
            split=1.0 if body.long_sleeves else 0.45, striped=stripes)
    for elbow, wrist in ((L_ELBOW, L_WRIST), (R_ELBOW, R_WRIST)):
        if body.long_sleeves:
            add(J[elbow], J[wrist], body.r_forearm, shirt, skin, split=0.88)
        else:
            add(J[elbow], J[wrist], body.r_forearm, skin)
    for elbow, wrist in ((L_ELBOW, L_WRIST), (R_ELBOW, R_WRIST)):
        centre = J[wrist] + unit_vector(J[wrist] - J[elbow]) * 0.7 * body.r_hand
        add(centre, centre, body.r_hand, skin)

    # Neck and head: the skull sits on the thorax -> head-top line, its top at the head joint.
    r_head = body.r_head
    head_low = J[HEAD] - f.head_up * 1.25 * r_head - f.head_fwd * 0.1 * r_head
    head_high = J[HEAD] - f.head_up * 0.95 * r_head - f.head_fwd * 0.1 * r_head
    add(J[THORAX] - f.up * 0.2 * body.r_neck, head_low, body.r_neck, skin)
    add(head_low, head_high, 0.92 * r_head, skin, head=1.0)
    nose = head_low + f.head_fwd * 0.92 * r_head - f.head_up * 0.05 * r_head
    add(nose, nose, 0.2 * r_head, skin)
    assert len(rows) == NUM_PRIMITIVES

    col = lambda i: np.array([r[i] for r in rows], dtype=np.float64)  # noqa: E731
    return Primitives(
        a=np.stack([r[0] for r in rows]).astype(np.float64),
        b=np.stack([r[1] for r in rows]).astype(np.float64),
        radius=col(2),
        colour0=np.stack([np.asarray(r[3], float) for r in rows]),
        colour1=np.stack([np.asarray(r[4], float) for r in rows]),
        split=col(5), striped=col(6), head=col(7),
    )


__all__ = ["BodyFrame", "NUM_PRIMITIVES", "PRIMITIVE_NAMES", "Primitives", "body_frame", "build_primitives",
           "unit_vector"]
