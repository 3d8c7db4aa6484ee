"""Multi-person absolute 3D pose, the 3DMPPE way, scored like MuPoTS-3D.

The single-person protocol (:mod:`partnas_lib.eval.evaluate`) hands the network a ground-truth
box *and* the ground-truth root depth.  A multi-person image offers neither, so 3DMPPE (Moon et
al., ICCV 2019; docs/method.md Sec. 3) splits the problem into three networks:

1. a **person detector** gives a box per person -- here the ground-truth boxes, or any
   detector's boxes in the ``bbox_root_*.json`` format (docs/formats.md: ``image_id``, ``bbox``
   ``[x, y, w, h]``, ``root_cam`` mm, ``score``);
2. **RootNet** (:mod:`partnas_lib.models.rootnet`) gives each person's absolute root depth
   ``Z = gamma * k`` from the crop, the box area and the focal length;
3. the **pose network** (the part-aware network of the run, ``checkpoints/model.pt``) gives
   the root-relative pose: each joint's crop position and its depth relative to the root.

Absolute pose = back-projection of (image position, root depth + relative depth) with the
camera intrinsics (:meth:`~partnas_lib.models.integral.VolumeGeometry.decode`).  Every person of
every image is scored with :mod:`partnas_lib.eval.mupots_scorer`: 3DPCK (150 mm) and AUC on
the 14 MuPoTS joints, root-relative and absolute, for all annotated and for matched people,
per sequence and as the mean over sequences -- next to RootNet's mean absolute root-depth error
and two baselines: the bare k prior (gamma = 1) and a constant mean depth.

Entry point: :func:`evaluate_multi` (``partnas evaluate --dataset synthetic-multi|mupots``).
RootNet is trained by :mod:`partnas_lib.train.rootnet`; one frame for notebooks is in
:mod:`partnas_lib.eval.multi_frame`; the printed table in :mod:`partnas_lib.eval.multi_report`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image

from partnas_lib.camera import crop_to_image
from partnas_lib.config import Config
from partnas_lib.data.datasets.mupots import load_mupots
from partnas_lib.data.datasets.mupots_facts import image_size_of
from partnas_lib.data.detections import read_bbox_root
from partnas_lib.data.images import crop_antialiased, process_bbox, read_rgb
from partnas_lib.data.sample import SampleArrays
from partnas_lib.data.synth.scene_splits import load_frame, load_multi_split
from partnas_lib.data.synth.scenes import FRAME_WIDTH
from partnas_lib.eval.evaluate import predict_coords
from partnas_lib.eval.mupots_scorer import MATCH_THRESHOLD_PX, match_people, score_people
from partnas_lib.io import default_cache_dir
from partnas_lib.models.build import build_model
from partnas_lib.models.heads import PartPoseNet, count_parameters
from partnas_lib.models.rootnet import RootNet, k_prior, predict_root_depth
from partnas_lib.nas.genotype import Genotype
from partnas_lib.skeleton import NUM_JOINTS
from partnas_lib.train.checkpoint import load_checkpoint
from partnas_lib.train.device import resolve_device
from partnas_lib.train.rootnet import load_rootnet, rootnet_path
from partnas_lib.train.rundir import RunDir, Timer, get_logger

#: Datasets :func:`evaluate_multi` understands.
MULTI_DATASETS: tuple[str, ...] = ("synthetic-multi", "mupots")
MULTI_METRICS = "metrics_multi.json"
#: About MuPoTS-3D's focal length (px; 1400-1500 over its sequences).  The official 40 px
#: matching threshold is scaled by ``fx / MUPOTS_REFERENCE_FOCAL_PX`` on the synthetic frames, so
#: that it spans the same angle -- the same fraction of a person at a given distance.
MUPOTS_REFERENCE_FOCAL_PX = 1500.0


def load_pose_model(cfg: Config, out: str | Path, device: torch.device) -> PartPoseNet:
    """The run's final pose network ``OUT/checkpoints/model.pt`` (with its genotype)."""
    path = Path(out) / "checkpoints" / "model.pt"
    ckpt = load_checkpoint(path)
    genotype = None
    if ckpt.get("genotype") is not None:
        genotype = Genotype.from_json(ckpt["genotype"], where=f"{path}: genotype")
    model = build_model(cfg, genotype).to(device)
    model.load_state_dict(ckpt["model"])
    return model.eval()


def load_people(cfg: Config, dataset: str, root: str | Path | None = None) -> SampleArrays:
    """The annotated people to evaluate, cropped with their ground-truth boxes: the
    synthetic multi-person test split (about ``cfg.data.num_test`` people in 20 sequences) or
    MuPoTS-3D from ``root`` (either layout).  MuPoTS-3D crops are cut with
    :func:`~partnas_lib.data.images.crop_antialiased` (a 2048 px frame shrinks ~10x into a small
    crop; plain bilinear sampling would alias), exactly as detector-box crops are."""
    if dataset == "synthetic-multi":
        cache = Path(cfg.data.cache_dir) if cfg.data.cache_dir else default_cache_dir()
        return load_multi_split("test", cfg.data.num_test, cfg.data.seed, cfg.data.image_size, FRAME_WIDTH,
                                cfg.data.supersample, cache_dir=cache, progress=cfg.progress)
    if dataset == "mupots":
        if root is None:
            raise ValueError("--dataset mupots needs --root MUPOTS_DIR (the folder with MultiPersonTestSet/)")
        people = load_mupots(root, image_size=cfg.data.image_size, with_images=False, progress=cfg.progress)
        for rows in _images_of(people).values():
            frame = _frame_image(people, rows[0], cfg)
            for r in rows:
                people.images[r] = crop_antialiased(frame, people.bbox[r], cfg.data.image_size)
                people.meta[r]["has_image"] = True
        return people
    raise ValueError(f"unknown multi-person dataset {dataset!r}; expected one of {MULTI_DATASETS}")


def _images_of(gt: SampleArrays) -> dict[int, list[int]]:
    """Rows of ``gt`` per ``image_id``, in first-seen order."""
    images: dict[int, list[int]] = {}
    for i, m in enumerate(gt.meta):
        images.setdefault(int(m["image_id"]), []).append(i)
    return images


def _frame_image(gt: SampleArrays, row: int, cfg: Config) -> np.ndarray:
    """The full frame a person of ``gt`` was cropped from: read from disk (MuPoTS-3D) or
    rendered again (synthetic scenes are deterministic per (split, sequence, frame))."""
    meta = gt.meta[row]
    if meta.get("source") == "synthetic-multi":
        seq = re.fullmatch(r"S(\d+)", str(meta["sequence"]))
        if seq is None:
            raise ValueError(f"synthetic person {row}: unexpected sequence name {meta['sequence']!r}")
        frame = load_frame("test", int(seq.group(1)) - 1, int(meta["frame"]), cfg.data.seed,
                           int(meta["frame_size"][0]), cfg.data.supersample)
        return frame.image
    path = meta.get("image_path")
    if not path:
        raise FileNotFoundError(f"person {row} ({meta.get('file_name')}): no image file to crop detector boxes from")
    return read_rgb(Path(path), f"MuPoTS-3D person {row}")


def detection_people(gt: SampleArrays, detections: dict[int, list[dict[str, Any]]], cfg: Config
                     ) -> tuple[SampleArrays, np.ndarray]:
    """Crops of detector boxes: one pseudo-sample per detection of every evaluated image (boxes
    processed with the 3DMPPE rule, intrinsics of the image), and the detections' root depths
    ``(N,)`` (NaN where a detection has no ``root_cam``).  Joint fields are zero: unknown."""
    images, boxes, intr, meta, roots = [], [], [], [], []
    for image_id, rows in _images_of(gt).items():
        dets = detections.get(image_id, [])
        if not dets:
            continue
        first = gt.meta[rows[0]]
        w, h = first.get("frame_size") or _image_wh(gt, rows[0])
        frame = _frame_image(gt, rows[0], cfg)
        for d in dets:
            box = process_bbox(d["bbox"], int(w), int(h))
            images.append(crop_antialiased(frame, box, cfg.data.image_size))
            boxes.append(box)
            intr.append(gt.intrinsics[rows[0]])
            roots.append(np.nan if d["root_cam"] is None else float(d["root_cam"][2]))
            meta.append({"image_id": image_id, "sequence": first["sequence"], "score": d["score"]})
    if not images:
        raise ValueError("the bbox_root file has no detection for any evaluated image (check its image_id values)")
    n = len(images)
    arrays = SampleArrays(
        images=np.stack(images), joints_2d=np.zeros((n, NUM_JOINTS, 2), np.float32),
        joints_3d=np.zeros((n, NUM_JOINTS, 3), np.float32), joints_vis=np.zeros((n, NUM_JOINTS), bool),
        root_depth=np.full(n, np.nan, np.float32), intrinsics=np.stack(intr).astype(np.float32),
        bbox=np.stack(boxes).astype(np.float32), has_3d=np.zeros(n, bool), meta=meta,
    )
    return arrays, np.array(roots)


def _image_wh(gt: SampleArrays, row: int) -> tuple[int, int]:
    path = gt.meta[row].get("image_path")
    if path and Path(path).is_file():
        with Image.open(path) as im:
            return im.size
    return image_size_of(str(gt.meta[row]["sequence"]))


# --------------------------------------------------------------------------------------------
# Predictions
# --------------------------------------------------------------------------------------------


def decode_people(model: PartPoseNet, coords: np.ndarray, bbox: np.ndarray, intrinsics: np.ndarray,
                  root_depth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Voxel coordinates -> image joints ``(N, 17, 2)`` px and absolute camera joints
    ``(N, 17, 3)`` mm, given each person's root depth (3DMPPE: root + relative depth, then the
    pinhole back-projection)."""
    g = model.geometry
    uv = crop_to_image((np.asarray(coords, np.float64)[..., :2] + 0.5) * g.stride, bbox, g.image_size)
    return uv, g.decode(coords, bbox, intrinsics, np.asarray(root_depth, np.float64))


def _root_depths(arrays: SampleArrays, source: str, rootnet: RootNet | None, file_roots: np.ndarray | None,
                 cfg: Config, device: torch.device) -> np.ndarray:
    if source == "rootnet":
        assert rootnet is not None
        return predict_root_depth(rootnet, arrays.images, arrays.bbox, arrays.intrinsics, cfg.eval.batch_size,
                                  device, flip_test=cfg.eval.flip_test)
    if source == "bbox_root":
        assert file_roots is not None
        if np.any(np.isnan(file_roots)):
            raise ValueError("the bbox_root file lacks root_cam for some detections; give --rootnet DIR")
        return file_roots
    return k_prior(arrays.bbox, arrays.intrinsics)


def _root_source(run: RunDir, rootnet: str | Path | None, bbox_root: str | Path | None, device: torch.device,
                 log: Any) -> tuple[RootNet | None, dict[str, Any] | None, str, str]:
    """Where the root depths come from, in :func:`evaluate_multi`'s order of preference:
    ``(RootNet or None, its checkpoint or None, source key, source text)``."""
    if rootnet is not None:
        net, ckpt = load_rootnet(rootnet, device)
        return net, ckpt, "rootnet", f"RootNet {rootnet_path(rootnet)}"
    if bbox_root is not None:
        return None, None, "bbox_root", f"root_cam of {bbox_root}"
    if rootnet_path(run.root).is_file():
        net, ckpt = load_rootnet(run.root, device)
        return net, ckpt, "rootnet", f"RootNet {rootnet_path(run.root)}"
    log.info(f"evaluate: no RootNet in {rootnet_path(run.root)}; using the bare k prior for root depths "
             "(train one with 'partnas rootnet train')")
    return None, None, "k_prior", "k prior (gamma = 1; no RootNet found)"


def evaluate_multi(cfg: Config, out: str | Path, dataset: str = "synthetic-multi", root: str | Path | None = None,
                   rootnet: str | Path | None = None, bbox_root: str | Path | None = None) -> dict[str, Any]:
    """``partnas evaluate --dataset synthetic-multi|mupots``: absolute multi-person 3D poses of
    the run in ``out``, scored like MuPoTS-3D; writes ``OUT/metrics_multi.json``.

    Boxes: ground truth, or the detections of ``bbox_root`` (a ``bbox_root_*.json`` file).
    Root depths, in this order: RootNet from ``rootnet`` (a directory or checkpoint); else the
    ``root_cam`` of the ``bbox_root`` file; else RootNet from ``OUT/checkpoints/rootnet.pt`` if
    it exists; else the bare k prior (gamma = 1).  ``root_error_mm`` is the mean absolute
    root-depth error over all people (ground-truth boxes) or over the people matched to a
    detection (``bbox_root``); ``mean_depth_root_error_mm`` the error of always
    guessing one depth (RootNet's training mean when a RootNet is used, else the evaluated
    people's own mean -- an oracle constant, said so in ``mean_depth_source``).
    """
    # Long because it is the 3DMPPE pipeline's five steps in order (boxes, root depths, relative
    # poses, scoring, root errors), each a few lines that read top to bottom.
    if dataset not in MULTI_DATASETS:
        raise ValueError(f"unknown multi-person dataset {dataset!r}; expected one of {MULTI_DATASETS}")
    run = RunDir(Path(out))
    run.root.mkdir(parents=True, exist_ok=True)
    log = get_logger(run)
    device = resolve_device(cfg.device)
    timer = Timer()
    model = load_pose_model(cfg, run.root, device)
    gt = load_people(cfg, dataset, root)

    # 1. boxes
    file_roots = None
    if bbox_root is not None:
        pred_in, file_roots = detection_people(gt, read_bbox_root(bbox_root), cfg)
        boxes = f"detections from {bbox_root}"
    else:
        pred_in, boxes = gt, "ground truth"
    # 2. root depths
    net, ckpt, source, source_text = _root_source(run, rootnet, bbox_root, device, log)
    root_pred = _root_depths(pred_in, source, net, file_roots, cfg, device)
    # 3. root-relative poses, made absolute
    coords = predict_coords(model, pred_in, cfg.eval.batch_size, device, cfg.eval.flip_test)
    pred_2d, pred_3d = decode_people(model, coords, pred_in.bbox, pred_in.intrinsics, root_pred)
    pred_ids = [int(m["image_id"]) for m in pred_in.meta]

    # 4. score
    gt_ids = [int(m["image_id"]) for m in gt.meta]
    seqs = [str(m["sequence"]) for m in gt.meta]
    univ = None
    if all("joints_3d_univ" in m for m in gt.meta):
        univ = np.array([m["joints_3d_univ"] for m in gt.meta], dtype=np.float64)
    threshold = MATCH_THRESHOLD_PX
    if dataset == "synthetic-multi":
        threshold *= float(np.mean(gt.intrinsics[:, 0])) / MUPOTS_REFERENCE_FOCAL_PX
    common = dict(gt_2d=gt.joints_2d, gt_3d=gt.joints_3d, gt_image_ids=gt_ids, gt_sequences=seqs,
                  pred_2d=pred_2d, pred_image_ids=pred_ids, match_threshold_px=threshold)
    official = score_people(pred_3d=pred_3d, gt_3d_univ=univ, **common)
    plain = score_people(pred_3d=pred_3d, rescale=False, use_univ=False, **common)

    # 5. root depth errors: with ground-truth boxes prediction i *is* person i (whatever its
    #    pose quality); with detections, over the people the scorer matched
    if bbox_root is None:
        match = np.arange(len(gt))
    else:
        match = _flat_matching(gt.joints_2d, gt_ids, pred_2d, pred_ids, threshold)
    ok = match >= 0
    gt_root = gt.root_depth.astype(np.float64)
    abs_err = np.abs(root_pred[match[ok]] - gt_root[ok])
    k_err = np.abs(k_prior(pred_in.bbox, pred_in.intrinsics)[match[ok]] - gt_root[ok])
    if ckpt is not None:
        mean_depth, mean_source = float(ckpt["train_mean_depth_mm"]), "RootNet training set mean"
    else:
        mean_depth, mean_source = float(gt_root.mean()), "mean of the evaluated people (oracle constant)"
    metrics: dict[str, Any] = {
        "dataset": dataset, "num_images": len(set(gt_ids)), "num_people": len(gt), "num_predictions": len(pred_in),
        "boxes": boxes, "root_source": source_text,
        **{k: official[k] for k in ("pck3d_rel", "pck3d_abs", "auc_rel", "auc_abs", "matched", "recall")},
        "num_matched": official["num_matched"],
        "root_error_mm": float(abs_err.mean()) if abs_err.size else float("nan"),
        "k_prior_root_error_mm": float(k_err.mean()) if k_err.size else float("nan"),
        "mean_depth_root_error_mm": float(np.mean(np.abs(mean_depth - gt_root[ok]))) if ok.any() else float("nan"),
        "mean_depth_mm": mean_depth, "mean_depth_source": mean_source,
        "no_rescale": {k: plain[k] for k in ("pck3d_rel", "pck3d_abs", "auc_rel", "auc_abs", "matched")},
        "gt_skeleton": "universal (univ_annot3)" if univ is not None else "annot3 (no universal skeleton in the data)",
    }
    if bbox_root is None:
        # The same network outputs with the true root depth: what a perfect RootNet would give.
        # Even the root-relative scores change, because X and Y of every joint are back-projected
        # with its absolute depth: a root 10 % too far makes the whole pose 10 % too wide.
        _, oracle_3d = decode_people(model, coords, pred_in.bbox, pred_in.intrinsics, gt.root_depth)
        oracle = score_people(pred_3d=oracle_3d, gt_3d_univ=univ, **common)
        metrics["gt_root"] = {k: oracle[k] for k in ("pck3d_rel", "pck3d_abs", "auc_rel", "auc_abs")}
    per_seq = official["per_sequence"]
    for seq in per_seq:
        rows = [i for i in range(len(gt)) if seqs[i] == seq and ok[i]]
        per_seq[seq]["root_error_mm"] = (float(np.mean(np.abs(root_pred[match[rows]] - gt_root[rows])))
                                         if rows else float("nan"))
    metrics["per_sequence"] = per_seq
    metrics["scorer"] = official["settings"]
    metrics["model"] = {"preset": cfg.preset, "model_kind": cfg.model.kind, "params": count_parameters(model),
                        "rootnet_params": count_parameters(net) if net is not None else None}
    metrics["seconds"] = timer.seconds
    run.write_json(run.root / MULTI_METRICS, metrics)
    log.info(f"evaluate ({dataset}): 3DPCK_rel {metrics['pck3d_rel']:.1f}, 3DPCK_abs {metrics['pck3d_abs']:.1f}, "
             f"AUC_rel {metrics['auc_rel']:.1f}, root error {metrics['root_error_mm']:.0f} mm "
             f"(mean-depth guess {metrics['mean_depth_root_error_mm']:.0f} mm) on {len(gt)} people")
    return metrics


def _flat_matching(gt_2d: np.ndarray, gt_ids: Sequence[int], pred_2d: np.ndarray, pred_ids: Sequence[int],
                   threshold: float) -> np.ndarray:
    """The scorer's identity matching over flat arrays: the prediction row matched to each GT
    row (-1 if none)."""
    out = np.full(len(gt_ids), -1, dtype=int)
    preds: dict[int, list[int]] = {}
    for i, image_id in enumerate(pred_ids):
        preds.setdefault(image_id, []).append(i)
    rows_of: dict[int, list[int]] = {}
    for i, image_id in enumerate(gt_ids):
        rows_of.setdefault(image_id, []).append(i)
    for image_id, rows in rows_of.items():
        q = preds.get(image_id, [])
        m = match_people(np.asarray(gt_2d)[rows], np.asarray(pred_2d)[q], threshold)
        out[rows] = [q[j] if j >= 0 else -1 for j in m]
    return out
