"""MuPoTS-3D facts both layouts share: joint order, bone tree, sequences, sample meta.

MuPoTS-3D (Mehta et al. 2018) is the multi-person test set of the paper: 20 sequences
``TS1``..``TS20`` (TS1-5 indoor, 2048 x 2048; TS6-20 outdoor, 1920 x 1080), several people per
frame.  Its joints come in the MPI-INF-3DHP test order (:data:`MUPOTS_JOINT_NAMES`); the
loaders reorder them into Human3.6M-17 with :data:`H36M_FROM_MUPOTS`.

The official scorer compares poses after giving every predicted bone the ground truth's length,
walking the MuPoTS bone tree from the pelvis (:data:`BONES_SAFE_ORDER`,
:func:`rescale_bones`); the synthetic multi-person scenes build their "universal skeleton" the
same way (:func:`~partnas_lib.data.synth.scenes.universal_skeleton`).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

#: MuPoTS-3D joint order (MPI-INF-3DHP test order).
MUPOTS_JOINT_NAMES: tuple[str, ...] = (
    "head_top", "thorax", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist",
    "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "pelvis", "spine", "head",
)
#: Human3.6M-17 joint ``i`` is MuPoTS joint ``H36M_FROM_MUPOTS[i]`` (docs/formats.md).  MuPoTS'
#: "head" (centre of the head) stands in for Human3.6M's nose.
H36M_FROM_MUPOTS: tuple[int, ...] = (14, 8, 9, 10, 11, 12, 13, 15, 1, 16, 0, 5, 6, 7, 2, 3, 4)

SEQUENCES: tuple[str, ...] = tuple(f"TS{i}" for i in range(1, 21))
INDOOR_SEQUENCES: tuple[str, ...] = SEQUENCES[:5]

#: The MuPoTS bone tree as (joint, parent) in MuPoTS indices, in the official script's "safe
#: traversal order" (every parent is placed before its children).  Head top and head hang off
#: the thorax.
_MUPOTS_BONES: tuple[tuple[int, int], ...] = (
    (15, 14), (1, 15), (0, 1), (16, 1), (2, 1), (3, 2), (4, 3), (5, 1), (6, 5), (7, 6),
    (8, 14), (9, 8), (10, 9), (11, 14), (12, 11), (13, 12),
)
#: The same bones in Human3.6M-17 indices, (joint, parent), root first.
BONES_SAFE_ORDER: tuple[tuple[int, int], ...] = tuple(
    (H36M_FROM_MUPOTS.index(j), H36M_FROM_MUPOTS.index(p)) for j, p in _MUPOTS_BONES
)


def image_size_of(sequence: str) -> tuple[int, int]:
    """``(width, height)``: TS1-5 are 2048 x 2048 (indoor), TS6-20 1920 x 1080 (outdoor)."""
    return (2048, 2048) if sequence in INDOOR_SEQUENCES else (1920, 1080)


def mupots_to_h36m(joints: np.ndarray) -> np.ndarray:
    """Reorder ``(..., 17, D)`` MuPoTS-order joints into Human3.6M-17 order."""
    return np.asarray(joints)[..., list(H36M_FROM_MUPOTS), :]


def rescale_bones(pred: np.ndarray, gt: np.ndarray,
                  bones: Sequence[tuple[int, int]] = BONES_SAFE_ORDER) -> np.ndarray:
    """``mpii_map_to_gt_bone_lengths``: give ``pred`` ``(..., 17, 3)`` the bone lengths of ``gt``.

    Walking ``bones`` (joint, parent) root first, each joint is put at its (already moved)
    parent plus the *predicted* bone direction scaled to the ground-truth bone length.  The root
    does not move.  A predicted bone of zero length has no direction and stays zero.
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    out = pred.copy()
    for j, p in bones:
        vec = pred[..., j, :] - pred[..., p, :]
        length = np.linalg.norm(vec, axis=-1, keepdims=True)
        target = np.linalg.norm(gt[..., j, :] - gt[..., p, :], axis=-1, keepdims=True)
        scale = np.divide(target, length, out=np.zeros_like(length), where=length > 1e-9)
        out[..., j, :] = out[..., p, :] + vec * scale
    return out


def sample_meta(layout: str, sequence: str, frame: int, person: int, image_id: int, valid: bool,
                **extra: Any) -> dict[str, Any]:
    """The ``meta`` of one MuPoTS-3D person (the keys listed in :mod:`~partnas_lib.data.datasets.mupots`)."""
    return {"source": "mupots", "layout": layout, "sequence": sequence, "subject": sequence,
            "action": "indoor" if sequence in INDOOR_SEQUENCES else "outdoor", "camera": sequence,
            "frame": frame, "person": person, "image_id": image_id,
            "file_name": f"{sequence}/img_{frame:06d}.jpg", "is_valid": valid, **extra}


__all__ = ["BONES_SAFE_ORDER", "H36M_FROM_MUPOTS", "INDOOR_SEQUENCES", "MUPOTS_JOINT_NAMES", "SEQUENCES",
           "image_size_of", "mupots_to_h36m", "rescale_bones", "sample_meta"]
