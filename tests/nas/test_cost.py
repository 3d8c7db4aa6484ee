"""Cost-aware search: op multiply-adds by hand, the expectation equals a derived head's cost when
alpha/beta are decided, and the penalty's gradient moves alpha towards cheap ops."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from partnas_lib.config import DEFAULT_OPS, get_preset
from partnas_lib.models.build import build_derived, build_supernet
from partnas_lib.models.summary import count_macs
from partnas_lib.nas import cost
from partnas_lib.nas.genotype import edge_index


@pytest.mark.parametrize("name,expected", [
    ("sep_conv_3x3", 2 * (8 * 9 + 8 * 8) * 6 * 5), ("sep_conv_5x5", 2 * (8 * 25 + 8 * 8) * 6 * 5),
    ("dil_conv_3x3", (8 * 9 + 8 * 8) * 6 * 5), ("dil_conv_5x5", (8 * 25 + 8 * 8) * 6 * 5),
    ("max_pool_3x3", 0), ("avg_pool_3x3", 0), ("skip_connect", 0), ("none", 0),
])
def test_op_macs_by_hand(name, expected):
    """depthwise: C k^2 per pixel; pointwise: C^2 per pixel; a sep_conv twice; pools and skip none."""
    assert cost.op_macs(name, 8, (6, 5)) == expected


def test_edge_keep_probability_sums_to_k_per_node():
    beta = torch.randn(3, 9)
    kept = cost.edge_keep_probability(beta, 2, 3)
    starts = [0, 2, 5, 9]
    for a, b in zip(starts, starts[1:]):
        torch.testing.assert_close(kept[:, a:b].sum(1), torch.full((3,), 2.0))
    assert torch.all(cost.edge_keep_probability(None, 0, 3) == 1)  # keep every edge


def test_decided_alpha_beta_give_the_derived_heads_macs():
    """alpha/beta that are practically one-hot on the derived cell: E[MACs] is the derived
    heads' edge ops' multiply-adds, measured independently by FlopCounterMode."""
    cfg = get_preset("smoke")
    torch.manual_seed(0)
    supernet = build_supernet(cfg)
    with torch.no_grad():
        supernet.alpha.normal_(0, 3)
        supernet.beta.normal_(0, 3)
        for part in range(supernet.alpha.shape[0]):  # one dominant op and the top-2 edges per node
            for e in range(supernet.alpha.shape[1]):
                supernet.alpha[part, e, int(supernet.alpha[part, e, 1:].argmax()) + 1] += 60.0
        supernet.beta.mul_(20.0)
    genotype = supernet.derive()
    expected = supernet.expected_head_macs().detach()

    edges_only = 0
    for part, cell in genotype.cells.items():
        for op, src, dst in cell.edges:
            for size in _sizes(cfg):
                edges_only += cost.op_macs(op, cfg.model.head_channels, size)
    np.testing.assert_allclose(float(expected.sum()), edges_only, rtol=1e-3)
    # and the derived network really is that much more expensive than one with no edge ops
    image = torch.zeros(1, 3, cfg.data.image_size, cfg.data.image_size)
    assert count_macs(build_derived(cfg, genotype).eval(), image) > edges_only


def _sizes(cfg):
    feat = cfg.data.image_size // 16
    return [(feat * 2 ** (i + 1), feat * 2 ** (i + 1)) for i in range(cfg.model.head_cells)]


def test_cost_penalty_gradient_favours_cheap_ops():
    cfg = get_preset("smoke")
    supernet = build_supernet(cfg)
    penalty = supernet.cost_penalty()
    assert penalty.item() == pytest.approx(1.0, rel=0.05)  # near-uniform alpha at init
    penalty.backward()
    grad = supernet.alpha.grad.mean(dim=(0, 1))
    ops = list(DEFAULT_OPS)
    # raising a sep_conv_5x5's logit raises the cost; raising a pool's lowers it
    assert grad[ops.index("sep_conv_5x5")] > 0 > grad[ops.index("max_pool_3x3")]
    assert grad[ops.index("sep_conv_5x5")] > grad[ops.index("dil_conv_3x3")]
    assert len(edge_index()) == supernet.alpha.shape[1]


def test_inclusion_probability_by_hand():
    """q = (1/2, 1/4, 1/4), k = 2: item 0 is in every draw except (1, 2) and (2, 1), which have
    probability 2 x 1/4 x 1/3 = 1/6, so P(0) = 5/6; P(1) = P(2) = (2 - 5/6) / 2 = 7/12."""
    got = cost.inclusion_probability(torch.tensor([0.5, 0.25, 0.25]), 2)
    torch.testing.assert_close(got, torch.tensor([5 / 6, 7 / 12, 7 / 12]))
    torch.testing.assert_close(cost.inclusion_probability(torch.full((4,), 0.25), 2), torch.full((4,), 0.5))


@pytest.mark.slow
def test_cost_weight_steers_a_search_to_cheaper_cells(smoke_cfg, tmp_path):
    """The same smoke search with and without the MACs penalty: the penalised one ends with
    cheaper expected heads and a cheaper derived network, and the alpha history records the
    expectation every epoch."""
    import json

    from partnas_lib import pipeline

    ends, derived = {}, {}
    for weight in (0.0, 2.0):
        cfg = copy.deepcopy(smoke_cfg)
        cfg.search.cost_weight = weight
        cfg.search.arch_lr = 0.05  # a smoke search has a few dozen architecture steps
        out = tmp_path / f"w{weight}"
        genotype = pipeline.search(cfg, out)
        history = json.loads((out / "search" / "alpha_history.json").read_text())
        assert all("expected_head_macs" in e for e in history["epochs"][1:])
        ends[weight] = sum(history["epochs"][-1]["expected_head_macs"].values())
        image = torch.zeros(1, 3, cfg.data.image_size, cfg.data.image_size)
        derived[weight] = count_macs(build_derived(cfg, genotype).eval(), image)
    assert ends[2.0] < 0.8 * ends[0.0], ends
    assert derived[2.0] < derived[0.0], derived
