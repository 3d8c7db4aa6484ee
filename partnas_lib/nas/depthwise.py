r"""Depthwise convolution with a backward pass that is fast on CPUs.

The separable and dilated ops of the search space (:mod:`partnas_lib.nas.ops`) are built on
*depthwise* convolutions: channel ``c`` of the output only sees channel ``c`` of the input,

.. math::
    y[b, c, h, w] = \sum_{i, j} W[c, i, j]\; x[b, c,\, h + d\,i - p,\, w + d\,j - p],

with kernel size ``k``, dilation ``d`` and "same" padding ``p = d (k - 1) / 2``.  On a CPU,
oneDNN runs the forward pass of every such conv fast, and the backward pass fast only for
``3 x 3`` kernels without dilation; ``5 x 5`` and dilated kernels fall back to code that is
5-20x slower than their forward pass on NCHW tensors (``benchmarks/bench_depthwise.py``).
That one kernel dominated the training time of the searched networks on CPU.

The backward pass needs two tensors, and both can be written as *forward* convolutions:

* the input gradient is a correlation of the output gradient ``g`` with the spatially flipped
  kernel (stride 1, symmetric padding, so the transposed conv is an ordinary one):

  .. math:: \frac{\partial L}{\partial x} = g \star \operatorname{flip}(W);

* the weight gradient correlates the padded input with ``g``, summed over the batch:

  .. math::
      \frac{\partial L}{\partial W}[c, i, j] = \sum_{b, h, w} g[b, c, h, w]\;
      x_{\text{pad}}[b, c,\, h + d\,i,\, w + d\,j],

  which is a depthwise conv of ``x_pad`` (one "channel" per ``(b, c)``) with ``g`` as an
  ``H x W`` kernel and stride ``d``, followed by a sum over ``b``.

:class:`DepthwiseConv2d` is a drop-in ``nn.Conv2d(c, c, k, groups=c)`` whose parameters,
initialisation and results are those of ``nn.Conv2d``; only how the gradient is computed
differs (a test compares both with ``torch.autograd.gradcheck`` and against ``nn.Conv2d``).
It uses this path on CPU where it measured faster (:meth:`DepthwiseConv2d.uses_fast_backward`)
and ``nn.Conv2d``'s own everywhere else (GPUs, ``3 x 3`` without dilation, most NHWC cases).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def depthwise_weight_grad(x: torch.Tensor, grad_out: torch.Tensor, kernel: int, dilation: int) -> torch.Tensor:
    """``dL/dW`` ``(C, 1, k, k)`` of a stride-1 same-padded depthwise conv (the second equation
    of the module docstring), computed as one forward depthwise conv."""
    b, c, h, w = x.shape
    pad = dilation * (kernel - 1) // 2
    x_pad = F.pad(x, (pad, pad, pad, pad)).reshape(1, b * c, h + 2 * pad, w + 2 * pad)
    corr = F.conv2d(x_pad, grad_out.reshape(b * c, 1, h, w), stride=dilation, groups=b * c)
    return corr.reshape(b, c, kernel, kernel).sum(0).unsqueeze(1)


class _DepthwiseConvFn(torch.autograd.Function):
    # custom_fwd / custom_bwd: the backward runs under the forward's autocast state (bf16 on CPU)
    @staticmethod
    @torch.amp.custom_fwd(device_type="cpu")
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, dilation: int) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x, weight)
        ctx.dilation = dilation
        pad = dilation * (weight.shape[-1] - 1) // 2
        return F.conv2d(x, weight, padding=pad, dilation=dilation, groups=x.shape[1])

    @staticmethod
    @torch.amp.custom_bwd(device_type="cpu")
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        x, weight = ctx.saved_tensors
        d, k = ctx.dilation, weight.shape[-1]
        pad = d * (k - 1) // 2
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_x = F.conv2d(grad_out, weight.flip(-2, -1), padding=pad, dilation=d, groups=x.shape[1]).to(x.dtype)
        if ctx.needs_input_grad[1]:
            grad_w = depthwise_weight_grad(x.contiguous(), grad_out.contiguous(), k, d).to(weight.dtype)
        return grad_x, grad_w, None


class DepthwiseConv2d(nn.Conv2d):
    """``nn.Conv2d(channels, channels, kernel, padding=same, dilation, groups=channels, bias=False)``
    with the CPU-friendly backward pass of this module (the same function and gradients)."""

    def __init__(self, channels: int, kernel: int, dilation: int = 1):
        if kernel % 2 == 0:
            raise ValueError(f"depthwise kernel size must be odd for 'same' padding, got {kernel}")
        super().__init__(channels, channels, kernel, padding=dilation * (kernel - 1) // 2, dilation=dilation,
                         groups=channels, bias=False)

    def uses_fast_backward(self, x: torch.Tensor) -> bool:
        """Where this module's backward beats oneDNN's own (``benchmarks/bench_depthwise.py``):
        on CPU, NCHW tensors, every kernel but ``3x3`` without dilation (0.2-0.8x the time);
        on NHWC (channels_last) tensors, whose oneDNN kernels are faster, only ``5x5`` with
        dilation 2 (0.15-0.6x at one part's 16 channels; the others are within noise of 1x)."""
        if x.device.type != "cpu":
            return False
        k, d = self.kernel_size[0], self.dilation[0]
        if x.is_contiguous(memory_format=torch.channels_last) and x.shape[1] > 1:
            return k == 5 and d == 2
        return k != 3 or d != 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.uses_fast_backward(x) and torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad):
            return _DepthwiseConvFn.apply(x, self.weight, self.dilation[0])
        return super().forward(x)
