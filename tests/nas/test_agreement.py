"""Seed agreement of genotypes, on hand-made genotypes with hand-computed answers."""

from __future__ import annotations

import pytest

from partnas_lib import cli
from partnas_lib.nas.agreement import (
    cell_edge_ops,
    cell_edges,
    format_agreement,
    genotype_agreement,
    jaccard,
    shared_fraction,
)
from partnas_lib.nas.genotype import CellGenotype, Genotype

OPS = ["none", "skip_connect", "max_pool_3x3", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3"]
GROUPING = {"arm": [11, 12, 13, 14, 15, 16], "rest": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}


def cell(*nodes):
    return CellGenotype(tuple(tuple(node) for node in nodes))


# node 2 (inputs 0, 1), node 3 (inputs 0..2), node 4 (inputs 0..3)
A = cell([("sep_conv_3x3", 0), ("skip_connect", 1)], [("sep_conv_3x3", 0), ("max_pool_3x3", 2)],
         [("skip_connect", 2), ("skip_connect", 3)])


B = cell([("sep_conv_3x3", 0), ("skip_connect", 1)], [("sep_conv_5x5", 1), ("max_pool_3x3", 2)],
         [("skip_connect", 2), ("dil_conv_3x3", 3)])


C = cell([("dil_conv_3x3", 0), ("skip_connect", 1)], [("sep_conv_3x3", 0), ("max_pool_3x3", 2)],
         [("skip_connect", 0), ("skip_connect", 1)])


def genotype(arm, rest):
    return Genotype({"arm": arm, "rest": rest}, GROUPING, OPS)


def test_edge_sets():
    assert cell_edges(A) == {(2, 0), (2, 1), (3, 0), (3, 2), (4, 2), (4, 3)}
    assert (3, 1, "sep_conv_5x5") in cell_edge_ops(B)
    assert jaccard(set(), set()) == 1.0
    assert shared_fraction([{1, 2}, {2, 3}, {2}]) == pytest.approx(1 / 3)


def test_two_genotypes_hand_computed():
    # edges: A and B differ only in node 3's first source (0 vs 1): 5 shared of 7 -> 5/7
    # edge+op: shared (2,0,sep3) (2,1,skip) (3,2,max) (4,2,skip) = 4 of 8 -> 1/2
    s = genotype_agreement([genotype(A, A), genotype(B, A)], labels=["s0", "s1"])
    arm = s["parts"]["arm"]
    assert arm["edges_all"] == pytest.approx(5 / 7)
    assert arm["edge_ops_all"] == pytest.approx(4 / 8)
    assert arm["edge_jaccard_mean"] == pytest.approx(5 / 7)
    assert arm["edge_op_jaccard_mean"] == pytest.approx(1 / 2)
    assert arm["edge_jaccard_pairwise"] == [[1.0, pytest.approx(5 / 7)], [pytest.approx(5 / 7), 1.0]]
    assert arm["edge_votes"]["0->3"] == 1 and arm["edge_votes"]["1->3"] == 1 and arm["edge_votes"]["0->2"] == 2
    assert arm["edge_op_votes"]["sep_conv_5x5(1->3)"] == 1
    assert s["parts"]["rest"]["edges_all"] == 1.0 and s["parts"]["rest"]["edge_op_jaccard_mean"] == 1.0
    assert s["mean"]["edges_all"] == pytest.approx((5 / 7 + 1) / 2)
    assert s["mean"]["edge_op_jaccard_mean"] == pytest.approx((1 / 2 + 1) / 2)


def test_three_genotypes_hand_computed():
    # edges  A: {20,21,30,32,42,43}  B: {20,21,31,32,42,43}  C: {20,21,30,32,40,41}
    # all three share {20,21,32} = 3 of the union {20,21,30,31,32,40,41,42,43} = 9
    # pairs: J(A,B) = 5/7, J(A,C) = 4/8, J(B,C) = 3/9
    # edge+op A: {20s3,21sk,30s3,32mx,42sk,43sk}  B: {20s3,21sk,31s5,32mx,42sk,43d3}
    #         C: {20d3,21sk,30s3,32mx,40sk,41sk}
    # shared by all {21sk,32mx} = 2; union = A's 6 + B's {31s5,43d3} + C's {20d3,40sk,41sk} = 11
    # pairs: J(A,B) = 4/8, J(A,C) = 3/9, J(B,C) = 2/10
    s = genotype_agreement([genotype(A, A), genotype(B, A), genotype(C, A)])
    arm = s["parts"]["arm"]
    assert s["labels"] == ["genotype0", "genotype1", "genotype2"] and s["num_genotypes"] == 3
    assert arm["edges_all"] == pytest.approx(3 / 9)
    assert arm["edge_jaccard_mean"] == pytest.approx((5 / 7 + 4 / 8 + 3 / 9) / 3)
    assert arm["edge_ops_all"] == pytest.approx(2 / 11)
    assert arm["edge_op_jaccard_mean"] == pytest.approx((4 / 8 + 3 / 9 + 2 / 10) / 3)
    assert arm["edge_votes"] == {"0->2": 3, "1->2": 3, "0->3": 2, "1->3": 1, "2->3": 3, "0->4": 1, "1->4": 1,
                                 "2->4": 2, "3->4": 2}
    table = format_agreement(s)
    assert "| arm | 0.33 | 0.18 |" in table and "**mean**" in table


def test_single_genotype_and_errors():
    s = genotype_agreement([genotype(A, B)])
    assert s["parts"]["arm"]["edges_all"] == 1.0 and s["parts"]["arm"]["edge_jaccard_mean"] is None
    assert s["mean"]["edge_jaccard_mean"] is None
    with pytest.raises(ValueError, match="at least one genotype"):
        genotype_agreement([])
    other = Genotype({"body": A}, {"body": list(range(17))}, OPS)
    with pytest.raises(ValueError, match="same grouping"):
        genotype_agreement([genotype(A, A), other])


def test_cli_agreement(tmp_path, capsys):
    paths = []
    for i, g in enumerate([genotype(A, A), genotype(B, A)]):
        paths.append(str(tmp_path / f"g{i}.json"))
        g.save(paths[-1])
    assert cli.main(["agreement", *paths]) == 0
    assert "| arm | 0.71 | 0.50 | 0.71 | 0.50 |" in capsys.readouterr().out
