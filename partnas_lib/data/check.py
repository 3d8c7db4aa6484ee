"""``partnas data check``: load a dataset the way training would, and say whether it is sane.

A loader that runs without error can still deliver wrong data: the wrong camera convention
(people behind the camera, or 2D joints that land off the person), left and right swapped, or
joints in another dataset's order.  :func:`check_dataset` loads a dataset (without decoding
images) and measures what such mistakes break:

``reprojection_px``
    3D joints projected with the sample's pinhole intrinsics vs. its 2D joints (mean, max).  A
    2D/3D order mismatch or wrong intrinsics gives tens of pixels.  Layouts whose 2D joints are
    the *distorted* projections (VideoPose3D, the original CDF) differ by lens distortion, at
    most about 2.5 px for Human3.6M (formats.md).  In the 3DMPPE layout the 2D joints *are* the
    projection, so there ``bbox_coverage`` (projected joints inside the annotated boxes) does
    the checking.
``camera_convention``
    Human3.6M layout 1: which of ``X_cam = R (X_world - t)`` (3DMPPE) and ``R X_world + t``
    (I2L-MeshNet) fits each subject; a subject that fits neither is reported, not loaded.
``bone_symmetry``
    Median relative difference between left and right limb bones; a shuffled joint order makes
    "left thigh" and "right thigh" different bones.
``facing``
    Share of samples whose face and knees point to the front of the body, where "front" is
    ``cross(up, right)`` with ``right`` from the left to the right hip (or shoulder) and ``up``
    from the pelvis to the thorax (:func:`facing_fractions`).  Swapping left and right labels
    mirrors the body and flips this: a swapped dataset has face and knees *behind* the body.
``bone_lengths``
    Limb bones relative to mean Human3.6M lengths: an overall scale far from 1 means wrong units;
    one limb far from the others means joints in another order.

It also counts samples per subject, action and camera and lists missing files.  ``problems``
collects every finding past its limit (:data:`LIMITS`); ``ok`` is True when there is none.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import numpy as np

DATASETS: tuple[str, ...] = ("h36m", "mupots", "mpii", "synthetic", "bvh")

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
_LIMB_FIELDS = {"thigh": "hip_knee", "shin": "knee_ankle", "upper_arm": "shoulder_elbow", "forearm": "elbow_wrist"}
_MAX_EXAMPLES = 10


# --------------------------------------------------------------------------------------------
# Geometry checks on SampleArrays
# --------------------------------------------------------------------------------------------

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
    for name, (r, l) in {"hips": (1, 4), "shoulders": (14, 11)}.items():
        forward = np.cross(up, joints_3d[:, r] - joints_3d[:, l])
        out[name] = float(np.mean(np.einsum("ij,ij->i", forward, ahead) > 0))
    return out


def bone_lengths(joints_3d: np.ndarray) -> dict[str, Any]:
    """Limb lengths relative to mean Human3.6M lengths: overall ``scale`` (median over limbs)
    and each limb's ratio to that scale."""
    from partnas_lib.data.poses import MEAN_BONE_LENGTHS

    ratios = {}
    for limb, pair in LIMB_PAIRS.items():
        median = float(np.median(np.concatenate([_bone(joints_3d, b) for b in pair])))
        ratios[limb] = median / MEAN_BONE_LENGTHS[_LIMB_FIELDS[limb]]
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
    lengths = bone_lengths(j3)
    report["bone_lengths"] = lengths
    if not 1 / LIMITS["bone_scale"] <= lengths["scale"] <= LIMITS["bone_scale"]:
        problems.append(f"limbs are {lengths['scale']:.3g} x Human3.6M's mean length: wrong units (mm expected)?")
    odd = {k: v for k, v in lengths["ratio"].items() if not 1 / LIMITS["bone_ratio"] <= v <= LIMITS["bone_ratio"]}
    if odd:
        problems.append("limb proportions are off (" + ", ".join(f"{k} x{v:.2f}" for k, v in odd.items())
                        + "): joints are not in Human3.6M-17 order")
    return report, problems


# --------------------------------------------------------------------------------------------
# Per dataset
# --------------------------------------------------------------------------------------------

def _counts(meta: Sequence[dict[str, Any]]) -> dict[str, dict[str, int]]:
    out = {}
    for key in ("subject", "action", "camera"):
        c = Counter(str(m.get(key, "?")) for m in meta)
        out[key] = dict(sorted(c.items()))
    return out


def _missing_images(meta: Sequence[dict[str, Any]]) -> list[str]:
    paths = sorted({m["image_path"] for m in meta if m.get("image_path")})
    return [p for p in paths if not Path(p).is_file()]


def _h36m_subjects(root: Path, layout: str, allow_pickle: bool) -> list[int]:
    """Subjects present in a Human3.6M tree."""
    import re

    if layout == "3dmppe":
        names = [p.name for p in (root / "annotations").glob("Human36M_subject*_data.json")]
        found = [int(m.group(1)) for n in names if (m := re.match(r"Human36M_subject(\d+)_data\.json", n))]
    elif layout == "cdf":
        found = [int(p.name[1:]) for p in root.glob("S*") if p.name[1:].isdigit() and (p / "MyPoseFeatures").is_dir()]
    else:
        from partnas_lib.data.h36m import read_npz_object

        poses = read_npz_object(root / "data_3d_h36m.npz", "positions_3d", allow_pickle)
        found = [int(k[1:]) for k in poses if str(k)[1:].isdigit()]
    return sorted(found)


def _check_h36m(root: Path, layout: str | None, kw: dict[str, Any]) -> dict[str, Any]:
    from partnas_lib.data import h36m

    layout = layout or h36m.detect_h36m_layout(root)
    allow_pickle = bool(kw.get("allow_pickle", False))
    subjects = list(kw.get("subjects") or _h36m_subjects(root, layout, allow_pickle))
    requested = kw.get("camera_convention", "auto")
    out: dict[str, Any] = {"layout": layout, "problems": []}
    if layout == "3dmppe":
        conv = h36m.h36m_3dmppe_conventions(root, subjects, requested)
        out["camera_convention_per_subject"] = {s: r["convention"] for s, r in conv.items()}
        for s, r in conv.items():
            if r["error"]:
                out["problems"].append(f"{s}: {r['error']}")
        found = {r["convention"] for r in conv.values() if r["convention"]}
        out["camera_convention"] = found.pop() if len(found) == 1 else (sorted(found) or None)
        subjects = [s for s in subjects if conv[h36m.subject_key(s)]["convention"]]
    else:
        out["camera_convention"] = "packaged calibration: X_cam = R (X_world - C)" if layout == "videopose3d" \
            else "camera-space poses (D3_Positions_mono) or packaged calibration"
    if not subjects:
        out["arrays"] = None
        return out
    sel = h36m.H36MSelection(subjects=tuple(subjects), frame_step=int(kw.get("frame_step", 64)),
                             cameras=tuple(kw.get("cameras") or h36m.ALL_CAMERAS), skip_corrupt=False)
    extra: dict[str, Any] = {"with_images": False} if layout == "3dmppe" else {}
    if layout == "3dmppe":
        extra["camera_convention"] = requested
    if layout == "videopose3d":
        extra.update(allow_pickle=allow_pickle, keypoints=kw.get("keypoints", "gt"))
    out["arrays"] = h36m.load_h36m(root, layout, sel, **extra)
    return out


def _check_mupots(root: Path, layout: str | None, kw: dict[str, Any]) -> dict[str, Any]:
    from partnas_lib.data import mupots

    layout = layout or mupots.detect_mupots_layout(root)
    arrays = mupots.load_mupots(root, layout, sequences=kw.get("sequences"), with_images=False)
    return {"layout": layout, "camera_convention": "camera-space annotations (annot3 / keypoints_cam)",
            "arrays": arrays, "problems": []}


def _check_mpii(root: Path, layout: str | None, kw: dict[str, Any]) -> dict[str, Any]:
    from partnas_lib.data import mpii

    arrays = mpii.load_mpii(root, kw.get("split", "train"), with_images=False)
    return {"layout": layout or "coco_json", "camera_convention": None, "arrays": arrays, "problems": []}


def _check_synthetic(root: Path, layout: str | None, kw: dict[str, Any]) -> dict[str, Any]:
    from partnas_lib.data.mpii import concat_arrays
    from partnas_lib.data.synthetic import load_arrays

    files = [root] if root.is_file() else sorted(root.glob("synthetic-*.npz"))
    if not files:
        raise FileNotFoundError(f"{root}: no synthetic split (.npz written by partnas' synthetic cache)")
    parts = [load_arrays(f) for f in files]
    arrays = parts[0] if len(parts) == 1 else concat_arrays(*parts)
    return {"layout": layout or "npz", "camera_convention": "X_cam = R (X_world - C) (synthetic rig)",
            "arrays": arrays, "problems": []}


_CHECKERS = {"h36m": _check_h36m, "mupots": _check_mupots, "mpii": _check_mpii, "synthetic": _check_synthetic}


def check_dataset(dataset: str, root: Path, layout: str | None = None, **kw: Any) -> dict[str, Any]:
    """Load ``dataset`` from ``root`` (no image decoding) and report counts and sanity checks.

    ``dataset``: ``h36m`` | ``mupots`` | ``mpii`` | ``synthetic`` | ``bvh`` (a folder of motion
    capture clips; its report has its own keys, see :func:`partnas_lib.data.bvh.check_bvh_folder`:
    clips found/loaded/failed, frames, left/right asymmetry, heights, the split of each clip).
    ``layout``: as the dataset's loader names it, detected when None.  Keywords: Human3.6M
    ``subjects`` (default: all present), ``frame_step`` (default 64), ``cameras``,
    ``camera_convention`` (``auto``), ``allow_pickle``, ``keypoints``; MuPoTS ``sequences``;
    MPII ``split``.

    Returns a JSON-ready dict with at least ``dataset, root, layout, samples, counts
    {subject, action, camera}, missing_files {count, examples}, reprojection_px {mean, median,
    max}, camera_convention, depth_mm, bone_symmetry, facing, bone_lengths, problems, ok``.
    A wrong camera convention is reported in ``problems`` rather than raised; a missing root or
    unreadable file still raises (with the file and field named).
    """
    if dataset == "bvh":
        from partnas_lib.data.bvh import check_bvh_folder

        return check_bvh_folder(Path(root), skeleton=kw.get("skeleton"))
    if dataset not in _CHECKERS:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {DATASETS}")
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"{root}: dataset root not found")
    found = _CHECKERS[dataset](root, layout, kw)
    arrays = found.pop("arrays")
    problems: list[str] = found.pop("problems")
    report: dict[str, Any] = {"dataset": dataset, "root": str(root), **found}
    meta = arrays.meta if arrays is not None else []
    report["samples"] = len(meta)
    report["counts"] = _counts(meta)
    missing = _missing_images(meta)
    report["missing_files"] = {"count": len(missing), "examples": missing[:_MAX_EXAMPLES]}
    if missing:
        problems.append(f"{len(missing)} image files are missing, e.g. {missing[0]}")
    if arrays is None:
        problems.append("no samples could be loaded")
        report.update(reprojection_px=None, depth_mm=None, bone_symmetry=None, facing=None, bone_lengths=None)
    else:
        geo, geo_problems = geometry_report(arrays)
        report.update(geo)
        problems.extend(geo_problems)
        if dataset == "h36m" and report["layout"] == "3dmppe":
            report["reprojection_note"] = ("2D joints are the pinhole projection of the 3D joints in this layout; "
                                           "bbox_coverage compares them with the annotated boxes")
            cov = _annotated_box_coverage(arrays)
            report["bbox_coverage"] = cov
            if cov < LIMITS["bbox_coverage"]:
                problems.append(f"only {cov:.0%} of projected joints fall inside the annotated boxes: "
                                "wrong camera convention or wrong cameras")
    report["problems"] = problems
    report["ok"] = not problems
    return report


def _annotated_box_coverage(arrays: Any) -> float:
    """Projected joints vs. the annotated boxes.  The loader stores 3DMPPE's *processed* box
    (aspect 1, grown 1.25), which contains the annotated box; coverage is measured in it."""
    return bbox_coverage(arrays.joints_2d.astype(np.float64), arrays.bbox.astype(np.float64),
                         arrays.joints_vis.astype(bool))


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------

def add_check_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``data check`` to a ``subparsers`` object (``partnas data check --dataset ...``)."""
    data = subparsers.add_parser("data", help="dataset tools (check)")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    p = data_sub.add_parser("check", help="load a dataset and check counts, files, cameras and joint order",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True, choices=DATASETS)
    p.add_argument("--root", required=True,
                   help="dataset folder (synthetic: a cache .npz or its folder; bvh: a folder of .bvh clips)")
    p.add_argument("--layout", default=None,
                   help="h36m: 3dmppe | videopose3d | cdf; mupots: mat | json (default: detected)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a report")
    p.add_argument("--subjects", type=int, nargs="+", default=None, help="h36m subjects (default: all present)")
    p.add_argument("--frame-step", type=int, default=64, help="h36m: check every N-th frame (default 64)")
    p.add_argument("--cameras", type=int, nargs="+", default=None, help="h36m cam_idx values 1..4 (default all)")
    p.add_argument("--camera-convention", default="auto", choices=("auto", "3dmppe", "i2l"),
                   help="h36m 3dmppe layout: meaning of t in the camera files (default: detect)")
    p.add_argument("--allow-pickle", action="store_true",
                   help="h36m videopose3d: allow unpickling the .npz files (only for files you trust)")
    p.add_argument("--keypoints", default="gt", help="h36m videopose3d: 2D file suffix (default gt)")
    p.add_argument("--sequences", nargs="+", default=None, help="mupots: sequences, e.g. TS1 TS2 (default all)")
    p.add_argument("--split", default="train", help="mpii: annotation file name (default train)")
    p.add_argument("--skeleton", default=None,
                   help="bvh: skeleton map name from partnas_lib.data.bvh.SKELETONS (default: detected)")
    p.set_defaults(func=run_check)
    return p


def run_check(args: argparse.Namespace) -> int:
    """Run ``data check``; 0 when everything looks right, 1 when problems were found, 2 on error."""
    kw = {"subjects": args.subjects, "frame_step": args.frame_step, "cameras": args.cameras,
          "camera_convention": args.camera_convention, "allow_pickle": args.allow_pickle,
          "keypoints": args.keypoints, "sequences": args.sequences, "split": args.split,
          "skeleton": getattr(args, "skeleton", None)}
    try:
        report = check_dataset(args.dataset, Path(args.root), args.layout, **kw)
    except (ValueError, FileNotFoundError, OSError, RuntimeError) as err:
        if args.json:
            print(json.dumps({"dataset": args.dataset, "root": args.root, "ok": False, "error": str(err)}))
        else:
            print(f"partnas: error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(report) if args.json else format_report(report))
    return 0 if report["ok"] else 1


def _fmt_counts(counts: dict[str, int], limit: int = 12) -> str:
    items = [f"{k}: {v}" for k, v in counts.items()]
    return ", ".join(items[:limit]) + (f", ... ({len(items)} in all)" if len(items) > limit else "") or "-"


def format_report(r: dict[str, Any]) -> str:
    """The readable form of a :func:`check_dataset` report."""
    if r.get("dataset") == "bvh":
        from partnas_lib.data.bvh import format_bvh_report

        return format_bvh_report(r)
    lines = [f"partnas data check: {r['dataset']} (layout {r['layout']}) at {r['root']}",
             f"  samples            {r['samples']}"]
    for key in ("subject", "action", "camera"):
        lines.append(f"  {key + 's':<18} {_fmt_counts(r['counts'][key])}")
    lines.append(f"  camera convention  {r.get('camera_convention')}")
    lines.append(f"  missing files      {r['missing_files']['count']}")
    rep = r.get("reprojection_px")
    if rep:
        lines.append(f"  reprojection (px)  mean {rep['mean']:.2f}, median {rep['median']:.2f}, max {rep['max']:.2f}")
    if r.get("bbox_coverage") is not None:
        lines.append(f"  joints in boxes    {r['bbox_coverage']:.0%}")
    if r.get("depth_mm"):
        lines.append(f"  pelvis depth (mm)  {r['depth_mm']['min']:.0f} .. {r['depth_mm']['max']:.0f}")
    if r.get("bone_symmetry"):
        worst = max(r["bone_symmetry"].items(), key=lambda kv: kv[1])
        lines.append(f"  L/R limb lengths   worst {worst[0]} {worst[1]:.1%} (limit {LIMITS['bone_symmetry']:.0%})")
    if r.get("facing"):
        lines.append("  facing forward     " + ", ".join(f"{k} {v:.0%}" for k, v in r["facing"].items()))
    if r.get("bone_lengths"):
        bl = r["bone_lengths"]
        lines.append(f"  limb scale         x{bl['scale']:.2f} of Human3.6M mean; "
                     + ", ".join(f"{k} x{v:.2f}" for k, v in bl["ratio"].items()))
    if r["ok"]:
        lines.append("result: OK")
    else:
        lines.append(f"result: {len(r['problems'])} problem(s)")
        lines.extend(f"  - {p}" for p in r["problems"])
    return "\n".join(lines)


__all__ = ["DATASETS", "LIMITS", "add_check_parser", "bone_lengths", "bone_symmetry", "check_dataset",
           "facing_fractions", "format_report", "geometry_report", "reprojection_error", "run_check"]
