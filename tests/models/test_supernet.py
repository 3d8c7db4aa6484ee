"""The part supernet: gradients to every weight and to alpha/beta, shapes per part grouping,
independent part heads, masks over the relaxed weights (DARTS-PT) that change only what they mask.
"""

from __future__ import annotations

import pytest
import torch
from conftest import search_cfg

from partnas_lib.config import get_preset
from partnas_lib.models.build import build_supernet
from partnas_lib.models.integral import soft_argmax_3d
from partnas_lib.models.supernet import ArchMask
from partnas_lib.skeleton import get_grouping


@pytest.mark.parametrize("k,edge_norm", [(4, True), (1, False), (2, True)])
def test_every_supernet_parameter_and_alpha_beta_gets_a_gradient(k, edge_norm):
    torch.manual_seed(0)
    net = build_supernet(search_cfg(k=k, edge_norm=edge_norm))
    net.train()
    out = net.predict(torch.rand(4, 3, 64, 64))
    (out * torch.randn_like(out)).sum().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    if not edge_norm:  # beta is unused in plain DARTS
        missing = [n for n in missing if n != "beta"]
    assert missing == []
    shapes = [(5, 9, 8), (5, 9)] if edge_norm else [(5, 9, 8)]
    assert [tuple(p.shape) for p in net.arch_parameters()] == shapes
    # every part's alpha for every edge and op gets a gradient (not just the tensor as a whole)
    assert (net.alpha.grad.abs() > 0).all()
    if edge_norm:
        assert (net.beta.grad.abs() > 0).all()
    assert {id(p) for p in net.arch_parameters()}.isdisjoint({id(p) for p in net.weight_parameters()})
    assert len(net.weight_parameters()) + 2 == len(list(net.parameters()))


@pytest.mark.parametrize("preset", ["smoke", "cpu"])
@pytest.mark.parametrize("parts", ["1", "3", "5", "17"])
def test_output_shapes_per_part(preset, parts):
    cfg = get_preset(preset)
    cfg.model.parts = parts
    net = build_supernet(cfg).eval()
    s, d = cfg.data.image_size, cfg.model.depth_bins
    with torch.no_grad():
        x = torch.rand(2, 3, s, s)
        feats = net.trunk(x)
        vols = net.part_volumes(feats, net.cell_sizes(feats[-1]))
        for vol, joints in zip(vols, get_grouping(parts).joint_lists):
            assert vol.shape == (2, len(joints), d, s // 4, s // 4)
        assert net.volumes(x).shape == (2, 17, d, s // 4, s // 4)
        assert net(x).shape == (2, 17, 3)
        assert net.predict(x).shape == (2, 17, 3)


def test_volumes_are_assembled_in_joint_order():
    net = build_supernet(search_cfg(parts="5")).eval()
    with torch.no_grad():
        x = torch.rand(1, 3, 64, 64)
        feats = net.trunk(x)
        full = net.volumes(x)
        right_arm = net.part_volumes(feats, net.cell_sizes(feats[-1]))[1]
        coords = net(x)
    torch.testing.assert_close(full[:, [14, 15, 16]], right_arm)
    # the coordinates are read out per part and put in joint order the same way
    torch.testing.assert_close(coords, soft_argmax_3d(full))


@pytest.mark.parametrize("k", [1, 4])
def test_part_heads_are_independent(k):
    """The grouped evaluation must equal separate heads: part j's output never depends on
    part i's alpha, beta or head weights."""
    torch.manual_seed(0)
    net = build_supernet(search_cfg(k=k))
    net.train()
    out = net(torch.rand(4, 3, 64, 64))
    out[:, [14, 15, 16]].sum().backward()  # right arm = part 1 only
    assert net.alpha.grad[1].abs().sum() > 0
    assert net.alpha.grad[[0, 2, 3, 4]].abs().sum() == 0
    assert net.beta.grad[[0, 2, 3, 4]].abs().sum() == 0
    # the volume output of another part receives nothing either
    assert net.heads.outs[0].conv[1].weight.grad is None or net.heads.outs[0].conv[1].weight.grad.abs().sum() == 0


@pytest.mark.parametrize("k,edge_norm", [(4, True), (1, False)])
def test_a_mask_that_changes_nothing_computes_exactly_the_plain_supernet(k, edge_norm):
    """The default path is untouched: no mask, ``masked(None)`` and the identity mask
    (:meth:`ArchMask.none`) give the same output, bit for bit."""
    torch.manual_seed(0)
    net = build_supernet(search_cfg(k=k, edge_norm=edge_norm)).train()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        plain = net(x)
        with net.masked(None):
            none = net(x)
        with net.masked(ArchMask.none(net.alpha.detach())):
            identity = net(x)
        after = net(x)
    assert net.arch_mask is None
    assert torch.equal(plain, none) and torch.equal(plain, identity) and torch.equal(plain, after)


@pytest.mark.parametrize("k", [1, 4])
def test_masking_one_parts_edge_changes_that_part_only(k):
    """What lets the perturbation selection decide every part in one pass: removing an op (or
    cutting an edge) of part 1 moves part 1's joints and no other part's."""
    torch.manual_seed(0)
    net = build_supernet(search_cfg(k=k)).train()
    x = torch.rand(2, 3, 64, 64)
    arm = [14, 15, 16]  # right arm = part 1
    others = [j for j in range(17) if j not in arm]
    op, cut = ArchMask.none(net.alpha.detach()), ArchMask.none(net.alpha.detach())
    op.keep[1, 4, net.ops.index("sep_conv_3x3")] = 0.0
    cut.edges[1, 4] = 0.0
    with torch.no_grad():
        plain = net(x)
        for mask in (op, cut):
            with net.masked(mask):
                out = net(x)
            assert not torch.allclose(out[:, arm], plain[:, arm])
            assert torch.equal(out[:, others], plain[:, others])
