"""Forward kinematics of a BVH clip, in partnas' world (millimetres, Z up).

**Forward kinematics.**  Each joint's local transform is ``T(t) R`` (translate, then rotate); a
joint's world rotation is ``R_world(parent) @ R`` and its world position is
``p_world(parent) + R_world(parent) @ t``.  :func:`forward_kinematics` runs this for all frames
at once (numpy over the frame axis, a Python loop only over the ~20-30 joints).

**Units and axes.**  BVH has no unit field.  :func:`read_bvh` scales by ``scale`` (mm per file
unit: 10 for centimetres, as in the Bandai Namco dataset; see
:data:`~partnas_lib.data.mocap.retarget.SKELETONS`) and turns the file's Y-up frame into partnas'
world (mm, **Z up**, floor at Z = 0) with a +90 deg rotation about X: ``(x, y, z) -> (x, -z, y)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from partnas_lib.data.mocap.bvh import BvhClip, BvhHierarchy, parse_bvh


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
    return to_world(parse_bvh(path), scale, up)


def to_world(clip: BvhClip, scale: float, up: str) -> BvhMotion:
    """Forward kinematics of ``clip``, scaled to mm and turned to Z up."""
    pos, rot = forward_kinematics(clip)
    A = _UP_AXES[up]
    return BvhMotion(path=clip.path, hierarchy=clip.hierarchy, positions=scale * pos @ A.T,
                     rotations=A @ rot, frame_time=clip.frame_time, scale=float(scale))


__all__ = ["BvhMotion", "Y_UP_TO_Z_UP", "axis_rotation", "forward_kinematics", "local_transforms", "read_bvh",
           "to_world"]
