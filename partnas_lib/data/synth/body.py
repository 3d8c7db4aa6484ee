"""Procedural subjects: bone lengths, limb thickness and clothes, joint angles and forward kinematics.

Why not just add noise to a template skeleton?  Joint-wise noise changes bone lengths, lets
knees bend backwards and produces bodies no camera has ever seen.  A network trained on such
data learns the noise, not the human body.  Here a pose is built the way a body is: a tree of
rigid bones, each rotated relative to its parent by a *joint angle* that stays inside
anatomical limits, then laid out by **forward kinematics** (FK).  Every pose therefore has
exactly the bone lengths of its :class:`Body`, left and right limbs of equal length, and
knees and elbows that only bend the way they can.

This module holds the body and the chain:

1. :func:`sample_body` draws a synthetic subject: bone lengths (Human3.6M-like, scaled by an
   overall height factor), limb thickness and clothing colours, which the renderer uses;
   :func:`body_for_joints` fits a body to a given pose (motion capture);
2. joint angles have anatomical limits (:data:`LIMITS`), some of them coupled across joints
   (:data:`STRAIGHT_LEG_RAISE`, :func:`clip_to_limits`);
3. :func:`forward_kinematics` turns ``(body, angles)`` into 17 joints in the *body frame*; the
   shoulder joint rises as the arm elevates (scapulohumeral rhythm, :data:`CLAVICLE_ELEVATION`).

Which angles a pose has -- walking, sitting, ... -- is :mod:`~partnas_lib.data.synth.actions`.

Frames and signs.  The body frame has its origin at the pelvis, **x forward, y to the body's
left, z up** (right-handed).  The world is Human3.6M-like: millimetres, Z up, floor at Z = 0
(see :func:`partnas_lib.camera.h36m_like_rig`).  A bone at rest points along a fixed direction
of its parent's frame (legs and arms hang down, the spine points up); a joint's rotation is the
product ``R_y(flexion) R_x(abduction) R_z(twist)`` (intrinsic: flex first, then abduct in
the flexed frame, then twist about the bone's own axis).  Signs are chosen so that *positive
flexion is the anatomical one*: a positive hip flexion swings the thigh forward, a positive
knee flexion swings the shin backward, a positive spine flexion bends the torso forward, a
positive shoulder flexion raises the arm forward, a positive elbow flexion brings the forearm
forward.  Abduction and twist are mirrored between left and right, so the same numbers give a
mirror-symmetric pose.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from partnas_lib.data.proportions import MEAN_BONE_LENGTHS, MEAN_LEG_MM
from partnas_lib.skeleton import BONES, NUM_JOINTS

# --------------------------------------------------------------------------------------------
# The subject: bone lengths, thickness, clothes
# --------------------------------------------------------------------------------------------

#: Which :class:`Body` length field each skeleton bone (parent, child) uses.  Left and right
#: share a field, which is what makes every synthetic body exactly left/right symmetric.
BONE_FIELDS: dict[tuple[int, int], str] = {
    (0, 7): "pelvis_spine", (7, 8): "spine_thorax", (8, 9): "thorax_nose", (9, 10): "nose_head",
    (8, 11): "thorax_shoulder", (11, 12): "shoulder_elbow", (12, 13): "elbow_wrist",
    (8, 14): "thorax_shoulder", (14, 15): "shoulder_elbow", (15, 16): "elbow_wrist",
    (0, 1): "pelvis_hip", (1, 2): "hip_knee", (2, 3): "knee_ankle",
    (0, 4): "pelvis_hip", (4, 5): "hip_knee", (5, 6): "knee_ankle",
}
assert set(BONE_FIELDS) == set(BONES)

#: Mean limb radii (mm) for a height factor of 1 and average build; the renderer draws each
#: bone as a capsule of this radius.
MEAN_RADII: dict[str, float] = {
    "r_thigh": 72.0,
    "r_shin": 52.0,
    "r_foot": 40.0,
    "r_upper_arm": 46.0,
    "r_forearm": 37.0,
    "r_hand": 42.0,
    "r_neck": 50.0,
    "r_head": 92.0,
    "r_waist": 108.0,
    "r_chest": 118.0,
}


@dataclass
class Body:
    """One synthetic subject: bone lengths and limb radii (mm) and clothing.

    Lengths are per bone *type* (``hip_knee`` serves both thighs), so bodies are symmetric.
    Colours are RGB in [0, 1].  ``stripe_period`` / ``stripe_strength`` describe horizontal
    stripes on the shirt (strength 0 means a plain shirt); ``long_sleeves`` and ``shorts``
    decide where skin shows on the arms and legs.
    """

    height_factor: float
    # bone lengths, mm
    pelvis_hip: float
    hip_knee: float
    knee_ankle: float
    pelvis_spine: float
    spine_thorax: float
    thorax_nose: float
    nose_head: float
    thorax_shoulder: float
    shoulder_elbow: float
    elbow_wrist: float
    # radii, mm
    r_thigh: float
    r_shin: float
    r_foot: float
    r_upper_arm: float
    r_forearm: float
    r_hand: float
    r_neck: float
    r_head: float
    r_waist: float
    r_chest: float
    # clothing
    shirt: np.ndarray = field(default_factory=lambda: np.array([0.2, 0.4, 0.8]))
    trousers: np.ndarray = field(default_factory=lambda: np.array([0.15, 0.15, 0.3]))
    skin: np.ndarray = field(default_factory=lambda: np.array([0.85, 0.65, 0.5]))
    shoes: np.ndarray = field(default_factory=lambda: np.array([0.1, 0.1, 0.1]))
    hair: np.ndarray = field(default_factory=lambda: np.array([0.15, 0.1, 0.05]))
    long_sleeves: bool = True
    shorts: bool = False
    stripe_period: float = 60.0
    stripe_strength: float = 0.0

    def bone_length(self, parent: int, child: int) -> float:
        """Length (mm) of the skeleton bone ``(parent, child)`` (see ``skeleton.BONES``)."""
        return float(getattr(self, BONE_FIELDS[(parent, child)]))

    @property
    def foot_length(self) -> float:
        """Ankle-to-toe length (mm) used for the rendered feet (not a skeleton bone)."""
        return 0.33 * self.knee_ankle

    @classmethod
    def mean(cls) -> "Body":
        """The average subject (height factor 1, mean lengths and radii, default clothes)."""
        return cls(height_factor=1.0, **MEAN_BONE_LENGTHS, **MEAN_RADII)


def hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    """One HSV colour (all in [0, 1]) to RGB in [0, 1]."""
    i = int(h * 6.0) % 6
    f = h * 6.0 - int(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return np.array([(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i])


def _sample_clothes(rng: np.random.Generator) -> dict:
    """Shirt, trousers, skin, shoes and hair colours plus sleeve / stripe choices."""
    shirt = hsv_to_rgb(rng.uniform(), rng.uniform(0.1, 0.9), rng.uniform(0.25, 0.95))
    # Trousers: mostly jeans / black / grey / khaki, sometimes anything.
    kind = rng.integers(5)
    if kind == 0:  # jeans
        trousers = hsv_to_rgb(rng.uniform(0.58, 0.65), rng.uniform(0.4, 0.7), rng.uniform(0.3, 0.6))
    elif kind == 1:  # black / dark grey
        trousers = np.full(3, rng.uniform(0.06, 0.25))
    elif kind == 2:  # khaki / beige
        trousers = hsv_to_rgb(rng.uniform(0.08, 0.14), rng.uniform(0.25, 0.5), rng.uniform(0.45, 0.8))
    elif kind == 3:  # light grey
        trousers = np.full(3, rng.uniform(0.4, 0.75))
    else:
        trousers = hsv_to_rgb(rng.uniform(), rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8))
    # Skin tones lie along a narrow hue band from light to dark.
    tone = rng.uniform()
    skin = hsv_to_rgb(rng.uniform(0.04, 0.09), 0.25 + 0.35 * tone, 0.95 - 0.65 * tone)
    shoes = np.full(3, rng.uniform(0.05, 0.2)) if rng.uniform() < 0.7 else np.full(3, rng.uniform(0.7, 0.95))
    hair = hsv_to_rgb(rng.uniform(0.03, 0.12), rng.uniform(0.3, 0.8), rng.uniform(0.05, 0.55))
    striped = rng.uniform() < 0.35
    return dict(
        shirt=shirt, trousers=trousers, skin=skin, shoes=shoes, hair=hair,
        long_sleeves=bool(rng.uniform() < 0.5), shorts=bool(rng.uniform() < 0.2),
        stripe_period=float(rng.uniform(35.0, 90.0)),
        stripe_strength=float(rng.uniform(0.25, 0.5)) if striped else 0.0,
    )


def sample_body(rng: np.random.Generator) -> Body:
    """Draw a synthetic subject.

    Every length is the Human3.6M mean times an overall height factor (uniform 0.88-1.12)
    times a small per-bone factor (uniform 0.95-1.05), shared by left and right.  Radii scale
    with height and with a "build" factor (0.85-1.2) so that some subjects are slim and some
    broad.  Clothing is drawn by :func:`_sample_clothes`.
    """
    height = float(rng.uniform(0.88, 1.12))
    lengths = {k: v * height * float(rng.uniform(0.95, 1.05)) for k, v in MEAN_BONE_LENGTHS.items()}
    build = float(rng.uniform(0.85, 1.2))
    radii = {k: v * height * build * float(rng.uniform(0.95, 1.05)) for k, v in MEAN_RADII.items()}
    # Heads vary less with build than limbs do.
    radii["r_head"] = MEAN_RADII["r_head"] * height * float(rng.uniform(0.93, 1.07))
    return Body(height_factor=height, **lengths, **radii, **_sample_clothes(rng))


# --------------------------------------------------------------------------------------------
# Joint angles and their limits
# --------------------------------------------------------------------------------------------


def body_for_joints(body: Body, joints: np.ndarray) -> Body:
    """A copy of ``body`` fitted to posed ``joints`` ``(17, 3)`` (e.g. a motion-capture pose).

    The renderer draws the joints as given; this only keeps the body's description consistent
    with them: bone-length fields become the pose's (left/right averaged), and limb radii are
    rescaled from the body's own size to the pose's size (leg length / 896 mm, Human3.6M's mean
    :data:`~partnas_lib.data.proportions.MEAN_LEG_MM`), so a small actor is not drawn with a large
    subject's limbs.  Clothes and build are kept.
    """
    lengths: dict[str, list[float]] = {}
    for (a, b), name in BONE_FIELDS.items():
        lengths.setdefault(name, []).append(float(np.linalg.norm(joints[b] - joints[a])))
    fields = {name: float(np.mean(v)) for name, v in lengths.items()}
    size = (fields["hip_knee"] + fields["knee_ankle"]) / MEAN_LEG_MM
    ratio = size / body.height_factor
    radii = {name: getattr(body, name) * ratio for name in MEAN_RADII}
    return dataclasses.replace(body, height_factor=size, **fields, **radii)


# --------------------------------------------------------------------------------------------
# Joint angles and their limits
# --------------------------------------------------------------------------------------------

#: Anatomical limits in degrees, ``name -> (min, max)``.  Limb angles exist per side with an
#: ``l_`` / ``r_`` prefix (``l_knee_flex``); the limits are the same for both sides.
LIMITS: dict[str, tuple[float, float]] = {
    "pelvis_pitch": (-20.0, 80.0),   # whole-body forward tilt at the hips (bending)
    "pelvis_roll": (-15.0, 15.0),    # weight shift
    "spine_flex": (-25.0, 50.0),     # lower back, pelvis -> spine
    "spine_lat": (-25.0, 25.0),
    "spine_twist": (-30.0, 30.0),
    "chest_flex": (-20.0, 40.0),     # upper back, spine -> thorax
    "chest_lat": (-20.0, 20.0),
    "chest_twist": (-25.0, 25.0),
    "neck_flex": (-45.0, 60.0),      # negative: looking up
    "neck_lat": (-30.0, 30.0),
    "neck_twist": (-70.0, 70.0),
    "hip_flex": (-30.0, 140.0),
    "hip_abd": (-25.0, 50.0),        # negative: adduction (leg crosses the midline)
    "hip_twist": (-40.0, 40.0),
    "knee_flex": (0.0, 150.0),       # only forward: the shin swings backward
    "shoulder_flex": (-50.0, 180.0),
    "shoulder_abd": (-30.0, 170.0),  # negative: arm across the chest
    "shoulder_twist": (-70.0, 70.0),
    "elbow_flex": (0.0, 150.0),
}
_LIMB_ANGLES = ("hip_flex", "hip_abd", "hip_twist", "knee_flex",
                "shoulder_flex", "shoulder_abd", "shoulder_twist", "elbow_flex")
ANGLE_NAMES: tuple[str, ...] = tuple(
    [k for k in LIMITS if k not in _LIMB_ANGLES]
    + [f"{side}_{k}" for side in ("l", "r") for k in _LIMB_ANGLES]
)


def limits_of(name: str) -> tuple[float, float]:
    """Limits of an angle name, stripping a side prefix (``"l_knee_flex"`` -> knee limits)."""
    key = name[2:] if name[:2] in ("l_", "r_") else name
    return LIMITS[key]


def neutral_angles() -> dict[str, float]:
    """All angles zero: upright, legs and arms hanging straight down (a 'pencil' pose)."""
    return {name: 0.0 for name in ANGLE_NAMES}


#: Hip flexion the hamstrings allow with a straight knee (deg): the passive straight-leg raise
#: of healthy adults is about 80 deg (Kendall et al., *Muscles: Testing and Function*, 5th ed.
#: 2005; Gajdosik & Lusin 1983).  Bending the knee slackens the hamstrings, so the limit grows
#: with knee flexion: a coupled limit, :func:`clip_to_limits`.
STRAIGHT_LEG_RAISE = 80.0


def clip_to_limits(angles: dict[str, float]) -> dict[str, float]:
    """Clip every angle into :data:`LIMITS`, then apply the coupled hamstring limit
    ``hip_flex <= STRAIGHT_LEG_RAISE + knee_flex`` on each side (returns a new dict)."""
    out = {}
    for name, value in angles.items():
        lo, hi = limits_of(name)
        out[name] = float(np.clip(value, lo, hi))
    for side in ("l", "r"):
        hip, knee = f"{side}_hip_flex", f"{side}_knee_flex"
        if hip in out:
            out[hip] = min(out[hip], STRAIGHT_LEG_RAISE + out.get(knee, 0.0))
    return out


# --------------------------------------------------------------------------------------------
# Forward kinematics
# --------------------------------------------------------------------------------------------

def rot_x(deg: float) -> np.ndarray:
    """Rotation about x by ``deg`` degrees (right-hand rule)."""
    c, s = np.cos(np.deg2rad(deg)), np.sin(np.deg2rad(deg))
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rot_y(deg: float) -> np.ndarray:
    """Rotation about y; positive angles turn +z (up) towards +x (forward)."""
    c, s = np.cos(np.deg2rad(deg)), np.sin(np.deg2rad(deg))
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rot_z(deg: float) -> np.ndarray:
    """Rotation about z (the vertical in the body and world frames)."""
    c, s = np.cos(np.deg2rad(deg)), np.sin(np.deg2rad(deg))
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _unit(v: tuple[float, float, float]) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


_UP = np.array([0.0, 0.0, 1.0])
_DOWN = np.array([0.0, 0.0, -1.0])
#: Rest directions of the short bones, in the parent's frame (left side; y is mirrored).
_HIP_DIR = _unit((0.0, 1.0, -0.18))        # pelvis -> hip: sideways, a little down
_SHOULDER_DIR = _unit((-0.05, 1.0, -0.12))  # thorax -> shoulder: sideways, a little down/back
_NOSE_DIR = _unit((0.32, 0.0, 0.95))       # thorax -> nose: up and forward (the face)
_HEADTOP_DIR = _unit((-0.25, 0.0, 0.97))   # nose -> head top: up and a little back


#: Clavicle elevation per degree of arm elevation (scapulohumeral rhythm).  Ludewig et al.,
#: *J. Bone Joint Surg. Am.* 91 (2009), measure about 10-15 deg of clavicle elevation over the
#: range of humeral elevation; 0.1 deg/deg lifts the shoulder joint ~4 cm with the arm overhead.
CLAVICLE_ELEVATION = 0.1


def _joint_rotation(flex: float, abd: float, twist: float) -> np.ndarray:
    """Intrinsic flex (about y), then abduction (about x), then twist (about the bone, z)."""
    return rot_y(flex) @ rot_x(abd) @ rot_z(twist)


def forward_kinematics(body: Body, angles: dict[str, float]) -> np.ndarray:
    """Joint angles (degrees) to ``(17, 3)`` joints in the body frame (mm, pelvis at 0).

    Walks the tree from the pelvis outwards.  Each bone's frame is its parent's frame times
    the joint rotation; the child joint is the parent joint plus the rotated rest direction
    times the bone length, so bone lengths are exact by construction.  Missing angle names
    default to 0.  Angles are *not* clipped here (see :func:`clip_to_limits`).
    """
    a = {**neutral_angles(), **angles}
    J = np.zeros((NUM_JOINTS, 3))
    R_root = rot_y(a["pelvis_pitch"]) @ rot_x(a["pelvis_roll"])

    # Legs.  side sign s: +1 left (+y), -1 right.  Hip flexion is about -y so that a positive
    # value swings the (downward) thigh forward; knee flexion is about +y: shin goes backward.
    for side, s, hip, knee, ankle in (("r", -1.0, 1, 2, 3), ("l", 1.0, 4, 5, 6)):
        mirror = np.array([1.0, s, 1.0])
        J[hip] = J[0] + R_root @ (_HIP_DIR * mirror) * body.pelvis_hip
        R_thigh = R_root @ _joint_rotation(-a[f"{side}_hip_flex"], s * a[f"{side}_hip_abd"],
                                           s * a[f"{side}_hip_twist"])
        J[knee] = J[hip] + R_thigh @ _DOWN * body.hip_knee
        R_shin = R_thigh @ rot_y(a[f"{side}_knee_flex"])
        J[ankle] = J[knee] + R_shin @ _DOWN * body.knee_ankle

    # Spine in two segments, then neck and head.
    R_spine = R_root @ _joint_rotation(a["spine_flex"], a["spine_lat"], a["spine_twist"])
    J[7] = J[0] + R_spine @ _UP * body.pelvis_spine
    R_chest = R_spine @ _joint_rotation(a["chest_flex"], a["chest_lat"], a["chest_twist"])
    J[8] = J[7] + R_chest @ _UP * body.spine_thorax
    R_neck = R_chest @ _joint_rotation(a["neck_flex"], a["neck_lat"], a["neck_twist"])
    J[9] = J[8] + R_neck @ _NOSE_DIR * body.thorax_nose
    J[10] = J[9] + R_neck @ _HEADTOP_DIR * body.nose_head

    # Arms hang from the shoulders.  Shoulder flexion about -y raises the arm forward;
    # abduction about s*x raises it sideways; elbow flexion about -y brings the forearm forward.
    # The shoulder girdle follows the arm (scapulohumeral rhythm): the clavicle elevates by
    # CLAVICLE_ELEVATION degrees per degree of arm elevation, lifting the shoulder joint.
    for side, s, sh, el, wr in (("l", 1.0, 11, 12, 13), ("r", -1.0, 14, 15, 16)):
        mirror = np.array([1.0, s, 1.0])
        R_arm = _joint_rotation(-a[f"{side}_shoulder_flex"], s * a[f"{side}_shoulder_abd"],
                                s * a[f"{side}_shoulder_twist"])
        elevation = np.degrees(np.arccos(np.clip(-(R_arm @ _DOWN)[2], -1.0, 1.0)))
        clavicle = rot_x(s * CLAVICLE_ELEVATION * elevation)
        J[sh] = J[8] + R_chest @ clavicle @ (_SHOULDER_DIR * mirror) * body.thorax_shoulder
        R_upper = R_chest @ R_arm
        J[el] = J[sh] + R_upper @ _DOWN * body.shoulder_elbow
        R_fore = R_upper @ rot_y(-a[f"{side}_elbow_flex"])
        J[wr] = J[el] + R_fore @ _DOWN * body.elbow_wrist
    return J


# --------------------------------------------------------------------------------------------


__all__ = [
    "ANGLE_NAMES", "BONE_FIELDS", "Body", "CLAVICLE_ELEVATION", "LIMITS", "MEAN_RADII", "STRAIGHT_LEG_RAISE",
    "body_for_joints",
    "clip_to_limits", "forward_kinematics", "hsv_to_rgb", "limits_of", "neutral_angles", "rot_x", "rot_y", "rot_z",
    "sample_body",
]
