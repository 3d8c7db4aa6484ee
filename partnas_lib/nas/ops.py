"""The candidate operations of the search space: a small name -> factory dict.

These are the PC-DARTS primitives (docs/method.md Sec. 2; Liu et al. DARTS, Xu et al. PC-DARTS).
Every op maps ``C`` channels to ``C`` channels at stride 1 -- the part heads are decoders, so
resolution changes happen between cells (x2 up-sampling), never inside an edge.

``affine=False`` is used inside the supernet (as in DARTS: BatchNorm scales would fight the
architecture weights alpha), ``affine=True`` in the derived network.

``groups`` lets the supernet evaluate the heads of all P parts as one grouped network: with
``groups = P`` every 1x1 conv only mixes channels within a part, and depthwise convs, pooling
and BatchNorm act per channel anyway, so the result is exactly that of P separate ops.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from partnas_lib.nas.depthwise import DepthwiseConv2d
from partnas_lib.nas.pointwise import PointwiseConv2d
from partnas_lib.nas.pooling import Pool


class Zero(nn.Module):
    """The ``none`` op: the edge contributes nothing.  Its alpha lets the search switch an
    edge off; it is never chosen when deriving (DARTS rule)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


class ReLUFirst(nn.Sequential):
    """An op that starts with a ReLU (DARTS's conv ops).  A cell that feeds one state to several
    such ops computes ``relu(state)`` once and calls :meth:`forward_activated` on it -- the same
    function with one pass over the state instead of one per edge."""

    def forward_activated(self, x: torch.Tensor) -> torch.Tensor:
        """The op on an input that already went through the leading ReLU."""
        for module in list(self)[1:]:
            x = module(x)
        return x


class ReLUConvBN(ReLUFirst):
    """ReLU -> conv -> BatchNorm, the DARTS building block (also the cell pre-processing)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, padding: int, affine: bool = True, groups: int = 1):
        super().__init__(
            nn.ReLU(inplace=False),
            PointwiseConv2d(c_in, c_out, groups) if kernel == 1 and padding == 0 else
            nn.Conv2d(c_in, c_out, kernel, padding=padding, groups=groups, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class DilConv(ReLUFirst):
    """ReLU -> depthwise dilated conv -> pointwise conv -> BN (``dil_conv_kxk``, dilation 2):
    a k x k kernel that sees a (2k-1) x (2k-1) window.  (Depthwise convs are
    :class:`~partnas_lib.nas.depthwise.DepthwiseConv2d`: ``nn.Conv2d`` with a faster CPU backward.)"""

    def __init__(self, c: int, kernel: int, dilation: int, affine: bool = True, groups: int = 1):
        super().__init__(
            nn.ReLU(inplace=False),
            DepthwiseConv2d(c, kernel, dilation),
            PointwiseConv2d(c, c, groups),
            nn.BatchNorm2d(c, affine=affine),
        )


class SepConv(ReLUFirst):
    """Two stacked depthwise-separable convs (``sep_conv_kxk``), as in DARTS."""

    def __init__(self, c: int, kernel: int, affine: bool = True, groups: int = 1):
        super().__init__(
            nn.ReLU(inplace=False),
            DepthwiseConv2d(c, kernel),
            PointwiseConv2d(c, c, groups),
            nn.BatchNorm2d(c, affine=affine),
            nn.ReLU(inplace=False),
            DepthwiseConv2d(c, kernel),
            PointwiseConv2d(c, c, groups),
            nn.BatchNorm2d(c, affine=affine),
        )


def _pool(kind: str, c: int, affine: bool) -> nn.Module:
    pool = Pool(kind)
    # DARTS puts a (non-affine) BN after pooling inside the supernet so its output scale is
    # comparable with the parametric ops; the derived network uses the bare pooling.
    return pool if affine else nn.Sequential(pool, nn.BatchNorm2d(c, affine=False))


OpFactory = Callable[[int, bool, int], nn.Module]

#: name -> factory(channels, affine, groups).  Add an entry here to extend the search space.
OPS: dict[str, OpFactory] = {
    "none": lambda c, affine, groups: Zero(),
    "max_pool_3x3": lambda c, affine, groups: _pool("max", c, affine),
    "avg_pool_3x3": lambda c, affine, groups: _pool("avg", c, affine),
    "skip_connect": lambda c, affine, groups: nn.Identity(),
    "sep_conv_3x3": lambda c, affine, groups: SepConv(c, 3, affine, groups),
    "sep_conv_5x5": lambda c, affine, groups: SepConv(c, 5, affine, groups),
    "dil_conv_3x3": lambda c, affine, groups: DilConv(c, 3, 2, affine, groups),
    "dil_conv_5x5": lambda c, affine, groups: DilConv(c, 5, 2, affine, groups),
}


def run_op(op: nn.Module, x: torch.Tensor, relu_cache: dict[int, torch.Tensor], key: int) -> torch.Tensor:
    """``op(x)``.  A :class:`ReLUFirst` op takes ``relu(x)`` from ``relu_cache[key]`` (computed on
    first use), so every op that reads the same input (same ``key``) shares one ReLU."""
    if not isinstance(op, ReLUFirst):
        return op(x)
    if key not in relu_cache:
        relu_cache[key] = F.relu(x)
    return op.forward_activated(relu_cache[key])


def apply_ops(ops: Sequence[nn.Module], x: torch.Tensor) -> list[torch.Tensor]:
    """Every op of ``ops`` on the same input ``x``; the ReLU that DARTS's conv ops start with is
    computed once for all of them (:func:`run_op`)."""
    relu_cache: dict[int, torch.Tensor] = {}
    return [run_op(op, x, relu_cache, 0) for op in ops]


def build_op(name: str, channels: int, affine: bool, groups: int = 1) -> nn.Module:
    """Instantiate op ``name`` for ``channels`` channels; unknown names give a clear error."""
    if name not in OPS:
        raise ValueError(f"unknown op {name!r}; known ops are {sorted(OPS)}")
    return OPS[name](channels, affine, groups)
