"""Cells: the searchable unit of a part head, in a supernet form and a fixed (derived) form.

A cell (docs/method.md Sec. 1) takes two input states, turns each into ``C`` channels with a 1x1
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

from partnas_lib.nas.genotype import NUM_INPUTS, NUM_NODES, CellGenotype
from partnas_lib.nas.ops import ReLUConvBN, Zero, apply_ops, build_op, run_op


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
    """Searchable edges: ``sum_o softmax(alpha)_o * o(x)`` over the candidate ops (DARTS Eq. 2),
    applied to the first ``C / K`` channels of each part when ``partial_channels = K > 1``.

    Input and output are ``(B, P * C, H, W)``; ``forward`` takes ``(P, num_ops)`` op weights.

    ``sources = S > 1`` computes the S edges that enter one node *together*: their inputs are
    stacked along the channels (source-major, then part) and every op runs once, grouped by
    (source, part), on all of them -- exactly S separate mixed edges (a test checks it) in S
    times fewer kernel calls.  :meth:`mix` then returns the sum over the sources, which is what
    the node needs.
    """

    def __init__(self, channels: int, ops: Sequence[str], partial_channels: int = 1, parts: int = 1,
                 sources: int = 1):
        super().__init__()
        if channels % partial_channels:
            raise ValueError(f"channels {channels} is not divisible by partial_channels {partial_channels}")
        self.channels, self.k, self.parts, self.sources = channels, partial_channels, parts, sources
        self.active = channels // partial_channels
        blocks = sources * parts
        self.ops = nn.ModuleList(build_op(name, blocks * self.active, affine=False, groups=blocks) for name in ops)
        # the none op adds exactly nothing to the mixture and passes no gradient to its input, so
        # it is not computed (its alpha still matters through the softmax over all ops' weights)
        self.computed = [i for i, op in enumerate(self.ops) if not isinstance(op, Zero)]

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """One edge (``sources = 1``): ``x`` ``(B, P C, H, W)``, ``weights`` ``(P, num_ops)``."""
        mixed, bypass = self.mix([x], weights[None])
        return mixed if bypass is None else self.assemble(mixed, bypass)

    def mix(self, xs: Sequence[torch.Tensor], weights: torch.Tensor, edge_weights: torch.Tensor | None = None
            ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The two halves of the edges before they are joined, summed over the sources:
        ``sum_s sum_o w_so o(x_s, active)`` on the ``C / K`` active channels of each part, and the
        bypassed channels ``sum_s x_s, bypass`` ``(B, P, C - C/K, H, W)`` (None for K = 1).

        ``weights``: ``(S, P, num_ops)``; ``edge_weights``: ``(S, P)`` scales both halves of each
        edge (PC-DARTS edge normalisation), folded into the op weights so that it costs no pass
        over the activations.
        """
        b, _, h, w = xs[0].shape
        p, a, c = self.parts, self.active, self.channels
        if edge_weights is not None:
            weights = weights * edge_weights[..., None]
        bypass = None
        if self.k > 1:
            actives = []
            for s, x in enumerate(xs):
                # split (not two slices): its backward is one concatenation, not two zero-filled copies
                active, rest = x.reshape(b, p, c, h, w).split([a, c - a], dim=2)
                actives.append(active)
                if edge_weights is not None:
                    rest = rest * edge_weights[s].view(1, p, 1, 1, 1)
                bypass = rest if bypass is None else bypass + rest
            # one gather of the strided active slices: (B, S P, C/K, H, W), source-major
            xa = (torch.cat(actives, dim=1) if len(actives) > 1 else actives[0]).reshape(b, len(xs) * p * a, h, w)
        else:
            xa = torch.cat(list(xs), dim=1) if len(xs) > 1 else xs[0]
        flat = weights.reshape(-1, weights.shape[-1])  # (S P, num_ops), source-major like the channels
        mixed = None
        for i, y in zip(self.computed, apply_ops([self.ops[i] for i in self.computed], xa)):
            w_i = per_channel(flat[:, i], a)
            mixed = y * w_i if mixed is None else torch.addcmul(mixed, y, w_i)  # one pass per op
        if mixed is None:  # only the none op
            mixed = torch.zeros_like(xa)
        if len(xs) > 1:
            mixed = mixed.reshape(b, len(xs), p * a, h, w).sum(1)
        return mixed, bypass

    def assemble(self, mixed: torch.Tensor, bypass: torch.Tensor) -> torch.Tensor:
        """Join the active and bypassed channels of each part and shuffle them (K > 1):
        ``channel_shuffle(cat([mixed, bypass]), K)`` per part, written as one ``stack`` -- the
        shuffle puts channel ``j`` of group ``g`` at ``j K + g``, which is stacking the K groups
        along a new axis after the channel axis (one copy instead of two)."""
        b, _, h, w = mixed.shape
        p, a = self.parts, self.active
        groups = [mixed.reshape(b, p, a, h, w), *bypass.reshape(b, p, self.k - 1, a, h, w).unbind(2)]
        return torch.stack(groups, dim=3).reshape(b, p * self.channels, h, w)


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
    """Concatenate node outputs per part: ``P * C`` each -> ``P * (n C)``, still part-major.
    With one part that is a plain concatenation (which keeps the inputs' memory format)."""
    if parts == 1:
        return torch.cat(states, dim=1)
    b, c, h, w = states[0].shape
    return torch.cat([s.reshape(b, parts, c // parts, h, w) for s in states], dim=2).reshape(b, -1, h, w)


class SearchCell(nn.Module):
    """The supernet cell for ``parts`` part heads at once: all 9 edges are mixed edges."""

    def __init__(self, c_prev_prev: int, c_prev: int, channels: int, ops: Sequence[str],
                 partial_channels: int = 1, parts: int = 1, grouped: tuple[bool, bool] = (False, False)):
        super().__init__()
        self.parts, self.channels = parts, channels
        self.inputs = _CellInputs(c_prev_prev, c_prev, channels, affine=False, parts=parts, grouped=grouped)
        # one MixedEdge per intermediate node, computing all of the node's incoming edges at once
        self.nodes = nn.ModuleList(MixedEdge(channels, ops, partial_channels, parts, sources=NUM_INPUTS + n)
                                   for n in range(NUM_NODES))
        self.out_channels = parts * NUM_NODES * channels

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, size: tuple[int, int],
                op_weights: torch.Tensor, edge_weights: list[torch.Tensor] | None) -> torch.Tensor:
        """``op_weights``: ``(P, 9, num_ops)`` softmaxed alpha; ``edge_weights``: per node a
        ``(P, n_inputs)`` softmaxed beta, or None for plain DARTS.

        Every edge into a node ends with the same join + channel shuffle, a linear map, so the
        node sums the edges' halves first and joins + shuffles once (the same result as
        shuffling every edge, in fewer passes over the activations).
        """
        states = self.inputs(s0, s1, size)
        e = 0
        for n, edges in enumerate(self.nodes):
            n_in = NUM_INPUTS + n
            beta = edge_weights[n].transpose(0, 1) if edge_weights is not None else None
            mixed, bypass = edges.mix(states[:n_in], op_weights[:, e:e + n_in].transpose(0, 1), beta)
            states.append(mixed if bypass is None else edges.assemble(mixed, bypass))
            e += n_in
        return concat_nodes(states[NUM_INPUTS:], self.parts)


class FixedCell(nn.Module):
    """A derived cell of one part: only the kept edges, each one op on all ``C`` channels.

    ``parts = P > 1`` runs the same cell for P parts at once, part-grouped as in the supernet
    (``benchmarks/bench_levers.py`` measures what that batching would buy)."""

    def __init__(self, c_prev_prev: int, c_prev: int, channels: int, genotype: CellGenotype, parts: int = 1,
                 grouped: tuple[bool, bool] = (False, False)):
        super().__init__()
        self.parts = parts
        self.inputs = _CellInputs(c_prev_prev, c_prev, channels, affine=True, parts=parts, grouped=grouped)
        self.genotype = genotype
        self.edge_ops = nn.ModuleList(
            nn.ModuleList(build_op(op, parts * channels, affine=True, groups=parts) for op, _ in node)
            for node in genotype.nodes
        )
        self.out_channels = parts * len(genotype.nodes) * channels

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        states = self.inputs(s0, s1, size)
        relu_cache: dict[int, torch.Tensor] = {}  # relu(state), computed once per state (run_op)
        for node, ops in zip(self.genotype.nodes, self.edge_ops):
            states.append(sum(run_op(op, states[src], relu_cache, src) for (_, src), op in zip(node, ops)))
        return concat_nodes(states[NUM_INPUTS:], self.parts)

