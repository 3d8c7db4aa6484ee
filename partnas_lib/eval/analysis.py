"""Per-sample numbers behind the result pictures: errors, body measurements, limb vs torso.

Plain computation, tested without drawing; :mod:`partnas_lib.viz.results` and the notebooks
plot what these return.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from partnas_lib.eval.metrics import joint_errors
from partnas_lib.skeleton import BONES, FLIP_PAIRS, bone_lengths


def per_sample_errors(pred_mm: np.ndarray, gt_mm: np.ndarray) -> np.ndarray:
    """``(N,)`` root-aligned mean per-joint error of each sample (mm)."""
    return joint_errors(np.asarray(pred_mm, np.float64), np.asarray(gt_mm, np.float64)).mean(axis=1)


def reprojection_errors(arrays: Any) -> np.ndarray:
    """``(N, 17)`` pixel distance between the 2D joints and the 3D joints projected with the
    pinhole intrinsics (``u = fx X / Z + cx``): ~0 for undistorted cameras, a few px where a
    real lens's distortion was ignored."""
    j3 = np.asarray(arrays.joints_3d, np.float64)
    intr = np.asarray(arrays.intrinsics, np.float64)[:, None, :]
    uv = j3[..., :2] / j3[..., 2:3] * intr[..., 0:2] + intr[..., 2:4]
    return np.linalg.norm(uv - np.asarray(arrays.joints_2d, np.float64), axis=-1)


def left_right_asymmetry(joints_mm: np.ndarray) -> np.ndarray:
    """``(...,)`` largest length difference (mm) between a left bone and its right twin."""
    mirror = {a: b for a, b in FLIP_PAIRS} | {b: a for a, b in FLIP_PAIRS}
    lengths = bone_lengths(joints_mm)
    index = {bone: k for k, bone in enumerate(BONES)}
    diffs = []
    for (p, c), k in index.items():
        twin = (mirror.get(p, p), mirror.get(c, c))
        if twin != (p, c) and twin in index and index[twin] > k:
            diffs.append(np.abs(lengths[..., k] - lengths[..., index[twin]]))
    return np.max(np.stack(diffs, axis=-1), axis=-1)


def person_heights(joints_mm: np.ndarray) -> np.ndarray:
    """``(...,)`` skeleton height (mm): head top to the lower ankle along the body, i.e. the sum
    of the bones head-nose-thorax-spine-pelvis-hip-knee-ankle of the longer leg (pose-independent)."""
    lengths = bone_lengths(joints_mm)
    k = {bone: i for i, bone in enumerate(BONES)}
    spine = sum(lengths[..., k[b]] for b in ((0, 7), (7, 8), (8, 9), (9, 10)))
    right = sum(lengths[..., k[b]] for b in ((0, 1), (1, 2), (2, 3)))
    left = sum(lengths[..., k[b]] for b in ((0, 4), (4, 5), (5, 6)))
    return spine + np.maximum(right, left)


def min_pairwise_distance(points: np.ndarray) -> float:
    """Smallest distance between any two of ``(K, D)`` points (inf for fewer than two)."""
    p = np.asarray(points, np.float64)
    if len(p) < 2:
        return float("inf")
    d = np.linalg.norm(p[:, None] - p[None], axis=-1)
    return float(d[np.triu_indices(len(p), 1)].min())


def absolute_errors(pred_mm: np.ndarray, gt_mm: np.ndarray) -> np.ndarray:
    """``(N,)`` mean per-joint error *without* root alignment (mm): what multi-person
    "absolute" metrics see, where a wrong root depth moves the whole skeleton."""
    d = np.asarray(pred_mm, np.float64) - np.asarray(gt_mm, np.float64)
    return np.linalg.norm(d, axis=-1).mean(axis=-1)


def is_limb(part: str) -> bool:
    """Parts named after limbs (``*arm*``, ``*leg*``, ``*limb*``) versus the torso/head."""
    return any(k in part for k in ("arm", "leg", "limb"))


def split_limbs(values: Mapping[str, float]) -> dict[str, float]:
    """Mean of a per-part quantity over limb parts and over the other parts (torso, head):
    the comparison the paper's premise is about (limbs have more freedom than the torso)."""
    limbs = [float(v) for k, v in values.items() if is_limb(k)]
    rest = [float(v) for k, v in values.items() if not is_limb(k)]
    return {"limbs": float(np.mean(limbs)) if limbs else float("nan"),
            "torso": float(np.mean(rest)) if rest else float("nan")}
