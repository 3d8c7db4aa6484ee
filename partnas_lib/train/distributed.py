"""Many processes, one run: DistributedDataParallel launched by ``torchrun``.

The same ``partnas`` commands run single-process or under ``torchrun``; they find out which
from the environment ``torchrun`` sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``).  With more
than one process:

* the process group uses NCCL when the run's device is CUDA (each process on
  ``cuda:LOCAL_RANK``) and gloo on CPU;
* ``search.batch_size`` and ``retrain.batch_size`` are the **global** batch: every process
  takes ``batch_size / world_size`` samples per step (the batch must divide), so a run on N GPUs
  optimises exactly what a single-process run with the same config does;
* every epoch's sample order is the single-process permutation, sharded like
  ``torch.utils.data.DistributedSampler`` (``drop_last=True``): process ``r`` of ``W`` takes
  positions ``r, r + W, r + 2W, ...``, so at every step the processes together see exactly the
  samples of the single-process batch (:func:`shard_order`);
* random augmentations are drawn for the whole global batch on every process (same generator,
  same state) and each process keeps its share, so they match the single-process run too;
* the loss is normalised by the global number of supervised coordinates, and BatchNorm
  statistics are global with ``train.sync_bn`` (default), so gradients and statistics are those
  of the global batch up to the order of floating-point sums;
* alpha/beta are registered parameters of the wrapped supernet, so DDP all-reduces their
  gradients like any weight's; :func:`check_replicas_equal` asserts at the end of every epoch
  that no process drifted;
* only rank 0 writes the run directory (config, history, genotype, checkpoints, metrics, log)
  and only rank 0 evaluates.

Everything here is a no-op in a single process, so the library never needs a process group.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

import numpy as np
import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the run: ``rank`` of ``world_size``, GPU ``local_rank``."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_info() -> DistInfo:
    """What ``torchrun`` put in the environment (a single process when it did not)."""
    try:
        return DistInfo(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                        int(os.environ.get("LOCAL_RANK", 0)))
    except ValueError:
        raise ValueError("RANK, WORLD_SIZE and LOCAL_RANK must be integers (as torchrun sets them); got "
                         f"{os.environ.get('RANK')!r}, {os.environ.get('WORLD_SIZE')!r}, "
                         f"{os.environ.get('LOCAL_RANK')!r}") from None


def info() -> DistInfo:
    """This process's place: from the process group if one is initialised, else a single process."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), env_info().local_rank)
    return DistInfo()


def is_main() -> bool:
    return info().is_main


def wants_cuda(device_name: str) -> bool:
    return device_name.startswith("cuda") or (device_name == "auto" and torch.cuda.is_available())


def setup(device_name: str = "auto") -> DistInfo:
    """Initialise the process group if ``torchrun`` launched several processes (idempotent).

    NCCL when the config's device is CUDA (``auto`` with a GPU, or ``cuda``), gloo otherwise.
    """
    env = env_info()
    if env.world_size <= 1 or not dist.is_available():
        return info()
    if dist.is_initialized():
        return info()
    cuda = wants_cuda(device_name)
    if cuda:
        if not torch.cuda.is_available():
            raise ValueError(f"config field device = {device_name!r} but no CUDA device is available")
        if device_name not in ("auto", "cuda"):
            raise ValueError(f"config field device = {device_name!r}: under torchrun every process uses "
                             "cuda:LOCAL_RANK; use device=auto or device=cuda")
        torch.cuda.set_device(env.local_rank)
    dist.init_process_group("nccl" if cuda else "gloo")
    return info()


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if info().enabled:
        dist.barrier()


@contextmanager
def main_first() -> Iterator[None]:
    """Run the body on rank 0 first, then on the others (e.g. rendering a data cache once)."""
    main = info().is_main
    if not main:
        barrier()
    yield
    if main:
        barrier()


# --------------------------------------------------------------------------------------------
# batches


def per_rank_batch(global_batch: int, field: str) -> int:
    """``global_batch / world_size``; the config's batch sizes are global."""
    world = info().world_size
    if global_batch % world:
        raise ValueError(f"config field {field} = {global_batch} is the global batch and must be divisible by "
                         f"the number of processes ({world}); each process takes batch / processes samples")
    return global_batch // world


def shard_order(order: np.ndarray) -> np.ndarray:
    """This process's share of an epoch's sample order, as ``DistributedSampler(drop_last=True)``:
    the order is cut to a multiple of the world size and process ``r`` takes ``order[r::W]``.

    With per-process batch ``b``, step ``k`` of process ``r`` reads positions ``r + W j`` for
    ``j`` in ``[k b, (k + 1) b)``: together the processes read exactly positions
    ``[k W b, (k + 1) W b)``, the single-process batch ``k`` of size ``W b``.
    """
    d = info()
    if not d.enabled:
        return order
    n = len(order) - len(order) % d.world_size
    return order[d.rank:n:d.world_size]


# --------------------------------------------------------------------------------------------
# collectives


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum of ``t`` over processes, in place (returns ``t``); identity in a single process."""
    if info().enabled:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def mean_over_ranks(values: Mapping[str, float], device: torch.device) -> dict[str, float]:
    """Average a few floats (e.g. an epoch's loss sums) over processes."""
    if not info().enabled or not values:
        return dict(values)
    keys = list(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    all_reduce_sum(t)
    return {k: float(v) / info().world_size for k, v in zip(keys, t.tolist())}


def check_replicas_equal(tensors: Mapping[str, torch.Tensor], where: str) -> None:
    """Raise on every process if any tensor differs from rank 0's copy (bit for bit).

    DDP all-reduces gradients, so replicas that start equal stay equal; this asserts it, e.g.
    for alpha/beta at the end of every search epoch.
    """
    d = info()
    if not d.enabled:
        return
    bad = []
    for name, t in tensors.items():
        ref = t.detach().clone()
        dist.broadcast(ref, src=0)
        if not torch.equal(ref, t.detach()):
            bad.append(f"{name} (max |difference| {(ref.float() - t.detach().float()).abs().max().item():.3g})")
    flag = torch.tensor([len(bad)], dtype=torch.int64, device=next(iter(tensors.values())).device)
    all_reduce_sum(flag)
    if flag.item():
        mine = f"; rank {d.rank}: {', '.join(bad)}" if bad else ""
        raise RuntimeError(f"{where}: the processes' copies of {sorted(tensors)} have drifted apart{mine}")


def parameter_fingerprint(model: nn.Module) -> torch.Tensor:
    """Per parameter tensor, its sum and sum of squares (float64): a cheap fingerprint to compare
    replicas of a large model with :func:`check_replicas_equal`."""
    rows = [torch.stack([p.detach().double().sum(), p.detach().double().pow(2).sum()]) for p in model.parameters()]
    return torch.stack(rows) if rows else torch.zeros(0, 2, dtype=torch.float64)


# --------------------------------------------------------------------------------------------
# models


class _SyncBatchNormFunction(torch.autograd.Function):
    """BatchNorm over the global batch given its statistics, with the backward pass of
    ``torch.nn.SyncBatchNorm``: the per-channel sums of ``dy`` and ``dy (x - mean)`` are
    all-reduced (in float64), so every process gets the gradient of the total loss."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None,
                mean: torch.Tensor, invstd: torch.Tensor, count: int) -> torch.Tensor:  # type: ignore[override]
        c = x.shape[1]
        shape = (1, c, 1, 1)
        xhat = (x - mean.to(x.dtype).view(shape)) * invstd.to(x.dtype).view(shape)
        ctx.save_for_backward(x, weight, mean, invstd)
        ctx.count = count
        ctx.has_bias = bias is not None
        if weight is not None:
            return xhat * weight.view(shape) + bias.view(shape)
        return xhat

    @staticmethod
    def backward(ctx: Any, dy: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        x, weight, mean, invstd = ctx.saved_tensors
        c = x.shape[1]
        shape = (1, c, 1, 1)
        xmu = x.double() - mean.view(shape)
        dyd = dy.double()
        local = torch.cat([dyd.sum(dim=(0, 2, 3)), (dyd * xmu).sum(dim=(0, 2, 3))])
        sums = local.clone()
        dist.all_reduce(sums, op=dist.ReduceOp.SUM)
        mean_dy, mean_dy_xmu = sums[:c] / ctx.count, sums[c:] / ctx.count
        w = weight.double() if weight is not None else torch.ones_like(invstd)
        dx = (dyd - mean_dy.view(shape) - xmu * (invstd.pow(2) * mean_dy_xmu).view(shape)) * (invstd * w).view(shape)
        dw = db = None
        if weight is not None:
            dw = (local[c:] * invstd).to(weight.dtype)  # this process's share; DDP averages
            db = local[:c].to(weight.dtype) if ctx.has_bias else None
        return dx.to(x.dtype), dw, db, None, None, None


class CPUSyncBatchNorm(nn.BatchNorm2d):
    """BatchNorm whose training statistics are taken over the batches of all processes.

    ``torch.nn.SyncBatchNorm`` only runs on accelerators; this is the same computation for
    gloo on CPU: the per-channel sums of ``x`` and ``x^2`` are all-reduced in float64 (every
    process holds the same number of samples, :func:`per_rank_batch`), and the backward pass
    all-reduces the sums of ``dy`` and ``dy (x - mean)`` as ``SyncBatchNorm`` does.  In eval
    mode, or in a single process, it is a plain ``BatchNorm2d``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and info().enabled):
            return super().forward(x)
        c = x.shape[1]
        n = x.numel() // c * info().world_size
        with torch.no_grad():
            xd = x.double()
            stats = torch.cat([xd.sum(dim=(0, 2, 3)), xd.pow(2).sum(dim=(0, 2, 3))])
            dist.all_reduce(stats, op=dist.ReduceOp.SUM)
            mean = stats[:c] / n
            var = (stats[c:] / n - mean.pow(2)).clamp_min(0)
            if self.track_running_stats:
                self.num_batches_tracked += 1
                m = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                self.running_mean.mul_(1 - m).add_(mean.to(x.dtype), alpha=m)
                self.running_var.mul_(1 - m).add_((var * (n / max(n - 1, 1))).to(x.dtype), alpha=m)
            invstd = torch.rsqrt(var + self.eps)
        return _SyncBatchNormFunction.apply(x, self.weight if self.affine else None,
                                            self.bias if self.affine else None, mean, invstd, n)


def convert_sync_batchnorm(model: nn.Module, device: torch.device) -> nn.Module:
    """Every ``BatchNorm2d`` of ``model`` becomes a synchronised one (``nn.SyncBatchNorm`` on
    an accelerator, :class:`CPUSyncBatchNorm` on CPU), keeping its parameters and statistics."""
    if device.type != "cpu":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)

    def convert(module: nn.Module) -> nn.Module:
        if isinstance(module, nn.BatchNorm2d) and not isinstance(module, CPUSyncBatchNorm):
            new = CPUSyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                                   module.track_running_stats)
            new.load_state_dict(module.state_dict())
            new.train(module.training)
            return new
        for name, child in module.named_children():
            setattr(module, name, convert(child))
        return module

    return convert(model)


def wrap(model: nn.Module, device: torch.device, find_unused_parameters: bool = False) -> nn.Module:
    """``DistributedDataParallel(model)`` with several processes, else ``model`` itself."""
    if not info().enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=find_unused_parameters)
