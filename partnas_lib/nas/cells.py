"""Cells: the searchable unit of a part head, in a supernet form and a fixed (derived) form.

A cell (method.md Sec. 1) takes two input states, turns each into ``C`` channels with a 1x1
ReLU-conv-BN and brings it to the cell's resolution (x2 bilinear up-sampling between cells,
because a part head is a decoder from stride 16 to stride 4).  Three intermediate nodes follow;
node ``j`` is the sum of one edge from every earlier node.  The output concatenates the three
intermediate nodes (``3 C`` channels).

In the supernet every edge is a :class:`MixedEdge`: a softmax(alpha)-weighted sum of all
candidate ops (DARTS, Liu et al. 2019, Eq. 2).  PC-DARTS (Xu et al. 2020) adds two things:
* partial channels: only ``C / K`` channels go through the ops, the rest bypass the edge, and a
  channel shuffle mixes them afterwards, which cuts memory and time by about ``K``;
* edge normalisation: node ``j`` sums its edges weighted by ``softmax(beta_j)``, which
  stabilises the choice of edges that partial channels makes noisy.

The supernet evaluates the heads of all P parts *together*: their channels sit side by side
(``P * C`` channels, part-major), every 1x1 conv is grouped by part and every mixed edge mixes
its ops with each part's own alpha.  This is exactly P independent supernets (no channel of
one part ever reaches another; a test checks it) but costs P times fewer kernel calls, which
is what makes a search on a laptop CPU take minutes rather than an hour.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from partnas_lib.nas.genotype import NUM_INPUTS, NUM_NODES, CellGenotype, edge_index
from partnas_lib.nas.ops import ReLUConvBN, build_op


def channel_shuffle(x: torch.Tensor, groups: int, parts: int = 1) -> torch.Tensor:
    """Interleave ``groups`` channel groups (ShuffleNet) within each of ``parts`` blocks, so the
    channels a partial-channel edge bypassed get processed by the next edge."""
    b, c, h, w = x.shape
    per_part = c // parts
    return x.reshape(b, parts, groups, per_part // groups, h, w).transpose(2, 3).reshape(b, c, h, w)


def per_channel(weights: torch.Tensor, channels: int) -> torch.Tensor:
    """``(P,)`` per-part scalars -> ``(1, P * channels, 1, 1)`` to scale part-major channels."""
    return weights.repeat_interleave(channels).view(1, -1, 1, 1)


class MixedEdge(nn.Module):
    """One searchable edge: ``sum_o softmax(alpha)_o * o(x)`` over the candidate ops (DARTS
    Eq. 2), applied to the first ``C / K`` channels of each part when ``partial_channels = K > 1``.

    Input and output are ``(B, P * C, H, W)``; ``forward`` takes ``(P, num_ops)`` op weights.
    """

    def __init__(self, channels: int, ops: Sequence[str], partial_channels: int = 1, parts: int = 1):
        super().__init__()
        if channels % partial_channels:
            raise ValueError(f"channels {channels} is not divisible by partial_channels {partial_channels}")
        self.channels, self.k, self.parts = channels, partial_channels, parts
        self.active = channels // partial_channels
        self.ops = nn.ModuleList(build_op(name, parts * self.active, affine=False, groups=parts) for name in ops)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        p, a = self.parts, self.active
        if self.k > 1:
            x_parts = x.reshape(b, p, self.channels, h, w)
            xa = x_parts[:, :, :a].reshape(b, p * a, h, w)
        else:
            xa = x
        out = sum(op(xa) * per_channel(weights[:, i], a) for i, op in enumerate(self.ops))
        if self.k == 1:
            return out
        out = torch.cat([out.reshape(b, p, a, h, w), x_parts[:, :, a:]], dim=2).reshape(b, p * self.channels, h, w)
        return channel_shuffle(out, self.k, p)


class _CellInputs(nn.Module):
    """Pre-processing shared by both cell forms: 1x1 ReLU-conv-BN to ``C`` channels (per part),
    then bilinear resize to the cell's output resolution (the x2 up-sampling between cells).

    An input is either shared by all parts (a trunk feature map: a plain conv to ``P * C``
    channels) or already part-major (a previous cell's output: a conv grouped by part).
    """

    def __init__(self, c_prev_prev: int, c_prev: int, channels: int, affine: bool, parts: int = 1,
                 grouped: tuple[bool, bool] = (False, False)):
        super().__init__()
        self.pre0 = ReLUConvBN(c_prev_prev, parts * channels, 1, 0, affine, groups=parts if grouped[0] else 1)
        self.pre1 = ReLUConvBN(c_prev, parts * channels, 1, 0, affine, groups=parts if grouped[1] else 1)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, size: tuple[int, int]) -> list[torch.Tensor]:
        out = []
        for pre, s in ((self.pre0, s0), (self.pre1, s1)):
            s = pre(s)
            if s.shape[-2:] != size:
                s = F.interpolate(s, size=size, mode="bilinear", align_corners=False)
            out.append(s)
        return out


def concat_nodes(states: list[torch.Tensor], parts: int) -> torch.Tensor:
    """Concatenate node outputs per part: ``P * C`` each -> ``P * (n C)``, still part-major."""
    b, c, h, w = states[0].shape
    return torch.cat([s.reshape(b, parts, c // parts, h, w) for s in states], dim=2).reshape(b, -1, h, w)


class SearchCell(nn.Module):
    """The supernet cell for ``parts`` part heads at once: all 9 edges are mixed edges."""

    def __init__(self, c_prev_prev: int, c_prev: int, channels: int, ops: Sequence[str],
                 partial_channels: int = 1, parts: int = 1, grouped: tuple[bool, bool] = (False, False)):
        super().__init__()
        self.parts, self.channels = parts, channels
        self.inputs = _CellInputs(c_prev_prev, c_prev, channels, affine=False, parts=parts, grouped=grouped)
        self.edges = nn.ModuleList(MixedEdge(channels, ops, partial_channels, parts) for _ in edge_index())
        self.out_channels = parts * NUM_NODES * channels

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, size: tuple[int, int],
                op_weights: torch.Tensor, edge_weights: list[torch.Tensor] | None) -> torch.Tensor:
        """``op_weights``: ``(P, 9, num_ops)`` softmaxed alpha; ``edge_weights``: per node a
        ``(P, n_inputs)`` softmaxed beta, or None for plain DARTS."""
        states = self.inputs(s0, s1, size)
        e = 0
        for n in range(NUM_NODES):
            n_in = NUM_INPUTS + n
            terms = []
            for src in range(n_in):
                h = self.edges[e + src](states[src], op_weights[:, e + src])
                terms.append(h * per_channel(edge_weights[n][:, src], self.channels) if edge_weights is not None else h)
            states.append(sum(terms))
            e += n_in
        return concat_nodes(states[NUM_INPUTS:], self.parts)


class FixedCell(nn.Module):
    """A derived cell of one part: only the kept edges, each one op on all ``C`` channels."""

    def __init__(self, c_prev_prev: int, c_prev: int, channels: int, genotype: CellGenotype):
        super().__init__()
        self.inputs = _CellInputs(c_prev_prev, c_prev, channels, affine=True)
        self.genotype = genotype
        self.edge_ops = nn.ModuleList(
            nn.ModuleList(build_op(op, channels, affine=True) for op, _ in node) for node in genotype.nodes
        )
        self.out_channels = len(genotype.nodes) * channels

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        states = self.inputs(s0, s1, size)
        for node, ops in zip(self.genotype.nodes, self.edge_ops):
            states.append(sum(op(states[src]) for (_, src), op in zip(node, ops)))
        return torch.cat(states[NUM_INPUTS:], dim=1)
