"""Mixed edges, partial channels and fixed cells compute the plain DARTS / PC-DARTS functions."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from partnas_lib.config import DEFAULT_OPS
from partnas_lib.nas.cells import FixedCell, MixedEdge, channel_shuffle
from partnas_lib.nas.genotype import CellGenotype
from partnas_lib.nas.ops import ReLUFirst, build_op


def test_channel_shuffle_is_a_permutation():
    x = torch.arange(8.0).view(1, 8, 1, 1)
    assert channel_shuffle(x, 4).flatten().tolist() == [0, 2, 4, 6, 1, 3, 5, 7]


def test_partial_channels_bypass_untouched_channels():
    edge = MixedEdge(8, ["skip_connect"], partial_channels=4)
    x = torch.randn(1, 8, 3, 3)
    y = edge(x, torch.tensor([[0.5]]))  # (parts, ops)
    # the 2 active channels are scaled by 0.5, the other 6 pass through, then shuffled
    unshuffled = y.view(1, 2, 4, 3, 3).transpose(1, 2).reshape(1, 8, 3, 3)
    torch.testing.assert_close(unshuffled[:, :2], 0.5 * x[:, :2])
    torch.testing.assert_close(unshuffled[:, 2:], x[:, 2:])


def test_batched_mixed_edges_equal_separate_edges():
    """A MixedEdge with S sources is S MixedEdges summed (parameters in source-major blocks)."""
    torch.manual_seed(0)
    s_count, parts, c = 3, 2, 8
    batched = MixedEdge(c, DEFAULT_OPS, 4, parts, sources=s_count)
    singles = [MixedEdge(c, DEFAULT_OPS, 4, parts) for _ in range(s_count)]
    state = batched.state_dict()
    for s, edge in enumerate(singles):
        own = {k: (v if v.ndim == 0 else state[k][s * v.shape[0]:(s + 1) * v.shape[0]])
               for k, v in edge.state_dict().items()}
        edge.load_state_dict(own)
    xs = [torch.randn(4, parts * c, 8, 8) for _ in range(s_count)]
    w = torch.softmax(torch.randn(s_count, parts, len(DEFAULT_OPS)), -1)
    beta = torch.softmax(torch.randn(s_count, parts), 0)
    mixed, bypass = batched.mix(xs, w, beta)
    together = batched.assemble(mixed, bypass)
    separate = sum(e(x, w[s]) * beta[s].repeat_interleave(c).view(1, -1, 1, 1)
                   for s, (e, x) in enumerate(zip(singles, xs)))
    torch.testing.assert_close(together, separate)


def test_fixed_cell_shares_relu_without_changing_the_function():
    torch.manual_seed(0)
    genotype = CellGenotype(((("sep_conv_3x3", 0), ("dil_conv_3x3", 1)), (("sep_conv_5x5", 0), ("max_pool_3x3", 2)),
                             (("skip_connect", 1), ("dil_conv_5x5", 0))))
    cell = FixedCell(8, 8, 4, genotype).eval()
    s0, s1 = torch.randn(2, 8, 4, 4), torch.randn(2, 8, 4, 4)
    states = cell.inputs(s0, s1, (8, 8))
    for node, ops in zip(genotype.nodes, cell.edge_ops):  # the plain DARTS cell: every op on its own
        states.append(sum(op(states[src]) for (_, src), op in zip(node, ops)))
    torch.testing.assert_close(cell(s0, s1, (8, 8)), torch.cat(states[2:], dim=1))
    assert all(isinstance(build_op(o, 4, True), ReLUFirst) for o in ("sep_conv_3x3", "dil_conv_5x5"))


@pytest.mark.parametrize("k", [1, 4])
def test_mixed_edge_equals_the_darts_sum_over_ops(k):
    """DARTS Eq. 2 written plainly -- every op called as a module, times its weight, summed --
    against MixedEdge (ReLU shared by the conv ops, the none op skipped, one multiply-add per op)."""
    import copy

    from partnas_lib.nas.cells import channel_shuffle

    torch.manual_seed(0)
    c, parts = 8, 2
    edge = MixedEdge(c, DEFAULT_OPS, k, parts).train()
    plain_ops = copy.deepcopy(edge.ops)
    x = torch.randn(4, parts * c, 8, 8)
    alpha = torch.randn(parts, len(DEFAULT_OPS), requires_grad=True)
    y = edge(x, torch.softmax(alpha, -1))
    (grad_alpha,) = torch.autograd.grad((y * torch.linspace(-1, 1, y.numel()).view_as(y)).sum(), alpha)

    alpha2 = alpha.detach().clone().requires_grad_(True)
    w = torch.softmax(alpha2, -1)
    a = c // k
    xa = x.view(4, parts, c, 8, 8)[:, :, :a].reshape(4, parts * a, 8, 8)
    mixed = sum(op(xa) * w[:, i].repeat_interleave(a).view(1, -1, 1, 1) for i, op in enumerate(plain_ops))
    if k > 1:
        rest = x.view(4, parts, c, 8, 8)[:, :, a:]
        mixed = channel_shuffle(torch.cat([mixed.view(4, parts, a, 8, 8), rest], 2).view(4, parts * c, 8, 8), k, parts)
    torch.testing.assert_close(y, mixed)
    (grad_plain,) = torch.autograd.grad((mixed * torch.linspace(-1, 1, y.numel()).view_as(y)).sum(), alpha2)
    torch.testing.assert_close(grad_alpha, grad_plain, rtol=1e-4, atol=1e-6)
    for m, n in zip(edge.ops.modules(), plain_ops.modules(), strict=True):  # running statistics moved alike
        if isinstance(m, nn.BatchNorm2d):
            torch.testing.assert_close(m.running_mean, n.running_mean)
            assert int(m.num_batches_tracked) == int(n.num_batches_tracked) == 1


@pytest.mark.parametrize("k,parts", [(4, 1), (4, 3), (2, 2)])
def test_assemble_is_cat_then_channel_shuffle(k, parts):
    """The one-stack join of active and bypassed channels equals DARTS's cat + channel_shuffle."""
    torch.manual_seed(0)
    c = 8
    edge = MixedEdge(c, ["skip_connect"], partial_channels=k, parts=parts)
    a = c // k
    mixed = torch.randn(2, parts * a, 3, 3)
    bypass = torch.randn(2, parts, c - a, 3, 3)
    cat = torch.cat([mixed.view(2, parts, a, 3, 3), bypass], dim=2).reshape(2, parts * c, 3, 3)
    torch.testing.assert_close(edge.assemble(mixed, bypass), channel_shuffle(cat, k, parts))
