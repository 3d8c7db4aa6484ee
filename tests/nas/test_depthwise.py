"""The depthwise convolution of the separable ops: the same function and gradients as ``nn.Conv2d``."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from partnas_lib.nas.depthwise import DepthwiseConv2d, _DepthwiseConvFn, depthwise_weight_grad


@pytest.mark.parametrize("kernel,dilation", [(3, 1), (5, 1), (3, 2), (5, 2)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_depthwise_conv_matches_nn_conv2d(kernel, dilation, channels_last):
    torch.manual_seed(0)
    fast = DepthwiseConv2d(6, kernel, dilation)
    ref = nn.Conv2d(6, 6, kernel, padding=dilation * (kernel - 1) // 2, dilation=dilation, groups=6, bias=False)
    ref.weight.data.copy_(fast.weight.data)
    x = torch.randn(3, 6, 8, 10)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    y_fast, y_ref = fast(x), ref(x)
    torch.testing.assert_close(y_fast, y_ref)
    g = torch.randn_like(y_ref)
    gx_fast, gw_fast = torch.autograd.grad(y_fast, (x, fast.weight), g)
    gx_ref, gw_ref = torch.autograd.grad(y_ref, (x, ref.weight), g)
    torch.testing.assert_close(gx_fast, gx_ref, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(gw_fast, gw_ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kernel,dilation", [(5, 1), (3, 2)])
def test_depthwise_conv_gradcheck(kernel, dilation):
    conv = DepthwiseConv2d(2, kernel, dilation).double()
    x = torch.randn(2, 2, 6, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda inp, w: _DepthwiseConvFn.apply(inp, w, dilation), (x, conv.weight))


def test_depthwise_weight_grad_by_hand():
    """1 channel, 1 image: dL/dW[i, j] is the sum of g times the input shifted by (i, j) - p."""
    x = torch.arange(16.0).view(1, 1, 4, 4)
    g = torch.zeros(1, 1, 4, 4)
    g[0, 0, 1, 2] = 1.0  # only output pixel (1, 2) matters
    grad = depthwise_weight_grad(x, g, 3, 1)[0, 0]
    # W[i, j] multiplies x[1 + i - 1, 2 + j - 1]
    assert grad.tolist() == [[1.0, 2.0, 3.0], [5.0, 6.0, 7.0], [9.0, 10.0, 11.0]]


def test_depthwise_conv_under_cpu_autocast_gives_float32_gradients():
    conv = DepthwiseConv2d(4, 5)
    x = torch.randn(2, 4, 8, 8, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = conv(x)
    y.float().sum().backward()
    assert y.dtype == torch.bfloat16
    assert x.grad.dtype == torch.float32 and conv.weight.grad.dtype == torch.float32
    ref = nn.Conv2d(4, 4, 5, padding=2, groups=4, bias=False)
    ref.weight.data.copy_(conv.weight.data)
    ref(x.detach()).sum().backward()
    torch.testing.assert_close(conv.weight.grad, ref.weight.grad, rtol=0.05,
                               atol=0.05 * ref.weight.grad.abs().max().item())
