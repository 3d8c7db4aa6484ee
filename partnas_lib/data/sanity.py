"""Sanity measures of 3D poses: what a wrong camera, unit or joint order breaks.

A loader that runs without error can still deliver wrong data: the wrong camera convention
(people behind the camera, or 2D joints that land off the person), left and right swapped, or
joints in another dataset's order.  Each function here measures one thing such mistakes break;
``partnas data check`` (:mod:`partnas_lib.data.check`, and :mod:`partnas_lib.data.mocap.check`
for motion capture) reports them against the limits of :data:`LIMITS`:

``reprojection_px`` (:func:`reprojection_error`)
    3D joints projected with the sample's pinhole intrinsics vs. its 2D joints (mean, max).  A
    2D/3D order mismatch or wrong intrinsics gives tens of pixels.  Layouts whose 2D joints are
    the *distorted* projections (VideoPose3D, the original CDF) differ by lens distortion, at
    most about 2.5 px for Human3.6M (docs/formats.md).
``bone_symmetry`` (:func:`bone_symmetry`)
    Median relative difference between left and right limb bones; a shuffled joint order makes
    "left thigh" and "right thigh" different bones.
``facing`` (:func:`facing_fractions`)
    Share of samples whose face and knees point to the front of the body: swapping left and
    right labels mirrors the body, so a swapped dataset has face and knees *behind* the body.
``bone_lengths`` (:func:`limb_length_report`)
    Limb bones relative to mean Human3.6M lengths: an overall scale far from 1 means wrong units;
    one limb far from the others means joints in another order.
``bbox_coverage`` (:func:`bbox_coverage`)
    Share of joints inside the annotated boxes (where the 2D joints are themselves projections,
    as in the 3DMPPE layout, this is what catches a wrong camera).

:func:`geometry_report` runs them all on :class:`~partnas_lib.data.sample.SampleArrays`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from partnas_lib.data.proportions import MEAN_BONE_LENGTHS
from partnas_lib.skeleton import BONES, bone_lengths

#: Thresholds beyond which a finding becomes a problem.
LIMITS: dict[str, float] = {
    "reprojection_mean_px": 5.0,
    "reprojection_max_px": 20.0,
    "bone_symmetry": 0.15,  # relative left/right difference of a limb bone (median over samples)
    "facing_min_fraction": 0.5,  # share of samples whose face and knees point forward
    "bone_scale": 2.0,  # overall limb scale outside [1/2, 2] x Human3.6M's mean: wrong units
    "bone_ratio": 1.6,  # one limb outside [1/1.6, 1.6] x the overall scale: wrong joint order
    "bbox_coverage": 0.9,  # share of projected joints inside the annotated (3DMPPE) box
}

#: Left/right limb bone pairs (Human3.6M-17 indices): thigh, shin, upper arm, forearm.
LIMB_PAIRS: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "thigh": ((4, 5), (1, 2)),
    "shin": ((5, 6), (2, 3)),
    "upper_arm": ((11, 12), (14, 15)),
    "forearm": ((12, 13), (15, 16)),
}
#: The :data:`~partnas_lib.data.proportions.MEAN_BONE_LENGTHS` entry of each limb.
LIMB_FIELDS: dict[str, str] = {"thigh": "hip_knee", "shin": "knee_ankle", "upper_arm": "shoulder_elbow",
                               "forearm": "elbow_wrist"}


def reprojection_error(joints_3d: np.ndarray, joints_2d: np.ndarray, intrinsics: np.ndarray,
                       mask: np.ndarray) -> dict[str, float] | None:
    """Pinhole projection of ``(N, 17, 3)`` vs ``(N, 17, 2)``, over joints where ``mask``."""
    mask = mask & (joints_3d[..., 2] > 0)
    if not mask.any():
        return None
    z = np.where(joints_3d[..., 2] > 0, joints_3d[..., 2], 1.0)
    intr = intrinsics[:, None, :].astype(np.float64)
    uv = joints_3d[..., :2] / z[..., None] * intr[..., :2] + intr[..., 2:]
    err = np.linalg.norm(uv - joints_2d, axis=-1)[mask]
    return {"mean": float(err.mean()), "median": float(np.median(err)), "max": float(err.max())}


def _bone(j: np.ndarray, bone: tuple[int, int]) -> np.ndarray:
    return np.linalg.norm(j[:, bone[1]] - j[:, bone[0]], axis=-1)


def bone_symmetry(joints_3d: np.ndarray) -> dict[str, float]:
    """Median ``|L - R| / mean(L, R)`` per limb of :data:`LIMB_PAIRS` over samples."""
    out = {}
    for limb, (left, right) in LIMB_PAIRS.items():
        lo, ro = _bone(joints_3d, left), _bone(joints_3d, right)
        out[limb] = float(np.median(np.abs(lo - ro) / np.maximum((lo + ro) / 2, 1e-6)))
    return out


def facing_fractions(joints_3d: np.ndarray) -> dict[str, float]:
    """Share of samples whose face and knees point forward, with "forward" taken from the hips
    and from the shoulders.

    ``forward = cross(up, right)`` with ``up`` from pelvis to thorax and ``right`` from the left
    to the right hip (or shoulder).  This holds in any right-handed frame (Human3.6M camera
    space is one: X right, Y down, Z forward; for a person facing the camera right = -X,
    up = -Y and ``cross(up, right) = -Z`` points at the camera).  A sample counts as facing
    forward when the nose's offset from the thorax plus each knee's offset from the middle of
    its hip and ankle (knees only bend forwards) is positive along ``forward``.  Either cue
    alone fails on some poses (a head raised while bending, straight legs); their sum holds
    for most, so a clean dataset scores well above one half and a left/right swap well below.
    """
    up = joints_3d[:, 8] - joints_3d[:, 0]
    ahead = joints_3d[:, 9] - joints_3d[:, 8]
    for hip, knee, ankle in ((1, 2, 3), (4, 5, 6)):
        ahead = ahead + joints_3d[:, knee] - (joints_3d[:, hip] + joints_3d[:, ankle]) / 2
    out = {}
    for name, (right, left) in {"hips": (1, 4), "shoulders": (14, 11)}.items():
        forward = np.cross(up, joints_3d[:, right] - joints_3d[:, left])
        out[name] = float(np.mean(np.einsum("ij,ij->i", forward, ahead) > 0))
    return out


def limb_length_report(joints_3d: np.ndarray) -> dict[str, Any]:
    """Limb lengths relative to mean Human3.6M lengths: ``{"scale": s, "ratio": {limb: r}}``.

    ``scale`` is the median over limbs of (median length of the limb, left and right together) /
    (Human3.6M's mean); ``ratio`` is each limb's own ratio divided by ``scale``.  Lengths come
    from :func:`partnas_lib.skeleton.bone_lengths`.
    """
    lengths = bone_lengths(joints_3d)  # (N, 16), BONES order
    ratios = {}
    for limb, pair in LIMB_PAIRS.items():
        median = float(np.median(np.concatenate([lengths[:, BONES.index(b)] for b in pair])))
        ratios[limb] = median / MEAN_BONE_LENGTHS[LIMB_FIELDS[limb]]
    scale = float(np.median(list(ratios.values())))
    return {"scale": scale, "ratio": {k: v / max(scale, 1e-9) for k, v in ratios.items()}}


def bbox_coverage(joints_2d: np.ndarray, boxes: np.ndarray, mask: np.ndarray) -> float:
    """Share of 2D joints inside their annotated ``[x, y, w, h]`` boxes."""
    x, y, w, h = (boxes[:, None, i] for i in range(4))
    u, v = joints_2d[..., 0], joints_2d[..., 1]
    inside = (u >= x) & (u <= x + w) & (v >= y) & (v <= y + h)
    return float(inside[mask].mean()) if mask.any() else 1.0


def geometry_report(arrays: Any) -> tuple[dict[str, Any], list[str]]:
    """All geometric checks of :class:`~partnas_lib.data.sample.SampleArrays`; returns the
    figures and the problems found."""
    has3d = arrays.has_3d.astype(bool)
    vis = arrays.joints_vis.astype(bool)
    report: dict[str, Any] = {"samples_with_3d": int(has3d.sum())}
    problems: list[str] = []
    if not has3d.any():
        report.update(reprojection_px=None, depth_mm=None, bone_symmetry=None, facing=None, bone_lengths=None)
        return report, problems
    j3 = arrays.joints_3d[has3d].astype(np.float64)
    rep = reprojection_error(j3, arrays.joints_2d[has3d].astype(np.float64), arrays.intrinsics[has3d], vis[has3d])
    report["reprojection_px"] = rep
    if rep and (rep["mean"] > LIMITS["reprojection_mean_px"] or rep["max"] > LIMITS["reprojection_max_px"]):
        problems.append(f"reprojection error mean {rep['mean']:.1f} px, max {rep['max']:.1f} px (limits "
                        f"{LIMITS['reprojection_mean_px']:.0f} / {LIMITS['reprojection_max_px']:.0f} px): 2D and 3D "
                        "joints disagree (joint order, camera or intrinsics)")
    depth = j3[:, 0, 2]
    report["depth_mm"] = {"min": float(depth.min()), "max": float(depth.max())}
    if depth.min() <= 0:
        problems.append(f"{int((depth <= 0).sum())} samples have the pelvis at or behind the camera (Z <= 0): "
                        "wrong camera convention?")
    sym = bone_symmetry(j3)
    report["bone_symmetry"] = sym
    bad = {k: v for k, v in sym.items() if v > LIMITS["bone_symmetry"]}
    if bad:
        problems.append("left and right limbs differ in length (" + ", ".join(f"{k} {v:.0%}" for k, v in bad.items())
                        + f"; limit {LIMITS['bone_symmetry']:.0%}): joints are not in Human3.6M-17 order")
    facing = facing_fractions(j3)
    report["facing"] = facing
    for part, frac in facing.items():
        if frac < LIMITS["facing_min_fraction"]:
            problems.append(f"face and knees point backwards for {1 - frac:.0%} of samples judged by the {part}: "
                            f"left and right {part} (and their limbs) look swapped")
    lengths = limb_length_report(j3)
    report["bone_lengths"] = lengths
    if not 1 / LIMITS["bone_scale"] <= lengths["scale"] <= LIMITS["bone_scale"]:
        problems.append(f"limbs are {lengths['scale']:.3g} x Human3.6M's mean length: wrong units (mm expected)?")
    odd = {k: v for k, v in lengths["ratio"].items() if not 1 / LIMITS["bone_ratio"] <= v <= LIMITS["bone_ratio"]}
    if odd:
        problems.append("limb proportions are off (" + ", ".join(f"{k} x{v:.2f}" for k, v in odd.items())
                        + "): joints are not in Human3.6M-17 order")
    return report, problems


__all__ = ["LIMB_FIELDS", "LIMB_PAIRS", "LIMITS", "bbox_coverage", "bone_symmetry", "facing_fractions",
           "geometry_report", "limb_length_report", "reprojection_error"]
