"""Perturbation-based selection (DARTS-PT): which op and edges it keeps when the answer is known,
per-part losses, the default derive rule untouched, config checks, and a smoke search."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from conftest import search_cfg, tiny_cfg

from partnas_lib.config import DEFAULT_OPS, apply_overrides, get_preset
from partnas_lib.models.build import build_supernet
from partnas_lib.models.supernet import ArchMask
from partnas_lib.nas.genotype import Genotype, derive_cell
from partnas_lib.train import selection
from partnas_lib.train.device import Precision
from partnas_lib.train.rundir import RunDir
from partnas_lib.train.search import run_search
from partnas_lib.train.selection import select_by_perturbation
from partnas_lib.train.steps import pose_loss

# per node, the importance of each incoming edge (node 2 has only 2 inputs: both are kept)
EDGE_IMPORTANCE = {3: [0.1, 0.5, 0.3], 4: [0.4, 0.05, 0.2, 0.6]}
TARGET = ["sep_conv_3x3", "dil_conv_5x5"]  # the op each of the two parts needs, on every edge


class KnownLoss:
    """A loss that reads the mask: each part's loss grows by 1 when its target op's mixing weight
    drops (by 1 - its weight) and by an edge's importance when that edge is cut.  Every other op
    changes nothing, so removing the target op hurts most -- whatever alpha says."""

    def __init__(self, ops: list[str]):
        self.target = [ops.index(t) for t in TARGET]
        self.importance = torch.tensor([0.0, 0.0, *EDGE_IMPORTANCE[3], *EDGE_IMPORTANCE[4]])
        self.calls: list[int] = []
        self.tuned: list[ArchMask] = []

    def measure(self, mask: ArchMask, decision: int) -> torch.Tensor:
        self.calls.append(decision)
        uniform = torch.full_like(mask.keep, 1 / mask.keep.shape[-1])
        w = uniform * mask.keep + mask.fixed
        target = torch.stack([w[p, :, t] for p, t in enumerate(self.target)])  # (P, 9)
        return 1.0 + (1.0 - target).sum(1) + ((1.0 - mask.edges) * self.importance).sum(1)

    def tune(self, mask: ArchMask) -> None:
        self.tuned.append(mask.clone())


def test_perturbation_keeps_the_op_and_edges_whose_removal_hurts_most_not_argmax_alpha():
    ops = list(DEFAULT_OPS)
    alpha = torch.zeros(2, 9, len(ops))
    alpha[..., ops.index("skip_connect")] = 3.0  # argmax alpha: skip connections everywhere
    loss = KnownLoss(ops)
    sel = select_by_perturbation(ArchMask.none(alpha), ops, ["a", "b"], loss.measure, loss.tune, 2,
                                 np.random.default_rng(0))
    for p, name in enumerate(["a", "b"]):
        cell = sel.cells[name]
        assert [src for _, src in cell.nodes[0]] == [0, 1]  # two inputs: nothing to decide
        assert [src for _, src in cell.nodes[1]] == [1, 2]  # the two most important of [0.1, 0.5, 0.3]
        assert [src for _, src in cell.nodes[2]] == [0, 3]  # of [0.4, 0.05, 0.2, 0.6]
        assert {op for op, _, _ in cell.edges} == {TARGET[p]}
        magnitude = derive_cell(alpha[p].numpy(), None, ops)
        assert {op for op, _, _ in magnitude.edges} == {"skip_connect"}  # the DARTS rule keeps these
        for d in sel.record["parts"][name]["ops"]:
            increase = d["loss_increase"]
            assert "none" not in increase and d["chosen"] == TARGET[p]
            assert increase[TARGET[p]] == pytest.approx(1 / len(ops), abs=1e-5)
            assert all(v == 0 for op, v in increase.items() if op != TARGET[p])
    # 9 op decisions, then nodes 3 and 4 in a seeded order; the same batches within a decision
    assert sorted(sel.record["edge_order"]) == list(range(9)) and sorted(sel.record["node_order"]) == [3, 4]
    per_edge, per_node = 1 + len(ops) - 1, {3: 1 + 3, 4: 1 + 4}
    expected = [d for d in range(9) for _ in range(per_edge)]
    expected += [9 + i for i, n in enumerate(sel.record["node_order"]) for _ in range(per_node[n])]
    assert loss.calls == expected
    assert len(loss.tuned) == 10  # after every decision but the last
    last = loss.tuned[-1]  # all ops fixed, one node decided: its dropped edge is cut
    assert torch.equal(last.keep, torch.zeros_like(last.keep)) and torch.equal(last.fixed.sum(-1), torch.ones(2, 9))
    cut = {3: 1, 4: 2}[sel.record["node_order"][0]]  # node 3 drops 1 of 3 inputs, node 4 2 of 4
    assert torch.equal((last.edges == 0).sum(1), torch.tensor([cut, cut]))


def test_edges_per_node_zero_keeps_every_edge_and_measures_no_node():
    ops = ["none", "skip_connect", "sep_conv_3x3", "dil_conv_5x5"]
    loss = KnownLoss(ops)
    sel = select_by_perturbation(ArchMask.none(torch.zeros(2, 9, len(ops))), ops, ["a", "b"], loss.measure,
                                 loss.tune, 0, np.random.default_rng(1))
    assert [len(node) for node in sel.cells["a"].nodes] == [2, 3, 4]
    assert sel.record["node_order"] == [] and len(loss.calls) == 9 * len(ops) and len(loss.tuned) == 8


def test_the_edge_order_follows_the_seed():
    ops = ["none", "skip_connect", "sep_conv_3x3", "dil_conv_5x5"]

    def order(seed: int) -> list[int]:
        loss = KnownLoss(ops)
        return select_by_perturbation(ArchMask.none(torch.zeros(2, 9, len(ops))), ops, ["a", "b"], loss.measure,
                                      loss.tune, 2, np.random.default_rng(seed)).record["edge_order"]

    assert order(0) == order(0) and order(0) != order(1)


def test_part_losses_are_the_pose_loss_of_each_parts_joints():
    cfg = search_cfg(parts="5")
    model = build_supernet(cfg).train()
    torch.manual_seed(0)
    batch = {"image": torch.rand(2, 3, 64, 64), "joints_2d": torch.rand(2, 17, 2) * 200 + 100,
             "joints_3d": torch.randn(2, 17, 3) * 200 + torch.tensor([0.0, 0.0, 5000.0]),
             "joints_vis": torch.ones(2, 17, dtype=torch.bool), "has_3d": torch.ones(2, dtype=torch.bool),
             "bbox": torch.tensor([[80.0, 80.0, 240.0, 240.0]] * 2)}
    with torch.no_grad():
        per_part = selection.part_losses(model, batch, torch.device("cpu"), Precision())
        total = pose_loss(model, batch, model.geometry, torch.device("cpu"))
    sizes = torch.tensor([len(j) for j in model.grouping.joint_lists], dtype=torch.float32)
    assert per_part.shape == (5,)
    assert float((per_part * sizes).sum() / 17) == pytest.approx(float(total), rel=1e-5)  # every joint weighs 3


@pytest.mark.parametrize("value, message", [
    ("search.selection=argmax", "search.selection = 'argmax' is out of range; expected one of magnitude, perturbation"),
    ("search.pt_batches=0", "search.pt_batches = 0 is out of range; expected >= 1"),
    ("search.pt_tune_steps=-1", "search.pt_tune_steps = -1 is out of range; expected >= 0"),
])
def test_config_refuses_unknown_selection_and_bad_budgets(value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        apply_overrides(get_preset("smoke"), [value])
    assert apply_overrides(get_preset("smoke"), ["search.selection=perturbation"]).search.selection == "perturbation"
    assert get_preset("cpu").search.selection == "magnitude"  # the DARTS rule stays the default


SMALL = ["data.num_train=64", "data.num_test=16", "data.num_val=0", "search.batch_size=16", "search.epochs=1",
         "search.ops=none,skip_connect,sep_conv_3x3", "search.pt_batches=1", "search.pt_tune_steps=1"]


def test_magnitude_search_derives_by_argmax_alpha_and_never_perturbs(cache_dir, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the default derive rule must not run the perturbation selection")

    monkeypatch.setattr("partnas_lib.train.search.perturbation_genotype", refuse)
    cfg = apply_overrides(tiny_cfg(cache_dir), SMALL)
    run = RunDir(tmp_path / "run")
    run.prepare()
    genotype = run_search(cfg, run)
    final = json.loads(run.alpha_history.read_text())
    logits = final["epochs"][-1]["parts"]
    expected = {name: derive_cell(np.array(p["alpha_logits"]), np.array(p["beta_logits"]), cfg.search.ops)
                for name, p in logits.items()}
    assert genotype.cells == expected and Genotype.load(run.genotype) == genotype
    assert final["selection"] == "magnitude" and "selection_seconds" not in final
    assert not (run.alpha_history.parent / "selection.json").exists()


def test_perturbation_search_writes_a_valid_genotype_and_its_decisions(cache_dir, tmp_path):
    cfg = apply_overrides(tiny_cfg(cache_dir), [*SMALL, "search.selection=perturbation"])
    run = RunDir(tmp_path / "run")
    run.prepare()
    genotype = run_search(cfg, run)
    loaded = Genotype.load(run.genotype)
    assert loaded == genotype
    loaded.check_fits(loaded.grouping, cfg.search.ops)
    record = json.loads((run.alpha_history.parent / "selection.json").read_text())
    assert record["method"] == "perturbation" and record["genotype"] == genotype.to_json()["parts"]
    assert record["forward_passes"] == 9 * 3 + (3 + 1) + (4 + 1) and record["tune_steps"] == 10
    for name, cell in genotype.cells.items():
        chosen = {(d["source"], d["target"]): d["chosen"] for d in record["parts"][name]["ops"]}
        assert all(chosen[(src, dst)] == op for op, src, dst in cell.edges)  # the genotype is the record's
        for d in record["parts"][name]["ops"]:
            assert d["chosen"] == max(d["loss_increase"], key=d["loss_increase"].get)
    history = json.loads(run.alpha_history.read_text())
    assert history["selection"] == "perturbation"
    assert 0 < history["selection_seconds"] <= history["search_seconds"]
