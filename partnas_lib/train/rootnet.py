"""RootNet training: each person's absolute root depth (3DMPPE; docs/method.md Sec. 3).

RootNet (:mod:`partnas_lib.models.rootnet`) predicts ``Z = gamma * k`` from a person crop, its
box area and the focal length; this module trains it through the same runner as the search
and the retraining (:func:`~partnas_lib.train.runner.run_stage`, so ``partnas rootnet train``
checkpoints and resumes too), reports its validation error next to two baselines (the bare k
prior and a constant mean depth), and loads a trained one for evaluation.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from partnas_lib.config import Config
from partnas_lib.data.batches import epoch_order, make_batch
from partnas_lib.data.sample import SampleArrays
from partnas_lib.data.splits import load_split
from partnas_lib.data.synth.scene_splits import load_multi_split
from partnas_lib.data.synth.scenes import FRAME_WIDTH
from partnas_lib.io import default_cache_dir
from partnas_lib.models.build import build_rootnet
from partnas_lib.models.heads import count_parameters
from partnas_lib.models.rootnet import RootNet, k_prior, predict_root_depth, rootnet_loss
from partnas_lib.train.checkpoint import load_checkpoint, save_checkpoint
from partnas_lib.train.device import resolve_device, seed_everything
from partnas_lib.train.rundir import RunDir, Timer, get_logger
from partnas_lib.train.runner import Stage, run_stage
from partnas_lib.train.steps import train_step

#: Data RootNet can be trained on: multi-person scene crops (default) or single-person crops.
ROOTNET_DATA: tuple[str, ...] = ("synthetic-multi", "synthetic")
ROOTNET_CHECKPOINT = "rootnet.pt"
CHECKPOINT = "rootnet_last.pt"
ROOTNET_METRICS = "rootnet_metrics.json"


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
                log: logging.Logger | None = None, checkpoint: Path | None = None, resume: bool = False,
                checkpoint_every: int = 0) -> list[float]:
    """Train ``model`` on ``train`` (L1 on Z, Adam, step decay, random horizontal flips, which
    leave the depth unchanged) with :func:`~partnas_lib.train.runner.run_stage`; with
    ``checkpoint``, resumable from it.  Returns the mean loss (metres) of every epoch."""
    device = torch.device(device)
    log = log or logging.getLogger("partnas.rootnet")
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(milestones), gamma=lr_factor)
    k_all = torch.from_numpy(k_prior(train.bbox, train.intrinsics).astype(np.float32))
    z_all = torch.from_numpy(train.root_depth.astype(np.float32))
    flips = torch.Generator().manual_seed(seed + 1)
    steps = len(train) // batch_size
    if steps == 0:
        raise ValueError(f"RootNet batch size {batch_size} is larger than its training set ({len(train)})")
    stage = Stage("rootnet", epochs, steps, checkpoint, model, {"model": model, "opt": opt, "sched": sched},
                  schedulers=[sched], generators={"flips": flips}, records={"losses": []},
                  checkpoint_every=checkpoint_every, progress=progress)

    def batches(epoch: int, first: int):
        order = epoch_order(len(train), seed, epoch)
        for i in range(first, steps):
            idx = order[i * batch_size:(i + 1) * batch_size]
            yield make_batch(train, idx, device)["image"], idx

    def loss(net: torch.nn.Module, b: tuple[torch.Tensor, np.ndarray]) -> torch.Tensor:
        images, idx = b
        if flip_augment:
            flip = (torch.rand(len(idx), generator=flips) < 0.5).to(device)
            images = torch.where(flip[:, None, None, None], images.flip(-1), images)
        return rootnet_loss(net(images, k_all[idx].to(device)), z_all[idx].to(device))

    def end_epoch(epoch: int, mean: dict[str, float]) -> None:
        stage.records["losses"].append(mean["loss"])
        log.info(f"rootnet: epoch {epoch + 1}/{epochs} L1 {1000 * mean['loss']:.1f} mm")

    run_stage(stage, batches, lambda b, epoch: {"loss": train_step(model, opt, b, loss)}, end_epoch, device, log,
              resume)
    return stage.records["losses"]


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


def train_rootnet(cfg: Config, out: str | Path, data: str = "synthetic-multi", resume: bool = False
                  ) -> dict[str, Any]:
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
    model = build_rootnet(cfg, load_pretrained=True)
    r = cfg.retrain
    log.info(f"rootnet: {len(train)} {data} crops, {count_parameters(model) / 1e6:.3f} M parameters, "
             f"{r.epochs} epochs, device={device}")
    losses = fit_rootnet(model, train, r.epochs, min(r.batch_size, len(train)), r.lr, r.lr_milestones, r.lr_factor,
                         seed=cfg.seed + 11, device=device, flip_augment=r.flip_augment, progress=cfg.progress,
                         log=log, checkpoint=run.checkpoints / CHECKPOINT, resume=resume,
                         checkpoint_every=cfg.train.checkpoint_every)
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
