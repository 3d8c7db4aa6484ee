r"""Perturbation-based architecture selection (DARTS-PT; Wang et al., "Rethinking Architecture
Selection in Differentiable NAS", ICLR 2021): ``search.selection = "perturbation"``.

The DARTS derive rule reads the genotype off the magnitudes of alpha (:mod:`partnas_lib.nas.genotype`).
Wang et al. show that a large ``softmax(alpha)`` need not mean that an op matters to the
supernet -- skip connections in particular grow large alphas while contributing little -- and
propose to *ask the supernet* instead: remove an op and measure how much worse it gets.  The
score of op :math:`o` on edge :math:`e` of part :math:`p` is the increase of the pose loss on
the architecture half of the training data when :math:`o` is taken out of the mixture,

.. math::

    s^{p}_{e}(o) = \mathcal{L}_{val}\bigl(\bar w, \bar\alpha \setminus o\bigr)
                   - \mathcal{L}_{val}\bigl(\bar w, \bar\alpha\bigr),

where :math:`\bar w` are the trained supernet weights, :math:`\bar\alpha` the current (partly
decided) mixture and :math:`\bar\alpha \setminus o` the same with op :math:`o`'s mixing weight
set to 0 on that edge -- not renormalised, as in the DARTS-PT code.  The procedure
(:func:`select_by_perturbation`), after the supernet has been trained:

1. **ops**: visit the 9 edges in a seeded random order.  On each, measure :math:`s(o)` for
   every op but ``none``, keep :math:`o^{*} = \arg\max_o s(o)` (the op whose removal hurts
   most), fix the edge to it (one-hot mixing weight) for the rest of the procedure, and tune the
   supernet's weights for ``search.pt_tune_steps`` steps so it recovers from the decision;
2. **topology**: visit the intermediate nodes in a seeded random order; for each, measure the
   loss increase of cutting each incoming edge entirely (its op and, with partial channels, its
   bypassed channels) and keep the ``search.edges_per_node`` edges whose removal hurts most;
   tune again.  Nodes with no more inputs than that keep them all (nothing is measured).

Every measurement averages ``search.pt_batches`` batches of the architecture half, the *same*
batches for every candidate of one decision (a paired comparison: the differences are not
batch noise), new batches for the next decision.  The BatchNorms use batch statistics
(train mode), as DARTS-PT's projection does.

**All parts in one pass.**  Part ``p``'s edge only feeds part ``p``'s head, whose output is part
``p``'s joints (the P heads are independent networks on a shared trunk;
:mod:`partnas_lib.nas.cells`).  So one forward pass with op ``o`` removed from edge ``e`` of
*every* part gives every part's loss (over its own joints) without ``o`` -- the P separate
measurements for the price of one.  The tuning between decisions is then shared too: one
tuning run after the parts' decisions on edge ``e``, not one per part.

**Cost.**  With ``O`` ops (``none`` included, which stands in for the unperturbed reference
measurement), 9 edges, ``B`` = ``pt_batches`` and the default 2 edges per node (nodes of 3 and
4 inputs are decided), the procedure costs ``9 O B + (3 + 1 + 4 + 1) B`` forward passes without
gradient and ``pt_tune_steps`` weight steps after every decision but the last (10 tunings):
at the cpu preset (O = 8, B = 2, 10 steps) 162 forward passes and 100 weight steps, about as
much as one more search epoch (of six; a forward pass without gradient costs about a third of a
weight step).  It is logged, recorded as ``selection_seconds`` and counted in ``search_seconds``.

The tuning steps train the weights alone with Adam at a tenth of ``search.lr`` (DARTS-PT resets
its weight optimiser to a tenth of the search learning rate before projecting); alpha and beta
no longer move.  The decisions (every candidate's loss increase, the chosen op, the kept edges,
and what argmax alpha would have chosen) go to ``search/selection.json``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from partnas_lib.config import Config
from partnas_lib.data.batches import epoch_order, iterate_batches
from partnas_lib.data.sample import SampleArrays
from partnas_lib.models.integral import integral_l1_loss
from partnas_lib.models.supernet import ArchMask, PartSupernet
from partnas_lib.nas.genotype import NUM_INPUTS, NUM_NODES, CellGenotype, Genotype, edge_index
from partnas_lib.train.device import Precision, make_adam
from partnas_lib.train.steps import pose_loss, train_step

REFERENCE = ("Wang, Cheng, Chen, Tang, Hsieh: Rethinking Architecture Selection in Differentiable NAS, "
             "ICLR 2021 (DARTS-PT)")
#: Epoch indices of the seeded batch streams of the selection (far from the search's 2e, 2e + 1).
MEASURE_STREAM, TUNE_STREAM = 1_000_000, 2_000_000

#: ``measure(mask, decision) -> (P,)`` each part's loss under ``mask`` on the batches of ``decision``.
MeasureFn = Callable[[ArchMask, int], torch.Tensor]
#: ``tune(mask)``: a few weight steps of the supernet under ``mask``.
TuneFn = Callable[[ArchMask], None]


@dataclass
class Selection:
    """The cells chosen per part and the record of every decision (``search/selection.json``)."""

    cells: dict[str, CellGenotype]
    record: dict[str, Any]


def without_op(mask: ArchMask, edge: int, op: int) -> ArchMask:
    """``mask`` with op ``op`` of edge ``edge`` taken out of every part's mixture (weight 0)."""
    out = mask.clone()
    out.keep[:, edge, op] = 0.0
    return out


def without_edge(mask: ArchMask, edge: int) -> ArchMask:
    """``mask`` with edge ``edge`` cut in every part (its ops and its bypassed channels)."""
    out = mask.clone()
    out.edges[:, edge] = 0.0
    return out


def select_by_perturbation(mask: ArchMask, ops: Sequence[str], part_names: Sequence[str], measure: MeasureFn,
                           tune: TuneFn, edges_per_node: int, rng: np.random.Generator) -> Selection:
    """The DARTS-PT procedure of the module docstring on ``P`` parts at once.

    Args:
        mask: the starting mask (:meth:`ArchMask.none`); a copy is refined decision by decision.
        measure: each part's loss under a mask, on the batches of a decision (the same batches
            for every call with the same decision index).
        tune: called after every decision but the last with the mask so far.
        rng: draws the order of the edges and of the nodes.
    """
    # Long because it is the procedure top to bottom: ops edge by edge, then the nodes' inputs.
    mask = mask.clone()
    num_parts, num_edges, _ = mask.keep.shape
    candidates = [i for i, name in enumerate(ops) if name != "none"]
    edges = edge_index()
    edge_order = [int(e) for e in rng.permutation(num_edges)]
    node_order = [int(n) for n in rng.permutation(NUM_NODES)]
    first_edge = [sum(NUM_INPUTS + m for m in range(n)) for n in range(NUM_NODES)]
    decided_nodes = [n for n in node_order if edges_per_node and NUM_INPUTS + n > edges_per_node]
    last = len(edge_order) + len(decided_nodes) - 1
    parts: dict[str, dict[str, list]] = {name: {"ops": [], "nodes": []} for name in part_names}
    chosen = np.zeros((num_parts, num_edges), dtype=int)
    decision = 0
    for e in edge_order:
        base = measure(mask, decision)
        increase = torch.stack([measure(without_op(mask, e, o), decision) for o in candidates]) - base  # (C, P)
        best = increase.argmax(0)  # the first of equal scores: candidates keep the op set's order
        for p, name in enumerate(part_names):
            chosen[p, e] = candidates[int(best[p])]
            parts[name]["ops"].append({
                "decision": decision, "edge": e, "source": edges[e][0], "target": edges[e][1],
                "base_loss": float(base[p]), "chosen": ops[chosen[p, e]],
                "loss_increase": {ops[o]: float(increase[i, p]) for i, o in enumerate(candidates)}})
        mask.keep[:, e] = 0.0
        mask.fixed[:, e] = 0.0
        device = mask.fixed.device
        mask.fixed[torch.arange(num_parts, device=device), e, torch.as_tensor(chosen[:, e], device=device)] = 1.0
        if decision < last:
            tune(mask)
        decision += 1
    kept = {(p, n): list(range(NUM_INPUTS + n)) for p in range(num_parts) for n in range(NUM_NODES)}
    for n in decided_nodes:
        start, n_in = first_edge[n], NUM_INPUTS + n
        base = measure(mask, decision)
        increase = torch.stack([measure(without_edge(mask, start + src), decision) for src in range(n_in)]) - base
        for p, name in enumerate(part_names):
            ranked = sorted(range(n_in), key=lambda src: (-float(increase[src, p]), src))
            kept[(p, n)] = sorted(ranked[:edges_per_node])
            for src in ranked[edges_per_node:]:
                mask.edges[p, start + src] = 0.0
            parts[name]["nodes"].append({
                "decision": decision, "node": NUM_INPUTS + n, "base_loss": float(base[p]), "kept": kept[(p, n)],
                "loss_increase": {str(src): float(increase[src, p]) for src in range(n_in)}})
        if decision < last:
            tune(mask)
        decision += 1
    cells = {name: CellGenotype(tuple(tuple((ops[chosen[p, first_edge[n] + src]], src) for src in kept[(p, n)])
                                      for n in range(NUM_NODES)))
             for p, name in enumerate(part_names)}
    record = {"edge_order": edge_order, "node_order": [NUM_INPUTS + n for n in decided_nodes],
              "decisions": decision, "parts": parts}
    return Selection(cells, record)


def part_losses(model: PartSupernet, batch: dict[str, torch.Tensor], device: torch.device,
                precision: Precision) -> torch.Tensor:
    """``(P,)`` the integral L1 pose loss (:func:`~partnas_lib.train.steps.pose_loss`) of each
    part's joints, from one forward pass."""
    target = model.geometry.encode(batch["joints_2d"], batch["joints_3d"], batch["bbox"]).to(device)
    images = batch["image"]
    if precision.channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    with precision.autocast(device):
        pred = model(images).float()
    vis, has_3d = batch["joints_vis"].to(device), batch["has_3d"].to(device)
    return torch.stack([integral_l1_loss(pred[:, j], target[:, j], vis[:, j], has_3d)
                        for j in model.grouping.joint_lists])


def _batch_stream(arrays: SampleArrays, batch_size: int, seed: int, device: torch.device
                  ) -> Iterator[dict[str, torch.Tensor]]:
    """Endless seeded batches of ``arrays``, epoch after epoch (the tuning steps' data)."""
    epoch = 0
    while True:
        yield from iterate_batches(arrays, epoch_order(len(arrays), seed, TUNE_STREAM + epoch), batch_size, device)
        epoch += 1


def perturbation_genotype(model: PartSupernet, cfg: Config, half_w: SampleArrays, half_a: SampleArrays,
                          device: torch.device, precision: Precision, log: logging.Logger
                          ) -> tuple[Genotype, dict[str, Any]]:
    """Run :func:`select_by_perturbation` on the trained ``model`` (weights on ``half_w``, losses
    on ``half_a``, as the search); return the genotype and the record for ``search/selection.json``.

    ``model`` is the bare supernet (not a ``DistributedDataParallel`` wrapper): under ``torchrun``
    every process runs the same selection on the same batches.  Its weights are tuned in place.
    """
    s = cfg.search
    t0 = time.perf_counter()
    weights = list(model.weight_parameters())
    opt = make_adam(weights, device, lr=s.lr / 10, weight_decay=s.weight_decay)
    stream = _batch_stream(half_w, s.batch_size, cfg.seed, device)
    counts = {"measurements": 0, "tune_steps": 0}

    @lru_cache(maxsize=1)
    def decision_batches(decision: int) -> tuple[dict[str, torch.Tensor], ...]:
        order = epoch_order(len(half_a), cfg.seed, MEASURE_STREAM + decision)[:s.pt_batches * s.batch_size]
        return tuple(iterate_batches(half_a, order, s.batch_size, device))

    def measure(mask: ArchMask, decision: int) -> torch.Tensor:
        model.train()  # batch statistics, as DARTS-PT measures
        counts["measurements"] += 1
        with torch.no_grad(), model.masked(mask):
            return torch.stack([part_losses(model, b, device, precision) for b in decision_batches(decision)]
                               ).mean(0).cpu()

    def loss(net: nn.Module, b: dict[str, torch.Tensor]) -> torch.Tensor:
        return pose_loss(net, b, model.geometry, device, precision=precision)

    def tune(mask: ArchMask) -> None:
        model.train()
        with model.masked(mask):
            for _ in range(s.pt_tune_steps):
                train_step(model, opt, next(stream), loss, s.grad_clip, weights, where="selection tuning step")
                counts["tune_steps"] += 1

    magnitude = model.derive(s.edges_per_node)
    rng = np.random.default_rng(cfg.seed)
    selection = select_by_perturbation(ArchMask.none(model.alpha.detach()), model.ops, model.grouping.part_names,
                                       measure, tune, s.edges_per_node, rng)
    genotype = Genotype(cells=selection.cells, grouping=model.grouping.to_json(), ops=list(model.ops))
    batches = len(decision_batches(0))
    seconds = time.perf_counter() - t0
    record = {
        "method": "perturbation", "reference": REFERENCE, "ops": list(model.ops), "edges": edge_index(),
        "pt_batches": batches, "batch_size": s.batch_size, "pt_tune_steps": s.pt_tune_steps,
        "edges_per_node": s.edges_per_node, **selection.record,
        "forward_passes": counts["measurements"] * batches, "tune_steps": counts["tune_steps"], "seconds": seconds,
        "genotype": genotype.to_json()["parts"], "magnitude_genotype": magnitude.to_json()["parts"],
    }
    differ = sum(len(set(cell.edges) - set(magnitude.cells[name].edges)) for name, cell in genotype.cells.items())
    log.info(f"perturbation selection (DARTS-PT): {record['decisions']} decisions, {record['forward_passes']} "
             f"forward passes, {record['tune_steps']} tuning steps in {seconds:.1f} s; {differ} of the kept "
             "(op, edge) pairs are not the ones argmax alpha keeps")
    return genotype, record
