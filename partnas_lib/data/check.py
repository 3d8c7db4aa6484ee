"""``partnas data check``: load a dataset the way training would, and say whether it is sane.

A loader that runs without error can still deliver wrong data: the wrong camera convention
(people behind the camera, or 2D joints that land off the person), left and right swapped, or
joints in another dataset's order.  :func:`check_dataset` loads a dataset (without decoding
images) and reports the measures of :mod:`partnas_lib.data.sanity` (reprojection error, depth,
left/right bone symmetry, facing, limb lengths), plus:

``camera_convention``
    Human3.6M layout 1: which of ``X_cam = R (X_world - t)`` (3DMPPE) and ``R X_world + t``
    (I2L-MeshNet) fits each subject; a subject that fits neither is reported, not loaded.
``bbox_coverage``
    In the 3DMPPE layout the 2D joints *are* the projection of the 3D ones, so the reprojection
    error is zero by construction; the share of projected joints inside the annotated boxes
    does the checking there.

It also counts samples per subject, action and camera and lists missing files.  ``problems``
collects every finding past its limit (:data:`~partnas_lib.data.sanity.LIMITS`); ``ok`` is True
when there is none.  A folder of motion capture (``--dataset bvh``) gets its own report
(:mod:`partnas_lib.data.mocap.check`).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from partnas_lib.data.coverage import add_coverage_parser
from partnas_lib.data.datasets.h36m import detect_h36m_layout, load_h36m
from partnas_lib.data.datasets.h36m_3dmppe import h36m_3dmppe_conventions
from partnas_lib.data.datasets.h36m_facts import ALL_CAMERAS, H36MSelection, subject_key
from partnas_lib.data.datasets.h36m_videopose3d import read_npz_object
from partnas_lib.data.datasets.mpii import load_mpii
from partnas_lib.data.datasets.mupots import detect_mupots_layout, load_mupots
from partnas_lib.data.mocap.check import check_bvh_folder, format_bvh_report
from partnas_lib.data.sample import concat_arrays
from partnas_lib.data.sanity import LIMITS, bbox_coverage, geometry_report
from partnas_lib.data.synth.synthetic import load_arrays

DATASETS: tuple[str, ...] = ("h36m", "mupots", "mpii", "synthetic", "bvh")
_MAX_EXAMPLES = 10


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
    if layout == "3dmppe":
        names = [p.name for p in (root / "annotations").glob("Human36M_subject*_data.json")]
        found = [int(m.group(1)) for n in names if (m := re.match(r"Human36M_subject(\d+)_data\.json", n))]
    elif layout == "cdf":
        found = [int(p.name[1:]) for p in root.glob("S*") if p.name[1:].isdigit() and (p / "MyPoseFeatures").is_dir()]
    else:
        poses = read_npz_object(root / "data_3d_h36m.npz", "positions_3d", allow_pickle)
        found = [int(k[1:]) for k in poses if str(k)[1:].isdigit()]
    return sorted(found)


def _check_h36m(root: Path, layout: str | None, kw: dict[str, Any]) -> dict[str, Any]:
    layout = layout or detect_h36m_layout(root)
    allow_pickle = bool(kw.get("allow_pickle", False))
    subjects = list(kw.get("subjects") or _h36m_subjects(root, layout, allow_pickle))
    requested = kw.get("camera_convention", "auto")
    out: dict[str, Any] = {"layout": layout, "problems": []}
    if layout == "3dmppe":
        conv = h36m_3dmppe_conventions(root, subjects, requested)
        out["camera_convention_per_subject"] = {s: r["convention"] for s, r in conv.items()}
        for s, r in conv.items():
            if r["error"]:
                out["problems"].append(f"{s}: {r['error']}")
        found = {r["convention"] for r in conv.values() if r["convention"]}
        out["camera_convention"] = found.pop() if len(found) == 1 else (sorted(found) or None)
        subjects = [s for s in subjects if conv[subject_key(s)]["convention"]]
    else:
        out["camera_convention"] = "packaged calibration: X_cam = R (X_world - C)" if layout == "videopose3d" \
            else "camera-space poses (D3_Positions_mono) or packaged calibration"
    if not subjects:
        out["arrays"] = None
        return out
    sel = H36MSelection(subjects=tuple(subjects), frame_step=int(kw.get("frame_step", 64)),
                             cameras=tuple(kw.get("cameras") or ALL_CAMERAS), skip_corrupt=False)
    extra: dict[str, Any] = {"with_images": False} if layout == "3dmppe" else {}
    if layout == "3dmppe":
        extra["camera_convention"] = requested
    if layout == "videopose3d":
        extra.update(allow_pickle=allow_pickle, keypoints=kw.get("keypoints", "gt"))
    out["arrays"] = load_h36m(root, layout, sel, **extra)
    return out


def _check_mupots(root: Path, layout: str | None, kw: dict[str, Any]) -> dict[str, Any]:
    layout = layout or detect_mupots_layout(root)
    arrays = load_mupots(root, layout, sequences=kw.get("sequences"), with_images=False)
    return {"layout": layout, "camera_convention": "camera-space annotations (annot3 / keypoints_cam)",
            "arrays": arrays, "problems": []}


def _check_mpii(root: Path, layout: str | None, kw: dict[str, Any]) -> dict[str, Any]:
    arrays = load_mpii(root, kw.get("split", "train"), with_images=False)
    return {"layout": layout or "coco_json", "camera_convention": None, "arrays": arrays, "problems": []}


def _check_synthetic(root: Path, layout: str | None, kw: dict[str, Any]) -> dict[str, Any]:
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
    capture clips; its report has its own keys, see :func:`partnas_lib.data.mocap.check.check_bvh_folder`:
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
    data = subparsers.add_parser("data", help="dataset tools (check, coverage)")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    add_coverage_parser(data_sub)
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
                   help="bvh: skeleton map name from partnas_lib.data.mocap.retarget.SKELETONS (default: detected)")
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


__all__ = ["DATASETS", "add_check_parser", "check_dataset", "format_report", "run_check"]
