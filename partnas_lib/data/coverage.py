r"""Pose coverage: how close does the procedural generator come to the poses of real motion?

A network trained on synthetic people can only be as good on real motion as its training poses
are close to the real ones.  Before training anything, that can be measured in pose space: for
every real pose :math:`q` find the nearest training pose :math:`r` and take their distance,

.. math::
    d(q, \mathcal{R}) = \min_{r \in \mathcal{R}} \frac{1}{J} \sum_{j=1}^{J}
        \lVert \tilde q_j - \tilde r_j \rVert_2 ,

the MPJPE to the nearest neighbour, after putting both poses in a *canonical frame*
(:func:`canonical_poses`): pelvis at the origin and the heading removed (the hips' line turned
onto the body's left axis), because a camera sees people from every direction anyway.  With
``normalize_scale`` every pose is also scaled to the same total bone length, so a skeleton that
is simply smaller (another actor, another rig) does not count as a pose difference.

The numbers only mean something side by side: ``partnas data coverage`` reports the nearest
procedural pose of each clip pose next to the nearest pose of the clips' own *training* split
(what in-domain data achieves), per joint, so the joints the generator misses stand out.  This
is how partnas found that its walkers put their feet too far forward and too far apart
(:mod:`~partnas_lib.data.synth.gait`, :mod:`~partnas_lib.data.synth.posture`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch

from partnas_lib.data.mocap.library import load_mocap_folder
from partnas_lib.data.synth.actions import sample_pose
from partnas_lib.data.synth.body import sample_body
from partnas_lib.skeleton import BONES, JOINT_NAMES

#: Total bone length that :func:`canonical_poses` scales every pose to with ``normalize_scale``
#: (about the Human3.6M mean skeleton's, mm).
TOTAL_BONE_MM = 4500.0


def canonical_poses(joints: np.ndarray, normalize_scale: bool = False) -> np.ndarray:
    """``(N, 17, 3)`` world poses (mm, Z up) in the canonical frame: pelvis at the origin, turned
    about the vertical so that the right-to-left hip vector points along +Y; with
    ``normalize_scale`` also scaled to a total bone length of :data:`TOTAL_BONE_MM`."""
    p = np.asarray(joints, dtype=np.float64)
    if p.ndim != 3 or p.shape[1:] != (17, 3):
        raise ValueError(f"expected poses of shape (N, 17, 3), got {p.shape}")
    p = p - p[:, :1]
    hips = p[:, 4] - p[:, 1]  # right hip -> left hip
    turn = np.pi / 2 - np.arctan2(hips[:, 1], hips[:, 0])
    c, s = np.cos(turn), np.sin(turn)
    x, y = p[..., 0].copy(), p[..., 1].copy()
    p[..., 0] = c[:, None] * x - s[:, None] * y
    p[..., 1] = s[:, None] * x + c[:, None] * y
    if normalize_scale:
        total = sum(np.linalg.norm(p[:, a] - p[:, b], axis=-1) for a, b in BONES)
        p *= (TOTAL_BONE_MM / np.maximum(total, 1e-9))[:, None, None]
    return p


def nearest_poses(query: np.ndarray, reference: np.ndarray, chunk: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """For every query pose, the index of its nearest reference pose by MPJPE and the per-joint
    errors to it: ``(index (N,), errors (N, 17))``.  Both sets must already be in one frame
    (:func:`canonical_poses`).  Exact search, ``chunk`` queries at a time (memory
    ``chunk x len(reference) x 17`` floats)."""
    q = torch.as_tensor(np.asarray(query), dtype=torch.float32)
    r = torch.as_tensor(np.asarray(reference), dtype=torch.float32)
    if len(r) == 0:
        raise ValueError("no reference poses")
    index = []
    for start in range(0, len(q), chunk):
        per_joint = (q[start:start + chunk, None] - r[None]).norm(dim=-1)  # (c, M, 17)
        index.append(per_joint.mean(-1).argmin(1))
    idx = torch.cat(index).numpy() if index else np.zeros(0, dtype=np.int64)
    errors = np.linalg.norm(np.asarray(query, dtype=np.float64) - np.asarray(reference, dtype=np.float64)[idx], axis=-1)
    return idx, errors


def procedural_poses(count: int, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """``count`` world poses of the procedural generator (each with its own random body) and
    their action names, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    poses, actions = [], []
    for _ in range(count):
        pose, action = sample_pose(rng, sample_body(rng))
        poses.append(pose)
        actions.append(action)
    return np.stack(poses), actions


def clip_poses(root: str | Path, split: str, step: int = 1) -> tuple[np.ndarray, list[str]]:
    """Every ``step``-th frame of the clips of ``split`` in a BVH folder, and each frame's action."""
    library = load_mocap_folder(root)
    clips = library.clips_in(split)
    poses = [c.joints[::step].astype(np.float64) for c in clips]
    actions = [c.action for c in clips for _ in range(len(c.joints[::step]))]
    return np.concatenate(poses), actions


def _summary(errors: np.ndarray) -> dict[str, Any]:
    pose = errors.mean(1)
    return {"median_mm": float(np.median(pose)), "mean_mm": float(pose.mean()),
            "per_joint_mm": {name: float(v) for name, v in zip(JOINT_NAMES, errors.mean(0))}}


def pose_coverage(root: str | Path, split: str = "test", samples: int = 20000, step: int = 10, seed: int = 0,
                  normalize_scale: bool = False) -> dict[str, Any]:
    """How close the procedural generator's poses come to the clip poses of ``split``, beside
    how close the clips' own training split comes (the in-domain reference).

    ``samples`` procedural poses and at most as many training-split frames (a seeded random
    subset) are searched; every ``step``-th frame of ``split`` is a query."""
    query, query_actions = clip_poses(root, split, step)
    procedural, actions = procedural_poses(samples, seed)
    train, _ = clip_poses(root, "train")
    if len(train) > samples:
        train = train[np.sort(np.random.default_rng(seed).choice(len(train), samples, replace=False))]
    q = canonical_poses(query, normalize_scale)
    index, errors = nearest_poses(q, canonical_poses(procedural, normalize_scale))
    _, train_errors = nearest_poses(q, canonical_poses(train, normalize_scale))
    per_action = {}
    for action in sorted(set(query_actions)):
        rows = np.array([a == action for a in query_actions])
        per_action[action] = {"poses": int(rows.sum()),
                              "procedural_median_mm": float(np.median(errors[rows].mean(1))),
                              "train_median_mm": float(np.median(train_errors[rows].mean(1)))}
    return {
        "root": str(root), "split": split, "query_poses": len(q), "procedural_poses": samples,
        "train_poses": len(train), "normalize_scale": normalize_scale, "seed": seed,
        "procedural": _summary(errors), "train": _summary(train_errors), "per_action": per_action,
        "nearest_procedural_actions": dict(Counter(actions[i] for i in index).most_common()),
    }


def format_coverage(r: dict[str, Any]) -> str:
    """The readable form of a :func:`pose_coverage` report."""
    p, t = r["procedural"], r["train"]
    lines = [f"partnas data coverage: {r['query_poses']} poses of the {r['split']!r} clips of {r['root']}"
             + (" (scale normalised)" if r["normalize_scale"] else ""),
             f"nearest-pose MPJPE (mm)     procedural ({r['procedural_poses']})   "
             f"clips' train split ({r['train_poses']})",
             f"  median                    {p['median_mm']:8.1f}                  {t['median_mm']:8.1f}",
             f"  mean                      {p['mean_mm']:8.1f}                  {t['mean_mm']:8.1f}",
             "per joint (mean):"]
    lines += [f"  {name:<14} {p['per_joint_mm'][name]:8.1f} {t['per_joint_mm'][name]:8.1f}"
              for name in JOINT_NAMES[1:]]
    lines.append("per action (median):")
    lines += [f"  {a:<14} {v['procedural_median_mm']:8.1f} {v['train_median_mm']:8.1f}  ({v['poses']} poses)"
              for a, v in r["per_action"].items()]
    lines.append("nearest procedural actions: "
                 + ", ".join(f"{a} {n}" for a, n in r["nearest_procedural_actions"].items()))
    return "\n".join(lines)


def add_coverage_parser(data_subparsers: Any) -> argparse.ArgumentParser:
    """Add ``data coverage`` to the ``partnas data`` sub-commands."""
    p = data_subparsers.add_parser(
        "coverage", help="how close the procedural poses come to the poses of a BVH folder (no training)",
        description=__doc__.split("\n\n")[0])
    p.add_argument("--root", required=True, help="a folder of .bvh clips")
    p.add_argument("--split", default="test", choices=("train", "val", "test"),
                   help="the clips' split whose poses are looked up (default test)")
    p.add_argument("--samples", type=int, default=20000, help="procedural poses to search (default 20000)")
    p.add_argument("--step", type=int, default=10, help="every N-th frame of the clips (default 10)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--normalize-scale", action="store_true",
                   help="scale every pose to the same total bone length (ignore skeleton size)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a report")
    p.set_defaults(func=run_coverage)
    return p


def run_coverage(args: argparse.Namespace) -> int:
    """Run ``data coverage``; 0 on success, 2 on bad input."""
    try:
        if args.samples < 1 or args.step < 1:
            raise ValueError("--samples and --step must be at least 1")
        report = pose_coverage(args.root, args.split, args.samples, args.step, args.seed, args.normalize_scale)
    except (ValueError, FileNotFoundError, OSError) as err:
        print(f"partnas: error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(report) if args.json else format_coverage(report))
    return 0


__all__ = ["TOTAL_BONE_MM", "add_coverage_parser", "canonical_poses", "clip_poses", "format_coverage",
           "nearest_poses", "pose_coverage", "procedural_poses", "run_coverage"]
