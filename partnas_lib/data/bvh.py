"""Real motion capture as a pose source: a BVH reader, retargeting to Human3.6M-17, clip splits.

Procedural poses (:mod:`partnas_lib.data.poses`) are plausible but simple; real people move in
ways no hand-written distribution captures (weight shifts, arm swing, a bow, a kick).  BVH
(Biovision Hierarchy) is the common text format of optical motion capture, and this module turns
a folder of BVH clips into Human3.6M-17 poses that the synthetic renderer can draw
(``DataConfig.pose_source = "bvh:/path/to/folder"``).

**The format.**  A BVH file has two parts.  ``HIERARCHY`` is a tree of joints; each joint has an
``OFFSET`` (its translation from its parent in the rest pose) and a ``CHANNELS`` list, e.g.
``CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation``.  ``MOTION`` then
gives ``Frames:``, ``Frame Time:`` and one line per frame holding every joint's channel values,
joints in the order they appear in the hierarchy, channels in the order each joint lists them.

**Reading the channels.**  Two details break naive readers:

* *Position channels are not only on the root.*  The Bandai Namco files put 6 channels on
  **every** joint.  A joint's position channels give its translation from its parent, replacing
  ``OFFSET`` on the axes they name (the OFFSET is the rest value, used where a joint has no
  position channel).  Adding them to the offset instead would double every bone.
* *Rotation orders differ per file (and may differ per joint).*  The rotation channels, read
  left to right, are **intrinsic** rotations: ``Zrotation Xrotation Yrotation`` means the local
  rotation ``R = Rz(z) @ Rx(x) @ Ry(y)`` (angles in degrees, right-hand rule, column vectors).

**Forward kinematics.**  Each joint's local transform is ``T(t) R`` (translate, then rotate); a
joint's world rotation is ``R_world(parent) @ R`` and its world position is
``p_world(parent) + R_world(parent) @ t``.  :func:`forward_kinematics` runs this for all frames
at once (numpy over the frame axis, a Python loop only over the ~20-30 joints).

**Units and axes.**  BVH has no unit field.  :func:`read_bvh` scales by ``scale`` (mm per file
unit: 10 for centimetres, as in the Bandai Namco dataset; see :data:`SKELETONS`) and turns the
file's Y-up frame into partnas' world (mm, **Z up**, floor at Z = 0) with a +90 deg rotation
about X: ``(x, y, z) -> (x, -z, y)``.

**Retargeting** (:func:`retarget_to_h36m`) maps named mocap joints onto the 17 Human3.6M joints
and applies the documented rules of :data:`RETARGET_RULES`; **splits**
(:func:`assign_splits`) keep every take of one motion in one split, so test poses come from
motions never seen in training.

Licence note: BVH datasets such as Bandai Namco's (CC BY-NC 4.0) or CMU's must not be copied into
this repository; partnas reads them from wherever the user keeps them and caches derived arrays
only under ``$PARTNAS_CACHE`` (outside the repository).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from partnas_lib.io import default_cache_dir
from partnas_lib.skeleton import JOINT_NAMES, NUM_JOINTS

#: Bump when reading, retargeting or the cached arrays change: part of every cache key.
BVH_VERSION = 1


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------

class BvhFormatError(ValueError):
    """A malformed BVH file; the message names the file and, where known, the line."""

    def __init__(self, path: str | Path, message: str, line: int | None = None):
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")
        self.path = str(path)
        self.line = line


_CHANNEL_NAMES = ("Xposition", "Yposition", "Zposition", "Xrotation", "Yrotation", "Zrotation")


@dataclass
class BvhHierarchy:
    """The joint tree of a BVH file, joints in file order (parents before children).

    ``names``: joint names; End Sites are included as ``"<parent>_end"`` with ``is_end_site``
    True (they have no channels, only an offset: the tip of the last bone).
    ``parents``: index of each joint's parent, -1 for the root.  ``offsets``: ``(J, 3)`` rest
    translations from the parent, file units.  ``channels``: each joint's channel names in file
    order.  ``channel_start``: column of each joint's first channel in a frame line.
    """

    names: tuple[str, ...]
    parents: np.ndarray
    offsets: np.ndarray
    channels: tuple[tuple[str, ...], ...]
    is_end_site: np.ndarray
    channel_start: np.ndarray

    @property
    def num_channels(self) -> int:
        return int(sum(len(c) for c in self.channels))

    def index(self, name: str) -> int:
        """Index of the joint called ``name`` (``KeyError`` naming the known joints otherwise)."""
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"no joint {name!r}; joints are {list(self.names)}") from None


@dataclass
class BvhClip:
    """A parsed BVH file: its hierarchy and raw channel values ``(frames, channels)``."""

    path: Path
    hierarchy: BvhHierarchy
    values: np.ndarray
    frame_time: float

    @property
    def num_frames(self) -> int:
        return int(self.values.shape[0])


def _parse_hierarchy(path: Path, lines: list[str]) -> tuple[BvhHierarchy, int]:
    """Parse ``HIERARCHY`` up to ``MOTION``; returns the hierarchy and the MOTION line index."""
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[tuple[str, ...]] = []
    end_site: list[bool] = []
    stack: list[int] = []  # open joints; -2 marks an open End Site block
    pending: int | None = None  # joint declared, waiting for its "{"
    i = 0
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i == len(lines) or lines[i].split()[0] != "HIERARCHY":
        raise BvhFormatError(path, "expected 'HIERARCHY' as the first line", i + 1 if i < len(lines) else None)
    for i in range(i + 1, len(lines)):
        tokens = lines[i].split()
        if not tokens:
            continue
        key = tokens[0]
        lineno = i + 1
        if key in ("ROOT", "JOINT") or (key == "End" and tokens[1:2] == ["Site"]):
            if key == "ROOT" and (names or stack):
                raise BvhFormatError(path, "a second ROOT: only one skeleton per file is supported", lineno)
            if key != "ROOT" and not stack:
                raise BvhFormatError(path, f"{key} outside of a joint block", lineno)
            if key != "ROOT" and stack[-1] == -2:
                raise BvhFormatError(path, "an End Site cannot have children", lineno)
            parent = stack[-1] if stack else -1
            if key == "End":
                name = f"{names[parent]}_end"
            elif len(tokens) < 2:
                raise BvhFormatError(path, f"{key} without a name", lineno)
            else:
                name = " ".join(tokens[1:])
            names.append(name)
            parents.append(parent)
            offsets.append([])
            channels.append(())
            end_site.append(key == "End")
            pending = len(names) - 1
        elif key == "{":
            if pending is None:
                raise BvhFormatError(path, "'{' without a ROOT, JOINT or End Site before it", lineno)
            stack.append(-2 if end_site[pending] else pending)
            pending = None
        elif key == "}":
            if not stack:
                raise BvhFormatError(path, "unbalanced '}'", lineno)
            stack.pop()
        elif key == "OFFSET":
            if not stack:
                raise BvhFormatError(path, "OFFSET outside of a joint block", lineno)
            try:
                values = [float(v) for v in tokens[1:]]
            except ValueError:
                raise BvhFormatError(path, f"OFFSET needs 3 numbers, got {tokens[1:]}", lineno) from None
            if len(values) != 3:
                raise BvhFormatError(path, f"OFFSET needs 3 numbers, got {len(values)}", lineno)
            joint = len(names) - 1 if stack[-1] == -2 else stack[-1]
            offsets[joint] = values
        elif key == "CHANNELS":
            if not stack or stack[-1] == -2:
                raise BvhFormatError(path, "CHANNELS outside of a joint block (End Sites have none)", lineno)
            try:
                count = int(tokens[1])
            except (IndexError, ValueError):
                raise BvhFormatError(path, "CHANNELS needs a count, e.g. 'CHANNELS 3 Zrotation ...'", lineno) from None
            names_here = tuple(tokens[2:])
            if len(names_here) != count:
                raise BvhFormatError(path, f"CHANNELS declares {count} channels but lists {len(names_here)}", lineno)
            bad = [c for c in names_here if c not in _CHANNEL_NAMES]
            if bad:
                raise BvhFormatError(path, f"unknown channel(s) {bad}; expected names from {_CHANNEL_NAMES}", lineno)
            if len(set(names_here)) != len(names_here):
                raise BvhFormatError(path, f"repeated channel in {list(names_here)}", lineno)
            channels[stack[-1]] = names_here
        elif key == "MOTION":
            if stack:
                raise BvhFormatError(path, f"MOTION before the hierarchy is closed ({len(stack)} '{{' still open)",
                                     lineno)
            if not names:
                raise BvhFormatError(path, "no ROOT joint in the hierarchy", lineno)
            missing = [n for n, o in zip(names, offsets) if len(o) != 3]
            if missing:
                raise BvhFormatError(path, f"joint(s) without OFFSET: {missing}")
            sizes = np.array([len(c) for c in channels], dtype=np.int64)
            hierarchy = BvhHierarchy(
                names=tuple(names), parents=np.array(parents, dtype=np.int64),
                offsets=np.array(offsets, dtype=np.float64), channels=tuple(channels),
                is_end_site=np.array(end_site, dtype=bool),
                channel_start=np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64),
            )
            return hierarchy, i
        else:
            raise BvhFormatError(path, f"unexpected {key!r} in the hierarchy", lineno)
    raise BvhFormatError(path, "no 'MOTION' section after the hierarchy (file truncated?)", len(lines))


def _header_value(path: Path, lines: list[str], i: int, label: str) -> str:
    """The value after ``label`` (e.g. ``"Frames:"``) on line ``i``."""
    if i >= len(lines) or not lines[i].strip().startswith(label):
        raise BvhFormatError(path, f"expected '{label} ...' after MOTION", i + 1 if i < len(lines) else None)
    return lines[i].strip()[len(label):].strip()


def parse_bvh(path: str | Path) -> BvhClip:
    """Parse a BVH file into its hierarchy and a ``(frames, channels)`` float64 array.

    Every frame line must hold exactly as many numbers as the hierarchy declares channels; the
    ``Frames:`` count must match the frame lines.  Any violation raises :class:`BvhFormatError`
    naming the file and line.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        raise BvhFormatError(path, f"cannot read: {err.strerror or err}") from None
    lines = text.splitlines()
    hierarchy, motion = _parse_hierarchy(path, lines)
    frames_text = _header_value(path, lines, motion + 1, "Frames:")
    frame_time_text = _header_value(path, lines, motion + 2, "Frame Time:")
    try:
        frames = int(frames_text)
    except ValueError:
        raise BvhFormatError(path, f"'Frames:' needs an integer, got {frames_text!r}", motion + 2) from None
    try:
        frame_time = float(frame_time_text)
    except ValueError:
        raise BvhFormatError(path, f"'Frame Time:' needs a number, got {frame_time_text!r}", motion + 3) from None
    if frames < 1 or frame_time <= 0:
        raise BvhFormatError(path, f"need Frames >= 1 and Frame Time > 0, got {frames} and {frame_time}", motion + 2)
    first = motion + 3
    body = lines[first:]
    while body and not body[-1].strip():
        body.pop()
    C = hierarchy.num_channels
    counts = [len(line.split()) for line in body]
    for k, n in enumerate(counts):
        if n != C:
            what = "an empty line" if n == 0 else f"{n} values"
            raise BvhFormatError(path, f"frame {k} has {what}, but the hierarchy declares {C} channels",
                                 first + k + 1)
    if len(body) != frames:
        raise BvhFormatError(path, f"'Frames: {frames}' but {len(body)} frame lines follow", motion + 2)
    try:
        values = np.array(" ".join(body).split(), dtype=np.float64).reshape(frames, C)
    except ValueError:
        for k, line in enumerate(body):  # find the offending line for the message
            try:
                [float(v) for v in line.split()]
            except ValueError:
                raise BvhFormatError(path, f"frame {k} holds a value that is not a number", first + k + 1) from None
        raise
    if not np.all(np.isfinite(values)):
        k = int(np.argwhere(~np.isfinite(values))[0, 0])
        raise BvhFormatError(path, f"frame {k} holds a non-finite value", first + k + 1)
    return BvhClip(path=path, hierarchy=hierarchy, values=values, frame_time=frame_time)


# --------------------------------------------------------------------------------------------
# Forward kinematics
# --------------------------------------------------------------------------------------------

def axis_rotation(axis: str, degrees: np.ndarray) -> np.ndarray:
    """Rotations about ``axis`` ("X", "Y" or "Z") by ``degrees`` ``(...,)``: ``(..., 3, 3)``.

    Right-hand rule, acting on column vectors: ``axis_rotation("Z", 90) @ (1, 0, 0) = (0, 1, 0)``.
    """
    a = np.deg2rad(np.asarray(degrees, dtype=np.float64))
    c, s = np.cos(a), np.sin(a)
    one, zero = np.ones_like(a), np.zeros_like(a)
    if axis == "X":
        rows = ((one, zero, zero), (zero, c, -s), (zero, s, c))
    elif axis == "Y":
        rows = ((c, zero, s), (zero, one, zero), (-s, zero, c))
    elif axis == "Z":
        rows = ((c, -s, zero), (s, c, zero), (zero, zero, one))
    else:
        raise ValueError(f"axis must be 'X', 'Y' or 'Z', got {axis!r}")
    return np.stack([np.stack(r, axis=-1) for r in rows], axis=-2)


def local_transforms(clip: BvhClip) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame local rotations ``(F, J, 3, 3)`` and translations ``(F, J, 3)`` (file units).

    Rotation channels compose left to right (intrinsic); position channels set the translation
    on their axis, other axes keep the OFFSET.
    """
    h = clip.hierarchy
    F, J = clip.num_frames, len(h.names)
    trans = np.broadcast_to(h.offsets, (F, J, 3)).copy()
    rotation_channels: list[list[tuple[int, str]]] = []  # per joint: (column, axis) in file order
    for j, chans in enumerate(h.channels):
        start = int(h.channel_start[j])
        rotation_channels.append([])
        for k, name in enumerate(chans):
            if name.endswith("position"):
                trans[:, j, "XYZ".index(name[0])] = clip.values[:, start + k]
            else:
                rotation_channels[j].append((start + k, name[0]))
    # R = R_first @ R_second @ R_third.  Vectorised over joints: the k-th rotation of every joint
    # is built at once, axis by axis (joints may use different orders), then multiplied in.
    rot = np.broadcast_to(np.eye(3), (F, J, 3, 3)).copy()
    for k in range(max((len(r) for r in rotation_channels), default=0)):
        step = np.broadcast_to(np.eye(3), (F, J, 3, 3)).copy()
        for axis in "XYZ":
            joints = [j for j, r in enumerate(rotation_channels) if len(r) > k and r[k][1] == axis]
            if joints:
                columns = [rotation_channels[j][k][0] for j in joints]
                step[:, joints] = axis_rotation(axis, clip.values[:, columns])
        rot = rot @ step
    return rot, trans


def forward_kinematics(clip: BvhClip) -> tuple[np.ndarray, np.ndarray]:
    """World positions ``(F, J, 3)`` and rotations ``(F, J, 3, 3)`` in the file's frame and units.

    Joints are in file order, so a parent is always done before its children; each step is one
    batched matrix product over all frames.
    """
    rot, trans = local_transforms(clip)
    pos_w = np.empty_like(trans)
    rot_w = np.empty_like(rot)
    for j, p in enumerate(clip.hierarchy.parents):
        if p < 0:
            rot_w[:, j] = rot[:, j]
            pos_w[:, j] = trans[:, j]
        else:
            rot_w[:, j] = rot_w[:, p] @ rot[:, j]
            pos_w[:, j] = pos_w[:, p] + np.einsum("fab,fb->fa", rot_w[:, p], trans[:, j])
    return pos_w, rot_w


#: File frame (Y up) -> partnas world (Z up): +90 deg about X, ``(x, y, z) -> (x, -z, y)``.
Y_UP_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
_UP_AXES = {"y": Y_UP_TO_Z_UP, "z": np.eye(3)}


@dataclass
class BvhMotion:
    """A BVH clip in partnas' world: millimetres, Z up, the file's floor at Z = 0.

    ``positions`` ``(F, J, 3)`` and ``rotations`` ``(F, J, 3, 3)`` (world orientation of each
    joint's frame, expressed in partnas world axes) for every joint of ``hierarchy`` (End Sites
    included).  ``hierarchy.offsets`` stay in file units.
    """

    path: Path
    hierarchy: BvhHierarchy
    positions: np.ndarray
    rotations: np.ndarray
    frame_time: float
    scale: float

    @property
    def names(self) -> tuple[str, ...]:
        return self.hierarchy.names

    @property
    def parents(self) -> np.ndarray:
        return self.hierarchy.parents

    @property
    def num_frames(self) -> int:
        return int(self.positions.shape[0])


def read_bvh(path: str | Path, scale: float = 10.0, up: str = "y") -> BvhMotion:
    """Read a BVH file and run forward kinematics; joints in partnas world (mm, Z up).

    ``scale``: millimetres per file unit (10 for centimetres).  ``up``: the file's vertical axis,
    ``"y"`` (almost every BVH exporter) or ``"z"``.
    """
    if up not in _UP_AXES:
        raise ValueError(f"up must be 'y' or 'z', got {up!r}")
    if not scale > 0:
        raise ValueError(f"scale must be positive (mm per file unit), got {scale}")
    return _to_world(parse_bvh(path), scale, up)


def _to_world(clip: BvhClip, scale: float, up: str) -> BvhMotion:
    """Forward kinematics of ``clip``, scaled to mm and turned to Z up."""
    pos, rot = forward_kinematics(clip)
    A = _UP_AXES[up]
    return BvhMotion(path=clip.path, hierarchy=clip.hierarchy, positions=scale * pos @ A.T,
                     rotations=A @ rot, frame_time=clip.frame_time, scale=float(scale))


# --------------------------------------------------------------------------------------------
# Retargeting to Human3.6M-17
# --------------------------------------------------------------------------------------------

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
H36M_LEG_MM = 442.0 + 454.0
H36M_PELVIS_HIP_MM = 132.0
H36M_SPINE_FRACTION = 233.0 / (233.0 + 257.0)
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
        f"lacks {sorted(closest.required() - have)}); add a SkeletonMap to partnas_lib.data.bvh.SKELETONS"
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


# --------------------------------------------------------------------------------------------
# Clips, folders and splits
# --------------------------------------------------------------------------------------------

@dataclass
class MocapClip:
    """One retargeted clip: Human3.6M-17 joints for every frame, plus where it came from.

    ``joints``: ``(F, 17, 3)`` float32 mm, partnas world (Z up, feet on the floor at Z = 0; the
    horizontal position is wherever the actor was on the capture stage).  ``group``: the unit of
    splitting (:func:`clip_group`).  ``action`` / ``style``: labels when the dataset ships them
    (Bandai Namco: ``walk`` / ``happy``), else derived from the file name.  ``bones``: a short
    signature of the limb lengths: clips with the same signature were captured on the same
    calibrated skeleton (in practice, the same actor).
    """

    name: str
    path: str
    group: str
    action: str
    style: str
    joints: np.ndarray
    frame_time: float
    skeleton: str
    bones: str

    @property
    def num_frames(self) -> int:
        return int(self.joints.shape[0])


_TAKE = re.compile(r"[_\-. ]?\d+$")


def clip_group(path: str | Path) -> str:
    """The split unit of a clip: its JSON sidecar's ``actor`` (or ``subject``) when there is one,
    else the file stem without a trailing take number (``walk_happy_002`` -> ``walk_happy``), so
    that two takes of one motion never straddle train and test.  (CMU files are named
    ``subject_trial``, e.g. ``07_03``: their group is the subject, so whole actors are held out.)"""
    path = Path(path)
    sidecar = path.with_suffix(".json")
    if sidecar.is_file():
        try:
            labels = json.loads(sidecar.read_text())
        except (OSError, json.JSONDecodeError):
            labels = {}
        for key in ("actor", "subject"):
            if isinstance(labels, dict) and labels.get(key) not in (None, ""):
                return f"{key}:{labels[key]}"
    return _TAKE.sub("", path.stem) or path.stem


def _labels(path: Path) -> tuple[str, str]:
    """``(action, style)`` of a clip: Bandai Namco's JSON sidecar (``content``/``style`` indices)
    resolved with ``cfg/content_label.txt`` / ``cfg/style_label.txt``, else ``(stem, "")``."""
    sidecar = path.with_suffix(".json")
    cfg = path.parent.parent / "cfg"
    stem = _TAKE.sub("", path.stem) or path.stem
    try:
        labels = json.loads(sidecar.read_text())
        content = (cfg / "content_label.txt").read_text().split()
        styles = (cfg / "style_label.txt").read_text().split()
        strip = re.compile(r"^dataset-\d+_")
        return strip.sub("", content[int(labels["content"])]), strip.sub("", styles[int(labels["style"])])
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return stem, ""


def _bones_signature(joints: np.ndarray) -> str:
    """Short hash of the clip's limb lengths rounded to 1 mm: clips captured on the same
    calibrated skeleton (in practice, the same actor) share it.  (Rest OFFSETs would not do: some
    exporters store the stage position of the first frame there.)"""
    limbs = [(1, 2), (2, 3), (4, 5), (5, 6), (11, 12), (12, 13), (14, 15), (15, 16)]  # thighs, shins, arms
    lengths = [round(float(np.linalg.norm(joints[:, b] - joints[:, a], axis=-1).mean())) for a, b in limbs]
    return hashlib.sha256(json.dumps(lengths).encode()).hexdigest()[:8]


def load_clip(path: str | Path, skeleton: str | SkeletonMap | None = None) -> MocapClip:
    """Read, retarget and label one BVH file (no caching; see :func:`load_clips`)."""
    path = Path(path)
    clip = parse_bvh(path)
    spec = get_skeleton(skeleton, clip.hierarchy.names)
    joints = retarget_to_h36m(_to_world(clip, spec.scale, spec.up), spec)
    action, style = _labels(path)
    return MocapClip(name=path.stem, path=str(path), group=clip_group(path), action=action, style=style,
                     joints=joints.astype(np.float32), frame_time=clip.frame_time, skeleton=spec.name,
                     bones=_bones_signature(joints))


def find_bvh_files(root: str | Path) -> list[Path]:
    """The ``.bvh`` files under ``root`` (recursively; case-insensitive suffix), sorted."""
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"{root}: BVH folder not found")
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.suffix.lower() == ".bvh" and p.is_file())


def _stamp(path: Path) -> list[int]:
    """Size and mtime of a clip and of its JSON sidecar (labels decide the split), if any."""
    st = path.stat()
    sidecar = path.with_suffix(".json")
    extra = [sidecar.stat().st_size, sidecar.stat().st_mtime_ns] if sidecar.is_file() else []
    return [st.st_size, st.st_mtime_ns, *extra]


def folder_fingerprint(root: str | Path, skeleton: str | None = None) -> str:
    """Hash of every BVH file's relative path, size and mtime, its label sidecar's, and
    :data:`BVH_VERSION`: it changes whenever a clip is added, removed or edited, so caches keyed
    on it never go stale."""
    root = Path(root)
    entries = []
    for p in find_bvh_files(root):
        entries.append([str(p.relative_to(root)) if root.is_dir() else p.name, *_stamp(p)])
    key = json.dumps({"version": BVH_VERSION, "skeleton": skeleton, "files": entries})
    return hashlib.sha256(key.encode()).hexdigest()[:20]


def default_mocap_cache() -> Path:
    """``$PARTNAS_CACHE/bvh`` (or ``~/.cache/partnas/bvh``): retargeted clips, outside the repo."""
    return default_cache_dir() / "bvh"


def _clip_cache_file(cache_dir: Path, path: Path, skeleton: str | None) -> Path:
    key = json.dumps({"version": BVH_VERSION, "path": str(path.resolve()), "stamp": _stamp(path),
                      "skeleton": skeleton})
    return cache_dir / f"clip-{hashlib.sha256(key.encode()).hexdigest()[:24]}.npz"


def _save_clip(clip: MocapClip, file: Path) -> None:
    """Write a retargeted clip atomically (temp file + rename); failures only skip the cache."""
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        meta = {k: getattr(clip, k) for k in ("name", "path", "group", "action", "style", "frame_time",
                                              "skeleton", "bones")}
        fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=file.name + ".", suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, joints=clip.joints, meta=np.array(json.dumps(meta)))
        os.replace(tmp, file)
    except OSError:
        Path(tmp).unlink(missing_ok=True)


def _load_cached_clip(file: Path) -> MocapClip | None:
    try:
        with np.load(file, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            return MocapClip(joints=z["joints"], **meta)
    except Exception:  # missing, truncated or foreign: rebuild it
        return None


_CLIP_MEMO: dict[tuple, MocapClip] = {}
_MEMO_LOCK = threading.Lock()


def load_clips(paths: Sequence[str | Path], skeleton: str | None = None, cache_dir: str | Path | None = None,
               strict: bool = True) -> tuple[list[MocapClip], list[tuple[str, str]]]:
    """Load many clips, each cached in memory (per process) and on disk under ``cache_dir``
    (default :func:`default_mocap_cache`; ``cache_dir=""`` disables the disk cache), keyed by
    file path, size and mtime (the clip's and its label sidecar's).

    Returns ``(clips, failures)`` where ``failures`` lists ``(file, error)``; with ``strict`` the
    first failure raises instead.
    """
    disk = None if cache_dir == "" else Path(cache_dir) if cache_dir is not None else default_mocap_cache()
    clips: list[MocapClip] = []
    failures: list[tuple[str, str]] = []
    for p in map(Path, paths):
        try:
            memo_key = (str(p.resolve()), *_stamp(p), skeleton, BVH_VERSION)
            with _MEMO_LOCK:
                clip = _CLIP_MEMO.get(memo_key)
            if clip is None:
                file = _clip_cache_file(disk, p, skeleton) if disk is not None else None
                clip = _load_cached_clip(file) if file is not None and file.exists() else None
                if clip is None:
                    clip = load_clip(p, skeleton)
                    if file is not None:
                        _save_clip(clip, file)
                with _MEMO_LOCK:
                    _CLIP_MEMO[memo_key] = clip
            clips.append(clip)
        except (ValueError, KeyError, OSError) as err:
            if strict:
                if isinstance(err, BvhFormatError):
                    raise
                raise ValueError(f"{p}: {err}") from err
            failures.append((str(p), str(err)))
    return clips, failures


SPLITS: tuple[str, ...] = ("train", "val", "test")
#: Share of clip groups held out for validation and for test (at least one group each).
HOLDOUT_FRACTION = 0.1


def assign_splits(groups: Sequence[str]) -> dict[str, str]:
    """Map each clip group to ``"train"``, ``"val"`` or ``"test"``: about 80 / 10 / 10 %.

    The rule: order the distinct groups by the SHA-256 of their name (a fixed pseudo-random
    shuffle that does not depend on the machine, the file order or a seed), give the first
    ``max(1, round(10 %))`` to test, the next as many to val, the rest to train.  Every take of
    a group lands in the same split, so test poses come from motions never seen in training.
    Needs at least 3 groups.
    """
    distinct = sorted(set(groups), key=lambda g: hashlib.sha256(g.encode()).hexdigest())
    n = len(distinct)
    if n < 3:
        raise ValueError(f"need clips of at least 3 different motions to split into train/val/test, got {n} "
                         f"({distinct}); takes of one motion (name_001, name_002) count once")
    k = max(1, int(round(HOLDOUT_FRACTION * n)))
    return {g: ("test" if i < k else "val" if i < 2 * k else "train") for i, g in enumerate(distinct)}


@dataclass
class MocapLibrary:
    """Every clip of a BVH folder, retargeted, with the split of each clip."""

    root: str
    clips: list[MocapClip]
    failures: list[tuple[str, str]]
    split_of_group: dict[str, str]
    fingerprint: str

    def split_of(self, clip: MocapClip) -> str:
        return self.split_of_group[clip.group]

    def clips_in(self, split: str) -> list[MocapClip]:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
        return [c for c in self.clips if self.split_of(c) == split]

    def poses(self, split: str) -> "MocapPoses":
        return MocapPoses(self.clips_in(split), split, self.root)


_LIBRARIES: dict[tuple, MocapLibrary] = {}


def load_mocap_folder(root: str | Path, skeleton: str | None = None, cache_dir: str | Path | None = None,
                      strict: bool = True) -> MocapLibrary:
    """All BVH clips under ``root``, retargeted and split (memoised per process on the folder's
    :func:`folder_fingerprint`, clips cached on disk by :func:`load_clips`)."""
    root = Path(root)
    files = find_bvh_files(root)
    if not files:
        raise FileNotFoundError(f"{root}: no .bvh files found")
    fp = folder_fingerprint(root, skeleton)
    key = (str(root.resolve()), fp, strict, str(cache_dir))
    if key in _LIBRARIES:
        return _LIBRARIES[key]
    clips, failures = load_clips(files, skeleton=skeleton, cache_dir=cache_dir, strict=strict)
    groups = [c.group for c in clips]
    # Strict loads need a valid split (assign_splits raises with the reason); a lenient load
    # (data check) reports a folder with fewer than 3 motions instead.
    split_of_group = assign_splits(groups) if strict or len(set(groups)) >= 3 else {}
    lib = MocapLibrary(root=str(root), clips=clips, failures=failures, split_of_group=split_of_group, fingerprint=fp)
    _LIBRARIES[key] = lib
    return lib


# --------------------------------------------------------------------------------------------
# A pose source for the synthetic renderer
# --------------------------------------------------------------------------------------------

def parse_pose_source(spec: str) -> Path | None:
    """``"procedural"`` -> None; ``"bvh:/path/to/folder"`` -> the folder (``ValueError`` otherwise)."""
    if spec == "procedural":
        return None
    if spec.startswith("bvh:") and spec[4:].strip():
        return Path(os.path.expanduser(spec[4:].strip()))
    raise ValueError(f"pose source {spec!r}: expected 'procedural' or 'bvh:/path/to/folder'")


#: Subjects stand within this radius (mm) of the capture centre (as procedural ones do).
PLACEMENT_RADIUS = 1200.0


@dataclass
class MocapPoses:
    """The clips of one split, drawn from by :meth:`sample`."""

    clips: list[MocapClip]
    split: str
    root: str = ""

    def __post_init__(self) -> None:
        if not self.clips:
            raise ValueError(f"BVH folder {self.root}: no clip in split {self.split!r}")

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        """A world pose ``(17, 3)`` mm and its meta, using ``rng`` only.

        A clip is drawn uniformly (so short and long motions are equally likely), then a frame
        uniformly within it.  The pose is turned about the vertical by a yaw uniform in
        0-360 deg and its pelvis moved to a point uniform in the disc of radius
        :data:`PLACEMENT_RADIUS` around the capture centre; heights are kept (feet on the floor).
        """
        from partnas_lib.data.poses import place_in_world

        clip = self.clips[int(rng.integers(len(self.clips)))]
        frame = int(rng.integers(clip.num_frames))
        joints = clip.joints[frame].astype(np.float64)
        joints[:, :2] -= joints[0, :2]
        yaw = rng.uniform(0.0, 360.0)
        radius = PLACEMENT_RADIUS * np.sqrt(rng.uniform())
        theta = rng.uniform(0.0, 2 * np.pi)
        world = place_in_world(joints, yaw, radius * np.array([np.cos(theta), np.sin(theta)]), 0.0)
        return world, {"action": clip.action, "clip": clip.name, "clip_frame": frame, "style": clip.style}


def mocap_poses(pose_source: str, split: str, skeleton: str | None = None) -> MocapPoses | None:
    """The :class:`MocapPoses` of ``split`` for a ``"bvh:DIR"`` pose source (None if procedural)."""
    root = parse_pose_source(pose_source)
    if root is None:
        return None
    return load_mocap_folder(root, skeleton=skeleton).poses(split)


def body_for_joints(body: Any, joints: np.ndarray) -> Any:
    """A copy of a :class:`~partnas_lib.data.poses.Body` fitted to posed ``joints`` ``(17, 3)``.

    The renderer draws the joints as given; this only keeps the body's description consistent
    with them: bone-length fields become the pose's (left/right averaged), and limb radii are
    rescaled from the body's own size to the pose's size (leg length / 896 mm), so a small actor
    is not drawn with a large subject's limbs.  Clothes and build are kept.
    """
    import dataclasses

    from partnas_lib.data.poses import BONE_FIELDS, MEAN_RADII

    lengths: dict[str, list[float]] = {}
    for (a, b), name in BONE_FIELDS.items():
        lengths.setdefault(name, []).append(float(np.linalg.norm(joints[b] - joints[a])))
    fields = {name: float(np.mean(v)) for name, v in lengths.items()}
    size = (fields["hip_knee"] + fields["knee_ankle"]) / H36M_LEG_MM
    ratio = size / body.height_factor
    radii = {name: getattr(body, name) * ratio for name in MEAN_RADII}
    return dataclasses.replace(body, height_factor=size, **fields, **radii)


# --------------------------------------------------------------------------------------------
# Checking a folder (``partnas data check --dataset bvh``)
# --------------------------------------------------------------------------------------------

#: Limits of :func:`check_bvh_folder`: left/right bone-length difference of a clip (median over
#: its frames, worst limb) and the plausible range of skeleton heights (mm, :func:`skeleton_height`).
BVH_LIMITS: dict[str, Any] = {"asymmetry": 0.05, "height_mm": (1400.0, 2100.0), "facing_min_fraction": 0.5}


def skeleton_height(joints: np.ndarray) -> float:
    """The height (mm) of the clip's skeleton standing straight, whatever the clip's poses:
    ankle above floor (:data:`FLOOR_ANKLE_MM`) + shin + thigh + hip-to-pelvis + pelvis-to-spine +
    spine-to-thorax + thorax-to-head-top, each the mean length over frames (left/right averaged).
    Hunched or running clips would fool a height read off the poses; this does not."""
    def length(a: str, b: str) -> float:
        return float(np.linalg.norm(joints[:, _H36M[b]] - joints[:, _H36M[a]], axis=-1).mean())

    legs = np.mean([length(f"{s}_ankle", f"{s}_knee") + length(f"{s}_knee", f"{s}_hip") for s in "lr"])
    hips = (joints[:, _H36M["l_hip"]] + joints[:, _H36M["r_hip"]]) / 2
    hip_pelvis = float(np.linalg.norm(joints[:, _H36M["pelvis"]] - hips, axis=-1).mean())
    trunk = length("pelvis", "spine") + length("spine", "thorax") + length("thorax", "head")
    return float(FLOOR_ANKLE_MM + legs + hip_pelvis + trunk)


def observed_height(joints: np.ndarray) -> float:
    """Head-top height above the floor in the clip's 95th-percentile frame (mm): how tall the
    actor stands in this clip (lower than :func:`skeleton_height` for hunched styles)."""
    return float(np.percentile(joints[:, _H36M["head"], 2], 95))


def check_bvh_folder(root: str | Path, skeleton: str | None = None,
                     cache_dir: str | Path | None = None) -> dict[str, Any]:
    """Load every clip of a BVH folder leniently and report what training would get.

    Returns a JSON-ready dict: ``clips {found, loaded, failed: [{file, error}]}``, ``frames``,
    ``frame_rate``, ``skeletons`` (map name -> clips), ``bone_sets`` (rest-offset signature ->
    clips; one per calibrated actor in practice), ``asymmetry`` (per limb: worst clip's median
    left/right difference, and the worst clip), ``heights_mm`` (min/median/max of :func:`skeleton_height`, and
    of :func:`observed_height` as ``observed_*``), ``facing`` and ``bone_lengths`` (as for other datasets, over all
    frames), ``splits`` (clips, groups and frames per split), ``per_clip`` (frames, split, group,
    action, style, asymmetry, height), ``problems`` and ``ok``.
    """
    from partnas_lib.data.check import bone_lengths, bone_symmetry, facing_fractions

    root = Path(root)
    files = find_bvh_files(root)
    if not files:
        raise FileNotFoundError(f"{root}: no .bvh files found")
    lib = load_mocap_folder(root, skeleton=skeleton, cache_dir=cache_dir, strict=False)
    problems: list[str] = [f"{Path(f).name} failed to load: {err}" for f, err in lib.failures]
    per_clip: list[dict[str, Any]] = []
    for c in lib.clips:
        J = c.joints.astype(np.float64)
        sym = bone_symmetry(J)
        per_clip.append({
            "clip": c.name, "file": c.path, "frames": c.num_frames, "seconds": round(c.num_frames * c.frame_time, 2),
            "action": c.action, "style": c.style, "group": c.group, "split": lib.split_of_group.get(c.group),
            "skeleton": c.skeleton, "bones": c.bones, "asymmetry": max(sym.values()),
            "asymmetry_by_limb": sym, "height_mm": skeleton_height(J), "observed_height_mm": observed_height(J),
        })
    report: dict[str, Any] = {
        "dataset": "bvh", "root": str(root), "layout": "bvh",
        "clips": {"found": len(files), "loaded": len(lib.clips),
                  "failed": [{"file": f, "error": e} for f, e in lib.failures]},
        "frames": int(sum(c["frames"] for c in per_clip)),
        "frame_rate": sorted({round(1.0 / c.frame_time, 3) for c in lib.clips}),
        "skeletons": dict(sorted(_count(c.skeleton for c in lib.clips).items())),
        "bone_sets": dict(sorted(_count(c.bones for c in lib.clips).items(), key=lambda kv: -kv[1])),
        "retarget_rules": RETARGET_RULES,
        "split_rule": assign_splits.__doc__.split("\n\n")[1].strip() if assign_splits.__doc__ else "",
    }
    if not lib.clips:
        problems.append("no clip could be loaded")
        report.update(asymmetry=None, heights_mm=None, facing=None, bone_lengths=None, splits=None, per_clip=[])
        report.update(problems=problems, ok=False)
        return report
    limbs = per_clip[0]["asymmetry_by_limb"].keys()
    report["asymmetry"] = {
        limb: {"max": max(c["asymmetry_by_limb"][limb] for c in per_clip),
               "median": float(np.median([c["asymmetry_by_limb"][limb] for c in per_clip]))} for limb in limbs}
    worst = max(per_clip, key=lambda c: c["asymmetry"])
    report["asymmetry"]["worst_clip"] = {"clip": worst["clip"], "asymmetry": worst["asymmetry"]}
    heights = np.array([c["height_mm"] for c in per_clip])
    observed = np.array([c["observed_height_mm"] for c in per_clip])
    report["heights_mm"] = {"min": float(heights.min()), "median": float(np.median(heights)),
                            "max": float(heights.max()),
                            "observed_min": float(observed.min()), "observed_median": float(np.median(observed))}
    every = np.concatenate([c.joints[:: max(1, c.num_frames // 50)] for c in lib.clips]).astype(np.float64)
    report["facing"] = facing_fractions(every)
    report["bone_lengths"] = bone_lengths(every)
    if lib.split_of_group:
        report["splits"] = {s: {"clips": sum(c["split"] == s for c in per_clip),
                                "groups": len({c["group"] for c in per_clip if c["split"] == s}),
                                "frames": int(sum(c["frames"] for c in per_clip if c["split"] == s))}
                            for s in SPLITS}
    else:
        report["splits"] = None
        problems.append(f"only {len({c.group for c in lib.clips})} distinct motion(s): train/val/test need at least 3")
    report["per_clip"] = per_clip

    lim = BVH_LIMITS
    asym = [c for c in per_clip if c["asymmetry"] > lim["asymmetry"]]
    if asym:
        problems.append(f"{len(asym)} clip(s) have left/right limbs differing by more than {lim['asymmetry']:.0%}, "
                        f"e.g. {asym[0]['clip']} ({asym[0]['asymmetry']:.1%}): wrong joint names in the skeleton map?")
    lo, hi = lim["height_mm"]
    odd = [c for c in per_clip if not lo <= c["height_mm"] <= hi]
    if odd:
        problems.append(f"{len(odd)} clip(s) have a skeleton height outside {lo / 1000:.1f}-{hi / 1000:.1f} m, e.g. "
                        f"{odd[0]['clip']} ({odd[0]['height_mm'] / 1000:.2f} m): wrong unit scale or up axis?")
    for part, frac in report["facing"].items():
        if frac < lim["facing_min_fraction"]:
            problems.append(f"face and knees point backwards in {1 - frac:.0%} of frames judged by the {part}: "
                            "left and right look swapped in the skeleton map")
    report["problems"] = problems
    report["ok"] = not problems
    return report


def _count(items: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for x in items:
        out[x] = out.get(x, 0) + 1
    return out


def format_bvh_report(r: dict[str, Any]) -> str:
    """The readable form of a :func:`check_bvh_folder` report."""
    c = r["clips"]
    lines = [f"partnas data check: bvh at {r['root']}",
             f"  clips              {c['found']} found, {c['loaded']} loaded, {len(c['failed'])} failed"]
    lines += [f"    failed: {f['file']}: {f['error']}" for f in c["failed"][:10]]
    lines.append(f"  frames             {r['frames']} at {', '.join(f'{x:g}' for x in r['frame_rate'])} fps")
    lines.append("  skeletons          " + ", ".join(f"{k}: {v} clips" for k, v in r["skeletons"].items()))
    sets = list(r["bone_sets"].values())
    lines.append(f"  limb-length sets   {len(sets)} (one per calibrated actor): "
                 + ", ".join(f"{v} clips" for v in sets[:8]) + (", ..." if len(sets) > 8 else ""))
    if r.get("asymmetry"):
        a = r["asymmetry"]
        lines.append("  L/R limb lengths   worst clip median " + ", ".join(
            f"{k} {v['max']:.2%}" for k, v in a.items() if k != "worst_clip")
            + f" (limit {BVH_LIMITS['asymmetry']:.0%}; worst {a['worst_clip']['clip']})")
    if r.get("heights_mm"):
        h = r["heights_mm"]
        lines.append(f"  skeleton height    min {h['min'] / 1000:.2f} m, median {h['median'] / 1000:.2f} m, "
                     f"max {h['max'] / 1000:.2f} m (limits {BVH_LIMITS['height_mm'][0] / 1000:.1f}-"
                     f"{BVH_LIMITS['height_mm'][1] / 1000:.1f} m)")
        lines.append(f"  head top (p95)     min {h['observed_min'] / 1000:.2f} m, "
                     f"median {h['observed_median'] / 1000:.2f} m (as posed: lower for hunched or running styles)")
    if r.get("facing"):
        lines.append("  facing forward     " + ", ".join(f"{k} {v:.0%}" for k, v in r["facing"].items()))
    if r.get("bone_lengths"):
        bl = r["bone_lengths"]
        lines.append(f"  limb scale         x{bl['scale']:.2f} of Human3.6M mean; "
                     + ", ".join(f"{k} x{v:.2f}" for k, v in bl["ratio"].items()))
    if r.get("splits"):
        lines.append("  splits             " + ", ".join(
            f"{s}: {v['clips']} clips ({v['groups']} motions, {v['frames']} frames)" for s, v in r["splits"].items()))
        for s in SPLITS:
            if s != "train":
                names = [p["clip"] for p in r["per_clip"] if p["split"] == s]
                lines.append(f"    {s:<5} {', '.join(names)}")
    lines.append(f"result: OK" if r["ok"] else f"result: {len(r['problems'])} problem(s)")
    lines.extend(f"  - {p}" for p in r["problems"])
    return "\n".join(lines)


__all__ = [
    "BVH_LIMITS", "BVH_VERSION", "BvhClip", "BvhFormatError", "BvhHierarchy", "BvhMotion", "MocapClip",
    "MocapLibrary", "MocapPoses", "RETARGET_RULES", "SKELETONS", "SPLITS", "SkeletonMap", "assign_splits",
    "axis_rotation", "body_for_joints", "check_bvh_folder", "clip_group", "default_mocap_cache", "detect_skeleton",
    "find_bvh_files", "folder_fingerprint", "format_bvh_report", "forward_kinematics", "get_skeleton", "load_clip",
    "load_clips", "load_mocap_folder", "local_transforms", "mocap_poses", "parse_bvh", "parse_pose_source",
    "observed_height", "read_bvh", "retarget_to_h36m", "skeleton_height", "two_bone_ik",
]
