r"""Cost-aware search: the expected multiply-adds of the derived heads, differentiable in alpha/beta.

Beyond the paper (which searches for accuracy alone), in the style of FBNet (Wu et al. 2019) and
ProxylessNAS (Cai et al. 2019): the architecture step minimises

.. math::
    \mathcal L_{arch} = \mathcal L_{val}(w, \alpha, \beta)
    + \lambda\, \frac{\mathbb E[\mathrm{MACs}]}{\mathbb E_{\text{uniform}}[\mathrm{MACs}]},

where :math:`\lambda` is ``search.cost_weight`` and the expectation runs over the network the
derive rule would read out.  For part :math:`p`, cell :math:`c` (resolution
:math:`H_c \times W_c`), node :math:`j` and an incoming edge :math:`(i, j)`:

* the derived op is one of the ops other than ``none`` (DARTS rule), taken with probability
  :math:`\pi_o = s_o / (1 - s_{\texttt{none}})`, :math:`s = \operatorname{softmax}(\alpha^p_{i,j})`;
* the node keeps ``k = edges_per_node`` of its :math:`n_j` incoming edges; an edge survives with
  its inclusion probability when ``k`` edges are drawn without replacement with probabilities
  :math:`q = \operatorname{softmax}_{i'}(\beta^p_{i',j})` (Plackett-Luce):
  :math:`P(i) = \sum_{\text{ordered } (i_1..i_k) \ni i} \prod_t q_{i_t} / (1 - \sum_{u<t} q_{i_u})`,
  which is :math:`k / n_j` for uniform :math:`q` (and without edge normalisation), 1 for the
  top-:math:`k` edges of a decided :math:`\beta`, and 1 for every edge when all are kept (the
  derive rule ranks edges by :math:`\alpha` and :math:`\beta` together; the expectation uses
  :math:`\beta` alone);

.. math::
    \mathbb E[\mathrm{MACs}_p] = \sum_c \sum_{(i,j)} P(\text{edge kept})
    \sum_{o \ne \texttt{none}} \pi_o\, \mathrm{MACs}(o, C, H_c, W_c).

:math:`\mathrm{MACs}(o, C, H, W)` is counted once per op and cell resolution with
``torch.utils.flop_counter`` on the derived op (all ``C`` channels, BatchNorm folded away:
pooling and skip cost no multiply-adds; a ``sep_conv_k`` costs :math:`2 (C k^2 + C^2) H W`).
The cell pre-processing and the volume output cost the same for every architecture and are
left out.  The denominator (every op equally likely, every edge equally likely) makes
:math:`\lambda` dimensionless: :math:`\lambda = 0.1` trades one unit of the pose loss for a
tenth of the expected head cost.
"""

from __future__ import annotations

import itertools
from typing import Sequence

import torch
from torch.utils.flop_counter import FlopCounterMode

from partnas_lib.nas.genotype import NUM_INPUTS, NUM_NODES
from partnas_lib.nas.ops import build_op


def op_macs(name: str, channels: int, size: tuple[int, int]) -> int:
    """Multiply-adds of one derived op (``affine=True``) on a ``(1, channels, H, W)`` input."""
    op = build_op(name, channels, affine=True).eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        op(torch.zeros(1, channels, *size))
    return counter.get_total_flops() // 2


def op_cost_table(ops: Sequence[str], channels: int, sizes: Sequence[tuple[int, int]]) -> torch.Tensor:
    """``(num_cells, num_ops)`` multiply-adds of every op at every cell's resolution."""
    return torch.tensor([[float(op_macs(op, channels, size)) for op in ops] for size in sizes])


def inclusion_probability(q: torch.Tensor, k: int) -> torch.Tensor:
    """``(..., n)``: the chance that each of ``n`` items is among ``k`` drawn without replacement
    with probabilities ``q`` (``(..., n)``, summing to 1); sums to ``k`` over the items."""
    n = q.shape[-1]
    if k <= 0 or k >= n:
        return torch.ones_like(q)
    out = torch.zeros_like(q)
    for order in itertools.permutations(range(n), k):
        prob = torch.ones_like(q[..., 0])
        for t, i in enumerate(order):
            # the mass still in the urn, summed (not 1 - taken, which rounds to 0 for a decided q)
            rest = q[..., [j for j in range(n) if j not in order[:t]]].sum(-1)
            prob = prob * q[..., i] / rest.clamp_min(1e-300)
        out = out + prob[..., None] * torch.nn.functional.one_hot(torch.tensor(list(order)), n).sum(0).to(q)
    return out


def edge_keep_probability(beta: torch.Tensor | None, edges_per_node: int, parts: int) -> torch.Tensor:
    """``(P, 9)``: the chance that each edge survives the derive rule (module docstring)."""
    probs, start = [], 0
    for n in range(NUM_NODES):
        inputs = NUM_INPUTS + n
        # float64: a decided beta leaves the other edges ~e^-100, below float32's range
        q = torch.full((parts, inputs), 1 / inputs, dtype=torch.float64) if beta is None else \
            torch.softmax(beta[:, start:start + inputs].double(), dim=-1)
        probs.append(inclusion_probability(q, edges_per_node))
        start += inputs
    return torch.cat(probs, dim=1).to(beta.dtype if beta is not None else torch.float32)


def expected_macs(alpha: torch.Tensor, beta: torch.Tensor | None, table: torch.Tensor, ops: Sequence[str],
                  edges_per_node: int) -> torch.Tensor:
    """``(P,)`` expected multiply-adds of each part's derived head (all cells; the sum of the
    module docstring).  ``alpha``: ``(P, 9, O)`` logits; ``beta``: ``(P, 9)`` logits or None."""
    weights = torch.softmax(alpha, dim=-1)
    if "none" in ops:
        keep = torch.ones(len(ops), dtype=weights.dtype, device=weights.device)
        keep[ops.index("none")] = 0
        weights = weights * keep / (weights * keep).sum(-1, keepdim=True)
    per_edge = weights @ table.to(weights).T  # (P, 9, cells): an edge's expected cost in every cell
    kept = edge_keep_probability(beta, edges_per_node, alpha.shape[0]).to(weights)
    return (kept[..., None] * per_edge).sum(dim=(1, 2))
