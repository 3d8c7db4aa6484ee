r"""3x3 stride-1 pooling of the search space, laid out for speed on CPUs.

``avg_pool_3x3`` averages each pixel's 3x3 neighbourhood, counting only the pixels inside the
image (``count_include_pad=False``):

.. math::
    y[p] = \frac{1}{n(p)} \sum_{|q - p|_\infty \le 1} x[q], \qquad n(p) = \#\{q \text{ inside}\},

so ``n = 9`` inside, 6 on an edge, 4 in a corner.  Its gradient is the same box sum of the
output gradient divided by the counts, :math:`\partial L / \partial x[q] = \sum_{|p - q| \le 1}
g[p] / n(p)`.  torch's CPU ``avg_pool2d`` backward is slow on NCHW tensors (the supernet's
layout), so :func:`avg_pool_3x3` writes forward and backward as separable box sums (two
shifted-slice additions per axis): the same numbers up to float rounding, 2-3x faster at the
supernet's shapes (``benchmarks/bench_search.py``; a test compares it with ``nn.AvgPool2d``).

On NHWC (channels_last) tensors torch's own kernels are fast and are used as they are; for max
pooling the NCHW input is pooled as an NHWC copy (about 8x faster than NCHW max pooling, which
more than pays for the two copies).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def box_sum_3x3(x: torch.Tensor) -> torch.Tensor:
    """Sum over each pixel's 3x3 neighbourhood with zero padding, as two separable passes."""
    p = F.pad(x, (1, 1, 1, 1))
    rows = p[..., :-2] + p[..., 1:-1] + p[..., 2:]
    return rows[..., :-2, :] + rows[..., 1:-1, :] + rows[..., 2:, :]


def window_counts(h: int, w: int, like: torch.Tensor) -> torch.Tensor:
    """``n(p)``: how many pixels of an ``h x w`` image each 3x3 window holds, ``(1, 1, h, w)``."""
    return box_sum_3x3(torch.ones(1, 1, h, w, dtype=like.dtype, device=like.device))


class _BoxAverage(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        counts = window_counts(x.shape[-2], x.shape[-1], x)
        ctx.save_for_backward(counts)
        return box_sum_3x3(x) / counts

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (counts,) = ctx.saved_tensors
        return box_sum_3x3(grad_out / counts)


def avg_pool_3x3(x: torch.Tensor) -> torch.Tensor:
    """``nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)(x)`` with the separable
    forward and backward of the module docstring."""
    return _BoxAverage.apply(x)


class Pool(nn.Module):
    """3x3 stride-1 max or average pooling (``count_include_pad=False``), the search space's
    ``max_pool_3x3`` / ``avg_pool_3x3``; CPU layouts as in the module docstring."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind
        self.pool = nn.MaxPool2d(3, stride=1, padding=1) if kind == "max" else \
            nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu" or x.dim() != 4 or x.is_contiguous(memory_format=torch.channels_last):
            return self.pool(x)
        if self.kind == "avg":
            return avg_pool_3x3(x)
        return self.pool(x.contiguous(memory_format=torch.channels_last)).contiguous()
