"""The one training loop: epochs of steps, wrapped in everything a real run needs.

Search, retraining and RootNet all run through :func:`run_stage`.  What a step *computes* is
the caller's ``step`` function (built on :func:`~partnas_lib.train.steps.train_step` or
:func:`~partnas_lib.train.steps.search_step`); what the runner adds around it is the same for all:

* **resume**: a checkpoint at the end of every epoch and every ``train.checkpoint_every``
  optimiser steps (atomic, the previous one kept; :mod:`partnas_lib.train.checkpoint`) holds
  the position (epoch, step), the state of the model, optimisers, schedulers and random
  generators, and the stage's own records, so ``--resume`` continues a killed run from the step
  it reached and ends exactly where the uninterrupted run would have;
* **guards**: a non-finite loss stops the run before it reaches the weights, naming the epoch
  and step; non-finite weights are never checkpointed;
* **many processes**: losses are averaged over the processes of a ``torchrun`` run, and only
  rank 0 writes; the caller shards its batches (:func:`partnas_lib.train.distributed.shard_order`);
* **threads and progress**: the CPU threads are re-balanced against other partnas jobs
  (:mod:`partnas_lib.threads`) and a tqdm bar shows the epoch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from partnas_lib import threads
from partnas_lib.train import distributed
from partnas_lib.train.checkpoint import load_resumable, restore_training_state, save_checkpoint
from partnas_lib.train.rundir import Timer

#: ``batches(epoch, first_step)``: the epoch's batches from step ``first_step`` on.
BatchesFn = Callable[[int, int], Iterable[Any]]
#: ``step(batch, epoch) -> {name: loss}``: one optimisation step.
StepFn = Callable[[Any, int], dict[str, float]]
#: ``end_epoch(epoch, mean_losses)``: records and logs after epoch ``epoch`` (0-based).
EndEpochFn = Callable[[int, dict[str, float]], None]


@dataclass
class Stage:
    """One training stage as the runner sees it.

    ``stateful`` maps checkpoint keys to objects with ``state_dict`` / ``load_state_dict``
    (model, optimisers, schedulers: the schedulers in ``schedulers`` step once per epoch);
    ``generators`` are random generators of the stage (augmentation) saved with it; ``records``
    is the stage's own picklable bookkeeping (loss history, alpha history), restored in place.
    """

    name: str
    epochs: int
    steps: int
    checkpoint: Path | None  # None: no checkpoints (a library call without a run directory)
    model: nn.Module
    stateful: dict[str, Any]
    schedulers: list[Any] = field(default_factory=list)
    generators: dict[str, torch.Generator] = field(default_factory=dict)
    records: dict[str, Any] = field(default_factory=dict)
    checkpoint_every: int = 0
    progress: bool = True


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


def run_stage(stage: Stage, batches: BatchesFn, step: StepFn, end_epoch: EndEpochFn, device: torch.device,
              log: logging.Logger, resume: bool = False) -> float:
    """Run ``stage`` from its start, or from its checkpoint with ``resume``; return its seconds
    (those of earlier, interrupted attempts included)."""
    dist = distributed.info()
    start_epoch, start_step, sums, elapsed = 0, 0, {}, 0.0
    found = load_resumable(stage.checkpoint, log) if resume and stage.checkpoint is not None else None
    if found is not None:
        ckpt, path = found
        start_epoch, start_step, elapsed = restore_training_state(ckpt, stage.stateful, stage.name, stage.epochs,
                                                                  path, log)
        sums = dict(ckpt["sums"])
        stage.records.update(ckpt["records"])
        for name, g in stage.generators.items():
            g.set_state(ckpt["generators"][name])
    timer = Timer()

    def save(epoch: int, step_: int, epoch_sums: dict[str, float]) -> None:
        """Checkpoint the position ``epoch`` epochs + ``step_`` steps (collective: all processes)."""
        check_finite_parameters(stage.model, f"{stage.name} epoch {epoch + 1} step {step_}")
        if dist.is_main and stage.checkpoint is not None:
            save_checkpoint(stage.checkpoint, {
                **{key: obj.state_dict() for key, obj in stage.stateful.items()},
                "epoch": epoch, "step": step_, "sums": epoch_sums, "elapsed": elapsed + timer.seconds,
                "records": stage.records, "generators": {k: g.get_state() for k, g in stage.generators.items()},
                "world_size": dist.world_size,
            }, keep_previous=True)

    for epoch in range(start_epoch, stage.epochs):
        stage.model.train()
        first = start_step if epoch == start_epoch else 0
        if epoch != start_epoch:
            sums = {}
        bar = tqdm(batches(epoch, first), total=stage.steps, initial=first, leave=False,
                   desc=f"{stage.name} {epoch + 1}/{stage.epochs}", disable=not stage.progress or not dist.is_main)
        for i, batch in enumerate(bar, start=first):
            threads.rebalance(log)
            try:
                losses = step(batch, epoch)
            except FloatingPointError as e:
                raise FloatingPointError(f"{stage.name} epoch {epoch + 1} step {i}: {e}") from None
            for key, value in losses.items():
                sums[key] = sums.get(key, 0.0) + value
            bar.set_postfix(loss=f"{next(reversed(losses.values())):.3f}")
            if should_checkpoint(stage.checkpoint_every, epoch, i + 1, stage.steps):
                save(epoch, i + 1, distributed.mean_over_ranks(sums, device))
                log.info(f"{stage.name}: checkpoint at epoch {epoch + 1} step {i + 1}/{stage.steps}")
        for scheduler in stage.schedulers:
            scheduler.step()
        mean = distributed.mean_over_ranks(sums, device)
        end_epoch(epoch, {key: value / max(1, stage.steps) for key, value in mean.items()})
        save(epoch + 1, 0, {})
    return elapsed + timer.seconds
