"""The grouped 1x1 convolution of the supernet: the same function and gradients as ``nn.Conv2d``."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from partnas_lib.nas.pointwise import PointwiseConv2d, grouped_pointwise


@pytest.mark.parametrize("c_in,c_out,groups", [(12, 12, 3), (20, 20, 5), (8, 16, 2)])
def test_pointwise_conv_matches_nn_conv2d(c_in, c_out, groups):
    torch.manual_seed(0)
    fast = PointwiseConv2d(c_in, c_out, groups)
    ref = nn.Conv2d(c_in, c_out, 1, groups=groups, bias=False)
    ref.weight.data.copy_(fast.weight.data)
    x = torch.randn(3, c_in, 5, 7, requires_grad=True)
    assert fast.uses_matmul(x)
    y_fast, y_ref = fast(x), ref(x)
    torch.testing.assert_close(y_fast, y_ref)
    g = torch.randn_like(y_ref)
    gx_fast, gw_fast = torch.autograd.grad(y_fast, (x, fast.weight), g)
    gx_ref, gw_ref = torch.autograd.grad(y_ref, (x, ref.weight), g)
    torch.testing.assert_close(gx_fast, gx_ref)
    torch.testing.assert_close(gw_fast, gw_ref, rtol=1e-4, atol=1e-4)


def test_grouped_pointwise_by_hand():
    """Two groups of one channel each: y_g = w_g * x_g, no mixing between groups."""
    x = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])  # (1, 2, 1, 2)
    w = torch.tensor([2.0, -1.0]).view(2, 1, 1, 1)
    expected = torch.tensor([[[[2.0, 4.0]], [[-3.0, -4.0]]]])
    torch.testing.assert_close(grouped_pointwise(x, w, 2), expected)


def test_pointwise_conv_is_nn_conv2d_where_matmul_is_not_used():
    conv = PointwiseConv2d(8, 8, 1)
    x = torch.randn(2, 8, 4, 4)
    assert not conv.uses_matmul(x)  # ungrouped: oneDNN's conv
    grouped = PointwiseConv2d(8, 8, 2)
    assert not grouped.uses_matmul(x.contiguous(memory_format=torch.channels_last))
    assert set(grouped.state_dict()) == {"weight"}  # the same key as nn.Conv2d(bias=False)


def test_pointwise_conv_keeps_a_folded_batchnorm_bias():
    torch.manual_seed(0)
    conv, bn = PointwiseConv2d(8, 8, 2), nn.BatchNorm2d(8)
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.5, 2)
    conv.eval(), bn.eval()
    fused = fuse_conv_bn_eval(conv, bn)
    x = torch.randn(2, 8, 3, 3)
    assert fused.bias is not None and fused.uses_matmul(x)
    torch.testing.assert_close(fused(x), bn(conv(x)), rtol=1e-5, atol=1e-5)
