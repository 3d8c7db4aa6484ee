"""3x3 pooling of the search space: the separable average pool equals ``nn.AvgPool2d``."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from partnas_lib.nas.pooling import Pool, avg_pool_3x3, window_counts


def test_window_counts_by_hand():
    counts = window_counts(3, 4, torch.zeros(1))[0, 0]
    expected = torch.tensor([[4.0, 6, 6, 4], [6, 9, 9, 6], [4, 6, 6, 4]])
    torch.testing.assert_close(counts, expected)


@pytest.mark.parametrize("shape", [(2, 3, 5, 7), (1, 4, 1, 1), (2, 2, 2, 6)])
def test_avg_pool_matches_torch_values_and_gradients(shape):
    torch.manual_seed(0)
    ref = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    x = torch.randn(*shape, requires_grad=True)
    y_fast, y_ref = avg_pool_3x3(x), ref(x)
    torch.testing.assert_close(y_fast, y_ref)
    g = torch.randn_like(y_ref)
    torch.testing.assert_close(torch.autograd.grad(y_fast, x, g)[0], torch.autograd.grad(y_ref, x, g)[0])


def test_avg_pool_gradcheck():
    x = torch.randn(2, 2, 4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(avg_pool_3x3, (x,))


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("channels_last", [False, True])
def test_pool_module_matches_torch_in_both_layouts(kind, channels_last):
    torch.manual_seed(0)
    ref = nn.MaxPool2d(3, 1, 1) if kind == "max" else nn.AvgPool2d(3, 1, 1, count_include_pad=False)
    x = torch.randn(2, 6, 5, 5)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    y = Pool(kind)(x)
    torch.testing.assert_close(y, ref(x))
    g = torch.randn_like(y)
    torch.testing.assert_close(torch.autograd.grad(y, x, g)[0], torch.autograd.grad(ref(x), x, g)[0])
