"""Retargeting: a BVH skeleton's joints onto the 17 joints of Human3.6M.

:func:`retarget_to_h36m` maps named mocap joints onto the 17 Human3.6M joints and applies the
documented rules of :data:`RETARGET_RULES`: the spine joint on the mocap spine chain, hips widened
to Human3.6M's proportions, nose and head top from the head's orientation, feet on the floor.

Each family of BVH skeletons (Bandai Namco, CMU, ...) is described by a :class:`SkeletonMap`
(joint names, units, up axis) in :data:`SKELETONS`; :func:`detect_skeleton` finds the one a
file uses.  The rules are written out in words so a report can quote them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from partnas_lib.data.mocap.kinematics import BvhMotion
from partnas_lib.data.proportions import MEAN_BONE_LENGTHS, MEAN_LEG_MM
from partnas_lib.skeleton import JOINT_NAMES, NUM_JOINTS


@dataclass(frozen=True)
class SkeletonMap:
    """How one family of BVH skeletons maps onto Human3.6M-17.

    ``joints`` names the mocap joint used for each Human3.6M joint that has a direct counterpart
    (pelvis, hips, knees, ankles, thorax, shoulders, elbows, wrists).  The other three are built
    by :data:`RETARGET_RULES`: ``spine`` lies on ``spine_chain`` (mocap joints from the pelvis up
    to the thorax), ``nose`` and ``head`` (top) hang off ``head_joint``.  ``scale`` is millimetres
    per file unit and ``up`` the file's vertical axis.
    """

    name: str
    joints: dict[str, str]
    spine_chain: tuple[str, ...]
    head_joint: str
    scale: float
    up: str = "y"
    note: str = ""

    def required(self) -> set[str]:
        return set(self.joints.values()) | set(self.spine_chain) | {self.head_joint}


def _limbs(hip: str, knee: str, ankle: str, shoulder: str, elbow: str, wrist: str) -> dict[str, str]:
    """``{"l_hip": ..., "r_hip": ...}`` from name patterns with ``{side}`` placeholders."""
    out = {}
    for side, letter, word in (("l", "L", "Left"), ("r", "R", "Right")):
        for h36m, pattern in (("hip", hip), ("knee", knee), ("ankle", ankle),
                              ("shoulder", shoulder), ("elbow", elbow), ("wrist", wrist)):
            out[f"{side}_{h36m}"] = pattern.format(side=letter, Side=word)
    return out


#: Known BVH skeletons by name.  Add your own with the same fields (the names are the mocap
#: joints; ``{side}`` / ``{Side}`` patterns are only a shorthand of :func:`_limbs`).
SKELETONS: dict[str, SkeletonMap] = {
    "bandai-namco": SkeletonMap(
        name="bandai-namco",
        joints={"pelvis": "Hips", "thorax": "Neck",
                **_limbs("UpperLeg_{side}", "LowerLeg_{side}", "Foot_{side}",
                         "UpperArm_{side}", "LowerArm_{side}", "Hand_{side}")},
        spine_chain=("Hips", "Spine", "Chest", "Neck"), head_joint="Head", scale=10.0, up="y",
        note="Bandai Namco Research Motion Dataset 1/2: centimetres, Y up, 6 channels on every joint",
    ),
    "cmu": SkeletonMap(
        name="cmu",
        joints={"pelvis": "Hips", "thorax": "Neck",
                **_limbs("{Side}UpLeg", "{Side}Leg", "{Side}Foot", "{Side}Arm", "{Side}ForeArm", "{Side}Hand")},
        spine_chain=("Hips", "LowerBack", "Spine", "Spine1", "Neck"), head_joint="Head", scale=25.4 / 0.45, up="y",
        note="CMU mocap as BVH (the cgspeed conversion): ASF length units of 1/0.45 inch, Y up",
    ),
}

#: The rules :func:`retarget_to_h36m` applies, in words (``s`` = mocap leg length / 896 mm,
#: the Human3.6M mean thigh + shin).
RETARGET_RULES: dict[str, str] = {
    "direct": "pelvis, hips, knees, ankles, thorax, shoulders, elbows and wrists are the mocap joints named "
              "in the skeleton map",
    "spine": "Human3.6M's spine (torso) joint lies 233 / (233 + 257) = 47.5 % of the way from pelvis to thorax; "
             "it is placed at that fraction of the arc length of the mocap spine chain",
    "hips": "Human3.6M's hip joints are wider apart than the anatomical hip centres of most mocap skeletons "
            "(2 x 132 mm vs ~130-200 mm): each hip is moved along the hip-to-hip line to 132 s mm from their "
            "midpoint; the ankle stays put and the knee is re-placed by two-bone IK in the leg's own bending "
            "plane, so thigh and shin keep their mocap lengths (left/right averaged); the ankle moves only where "
            "the widened, nearly straight leg can no longer reach it (Bandai Namco: 8 % of frames, at most 18 mm)",
    "head": "nose and head top hang off the mocap head joint along the head's own axes: 'up' is the head's "
            "bone direction (its End Site, else the neck-to-head offset) rotated by the head, 'forward' is the "
            "torso's forward direction averaged over the clip in the head's frame; with h0 the thorax-to-head "
            "joint distance, nose = head + (115 s - h0) up + 39 s forward and head top = head + (226 s - h0) "
            "up + 10 s forward (Human3.6M's mean offsets above the thorax: the head top ~111 mm above the nose)",
    "floor": "per clip, heights are shifted so that the lowest ankle sits 100 mm above the floor in its 2nd "
             "percentile frame: the feet touch the floor whatever the file's floor level, and jumps stay jumps",
}

_H36M = {name: i for i, name in enumerate(JOINT_NAMES)}
#: Human3.6M mean lengths used by the rules (mm): leg (thigh + shin), pelvis-hip, and the nose /
#: head-top offsets (up, forward) above the thorax in a neutral head pose.
H36M_LEG_MM = MEAN_LEG_MM
H36M_PELVIS_HIP_MM = MEAN_BONE_LENGTHS["pelvis_hip"]
H36M_SPINE_FRACTION = MEAN_BONE_LENGTHS["pelvis_spine"] / (MEAN_BONE_LENGTHS["pelvis_spine"]
                                                          + MEAN_BONE_LENGTHS["spine_thorax"])
H36M_NOSE_UP_FWD_MM = (115.0, 39.0)
H36M_HEADTOP_UP_FWD_MM = (226.0, 10.0)
#: Height of the lowest ankle above the floor after :data:`RETARGET_RULES` "floor" (mm).
FLOOR_ANKLE_MM = 100.0
FLOOR_PERCENTILE = 2.0


def detect_skeleton(names: Sequence[str]) -> SkeletonMap:
    """The first entry of :data:`SKELETONS` whose joints all exist in ``names``."""
    have = set(names)
    for spec in SKELETONS.values():
        if spec.required() <= have:
            return spec
    closest = min(SKELETONS.values(), key=lambda s: len(s.required() - have))
    raise ValueError(
        f"unknown BVH skeleton: none of {sorted(SKELETONS)} matches its joints (closest, {closest.name!r}, "
        f"lacks {sorted(closest.required() - have)}); add a SkeletonMap to partnas_lib.data.mocap.retarget.SKELETONS"
    )


def get_skeleton(name: str | SkeletonMap | None, names: Sequence[str]) -> SkeletonMap:
    """A :class:`SkeletonMap` by name (``None``: detected from the joint ``names``)."""
    if isinstance(name, SkeletonMap):
        return name
    if name is None:
        return detect_skeleton(names)
    if name not in SKELETONS:
        raise ValueError(f"unknown skeleton {name!r}; known: {sorted(SKELETONS)}")
    return SKELETONS[name]


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def _mean_length(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b, axis=-1).mean())


def _point_on_chain(chain: np.ndarray, fraction: float) -> np.ndarray:
    """The point at ``fraction`` of the arc length of a polyline ``(F, K, 3)``, per frame."""
    seg = np.linalg.norm(np.diff(chain, axis=1), axis=-1)                  # (F, K-1)
    cum = np.concatenate([np.zeros_like(seg[:, :1]), np.cumsum(seg, axis=1)], axis=1)
    target = fraction * cum[:, -1:]                                        # (F, 1)
    k = np.clip((cum[:, 1:] < target).sum(axis=1), 0, seg.shape[1] - 1)    # segment index per frame
    f = np.arange(len(chain))
    t = (target[:, 0] - cum[f, k]) / np.maximum(seg[f, k], 1e-9)
    return chain[f, k] + t[:, None] * (chain[f, k + 1] - chain[f, k])


def two_bone_ik(root: np.ndarray, mid: np.ndarray, end: np.ndarray, upper: float,
                lower: float) -> tuple[np.ndarray, np.ndarray]:
    """Place the middle joint (knee) so that ``|root-mid| = upper`` and ``|mid-end| = lower``.

    All arrays ``(F, 3)``.  The middle joint stays in the plane of the old ``mid`` (it bends the
    same way); where ``end`` is out of reach it is pulled in along the ``root -> end`` line.
    Returns the new ``mid`` and ``end``.
    """
    axis = end - root
    dist = np.linalg.norm(axis, axis=-1, keepdims=True)
    u = axis / np.maximum(dist, 1e-9)
    reach = np.clip(dist, abs(upper - lower) + 1e-6, upper + lower - 1e-6)
    end = root + u * reach
    along = (upper**2 - lower**2 + reach**2) / (2 * reach)
    radial = np.sqrt(np.maximum(upper**2 - along**2, 0.0))
    bend = mid - root
    bend = bend - (bend * u).sum(-1, keepdims=True) * u
    fallback = np.cross(u, np.array([0.0, 0.0, 1.0]))  # any perpendicular, for a dead-straight leg
    bend = np.where(np.linalg.norm(bend, axis=-1, keepdims=True) > 1e-6, bend, fallback)
    return root + along * u + radial * _unit(bend), end


def retarget_to_h36m(motion: BvhMotion, skeleton: str | SkeletonMap | None = None) -> np.ndarray:
    """Human3.6M-17 joints ``(F, 17, 3)`` (mm, partnas world) from a :class:`BvhMotion`.

    Applies :data:`RETARGET_RULES`: direct joints by name, the spine joint on the spine chain,
    hips widened to Human3.6M's proportion (bone lengths kept by two-bone IK), nose and head top
    from the head's orientation, feet on the floor.  Left/right symmetric mocap skeletons stay
    symmetric: every rule treats both sides alike.
    """
    spec = get_skeleton(skeleton, motion.names)
    h = motion.hierarchy
    P, R = motion.positions, motion.rotations
    F = motion.num_frames
    out = np.zeros((F, NUM_JOINTS, 3))
    for h36m, name in spec.joints.items():
        out[:, _H36M[h36m]] = P[:, h.index(name)]
    # Spine on the chain.
    chain = np.stack([P[:, h.index(n)] for n in spec.spine_chain], axis=1)
    out[:, _H36M["spine"]] = _point_on_chain(chain, H36M_SPINE_FRACTION)
    # Body scale from the legs (both sides averaged).
    legs = {side: [_H36M[f"{side}_{j}"] for j in ("hip", "knee", "ankle")] for side in ("l", "r")}
    thigh = np.mean([_mean_length(out[:, k], out[:, hip]) for hip, k, _ in legs.values()])
    shin = np.mean([_mean_length(out[:, a], out[:, k]) for _, k, a in legs.values()])
    s = (thigh + shin) / H36M_LEG_MM
    # Hips: widen symmetrically, re-solve the knees.
    l_hip, r_hip = out[:, legs["l"][0]], out[:, legs["r"][0]]
    mid, lateral = (l_hip + r_hip) / 2, _unit(l_hip - r_hip)
    for side, sign in (("l", 1.0), ("r", -1.0)):
        hip, knee, ankle = legs[side]
        out[:, hip] = mid + sign * H36M_PELVIS_HIP_MM * s * lateral
        out[:, knee], out[:, ankle] = two_bone_ik(out[:, hip], out[:, knee], out[:, ankle], thigh, shin)
    # Head: axes from the head joint's orientation.
    head = h.index(spec.head_joint)
    ends = [j for j in range(len(h.names)) if h.parents[j] == head and h.is_end_site[j]]
    local_up = h.offsets[ends[0]] if ends and np.linalg.norm(h.offsets[ends[0]]) > 1e-6 else h.offsets[head]
    local_up = _unit(local_up)
    up = R[:, head] @ local_up
    torso_up = out[:, _H36M["thorax"]] - out[:, _H36M["pelvis"]]
    torso_fwd = _unit(np.cross(_unit(out[:, _H36M["l_hip"]] - out[:, _H36M["r_hip"]]), _unit(torso_up)))
    local_fwd = np.einsum("fba,fb->a", R[:, head], torso_fwd)  # sum of R^T fwd over frames
    local_fwd = _unit(local_fwd - (local_fwd @ local_up) * local_up)
    fwd = R[:, head] @ local_fwd
    base = P[:, head]
    h0 = _mean_length(base, out[:, _H36M["thorax"]])
    for joint, (u_mm, f_mm) in (("nose", H36M_NOSE_UP_FWD_MM), ("head", H36M_HEADTOP_UP_FWD_MM)):
        out[:, _H36M[joint]] = base + (u_mm * s - h0) * up + f_mm * s * fwd
    # Floor.
    lowest = out[:, [_H36M["l_ankle"], _H36M["r_ankle"]], 2].min(axis=1)
    out[..., 2] += FLOOR_ANKLE_MM - np.percentile(lowest, FLOOR_PERCENTILE)
    return out


__all__ = ["FLOOR_ANKLE_MM", "H36M_LEG_MM", "RETARGET_RULES", "SKELETONS", "SkeletonMap", "detect_skeleton",
           "get_skeleton", "retarget_to_h36m", "two_bone_ik"]
