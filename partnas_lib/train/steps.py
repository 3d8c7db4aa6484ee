r"""The two steps every training loop of partnas is made of, written as plainly as DARTS's ``train()``.

* :func:`train_step`: one gradient step of a network on one batch (retraining, RootNet, and
  the weight half of a search step).
* :func:`search_step`: one step of first-order DARTS (Liu et al., ICLR 2019, Alg. 1 with the
  first-order approximation of Sec. 2.3; docs/method.md Sec. 2).  The search solves the
  bilevel problem

  .. math::

     \min_{\alpha}\; \mathcal{L}_{val}\bigl(w^*(\alpha), \alpha\bigr)
     \quad\text{s.t.}\quad w^*(\alpha) = \arg\min_w \mathcal{L}_{train}(w, \alpha)

  by alternating: :math:`\alpha \leftarrow \alpha - \xi_\alpha \nabla_\alpha
  \mathcal{L}_{val}(w, \alpha)` on a batch of one half of the training data, then
  :math:`w \leftarrow w - \xi_w \nabla_w \mathcal{L}_{train}(w, \alpha)` on a batch of the
  other half (first order: :math:`w^*(\alpha) \approx w`).  During warm-up only ``w`` moves.

Both are pure with respect to the run: no checkpoints, logging, resume or progress bars.  Those
live in :mod:`partnas_lib.train.runner`, which calls these functions.  A non-finite loss raises
:class:`FloatingPointError` before it reaches the weights.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
from torch import nn

from partnas_lib.data.transforms import AugmentConfig, augment_batch
from partnas_lib.models.integral import VolumeGeometry, integral_l1_loss
from partnas_lib.train import distributed
from partnas_lib.train.device import Precision

#: ``loss(net, batch) -> scalar tensor``: what a step minimises.
LossFn = Callable[[nn.Module, dict[str, torch.Tensor]], torch.Tensor]


def check_finite(loss: torch.Tensor, where: str = "") -> None:
    """Stop on a NaN or infinite loss, before it reaches the weights (no checkpoint follows).
    Under ``torchrun`` every process stops at the same step if any of them sees one."""
    prefix = f"{where}: " if where else ""
    bad = ~torch.isfinite(loss.detach())
    if distributed.info().enabled:
        flag = distributed.all_reduce_sum(bad.to(torch.float32).reshape(1))
        if flag.item() and not bad:
            raise FloatingPointError(f"{prefix}the loss of another process is not finite; stopping "
                                     "(the last checkpoint is kept)")
    if bad:
        raise FloatingPointError(f"{prefix}the loss is {loss.item()}; stopping (the last checkpoint is kept)")


def train_step(net: nn.Module, optimizer: torch.optim.Optimizer, batch: dict[str, torch.Tensor], loss_fn: LossFn,
               grad_clip: float = 0.0, clip: Iterable[torch.Tensor] | None = None, where: str = "",
               only: Sequence[torch.Tensor] | None = None) -> float:
    """One gradient step: ``loss = loss_fn(net, batch)``; backward; clip; ``optimizer.step()``.

    ``grad_clip > 0`` clips the gradient norm of ``clip`` (default: every parameter of ``net``)
    to that value first.  ``only``: compute the gradient of these tensors alone
    (``torch.autograd.grad``), for an optimiser that holds nothing else; autograd then skips
    every part of the backward pass that does not lead to them.  Returns the loss as a float.
    """
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(net, batch)
    check_finite(loss, where)
    if only is None:
        loss.backward()
    else:
        for p, g in zip(only, torch.autograd.grad(loss, list(only), allow_unused=True)):
            p.grad = g
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(list(clip if clip is not None else net.parameters()), grad_clip, foreach=True)
    optimizer.step()
    return loss.item()


def search_step(net: nn.Module, w_opt: torch.optim.Optimizer, a_opt: torch.optim.Optimizer,
                batch_w: dict[str, torch.Tensor], batch_a: dict[str, torch.Tensor], loss_fn: LossFn,
                weights: list[torch.Tensor], update_arch: bool = True, grad_clip: float = 5.0,
                arch_loss_fn: LossFn | None = None) -> dict[str, float]:
    """One first-order DARTS step: the architecture (alpha, beta) on ``batch_a``, then the
    weights on ``batch_w`` (gradient norm of ``weights`` clipped to ``grad_clip``).

    ``a_opt`` holds only alpha/beta and ``w_opt`` only the weights, so each step moves only its
    own parameters even though both losses reach both.  The architecture step computes the
    gradient of alpha/beta alone: the trunk does not depend on them, so its backward pass is
    skipped, and so is every weight gradient in the heads (about half the step's work; the same
    alpha/beta gradient).  Under ``torchrun`` it runs the full backward instead, whose
    DistributedDataParallel hooks average alpha/beta's gradients over the processes.
    ``arch_loss_fn`` (default ``loss_fn``) is what the architecture step minimises, e.g. the pose
    loss plus a cost penalty (:mod:`partnas_lib.nas.cost`).
    ``update_arch=False`` (warm-up) skips the architecture step.  Returns
    ``{"w_loss": ..., "a_loss": ...}`` (no ``a_loss`` in warm-up).
    """
    losses = {}
    if update_arch:
        arch = None if distributed.info().enabled else [p for g in a_opt.param_groups for p in g["params"]]
        losses["a_loss"] = train_step(net, a_opt, batch_a, arch_loss_fn or loss_fn, where="architecture step",
                                      only=arch)
    losses["w_loss"] = train_step(net, w_opt, batch_w, loss_fn, grad_clip, weights, where="weight step")
    return losses


def pose_loss(model: nn.Module, batch: dict[str, torch.Tensor], geometry: VolumeGeometry, device: torch.device,
              augment: torch.Generator | None = None, augment_cfg: AugmentConfig | None = None,
              precision: Precision | None = None) -> torch.Tensor:
    """Forward a batch and return the integral L1 loss (docs/method.md Sec. 5); with an
    ``augment`` generator the batch is augmented first (:func:`~partnas_lib.data.transforms.augment_batch`).

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
