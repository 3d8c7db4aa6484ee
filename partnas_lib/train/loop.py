"""Pieces shared by search and retraining: seeding, device, batches, the loss step, the run dir.

Determinism (design.md): one seed seeds everything, and the order of samples in epoch ``e`` is a
permutation drawn from a generator seeded by ``(seed, e)``, so a run resumed at an epoch
boundary sees exactly the batches the uninterrupted run would have seen.
"""

from __future__ import annotations

import json
import logging
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from partnas_lib.config import Config
from partnas_lib.data.sample import SampleArrays
from partnas_lib.models.integral import VolumeGeometry, integral_l1_loss
from partnas_lib.data.transforms import AugmentConfig, augment_batch
from partnas_lib.train.checkpoint import atomic_write_text


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    """``auto`` = CUDA if present, else CPU (no ``.cuda()`` anywhere else)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"config field device = {name!r} is not a torch device (try auto, cpu, cuda)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("config field device = 'cuda' but no CUDA device is available; use device=auto or cpu")
    return device


# --------------------------------------------------------------------------------------------
# batches


def epoch_order(n: int, seed: int, epoch: int, shuffle: bool = True) -> np.ndarray:
    if not shuffle:
        return np.arange(n)
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(n, generator=g).numpy()


def make_batch(arrays: SampleArrays, idx: np.ndarray, device: torch.device) -> dict[str, torch.Tensor]:
    """Slice ``arrays`` at ``idx`` into tensors; images become float ``(B, 3, S, S)`` in [0, 1]."""
    images = torch.from_numpy(arrays.images[idx]).to(device).permute(0, 3, 1, 2).float().div_(255.0)
    return {
        "image": images.contiguous(),
        "joints_2d": torch.from_numpy(arrays.joints_2d[idx]),
        "joints_3d": torch.from_numpy(arrays.joints_3d[idx]),
        "joints_vis": torch.from_numpy(arrays.joints_vis[idx]),
        "has_3d": torch.from_numpy(arrays.has_3d[idx]),
        "bbox": torch.from_numpy(arrays.bbox[idx]),
        "index": torch.from_numpy(np.asarray(idx)),
    }


def iterate_batches(arrays: SampleArrays, order: np.ndarray, batch_size: int, device: torch.device,
                    drop_last: bool = True) -> Iterator[dict[str, torch.Tensor]]:
    stop = len(order) - (len(order) % batch_size if drop_last else 0)
    for start in range(0, stop, batch_size):
        yield make_batch(arrays, order[start:start + batch_size], device)


def num_batches(n: int, batch_size: int, drop_last: bool = True) -> int:
    return n // batch_size if drop_last else -(-n // batch_size)


def pose_loss(model: nn.Module, batch: dict[str, torch.Tensor], geometry: VolumeGeometry, device: torch.device,
              augment: torch.Generator | None = None, augment_cfg: AugmentConfig | None = None) -> torch.Tensor:
    """Forward a batch and return the integral L1 loss; with an ``augment`` generator the batch
    is augmented first (:func:`partnas_lib.data.transforms.augment_batch`)."""
    target = geometry.encode(batch["joints_2d"], batch["joints_3d"], batch["bbox"])
    images, vis = batch["image"], batch["joints_vis"]
    if augment is not None:
        images, target, vis = augment_batch(images, target, vis, geometry.size, augment, augment_cfg or AugmentConfig())
    pred = model.predict(images)
    return integral_l1_loss(pred, target.to(device), vis.to(device), batch["has_3d"].to(device))


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

    def prepare(self) -> None:
        """Create the directory and check it is writable before any work starts."""
        try:
            (self.root / "search").mkdir(parents=True, exist_ok=True)
            self.checkpoints.mkdir(parents=True, exist_ok=True)
            probe = self.root / ".write_test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as e:
            raise OSError(f"run directory {self.root} is not writable: {e}") from None

    def write_json(self, path: Path, data: Any) -> None:
        atomic_write_text(path, json.dumps(data, indent=2) + "\n")


def get_logger(run: RunDir) -> logging.Logger:
    """A logger that writes to ``log.txt`` and to stderr."""
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
    if not torch.isfinite(loss):
        raise FloatingPointError(f"{where}: the loss is {loss.item()}; stopping (the last checkpoint is kept)")


def prepare_run(cfg: Config, out: Path) -> RunDir:
    run = RunDir(out)
    run.prepare()
    return run
