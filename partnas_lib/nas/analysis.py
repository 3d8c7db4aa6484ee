r"""The numbers behind the search pictures: alpha histories, entropy, op shares, cell shapes.

Plain computation (numpy, JSON), tested without drawing anything; :mod:`partnas_lib.viz.search`
and the notebooks only plot what these functions return.

* :class:`SearchHistory` reads ``search/alpha_history.json`` into arrays: the softmaxed
  ``alpha`` of every part, edge and op after every epoch, ``beta`` likewise, and the losses.
* :func:`entropy` / :func:`alpha_entropy`: how undecided the search still is.  A uniform
  mixture over :math:`O` ops has entropy :math:`\log O` (normalised: 1); a one-hot choice has 0:
  :math:`H(p) = -\sum_o p_o \log p_o`.
* :func:`cell_op_counts`, :func:`parameter_free_fraction`, :func:`cell_conv_depth`: what a
  derived cell is made of; :func:`op_parameter_counts`: what each candidate op costs in weights.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from partnas_lib.io import read_json
from partnas_lib.nas.genotype import NUM_INPUTS, CellGenotype, Genotype
from partnas_lib.nas.ops import build_op

#: Ops without weights.  DARTS searches are known to drift towards them ("skip-connection
#: collapse"): they make the supernet easy to train early on, long before they make it good.
PARAMETER_FREE_OPS: frozenset[str] = frozenset({"none", "skip_connect", "max_pool_3x3", "avg_pool_3x3"})


@dataclass
class SearchHistory:
    """``search/alpha_history.json`` as arrays (one row per recorded epoch; row 0 = init).

    Attributes:
        ops: op names, the last axis of ``alpha``.
        parts: part names, axis 1 of ``alpha`` / ``beta``.
        edges: ``(source, target)`` of the 9 mixed edges, axis 2 of ``alpha``.
        epochs: ``(E,)`` epoch numbers (0 = before training).
        phases: ``"init"``, ``"warmup"`` (alpha frozen) or ``"search"`` per row.
        alpha: ``(E, P, 9, O)`` softmax over ops of each edge.
        beta: ``(E, P, 9)`` softmax over the incoming edges of each node, or None (plain DARTS).
        w_loss, a_loss: ``(E,)`` mean weight / architecture loss of the epoch (NaN when absent).
        genotypes: per row the cells the search would derive at that point (None for init).
        search_seconds: wall time of the finished search, None while it runs.
    """

    ops: list[str]
    parts: list[str]
    edges: list[tuple[int, int]]
    epochs: np.ndarray
    phases: list[str]
    alpha: np.ndarray
    beta: np.ndarray | None
    w_loss: np.ndarray
    a_loss: np.ndarray
    genotypes: list[dict[str, Any] | None] = field(default_factory=list)
    search_seconds: float | None = None
    partial_channels: int = 1
    edge_norm: bool = False

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str = "alpha history") -> "SearchHistory":
        for key in ("ops", "parts", "edges", "epochs"):
            if key not in data:
                raise ValueError(f"{where}: missing field {key!r}")
        rows = data["epochs"]
        if not rows:
            raise ValueError(f"{where}: field 'epochs' is empty")
        parts = list(data["parts"])
        try:
            alpha = np.array([[row["parts"][p]["alpha"] for p in parts] for row in rows], dtype=np.float64)
            betas = [[row["parts"][p].get("beta") for p in parts] for row in rows]
        except KeyError as e:
            raise ValueError(f"{where}: an epoch record lacks {e}") from None
        beta = None if any(b is None for r in betas for b in r) else np.array(betas, dtype=np.float64)

        def losses(key: str) -> np.ndarray:
            return np.array([np.nan if row.get(key) is None else float(row[key]) for row in rows])

        return cls(
            ops=list(data["ops"]), parts=parts, edges=[tuple(e) for e in data["edges"]],
            epochs=np.array([int(row["epoch"]) for row in rows]), phases=[str(row.get("phase", "")) for row in rows],
            alpha=alpha, beta=beta, w_loss=losses("w_loss"), a_loss=losses("a_loss"),
            genotypes=[row.get("genotype") for row in rows], search_seconds=data.get("search_seconds"),
            partial_channels=int(data.get("partial_channels", 1)), edge_norm=bool(data.get("edge_norm", False)),
        )

    @classmethod
    def load(cls, path: str | Path) -> "SearchHistory":
        """Read a history file, or the one inside a run directory."""
        path = Path(path)
        if path.is_dir():
            path = path / "search" / "alpha_history.json"
        data = read_json(path, "search history", " (has the search run?)")
        return cls.from_json(data, where=str(path))

    @property
    def finished(self) -> bool:
        return self.search_seconds is not None

    @property
    def edge_labels(self) -> list[str]:
        """``"0→2"`` style names of the edges, in alpha order."""
        return [f"{s}→{t}" for s, t in self.edges]

    def part_index(self, part: str) -> int:
        if part not in self.parts:
            raise ValueError(f"unknown part {part!r}; this search has parts {self.parts}")
        return self.parts.index(part)

    def warmup_epochs(self) -> list[int]:
        return [int(e) for e, ph in zip(self.epochs, self.phases) if ph == "warmup"]

    def cells_at(self, row: int = -1) -> dict[str, CellGenotype] | None:
        """The cells the search would derive at history row ``row`` (None before epoch 1)."""
        raw = self.genotypes[row]
        if raw is None:
            return None
        data = {"grouping": {p: [] for p in self.parts}, "ops": self.ops, "parts": raw}
        # the grouping is not stored in the history and is not needed to parse cells
        return Genotype.from_json(data, where="alpha history genotype").cells


def entropy(p: np.ndarray, axis: int = -1, normalise: bool = False) -> np.ndarray:
    """Shannon entropy (nats) of probability vectors along ``axis``; ``0 log 0 = 0``.

    With ``normalise`` the result is divided by ``log n`` (``n`` = size of ``axis``), so a
    uniform distribution scores 1 and a one-hot one 0, whatever the number of ops.
    """
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    h = terms.sum(axis=axis)
    if normalise:
        n = p.shape[axis]
        h = h / math.log(n) if n > 1 else np.zeros_like(h)
    return h


def alpha_entropy(history: SearchHistory, normalise: bool = True) -> np.ndarray:
    """``(E, P)``: entropy of each edge's op mixture, averaged over the 9 edges of a part."""
    return entropy(history.alpha, axis=-1, normalise=normalise).mean(axis=-1)


def op_share(history: SearchHistory) -> np.ndarray:
    """``(E, P, O)``: the mean weight of each op over a part's edges (sums to 1 over ops)."""
    return history.alpha.mean(axis=2)


def parameter_free_share(history: SearchHistory) -> np.ndarray:
    """``(E, P)``: the total alpha weight on parameter-free ops (skip, pooling, none),
    averaged over edges.  Rising towards 1 is the DARTS skip-connection collapse."""
    cols = [i for i, op in enumerate(history.ops) if op in PARAMETER_FREE_OPS]
    return history.alpha[..., cols].sum(-1).mean(-1)


def edge_scores(history: SearchHistory, row: int = -1) -> np.ndarray:
    """``(P, 9)``: the derive score of each edge, ``max_{op != none} alpha * beta`` (see
    :func:`partnas_lib.nas.genotype.derive_cell`); without beta, just the strongest op."""
    cols = [i for i, op in enumerate(history.ops) if op != "none"]
    best = history.alpha[row][..., cols].max(-1)
    return best * history.beta[row] if history.beta is not None else best


# --------------------------------------------------------------------------------------------
# derived cells


def cell_op_counts(cell: CellGenotype) -> Counter:
    """How often each op appears among the kept edges of a cell."""
    return Counter(op for op, _, _ in cell.edges)


def parameter_free_fraction(cell: CellGenotype) -> float:
    """Fraction of a cell's kept edges that carry no weights (skip or pooling)."""
    edges = cell.edges
    return sum(op in PARAMETER_FREE_OPS for op, _, _ in edges) / max(1, len(edges))


def cell_conv_depth(cell: CellGenotype) -> int:
    """The largest number of weighted ops (convolutions) on any path from an input node to
    an intermediate node: how deep the cell can compute, as opposed to how wide it is."""
    depth = [0] * NUM_INPUTS
    for node in cell.nodes:
        depth.append(max(depth[src] + (op not in PARAMETER_FREE_OPS) for op, src in node))
    return max(depth[NUM_INPUTS:])


def op_parameter_counts(ops: Iterable[str], channels: int, affine: bool = True) -> dict[str, int]:
    """Weights of each candidate op for ``channels`` in and out channels (derived-network form:
    ``affine=True`` BatchNorm).  Parameter-free ops cost 0."""
    return {op: sum(p.numel() for p in build_op(op, channels, affine).parameters()) for op in ops}
