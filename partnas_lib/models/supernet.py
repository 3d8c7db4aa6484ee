"""The supernet: shared trunk + one searchable head per part, with alpha/beta per part.

This is the paper's central object (Chen et al. 2020, Sec. 3): every part gets its own head
whose cells are relaxed DARTS cells, and its own architecture parameters
* ``alpha[part]``: ``(9 edges, num_ops)`` logits of the op mixture on each edge;
* ``beta[part]``: ``(9,)`` logits of the edge normalisation (PC-DARTS), one per edge.
Cells of one head share their part's alpha/beta (as DARTS shares alpha across normal cells;
project default, the paper's choice is not published), so a part's derived architecture is
one cell type, stacked ``head_cells`` times with x2 up-sampling in between.

The P heads are evaluated as one part-grouped network (see :mod:`partnas_lib.nas.cells`):
mathematically P independent heads, computed with P times fewer kernel calls.

``arch_parameters()`` and ``weight_parameters()`` split the parameters for the bilevel search.
:meth:`PartSupernet.masked` runs the supernet with some of its relaxed choices made discrete
(:class:`ArchMask`: ops removed, edges fixed to one op, edges cut), without copying the model:
what perturbation-based selection (DARTS-PT, :mod:`partnas_lib.train.selection`) measures.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from partnas_lib.models.backbone import ResNetTrunk
from partnas_lib.models.heads import PartPoseNet, VolumeOutput
from partnas_lib.nas import cost
from partnas_lib.nas.cells import SearchCell
from partnas_lib.nas.genotype import NUM_INPUTS, NUM_NODES, Genotype, derive_cell, edge_index
from partnas_lib.skeleton import PartGrouping


@dataclass
class ArchMask:
    r"""Discrete decisions laid over the relaxed weights of every part (DARTS-PT's "projected
    weights", Wang et al., ICLR 2021).  The supernet then mixes its ops and edges with

    .. math::

        \bar w^{p}_{e,o} = \operatorname{softmax}(\alpha^{p}_{e})_o \cdot \mathrm{keep}^{p}_{e,o}
                          + \mathrm{fixed}^{p}_{e,o}, \qquad
        \bar b^{p}_{e} = \operatorname{softmax}_{\text{node}}(\beta^{p})_{e} \cdot \mathrm{edges}^{p}_{e}

    (with all edge weights 1 without edge normalisation).  Removing op ``o`` of edge ``e``:
    ``keep[p, e, o] = 0`` (no renormalisation, as DARTS-PT).  Fixing edge ``e`` to op ``o``:
    ``keep[p, e] = 0`` and ``fixed[p, e] = one_hot(o)``.  Cutting edge ``e`` entirely (its op
    mixture and, with partial channels, its bypassed channels): ``edges[p, e] = 0``.

    ``keep``, ``fixed``: ``(P, 9, num_ops)``; ``edges``: ``(P, 9)``.
    """

    keep: torch.Tensor
    fixed: torch.Tensor
    edges: torch.Tensor

    @classmethod
    def none(cls, alpha: torch.Tensor) -> "ArchMask":
        """The mask that changes nothing, shaped like ``alpha`` ``(P, 9, num_ops)``."""
        return cls(torch.ones_like(alpha), torch.zeros_like(alpha), torch.ones_like(alpha[..., 0]))

    def clone(self) -> "ArchMask":
        return ArchMask(self.keep.clone(), self.fixed.clone(), self.edges.clone())

    def apply(self, op_weights: torch.Tensor, edge_weights: list[torch.Tensor] | None
              ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The masked op weights ``(P, 9, num_ops)`` and per-node edge weights ``(P, n_inputs)``."""
        op_weights = op_weights * self.keep + self.fixed
        out, start = [], 0
        for n in range(NUM_NODES):
            cut = self.edges[:, start:start + NUM_INPUTS + n]
            out.append(cut if edge_weights is None else edge_weights[n] * cut)
            start += NUM_INPUTS + n
        return op_weights, out


class SearchHeads(nn.Module):
    """The search heads of all parts: ``num_cells`` part-grouped search cells, each doubling the
    resolution, then one volume output per part."""

    def __init__(self, c_prev_prev: int, c_prev: int, channels: int, num_cells: int, ops: Sequence[str],
                 partial_channels: int, joints_per_part: Sequence[int], depth_bins: int):
        super().__init__()
        parts = len(joints_per_part)
        self.parts = parts
        self.cells = nn.ModuleList()
        grouped = (False, False)  # the first cell reads the trunk, shared by all parts
        for _ in range(num_cells):
            cell = SearchCell(c_prev_prev, c_prev, channels, ops, partial_channels, parts, grouped)
            self.cells.append(cell)
            c_prev_prev, c_prev = c_prev, cell.out_channels
            grouped = (grouped[1], True)
        self.outs = nn.ModuleList(VolumeOutput(c_prev // parts, n, depth_bins) for n in joints_per_part)

    def forward(self, feats: list[torch.Tensor], sizes: list[tuple[int, int]], op_weights: torch.Tensor,
                edge_weights: list[torch.Tensor] | None) -> list[torch.Tensor]:
        s0, s1 = feats[-2], feats[-1]
        for cell, size in zip(self.cells, sizes):
            s0, s1 = s1, cell(s0, s1, size, op_weights, edge_weights)
        return [out(x) for out, x in zip(self.outs, s1.chunk(self.parts, dim=1))]


class PartSupernet(PartPoseNet):
    """Trunk + per-part search heads with per-part alpha/beta."""

    def __init__(self, trunk: ResNetTrunk, grouping: PartGrouping, image_size: int, channels: int,
                 num_cells: int, depth_bins: int, cube_mm: float, ops: Sequence[str],
                 partial_channels: int = 4, edge_norm: bool = True):
        super().__init__(trunk, grouping, image_size, num_cells, depth_bins, cube_mm)
        self.ops = list(ops)
        self.edge_norm = edge_norm
        self.heads = SearchHeads(trunk.channels[-2], trunk.channels[-1], channels, num_cells, ops,
                                 partial_channels, [len(j) for j in grouping.joint_lists], depth_bins)
        n_parts, n_edges = len(grouping), len(edge_index())
        # Small random init, as DARTS: all ops start (almost) equally likely.
        self.alpha = nn.Parameter(1e-3 * torch.randn(n_parts, n_edges, len(ops)))
        self.beta = nn.Parameter(1e-3 * torch.randn(n_parts, n_edges))
        # multiply-adds of every op at every cell's resolution, for the cost-aware search
        feat = image_size // trunk.out_stride
        sizes = [(feat * 2 ** (i + 1), feat * 2 ** (i + 1)) for i in range(num_cells)]
        self.register_buffer("op_macs", cost.op_cost_table(self.ops, channels, sizes), persistent=False)
        self._uniform_macs: dict[int, float] = {}  # edges_per_node -> E[MACs] at uniform alpha/beta (a constant)
        self.arch_mask: ArchMask | None = None  # set by masked(); None: the plain relaxation

    @contextmanager
    def masked(self, mask: ArchMask | None) -> Iterator[None]:
        """Run the supernet under ``mask`` (:class:`ArchMask`) inside the ``with`` block; the
        model is not copied and nothing else changes (``None``: the plain relaxation)."""
        previous, self.arch_mask = self.arch_mask, mask
        try:
            yield
        finally:
            self.arch_mask = previous

    def arch_parameters(self) -> list[nn.Parameter]:
        """alpha ``(P, 9, num_ops)`` and beta ``(P, 9)`` (beta only with edge normalisation):
        optimised on the held-out half."""
        return [self.alpha, self.beta] if self.edge_norm else [self.alpha]

    def weight_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p is not self.alpha and p is not self.beta]

    def edge_weights(self) -> list[torch.Tensor] | None:
        """Per intermediate node, ``(P, n_inputs)``: softmax of beta over its incoming edges."""
        if not self.edge_norm:
            return None
        out, start = [], 0
        for n in range(NUM_NODES):
            out.append(F.softmax(self.beta[:, start:start + NUM_INPUTS + n], dim=-1))
            start += NUM_INPUTS + n
        return out

    def expected_head_macs(self, edges_per_node: int = 2) -> torch.Tensor:
        """``(P,)`` expected multiply-adds of each part's derived head under the current alpha and
        beta, differentiable (:func:`partnas_lib.nas.cost.expected_macs`)."""
        beta = self.beta if self.edge_norm else None
        return cost.expected_macs(self.alpha, beta, self.op_macs, self.ops, edges_per_node)

    def cost_penalty(self, edges_per_node: int = 2) -> torch.Tensor:
        """``E[MACs]`` of all heads over its value with every op and edge equally likely: the
        dimensionless term that ``search.cost_weight`` scales in the architecture loss."""
        if edges_per_node not in self._uniform_macs:  # computed once, not at every architecture step
            uniform = cost.expected_macs(torch.zeros_like(self.alpha.detach()), None, self.op_macs, self.ops,
                                         edges_per_node)
            self._uniform_macs[edges_per_node] = max(float(uniform.sum()), 1.0)
        return self.expected_head_macs(edges_per_node).sum() / self._uniform_macs[edges_per_node]

    def part_volumes(self, feats: list[torch.Tensor], sizes: list[tuple[int, int]]) -> list[torch.Tensor]:
        op_weights, edge_weights = F.softmax(self.alpha, dim=-1), self.edge_weights()
        if self.arch_mask is not None:
            op_weights, edge_weights = self.arch_mask.apply(op_weights, edge_weights)
        return self.heads(feats, sizes, op_weights, edge_weights)

    def arch_state(self) -> dict[str, dict[str, list | None]]:
        """Softmaxed alpha and beta (and their logits) per part, as plain lists."""
        alpha = F.softmax(self.alpha.detach(), dim=-1).cpu()
        ew = self.edge_weights()
        beta = torch.cat(ew, dim=1).detach().cpu() if ew is not None else None
        return {
            name: {
                "alpha": alpha[i].tolist(),
                "beta": beta[i].tolist() if beta is not None else None,
                "alpha_logits": self.alpha[i].detach().cpu().tolist(),
                "beta_logits": self.beta[i].detach().cpu().tolist(),
            }
            for i, name in enumerate(self.grouping.part_names)
        }

    def derive(self, edges_per_node: int = 2) -> Genotype:
        """The discrete per-part architecture (DARTS rule, see :func:`derive_cell`)."""
        alpha = self.alpha.detach().cpu().numpy()
        beta = self.beta.detach().cpu().numpy()
        cells = {
            name: derive_cell(alpha[i], beta[i] if self.edge_norm else None, self.ops, edges_per_node)
            for i, name in enumerate(self.grouping.part_names)
        }
        return Genotype(cells=cells, grouping=self.grouping.to_json(), ops=list(self.ops))

