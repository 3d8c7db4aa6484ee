"""Pose metrics, named by what they compute (docs/method.md Sec. 3: never "P1" / "P2" alone).

* ``mpjpe``: mean per-joint position error (mm) after aligning the roots (pelvis) of the
  prediction and the ground truth.
* ``pa_mpjpe``: MPJPE after a per-sample similarity Procrustes alignment (scale, rotation
  without reflection, translation) of the prediction onto the ground truth.
* ``per_part_mpjpe``: MPJPE over the joints of each part, **without the root**: after root
  alignment the root's error is zero by construction, and counting it would flatter the part
  that holds it (the torso by a factor 4/5).  The overall ``mpjpe`` keeps all 17 joints, as
  every paper does.
"""

from __future__ import annotations

import numpy as np

from partnas_lib.skeleton import JOINT_NAMES, ROOT, PartGrouping


def root_relative(joints: np.ndarray, root: int = ROOT) -> np.ndarray:
    return joints - joints[..., root:root + 1, :]


def joint_errors(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """``(N, J)`` Euclidean distances after root alignment, mm."""
    return np.linalg.norm(root_relative(pred) - root_relative(gt), axis=-1)


def mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    """Root-aligned mean per-joint position error over all samples and joints."""
    return float(joint_errors(pred, gt).mean())


def procrustes_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Similarity-align each ``pred[i]`` ``(J, 3)`` onto ``gt[i]`` (Umeyama / Kabsch with scale).

    Finds ``s, R, t`` minimising ``|| s R p + t - g ||^2`` with ``det(R) = +1``.
    """
    mu_p = pred.mean(axis=1, keepdims=True)
    mu_g = gt.mean(axis=1, keepdims=True)
    p0, g0 = pred - mu_p, gt - mu_g
    h = np.einsum("nji,njk->nik", p0, g0)  # (N, 3, 3) = P^T G
    u, s, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(np.einsum("nij,njk->nik", vt.transpose(0, 2, 1), u.transpose(0, 2, 1))))
    fix = np.ones_like(s)
    fix[:, -1] = d
    r = np.einsum("nij,nj,njk->nik", vt.transpose(0, 2, 1), fix, u.transpose(0, 2, 1))  # R = V D U^T
    var_p = (p0 ** 2).sum(axis=(1, 2))
    scale = (s * fix).sum(axis=1) / np.maximum(var_p, 1e-12)
    return scale[:, None, None] * np.einsum("nij,nkj->nki", r, p0) + mu_g


def pa_joint_errors(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    return np.linalg.norm(procrustes_align(pred, gt) - gt, axis=-1)


def pa_mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    return float(pa_joint_errors(pred, gt).mean())


def error_joints(joints: list[int], root: int = ROOT) -> list[int]:
    """The joints of a part whose root-aligned errors its per-part MPJPE averages: all but the
    root (zero by construction), unless the root is the part's only joint."""
    kept = [j for j in joints if j != root]
    return kept or list(joints)


def per_part_mpjpe(per_joint: np.ndarray, grouping: PartGrouping) -> dict[str, float]:
    """Per-part MPJPE from per-joint MPJPE ``(17,)`` (every joint averaged over the same
    samples, so the mean of a part's per-joint means is its MPJPE), root excluded."""
    per_joint = np.asarray(per_joint, dtype=np.float64)
    return {name: float(per_joint[error_joints(joints)].mean()) for name, joints in grouping.parts}


def summarize(pred: np.ndarray, gt: np.ndarray, grouping: PartGrouping) -> dict:
    """Overall, per-part (root excluded) and per-joint MPJPE plus PA-MPJPE for ``(N, 17, 3)``
    mm arrays."""
    err = joint_errors(pred, gt)
    per_joint = err.mean(axis=0)
    return {
        "mpjpe": float(err.mean()),
        "pa_mpjpe": pa_mpjpe(pred, gt),
        "per_part_mpjpe": per_part_mpjpe(per_joint, grouping),
        "per_joint_mpjpe": [float(v) for v in per_joint],
        "joint_names": list(JOINT_NAMES),
    }
