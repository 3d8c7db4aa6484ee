import json

import numpy as np
import pytest
import torch

from partnas_lib.config import DEFAULT_OPS, get_preset
from partnas_lib.models.build import build_derived, build_supernet
from partnas_lib.models.integral import soft_argmax_3d
from partnas_lib.nas.cells import MixedEdge, channel_shuffle
from partnas_lib.nas.genotype import Genotype, derive_cell, edge_index, random_cell
from partnas_lib.nas.ops import OPS, build_op
from partnas_lib.skeleton import get_grouping


def _cfg(parts="5", k=4, edge_norm=True):
    cfg = get_preset("smoke")
    cfg.model.parts = parts
    cfg.search.partial_channels = k
    cfg.search.edge_norm = edge_norm
    cfg.validate()
    return cfg


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_op_keeps_shape_and_gets_gradients(name):
    op = build_op(name, 8, affine=True)
    x = torch.randn(2, 8, 6, 6, requires_grad=True)
    y = op(x)
    assert y.shape == x.shape
    y.pow(2).sum().backward()
    for p in op.parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_unknown_op_is_named():
    with pytest.raises(ValueError, match="unknown op 'conv_7x7'"):
        build_op("conv_7x7", 8, True)


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


@pytest.mark.parametrize("k,edge_norm", [(4, True), (1, False), (2, True)])
def test_every_supernet_parameter_and_alpha_beta_gets_a_gradient(k, edge_norm):
    torch.manual_seed(0)
    net = build_supernet(_cfg(k=k, edge_norm=edge_norm))
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
    net = build_supernet(_cfg(parts="5")).eval()
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
    net = build_supernet(_cfg(k=k))
    net.train()
    out = net(torch.rand(4, 3, 64, 64))
    out[:, [14, 15, 16]].sum().backward()  # right arm = part 1 only
    assert net.alpha.grad[1].abs().sum() > 0
    assert net.alpha.grad[[0, 2, 3, 4]].abs().sum() == 0
    assert net.beta.grad[[0, 2, 3, 4]].abs().sum() == 0
    # the volume output of another part receives nothing either
    assert net.heads.outs[0].conv[1].weight.grad is None or net.heads.outs[0].conv[1].weight.grad.abs().sum() == 0


def test_derive_rule_hand_made_alpha():
    ops = ["none", "skip_connect", "sep_conv_3x3"]
    alpha = np.zeros((9, 3))
    alpha[:, 0] = 10.0  # 'none' strongest everywhere: must never be chosen
    alpha[0, 2] = 5.0  # edge 0->2 prefers sep_conv
    alpha[1, 1] = 4.0  # edge 1->2 prefers skip
    alpha[2:5, 2] = [1, 3, 2]  # node 3: from 0,1,2 -> keep 1 and 2
    alpha[5:9, 1] = [0, 0, 6, 7]  # node 4: keep 2 and 3
    cell = derive_cell(alpha, None, ops, edges_per_node=2)
    assert cell.nodes[0] == (("sep_conv_3x3", 0), ("skip_connect", 1))
    assert [s for _, s in cell.nodes[1]] == [1, 2]
    assert cell.nodes[2] == (("skip_connect", 2), ("skip_connect", 3))
    beta = np.zeros(9)
    beta[2] = 10.0  # edge normalisation can promote edge 0->3
    assert 0 in [s for _, s in derive_cell(alpha, beta, ops, 2).nodes[1]]
    assert [len(n) for n in derive_cell(alpha, None, ops, 0).nodes] == [2, 3, 4]


def test_genotype_json_round_trip_and_derived_network(tmp_path):
    cfg = _cfg()
    g = build_supernet(cfg).derive(2)
    path = tmp_path / "genotype.json"
    g.save(path)
    again = Genotype.load(path)
    assert again == g or again.to_json() == g.to_json()
    net = build_derived(cfg, again)
    assert net.volumes(torch.rand(1, 3, 64, 64)).shape == (1, 17, 8, 16, 16)


@pytest.mark.parametrize("mutate,message", [
    (lambda d: d["parts"]["left_arm"][0].append(["conv_9x9", 1]), "unknown op 'conv_9x9'"),
    (lambda d: d["parts"]["left_arm"][0].__setitem__(0, ["sep_conv_3x3", 3]), "source node 3 must be in 0..1"),
    (lambda d: d["parts"]["left_arm"].pop(), "expected a list of 3 nodes"),
    (lambda d: d["parts"].pop("left_arm"), "field 'parts' has parts"),
    (lambda d: d.pop("ops"), "missing field 'ops'"),
    (lambda d: d["parts"]["left_arm"][1].__setitem__(0, ["none", 0]), "op 'none' cannot be a kept edge"),
    (lambda d: d["parts"]["left_arm"][2].__setitem__(0, ["skip_connect"]), "must be \\[op_name, source_node\\]"),
])
def test_malformed_genotypes_are_rejected_with_the_field(tmp_path, mutate, message):
    cfg = _cfg()
    data = build_supernet(cfg).derive(2).to_json()
    mutate(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=message):
        Genotype.load(path)


def test_genotype_file_that_is_not_json(tmp_path):
    path = tmp_path / "g.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match=f"{path}: genotype file is malformed JSON"):
        Genotype.load(path)


def test_genotype_that_does_not_fit_the_grouping():
    g = build_supernet(_cfg(parts="3")).derive(2)
    with pytest.raises(ValueError, match="does not match the config"):
        build_derived(_cfg(parts="5"), g)


def test_random_cells_are_valid():
    rng = np.random.default_rng(0)
    for k in (2, 0):
        for _ in range(50):
            cell = random_cell(rng, DEFAULT_OPS, k)
            data = {"version": 1, "grouping": {"body": list(range(17))}, "ops": DEFAULT_OPS,
                    "parts": {"body": cell.to_json()}}
            assert Genotype.from_json(json.loads(json.dumps(data))).cells["body"] == cell
    assert len(edge_index()) == 9
