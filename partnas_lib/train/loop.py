"""Pieces shared by search and retraining: seeding, device, batches, the loss step, the run dir.

Determinism (design.md): one seed seeds everything, and the order of samples in epoch ``e`` is a
permutation drawn from a generator seeded by ``(seed, e)``, so a run resumed at any step (the
checkpoint records the epoch and the step within it) sees exactly the batches the uninterrupted
run would have seen.  Under ``torchrun`` every process takes its share of that permutation
(:mod:`partnas_lib.train.distributed`).
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from partnas_lib.config import Config
from partnas_lib.data.batches import epoch_order, iterate_batches, make_batch, num_batches  # noqa: F401 (re-exported)
from partnas_lib.data.sample import SampleArrays
from partnas_lib.models.integral import VolumeGeometry, integral_l1_loss
from partnas_lib.data.transforms import AugmentConfig, augment_batch
from partnas_lib.train import distributed
from partnas_lib.io import atomic_write_text


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    """``auto`` = CUDA if present, else CPU (no ``.cuda()`` anywhere else).  Under ``torchrun``
    with several processes, CUDA means ``cuda:LOCAL_RANK``."""
    if name == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            device = torch.device(name)
        except RuntimeError:
            raise ValueError(f"config field device = {name!r} is not a torch device (try auto, cpu, cuda)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("config field device = 'cuda' but no CUDA device is available; use device=auto or cpu")
    if device.type == "cuda" and distributed.info().enabled:
        device = torch.device("cuda", distributed.env_info().local_rank)
    return device


@dataclass(frozen=True)
class Precision:
    """Speed options after checking the device: bf16 autocast (``train.amp``, CUDA only) and the
    NHWC memory format (``train.channels_last``)."""

    amp: bool = False
    channels_last: bool = False

    def autocast(self, device: torch.device) -> Any:
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.amp)

    def model(self, model: nn.Module) -> nn.Module:
        return model.to(memory_format=torch.channels_last) if self.channels_last else model


def resolve_precision(cfg: Config, device: torch.device, log: logging.Logger | None = None,
                      search: bool = False) -> Precision:
    """bf16 autocast as the config asks on CUDA (off elsewhere, with a log line when it was asked
    for); channels_last as the config asks, except for the supernet on a CPU.

    Why the exception (measured with ``benchmarks/bench_models.py`` / ``bench_search.py``): on a
    CPU, oneDNN's convolutions, BatchNorm and pooling are 1.3-2x faster on NHWC tensors, which
    makes the derived networks and the baseline train faster; but the supernet's partial
    channels split the channels of every edge and shuffle them at every node, and a channel
    permutation of an NHWC tensor is a strided gather per pixel, which costs more than NHWC saves.
    """
    if cfg.train.amp and device.type != "cuda" and log is not None:
        log.info(f"train.amp requested, but the device is {device.type}: switched off (CUDA option)")
    channels_last = cfg.train.channels_last and not (search and device.type == "cpu")
    return Precision(cfg.train.amp and device.type == "cuda", channels_last)


def make_adam(params: Any, device: torch.device, **kwargs: Any) -> torch.optim.Adam:
    """``torch.optim.Adam`` with its fused kernel where this torch has one for ``device``: one
    kernel for all parameters instead of several per tensor (5x faster on a CPU for the ~400
    small tensors of a part-aware network), the same update up to float rounding."""
    params = list(params)
    try:
        return torch.optim.Adam(params, fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):  # no fused kernel for this device / torch version
        return torch.optim.Adam(params, foreach=device.type == "cuda" or None, **kwargs)


def prepare_model(model: nn.Module, cfg: Config, device: torch.device, precision: Precision,
                  log: logging.Logger | None = None) -> nn.Module:
    """Memory format and, with several processes and ``train.sync_bn``, synchronised BatchNorm."""
    model = precision.model(model)
    if distributed.info().enabled and cfg.train.sync_bn:
        model = distributed.convert_sync_batchnorm(model, device)
        if log is not None:
            log.info(f"BatchNorm statistics synchronised over {distributed.info().world_size} processes (train.sync_bn)")
    return model


def pose_loss(model: nn.Module, batch: dict[str, torch.Tensor], geometry: VolumeGeometry, device: torch.device,
              augment: torch.Generator | None = None, augment_cfg: AugmentConfig | None = None,
              precision: Precision | None = None) -> torch.Tensor:
    """Forward a batch and return the integral L1 loss; with an ``augment`` generator the batch
    is augmented first (:func:`partnas_lib.data.transforms.augment_batch`).

    ``model`` is called (not ``model.predict``), so a ``DistributedDataParallel`` wrapper works.
    With several processes the augmentation is drawn for the global batch (each process keeps
    its share) and the loss is scaled so that the processes' mean is the loss of the global
    batch, normalised by its total number of supervised coordinates.
    """
    d = distributed.info()
    precision = precision or Precision()
    target = geometry.encode(batch["joints_2d"], batch["joints_3d"], batch["bbox"])
    images, vis = batch["image"], batch["joints_vis"]
    if augment is not None:
        images, target, vis = augment_batch(images, target, vis, geometry.size, augment, augment_cfg or AugmentConfig(),
                                            shard=(d.rank, d.world_size))
    if precision.channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    with precision.autocast(device):
        pred = model(images).float()
    vis, has_3d = vis.to(device), batch["has_3d"].to(device)
    loss = integral_l1_loss(pred, target.to(device), vis, has_3d)
    if d.enabled:
        # integral_l1_loss divides by this process's weight (2 per visible joint + 1 if 3D)
        local = (2 * vis.bool().sum() + (vis.bool() & has_3d.bool()[:, None]).sum()).double()
        total = distributed.all_reduce_sum(local.clone())
        loss = loss * (local.clamp_min(1.0) * d.world_size / total.clamp_min(1.0)).float()
    return loss


# --------------------------------------------------------------------------------------------
# the run directory


@dataclass
class RunDir:
    """Paths of a run directory (design.md): the unit of output of every command."""

    root: Path

    def __post_init__(self) -> None:
        self.root = Path(self.root)

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def genotype(self) -> Path:
        return self.root / "genotype.json"

    @property
    def alpha_history(self) -> Path:
        return self.root / "search" / "alpha_history.json"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    @property
    def predictions(self) -> Path:
        return self.root / "predictions.npz"

    @property
    def log(self) -> Path:
        return self.root / "log.txt"

    def prepare(self, min_free_mb: float = 0) -> None:
        """Check free space, create the directory and check it is writable, before any work starts.

        Only rank 0 writes a run directory; other processes of a ``torchrun`` run do nothing here.
        """
        if not distributed.is_main():
            return
        check_free_space(self.root, min_free_mb * 2**20, "the run directory (train.min_free_mb)")
        try:
            (self.root / "search").mkdir(parents=True, exist_ok=True)
            self.checkpoints.mkdir(parents=True, exist_ok=True)
            probe = self.root / ".write_test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as e:
            raise OSError(f"run directory {self.root} is not writable: {e}") from None

    def write_json(self, path: Path, data: Any) -> None:
        """Atomic JSON write (rank 0 only; a no-op on the other processes of a ``torchrun`` run)."""
        if distributed.is_main():
            atomic_write_text(path, json.dumps(data, indent=2) + "\n")


def check_free_space(path: Path, need_bytes: float, what: str) -> None:
    """Raise ``OSError`` naming ``path`` if its file system has less than ``need_bytes`` free
    (``path`` may not exist yet: its nearest existing parent is measured)."""
    if need_bytes <= 0:
        return
    probe = Path(path).absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        free = shutil.disk_usage(probe).free
    except OSError:
        return  # cannot tell; the writability probe and the atomic writes still catch a full disk
    if free < need_bytes:
        raise OSError(f"not enough free disk space for {what}: {path} has {free / 2**20:.0f} MB free on its file "
                      f"system, {need_bytes / 2**20:.0f} MB needed; free some space or choose another --out")


def checkpoint_bytes(*modules_or_tensors: Any) -> int:
    """Rough size of a training checkpoint: the parameters and buffers, three times (weights and
    the two Adam moments)."""
    n = 0
    for m in modules_or_tensors:
        tensors = list(m.parameters()) + list(m.buffers()) if isinstance(m, nn.Module) else [m]
        n += sum(t.numel() * t.element_size() for t in tensors)
    return 3 * n


def get_logger(run: RunDir) -> logging.Logger:
    """A logger that writes to ``log.txt`` and to stderr; on the other processes of a
    ``torchrun`` run, warnings to stderr only (rank 0 keeps the log)."""
    d = distributed.info()
    if not d.is_main:
        logger = logging.getLogger(f"partnas.rank{d.rank}.{run.root.resolve()}")
        if not logger.handlers:
            logger.setLevel(logging.WARNING)
            logger.propagate = False
            sh = logging.StreamHandler(sys.stderr)
            sh.setFormatter(logging.Formatter(f"%(asctime)s [rank {d.rank}] %(message)s", "%H:%M:%S"))
            logger.addHandler(sh)
        return logger
    logger = logging.getLogger(f"partnas.{run.root.resolve()}")
    if not logger.handlers:
        logger.setLevel(logging.INFO)
        logger.propagate = False
        fmt = logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S")
        fh = logging.FileHandler(run.log)
        fh.setFormatter(fmt)
        sh = logging.StreamHandler(sys.stderr)
        sh.setFormatter(fmt)
        logger.addHandler(fh)
        logger.addHandler(sh)
    return logger


class Timer:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start


def check_finite(loss: torch.Tensor, where: str) -> None:
    """Stop on a NaN or infinite loss, before it reaches the weights (no checkpoint follows).
    Under ``torchrun`` every process stops at the same step if any of them sees one."""
    bad = ~torch.isfinite(loss.detach())
    if distributed.info().enabled:
        flag = distributed.all_reduce_sum(bad.to(torch.float32).reshape(1))
        if flag.item() and not bad:
            raise FloatingPointError(f"{where}: the loss of another process is not finite; stopping "
                                     "(the last checkpoint is kept)")
    if bad:
        raise FloatingPointError(f"{where}: the loss is {loss.item()}; stopping (the last checkpoint is kept)")


def check_finite_parameters(model: nn.Module, where: str) -> None:
    """Refuse to write a checkpoint of weights that are no longer finite."""
    for name, p in model.named_parameters():
        if not torch.isfinite(p).all():
            raise FloatingPointError(f"{where}: parameter {name} is not finite; stopping without writing a "
                                     "checkpoint (the last one is kept)")


def should_checkpoint(every: int, epoch: int, step: int, steps: int) -> bool:
    """After ``step`` (1-based) of ``steps`` in ``epoch`` (0-based): a mid-epoch checkpoint every
    ``every`` optimiser steps counted from the start of the run (the epoch end has its own)."""
    return every > 0 and step < steps and (epoch * steps + step) % every == 0


def prepare_run(cfg: Config, out: Path) -> RunDir:
    run = RunDir(out)
    run.prepare()
    return run
