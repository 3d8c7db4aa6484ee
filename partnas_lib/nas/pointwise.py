r"""Grouped 1x1 convolution as one batched matrix product (fast on CPUs).

The supernet runs the heads of all ``P`` parts -- and, inside a node, all ``S`` incoming edges
-- as one grouped network (:mod:`partnas_lib.nas.cells`): every 1x1 convolution of an op is
grouped, ``G = S P`` groups of ``k = C / K`` channels each (4 at the ``cpu`` preset).  For group
``g`` with weight :math:`W_g \in \mathbb{R}^{k \times k}` the convolution is

.. math::
    y[b, g, :, n] = W_g \, x[b, g, :, n] \qquad (n \text{ runs over the } H W \text{ pixels}),

a batch of small matrix products.  oneDNN's grouped convolution computes this slowly on CPUs
when each group has only a few channels (one small GEMM per group and image); a single
broadcast ``torch.matmul`` of the ``(G, k, k)`` weights with the ``(B, G, k, HW)`` activations
computes the same numbers, forward and backward, 1.3-4x faster at the supernet's shapes
(``benchmarks/bench_search.py``).

:class:`PointwiseConv2d` is a drop-in ``nn.Conv2d(c, c, 1, groups=G, bias=False)``: the same
parameter, initialisation and state-dict key; only how the product is computed differs, and
only on CPU for grouped, NCHW-contiguous inputs (a test compares values and gradients with
``nn.Conv2d``).  With ``groups = 1`` (the derived networks) or on a GPU it is ``nn.Conv2d``.
"""

from __future__ import annotations

import torch
from torch import nn


def grouped_pointwise(x: torch.Tensor, weight: torch.Tensor, groups: int) -> torch.Tensor:
    """``conv2d(x, weight, groups=groups)`` for a 1x1 ``weight`` ``(C_out, C_in / G, 1, 1)`` as one
    broadcast matrix product over the groups (the equation of the module docstring)."""
    b, c_in, h, w = x.shape
    c_out = weight.shape[0]
    w_g = weight.reshape(groups, c_out // groups, c_in // groups)
    return torch.matmul(w_g, x.reshape(b, groups, c_in // groups, h * w)).reshape(b, c_out, h, w)


class PointwiseConv2d(nn.Conv2d):
    """``nn.Conv2d(c_in, c_out, 1, groups=groups, bias=False)`` that computes grouped products
    with :func:`grouped_pointwise` on CPU NCHW tensors (the same function and gradients)."""

    def __init__(self, c_in: int, c_out: int, groups: int = 1):
        super().__init__(c_in, c_out, 1, groups=groups, bias=False)

    def uses_matmul(self, x: torch.Tensor) -> bool:
        """Grouped, on CPU, NCHW-contiguous: where the batched product measured faster."""
        return self.groups > 1 and x.device.type == "cpu" and x.dim() == 4 and x.is_contiguous()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.uses_matmul(x):
            return super().forward(x)
        y = grouped_pointwise(x, self.weight, self.groups)
        # a bias appears only after BatchNorm folding (models.fuse)
        return y if self.bias is None else y + self.bias.view(1, -1, 1, 1)
