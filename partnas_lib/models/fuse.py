r"""Inference copies of a network with every BatchNorm folded into the convolution before it.

In eval mode a BatchNorm is a fixed per-channel affine map, so after a convolution it can be
absorbed into that convolution's weights and bias (Jacob et al. 2018; ``torch.nn.utils.fusion``):

.. math::
    \mathrm{BN}(W * x + b) = \gamma \frac{W * x + b - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta
    = W' * x + b', \quad W' = \frac{\gamma}{\sqrt{\sigma^2 + \epsilon}} W, \quad
    b' = \frac{\gamma (b - \mu)}{\sqrt{\sigma^2 + \epsilon}} + \beta.

The result is the same function (up to float rounding) with one pass over the activations
fewer per BatchNorm.  That matters most for the part-aware networks, whose cells hold about a
hundred small conv + BN pairs; evaluation, ``bench_models.py`` and prediction use it.  Training
never does (BatchNorm then normalises with the batch's statistics, not the running ones).
"""

from __future__ import annotations

import copy

from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from partnas_lib.models.backbone import BasicBlock, Bottleneck

CONVS = (nn.Conv2d, nn.ConvTranspose2d)


def _foldable(conv: nn.Module, bn: nn.Module) -> bool:
    return (isinstance(conv, CONVS) and isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats
            and bn.running_mean is not None)


def _fold(conv: nn.Module, bn: nn.BatchNorm2d) -> nn.Module:
    return fuse_conv_bn_eval(conv, bn, transpose=isinstance(conv, nn.ConvTranspose2d))


def fuse_conv_bn(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` in which every BatchNorm that directly follows a convolution
    (in an ``nn.Sequential``, or as ``convN`` / ``bnN`` of a ResNet block) is folded into it and
    replaced by ``nn.Identity``.  ``model`` itself is not changed."""
    fused = copy.deepcopy(model).eval()
    for module in fused.modules():
        if isinstance(module, nn.Sequential):
            for i in range(len(module) - 1):
                if _foldable(module[i], module[i + 1]):
                    module[i] = _fold(module[i], module[i + 1])
                    module[i + 1] = nn.Identity()
        elif isinstance(module, (BasicBlock, Bottleneck)):
            for n in (1, 2, 3):
                conv, bn = getattr(module, f"conv{n}", None), getattr(module, f"bn{n}", None)
                if conv is not None and bn is not None and _foldable(conv, bn):
                    setattr(module, f"conv{n}", _fold(conv, bn))
                    setattr(module, f"bn{n}", nn.Identity())
    return fused
