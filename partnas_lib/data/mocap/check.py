"""Checking a folder of BVH clips (``partnas data check --dataset bvh``).

:func:`check_bvh_folder` loads every clip leniently (a broken file is reported, not raised) and
reports what training would get: how many clips load, frame rates, which skeleton map each uses,
left/right asymmetry of the retargeted limbs (a wrong joint name in the map shows up here),
skeleton heights (a wrong unit scale or up axis), facing (left and right swapped), limb
proportions, and the train / val / test split of every clip.  :func:`format_bvh_report` prints
it.  The pose measures are those of every other dataset (:mod:`partnas_lib.data.sanity`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from partnas_lib.data.mocap.library import SPLITS, assign_splits, find_bvh_files, load_mocap_folder
from partnas_lib.data.mocap.retarget import FLOOR_ANKLE_MM, RETARGET_RULES
from partnas_lib.data.sanity import bone_symmetry, facing_fractions, limb_length_report
from partnas_lib.skeleton import JOINT_NAMES

_H36M = {name: i for i, name in enumerate(JOINT_NAMES)}

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
    # Long because it assembles one flat JSON report field by field, in the order
    # format_bvh_report prints it; the measures themselves live in data.sanity and above.
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
    report["bone_lengths"] = limb_length_report(every)
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
    lines.append("result: OK" if r["ok"] else f"result: {len(r['problems'])} problem(s)")
    lines.extend(f"  - {p}" for p in r["problems"])
    return "\n".join(lines)


__all__ = ["BVH_LIMITS", "check_bvh_folder", "format_bvh_report", "observed_height", "skeleton_height"]
