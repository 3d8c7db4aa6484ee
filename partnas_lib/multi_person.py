"""Multi-person absolute 3D pose, the 3DMPPE way, scored like MuPoTS-3D.

The single-person protocol (:mod:`partnas_lib.eval.evaluate`) hands the network a ground-truth
box *and* the ground-truth root depth.  A multi-person image offers neither, so 3DMPPE (Moon et
al., ICCV 2019; method.md Sec. 3) splits the problem into three networks:

1. a **person detector** gives a box per person -- here the ground-truth boxes, or any
   detector's boxes in the ``bbox_root_*.json`` format (formats.md: ``image_id``, ``bbox``
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

Entry points: :func:`train_rootnet` (``partnas rootnet train``), :func:`evaluate_multi`
(``partnas evaluate --dataset synthetic-multi|mupots``) and, for notebooks,
:func:`load_test_frame` (one frame of the scored test scenes), :func:`scene_people` and
:func:`predict_frame` (its people in camera space, ground truth and predicted).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from partnas_lib.camera import crop_to_image
from partnas_lib.config import Config
from partnas_lib.data.datasets import load_split
from partnas_lib.data.h36m import process_bbox, read_rgb
from partnas_lib.io import DataFormatError, as_array, default_cache_dir, read_json, require, to_jsonable
from partnas_lib.data.multi import (FRAME_WIDTH, MultiPersonFrame, crop_antialiased, frame_samples, load_frame,
                                    load_multi_split, split_layout)
from partnas_lib.data.sample import SampleArrays
from partnas_lib.eval.evaluate import predict_coords
from partnas_lib.eval.mupots_scorer import MATCH_THRESHOLD_PX, match_people, score_people
from partnas_lib.models.backbone import resnet_trunk
from partnas_lib.models.build import build_model
from partnas_lib.models.heads import PartPoseNet, count_parameters
from partnas_lib.models.rootnet import RootNet, k_prior, predict_root_depth, rootnet_loss
from partnas_lib.nas.genotype import Genotype
from partnas_lib.skeleton import NUM_JOINTS
from partnas_lib.train.checkpoint import load_checkpoint, save_checkpoint
from partnas_lib.train.loop import (RunDir, Timer, check_finite, epoch_order, get_logger, make_batch, resolve_device,
                                    seed_everything)

#: Datasets :func:`evaluate_multi` understands.
MULTI_DATASETS: tuple[str, ...] = ("synthetic-multi", "mupots")
#: Data RootNet can be trained on: multi-person scene crops (default) or single-person crops.
ROOTNET_DATA: tuple[str, ...] = ("synthetic-multi", "synthetic")
ROOTNET_CHECKPOINT = "rootnet.pt"
ROOTNET_METRICS = "rootnet_metrics.json"
MULTI_METRICS = "metrics_multi.json"
#: About MuPoTS-3D's focal length (px; 1400-1500 over its sequences).  The official 40 px
#: matching threshold is scaled by ``fx / MUPOTS_REFERENCE_FOCAL_PX`` on the synthetic frames, so
#: that it spans the same angle -- the same fraction of a person at a given distance.
MUPOTS_REFERENCE_FOCAL_PX = 1500.0


# --------------------------------------------------------------------------------------------
# RootNet: data, training, loading
# --------------------------------------------------------------------------------------------

def build_rootnet(cfg: Config) -> RootNet:
    """RootNet with the pose network's trunk at ``cfg``'s size (depth, width, last stage)."""
    m = cfg.model
    return RootNet(resnet_trunk(m.trunk_depth, m.trunk_width, m.trunk_stage))


def rootnet_data(cfg: Config, split: str, data: str = "synthetic-multi") -> SampleArrays:
    """Crops with ground-truth boxes and root depths for RootNet: ``cfg.data.num_train`` /
    ``num_val`` people of the multi-person scenes (``synthetic-multi``, the default, like 3DMPPE
    training RootNet on the multi-person MuCo-3DHP for MuPoTS-3D) or of the single-person
    stream (``synthetic``; the pose network's own cached split)."""
    counts = {"train": cfg.data.num_train, "val": cfg.data.num_val, "test": cfg.data.num_test}
    if data == "synthetic":
        return load_split(cfg, split)
    if data == "synthetic-multi":
        cache = Path(cfg.data.cache_dir) if cfg.data.cache_dir else default_cache_dir()
        return load_multi_split(split, counts[split], cfg.data.seed, cfg.data.image_size, FRAME_WIDTH,
                                cfg.data.supersample, cache_dir=cache, progress=cfg.progress)
    raise ValueError(f"unknown RootNet data {data!r}; expected one of {ROOTNET_DATA}")


def root_errors(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean absolute root-depth error (mm)."""
    return float(np.mean(np.abs(np.asarray(pred, np.float64) - np.asarray(gt, np.float64))))


def fit_rootnet(model: RootNet, train: SampleArrays, epochs: int, batch_size: int, lr: float,
                milestones: Sequence[int] = (), lr_factor: float = 0.1, seed: int = 0,
                device: torch.device | str = "cpu", flip_augment: bool = True, progress: bool = False,
                log: Any = None) -> list[float]:
    """Train ``model`` on ``train`` (L1 on Z, Adam, step decay, random horizontal flips, which
    leave the depth unchanged).  Returns the mean loss (metres) of every epoch."""
    device = torch.device(device)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(milestones), gamma=lr_factor)
    k_all = torch.from_numpy(k_prior(train.bbox, train.intrinsics).astype(np.float32))
    z_all = torch.from_numpy(train.root_depth.astype(np.float32))
    flips = torch.Generator().manual_seed(seed + 1)
    steps = len(train) // batch_size
    if steps == 0:
        raise ValueError(f"RootNet batch size {batch_size} is larger than its training set ({len(train)})")
    losses: list[float] = []
    for epoch in range(epochs):
        model.train()
        order = epoch_order(len(train), seed, epoch)
        total = 0.0
        for step in range(steps):
            idx = order[step * batch_size:(step + 1) * batch_size]
            images = make_batch(train, idx, device)["image"]
            if flip_augment:
                flip = (torch.rand(len(idx), generator=flips) < 0.5).to(device)
                images = torch.where(flip[:, None, None, None], images.flip(-1), images)
            loss = rootnet_loss(model(images, k_all[idx].to(device)), z_all[idx].to(device))
            check_finite(loss, f"rootnet epoch {epoch + 1} step {step}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item()
        sched.step()
        losses.append(total / steps)
        if log is not None:
            log.info(f"rootnet: epoch {epoch + 1}/{epochs} L1 {1000 * losses[-1]:.1f} mm")
        elif progress:
            print(f"rootnet epoch {epoch + 1}/{epochs}: L1 {1000 * losses[-1]:.1f} mm")
    return losses


def rootnet_report(model: RootNet, arrays: SampleArrays, train_mean_depth: float, batch_size: int = 64,
                   device: torch.device | str = "cpu") -> dict[str, float]:
    """Mean absolute root-depth error (mm) of RootNet, of the bare prior k and of the constant
    ``train_mean_depth`` guess on ``arrays``."""
    pred = predict_root_depth(model, arrays.images, arrays.bbox, arrays.intrinsics, batch_size, device)
    return {
        "root_error_mm": root_errors(pred, arrays.root_depth),
        "k_prior_root_error_mm": root_errors(k_prior(arrays.bbox, arrays.intrinsics), arrays.root_depth),
        "mean_depth_root_error_mm": root_errors(np.full(len(arrays), train_mean_depth), arrays.root_depth),
        "num_samples": len(arrays),
    }


def train_rootnet(cfg: Config, out: str | Path, data: str = "synthetic-multi") -> dict[str, Any]:
    """``partnas rootnet train``: train RootNet at ``cfg``'s size; write
    ``OUT/checkpoints/rootnet.pt`` (weights, config, training mean depth) and
    ``OUT/rootnet_metrics.json`` (validation errors of RootNet, the k prior and the mean depth).

    Uses ``cfg.retrain``'s recipe (epochs, batch size, learning rate, milestones): 3DMPPE trains
    RootNet with the same Adam + step-decay schedule as its pose network.  ``OUT`` may be the
    pose run's directory (nothing there is overwritten) or a directory of its own.
    """
    cfg.validate()
    run = RunDir(Path(out))
    run.prepare()
    log = get_logger(run)
    device = resolve_device(cfg.device)
    timer = Timer()
    train = rootnet_data(cfg, "train", data)
    val = rootnet_data(cfg, "val", data) if cfg.data.num_val > 0 else None
    seed_everything(cfg.seed + 11)
    model = build_rootnet(cfg)
    r = cfg.retrain
    log.info(f"rootnet: {len(train)} {data} crops, {count_parameters(model) / 1e6:.3f} M parameters, "
             f"{r.epochs} epochs, device={device}")
    losses = fit_rootnet(model, train, r.epochs, min(r.batch_size, len(train)), r.lr, r.lr_milestones, r.lr_factor,
                         seed=cfg.seed + 11, device=device, flip_augment=r.flip_augment, log=log)
    mean_depth = float(np.mean(train.root_depth))
    metrics: dict[str, Any] = {"data": data, "train_samples": len(train), "train_mean_depth_mm": mean_depth,
                               "epochs": r.epochs, "losses_mm": [1000 * x for x in losses],
                               "train_seconds": timer.seconds}
    if val is not None:
        metrics["val"] = rootnet_report(model, val, mean_depth, cfg.eval.batch_size, device)
        v = metrics["val"]
        log.info(f"rootnet: validation root-depth error {v['root_error_mm']:.0f} mm (k prior alone "
                 f"{v['k_prior_root_error_mm']:.0f} mm, constant mean depth {v['mean_depth_root_error_mm']:.0f} mm)")
    save_checkpoint(rootnet_path(run.root), {"model": model.state_dict(), "config": cfg.to_dict(), "data": data,
                                             "train_mean_depth_mm": mean_depth, "metrics": metrics})
    run.write_json(run.root / ROOTNET_METRICS, metrics)
    return metrics


def rootnet_path(location: str | Path) -> Path:
    """``location`` itself if it is a file, else ``location/checkpoints/rootnet.pt``."""
    location = Path(location)
    return location if location.is_file() else location / "checkpoints" / ROOTNET_CHECKPOINT


def load_rootnet(location: str | Path, device: torch.device | str = "cpu") -> tuple[RootNet, dict[str, Any]]:
    """A trained RootNet (rebuilt from the config saved with it) and its checkpoint dict."""
    path = rootnet_path(location)
    if not path.is_file():
        raise FileNotFoundError(f"no RootNet at {path}; train one with 'partnas rootnet train --out {location}'")
    ckpt = load_checkpoint(path)
    model = build_rootnet(Config.from_dict(ckpt["config"], where=f"{path}: config"))
    model.load_state_dict(ckpt["model"])
    return model.to(torch.device(device)).eval(), ckpt


# --------------------------------------------------------------------------------------------
# The pose network and the people to evaluate
# --------------------------------------------------------------------------------------------

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
    :func:`~partnas_lib.data.multi.crop_antialiased` (a 2048 px frame shrinks ~10x into a small
    crop; plain bilinear sampling would alias), exactly as detector-box crops are."""
    if dataset == "synthetic-multi":
        cache = Path(cfg.data.cache_dir) if cfg.data.cache_dir else default_cache_dir()
        return load_multi_split("test", cfg.data.num_test, cfg.data.seed, cfg.data.image_size, FRAME_WIDTH,
                                cfg.data.supersample, cache_dir=cache, progress=cfg.progress)
    if dataset == "mupots":
        if root is None:
            raise ValueError("--dataset mupots needs --root MUPOTS_DIR (the folder with MultiPersonTestSet/)")
        from partnas_lib.data.mupots import load_mupots

        people = load_mupots(root, image_size=cfg.data.image_size, with_images=False, progress=cfg.progress)
        for rows in _images_of(people).values():
            frame = _frame_image(people, rows[0], cfg)
            for r in rows:
                people.images[r] = crop_antialiased(frame, people.bbox[r], cfg.data.image_size)
                people.meta[r]["has_image"] = True
        return people
    raise ValueError(f"unknown multi-person dataset {dataset!r}; expected one of {MULTI_DATASETS}")


def read_bbox_root(path: str | Path) -> dict[int, list[dict[str, Any]]]:
    """A ``bbox_root_*.json`` file (formats.md): ``{image_id: [{bbox, root_cam, score}, ...]}``."""
    path = Path(path)
    entries = read_json(path, "bbox_root file")
    if not isinstance(entries, list):
        raise DataFormatError(f"{path}: top level must be a list of {{image_id, bbox, root_cam, score}}")
    out: dict[int, list[dict[str, Any]]] = {}
    for i, e in enumerate(entries):
        w = f"[{i}]"
        root_cam = e.get("root_cam")
        out.setdefault(int(require(e, "image_id", path, w)), []).append({
            "bbox": as_array(require(e, "bbox", path, w), (4,), path, f"{w}.bbox"),
            "root_cam": None if root_cam is None else as_array(root_cam, (3,), path, f"{w}.root_cam"),
            "score": float(e.get("score", 1.0)),
        })
    return out


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
        from PIL import Image

        with Image.open(path) as im:
            return im.size
    from partnas_lib.data.mupots import image_size_of

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


def _sequence_table(metrics: dict[str, Any]) -> str:
    head = f"{'sequence':<9}{'people':>7}{'matched':>8}{'PCK_rel':>9}{'PCK_abs':>9}{'AUC_rel':>9}{'AUC_abs':>9}{'root err':>10}"
    lines = [head, "-" * len(head)]
    for seq, r in metrics["per_sequence"].items():
        lines.append(f"{seq:<9}{r['annotated']:>7}{r['matched']:>8}{r['pck3d_rel']:>9.1f}{r['pck3d_abs']:>9.1f}"
                     f"{r['auc_rel']:>9.1f}{r['auc_abs']:>9.1f}{_mm(r.get('root_error_mm'))}")
    lines.append("-" * len(head))
    lines.append(f"{'mean':<9}{metrics['num_people']:>7}{metrics['num_matched']:>8}{metrics['pck3d_rel']:>9.1f}"
                 f"{metrics['pck3d_abs']:>9.1f}{metrics['auc_rel']:>9.1f}{metrics['auc_abs']:>9.1f}"
                 f"{_mm(metrics['root_error_mm'])}")
    return "\n".join(lines)


def _mm(value: float | None) -> str:
    return f"{'-':>10}" if value is None or np.isnan(value) else f"{value:>8.0f}mm"


def format_multi_metrics(metrics: dict[str, Any]) -> str:
    """The per-sequence table and the summary lines, as printed by ``partnas evaluate``."""
    m = metrics["matched"]
    return "\n".join([
        _sequence_table(metrics),
        f"all annotated people: 3DPCK_rel {metrics['pck3d_rel']:.1f} | 3DPCK_abs {metrics['pck3d_abs']:.1f} | "
        f"AUC_rel {metrics['auc_rel']:.1f} | AUC_abs {metrics['auc_abs']:.1f}",
        f"matched people:       3DPCK_rel {m['pck3d_rel']:.1f} | 3DPCK_abs {m['pck3d_abs']:.1f} | "
        f"AUC_rel {m['auc_rel']:.1f} | AUC_abs {m['auc_abs']:.1f}  ({metrics['num_matched']}/{metrics['num_people']})",
        f"root depth error: {metrics['root_error_mm']:.0f} mm ({metrics['root_source']}) | k prior alone "
        f"{metrics['k_prior_root_error_mm']:.0f} mm | constant mean depth {metrics['mean_depth_root_error_mm']:.0f} mm",
    ])


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
    net, ckpt = None, None
    if rootnet is not None:
        net, ckpt = load_rootnet(rootnet, device)
        source, source_text = "rootnet", f"RootNet {rootnet_path(rootnet)}"
    elif bbox_root is not None:
        source, source_text = "bbox_root", f"root_cam of {bbox_root}"
    elif rootnet_path(run.root).is_file():
        net, ckpt = load_rootnet(run.root, device)
        source, source_text = "rootnet", f"RootNet {rootnet_path(run.root)}"
    else:
        source, source_text = "k_prior", "k prior (gamma = 1; no RootNet found)"
        log.info(f"evaluate: no RootNet in {rootnet_path(run.root)}; using the bare k prior for root depths "
                 "(train one with 'partnas rootnet train')")
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
    run.write_json(run.root / MULTI_METRICS, to_jsonable(metrics))
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


# --------------------------------------------------------------------------------------------
# One frame, for notebooks
# --------------------------------------------------------------------------------------------

def scene_people(frame: MultiPersonFrame) -> dict[str, Any]:
    """The people of a rendered frame placed in camera space (ground truth), ready to plot:
    ``joints_cam`` ``(N, 17, 3)`` mm (X right, Y down, Z forward), ``joints_2d`` ``(N, 17, 2)``,
    ``bbox`` ``(N, 4)``, ``root_depth`` ``(N,)``, ``joints_vis`` ``(N, 17)``, ``actions``, plus the
    frame's ``image``, ``intrinsics`` and ``size``."""
    p = frame.people
    return {
        "joints_cam": np.stack([x.joints_cam for x in p]), "joints_2d": np.stack([x.joints_2d for x in p]),
        "bbox": np.stack([x.bbox for x in p]), "root_depth": np.array([x.root_depth for x in p]),
        "joints_vis": np.stack([x.joints_vis for x in p]), "actions": [x.action for x in p],
        "image": frame.image, "intrinsics": frame.intrinsics, "size": frame.size,
    }


def predict_frame(cfg: Config, out: str | Path, frame: MultiPersonFrame, rootnet: str | Path | None = None,
                  device: str | None = None) -> dict[str, Any]:
    """Ground truth and predictions for every person of ``frame`` (ground-truth boxes):
    :func:`scene_people`'s fields plus ``pred_cam`` ``(N, 17, 3)`` (absolute, with the root depth
    of RootNet from ``rootnet`` or ``OUT``, else the k prior), ``pred_cam_gt_root`` (the same
    pose with the true root depth), ``pred_root_depth``, ``k_prior`` and ``root_source``."""
    dev = resolve_device(device or cfg.device)
    model = load_pose_model(cfg, out, dev)
    arrays = SampleArrays.from_samples(frame_samples(frame, cfg.data.image_size))
    location = rootnet if rootnet is not None else (out if rootnet_path(out).is_file() else None)
    if location is not None:
        net, _ = load_rootnet(location, dev)
        roots = predict_root_depth(net, arrays.images, arrays.bbox, arrays.intrinsics, device=dev)
        source = f"RootNet {rootnet_path(location)}"
    else:
        roots, source = k_prior(arrays.bbox, arrays.intrinsics), "k prior (gamma = 1)"
    coords = predict_coords(model, arrays, cfg.eval.batch_size, dev, cfg.eval.flip_test)
    pred_2d, pred_3d = decode_people(model, coords, arrays.bbox, arrays.intrinsics, roots)
    _, oracle = decode_people(model, coords, arrays.bbox, arrays.intrinsics, arrays.root_depth)
    return {**scene_people(frame), "pred_cam": pred_3d, "pred_cam_gt_root": oracle, "pred_2d": pred_2d,
            "pred_root_depth": roots, "k_prior": k_prior(arrays.bbox, arrays.intrinsics), "root_source": source,
            "crops": arrays.images}


def load_test_frame(cfg: Config, sequence: int = 0, frame: int = 0) -> MultiPersonFrame:
    """Frame ``frame`` of sequence ``sequence`` of the synthetic multi-person *test* split of
    ``cfg`` (the same scenes ``evaluate --dataset synthetic-multi`` scores, same image ids)."""
    _, frames = split_layout("test", cfg.data.num_test)
    return load_frame("test", sequence, frame, cfg.data.seed, FRAME_WIDTH, cfg.data.supersample,
                      frames_per_sequence=frames)


def summary_json(metrics: dict[str, Any]) -> str:
    """The headline numbers as one JSON line (for logs and notebooks)."""
    keys = ("pck3d_rel", "pck3d_abs", "auc_rel", "auc_abs", "root_error_mm", "mean_depth_root_error_mm")
    return json.dumps({k: round(float(metrics[k]), 2) for k in keys})


__all__ = [
    "MULTI_DATASETS", "MULTI_METRICS", "ROOTNET_DATA", "build_rootnet", "decode_people", "detection_people",
    "evaluate_multi", "fit_rootnet", "format_multi_metrics", "load_people", "load_pose_model", "load_rootnet",
    "predict_frame", "read_bbox_root", "root_errors", "rootnet_data", "rootnet_path", "rootnet_report",
    "load_test_frame", "scene_people", "summary_json", "train_rootnet",
]
