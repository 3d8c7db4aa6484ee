"""Where and how a network trains: seeding, the device, bf16 / NHWC speed options, Adam.

Device-agnostic (docs/architecture.md, "Conventions"): ``device`` comes from the config
(``auto`` = CUDA if present, else CPU); no ``.cuda()`` anywhere else.  One seed seeds
everything, so on a CPU the same seed gives the same genotype and metrics, bit for bit.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from partnas_lib.config import Config
from partnas_lib.train import distributed


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
            log.info(f"BatchNorm statistics synchronised over {distributed.info().world_size} processes "
                     "(train.sync_bn)")
    return model
