"""Genotypes: the derive rule, JSON round trips, malformed files named by field, random cells."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import search_cfg

from partnas_lib.config import DEFAULT_OPS
from partnas_lib.models.build import build_derived, build_supernet
from partnas_lib.nas.genotype import Genotype, derive_cell, edge_index, random_cell


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
    cfg = search_cfg()
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
    cfg = search_cfg()
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
    g = build_supernet(search_cfg(parts="3")).derive(2)
    with pytest.raises(ValueError, match="does not match the config"):
        build_derived(search_cfg(parts="5"), g)


def test_random_cells_are_valid():
    rng = np.random.default_rng(0)
    for k in (2, 0):
        for _ in range(50):
            cell = random_cell(rng, DEFAULT_OPS, k)
            data = {"version": 1, "grouping": {"body": list(range(17))}, "ops": DEFAULT_OPS,
                    "parts": {"body": cell.to_json()}}
            assert Genotype.from_json(json.loads(json.dumps(data))).cells["body"] == cell
    assert len(edge_index()) == 9
