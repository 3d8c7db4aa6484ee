"""Genotypes: the discrete architecture read out of the search, one cell per part.

A cell (docs/method.md Sec. 1; IJCV Fig. 1) has two input nodes (0, 1), three intermediate nodes
(2, 3, 4) and an output that concatenates the intermediate nodes.  Between every earlier node
``i`` and intermediate node ``j`` there is an edge; the genotype says which edges survive and
which op each one applies.

Deriving (DARTS rule, docs/method.md Sec. 2): for every edge take the strongest op other than
``none``; for every intermediate node keep the ``k`` (default 2) incoming edges whose
strength ``softmax(alpha)[op] * softmax(beta)[edge]`` is largest.  ``k = 0`` keeps every edge.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from partnas_lib.io import read_json, write_json
from partnas_lib.nas.ops import OPS

NUM_INPUTS = 2
NUM_NODES = 3
GENOTYPE_VERSION = 1


def edge_index(num_nodes: int = NUM_NODES) -> list[tuple[int, int]]:
    """(source, target) of every mixed edge in supernet order: 2 + 3 + 4 = 9 for 3 nodes."""
    return [(i, NUM_INPUTS + n) for n in range(num_nodes) for i in range(NUM_INPUTS + n)]


@dataclass(frozen=True)
class CellGenotype:
    """``nodes[n]`` lists the ``(op, source)`` edges entering intermediate node ``2 + n``."""

    nodes: tuple[tuple[tuple[str, int], ...], ...]

    @property
    def edges(self) -> list[tuple[str, int, int]]:
        """``(op, source, target)`` of every kept edge."""
        return [(op, src, NUM_INPUTS + n) for n, node in enumerate(self.nodes) for op, src in node]

    @property
    def concat(self) -> list[int]:
        return [NUM_INPUTS + n for n in range(len(self.nodes))]

    def to_json(self) -> list[list[list[Any]]]:
        return [[[op, src] for op, src in node] for node in self.nodes]


@dataclass(frozen=True)
class Genotype:
    """A per-part architecture: part name -> cell, plus the grouping and op set it belongs to."""

    cells: dict[str, CellGenotype]
    grouping: dict[str, list[int]]
    ops: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": GENOTYPE_VERSION,
            "grouping": self.grouping,
            "ops": list(self.ops),
            "parts": {name: cell.to_json() for name, cell in self.cells.items()},
        }

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> "Genotype":
        path = Path(path)
        return cls.from_json(read_json(path, "genotype file"), where=str(path))

    @classmethod
    def from_json(cls, data: Any, where: str = "genotype") -> "Genotype":
        """Parse and validate; every problem names the field that is wrong."""
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected a JSON object, got {type(data).__name__}")
        for key in ("grouping", "ops", "parts"):
            if key not in data:
                raise ValueError(f"{where}: missing field {key!r}")
        if data.get("version", GENOTYPE_VERSION) != GENOTYPE_VERSION:
            raise ValueError(f"{where}: field 'version' is {data['version']!r}, expected {GENOTYPE_VERSION}")
        ops = data["ops"]
        if not isinstance(ops, list) or not all(isinstance(o, str) for o in ops):
            raise ValueError(f"{where}: field 'ops' must be a list of op names")
        grouping = data["grouping"]
        if not isinstance(grouping, dict):
            raise ValueError(f"{where}: field 'grouping' must be an object part -> joint list")
        parts = data["parts"]
        if not isinstance(parts, dict):
            raise ValueError(f"{where}: field 'parts' must be an object part -> cell")
        if set(parts) != set(grouping):
            raise ValueError(
                f"{where}: field 'parts' has parts {sorted(parts)} but the grouping has {sorted(grouping)}"
            )
        cells = {name: _parse_cell(parts[name], ops, f"{where}: parts.{name}") for name in grouping}
        return cls(cells=cells, grouping={k: list(v) for k, v in grouping.items()}, ops=list(ops))

    def check_fits(self, grouping: dict[str, list[int]], ops: Sequence[str], where: str = "genotype") -> None:
        """Raise if this genotype does not fit the given part grouping or op set."""
        if {k: sorted(v) for k, v in self.grouping.items()} != {k: sorted(v) for k, v in grouping.items()}:
            raise ValueError(
                f"{where}: its part grouping {self.grouping} does not match the config's {grouping}"
            )
        for name, cell in self.cells.items():
            for op, _, _ in cell.edges:
                if op not in ops:
                    raise ValueError(f"{where}: part {name!r} uses op {op!r}, which is not in the op set {list(ops)}")


def _parse_cell(raw: Any, ops: Sequence[str], where: str) -> CellGenotype:
    if not isinstance(raw, list) or len(raw) != NUM_NODES:
        raise ValueError(f"{where}: expected a list of {NUM_NODES} nodes, got {raw!r}")
    nodes = []
    for n, node in enumerate(raw):
        target = NUM_INPUTS + n
        if not isinstance(node, list) or not node:
            raise ValueError(f"{where}[{n}]: node {target} needs a non-empty list of [op, source] edges")
        edges = []
        for e in node:
            if not (isinstance(e, list) and len(e) == 2 and isinstance(e[0], str) and isinstance(e[1], int)):
                raise ValueError(f"{where}[{n}]: edge {e!r} must be [op_name, source_node]")
            op, src = e
            if op not in OPS or op not in ops:
                raise ValueError(f"{where}[{n}]: unknown op {op!r}; the op set is {list(ops)}")
            if op == "none":
                raise ValueError(f"{where}[{n}]: op 'none' cannot be a kept edge")
            if not 0 <= src < target:
                raise ValueError(f"{where}[{n}]: source node {src} must be in 0..{target - 1} for node {target}")
            edges.append((op, src))
        sources = [s for _, s in edges]
        if len(set(sources)) != len(sources):
            raise ValueError(f"{where}[{n}]: node {target} takes source {sources} more than once")
        nodes.append(tuple(edges))
    return CellGenotype(tuple(nodes))


def derive_cell(alpha: np.ndarray, beta: np.ndarray | None, ops: Sequence[str],
                edges_per_node: int = 2) -> CellGenotype:
    """The DARTS derivation rule for one cell.

    Args:
        alpha: ``(num_edges, num_ops)`` architecture logits, edges in :func:`edge_index` order.
        beta: ``(num_edges,)`` edge-normalisation logits (PC-DARTS) or None.
        ops: op names matching alpha's columns.
        edges_per_node: keep this many strongest incoming edges per node; 0 keeps all.
    """
    alpha = np.asarray(alpha, dtype=np.float64)
    op_weights = np.exp(alpha - alpha.max(1, keepdims=True))
    op_weights /= op_weights.sum(1, keepdims=True)
    candidates = [i for i, name in enumerate(ops) if name != "none"]
    nodes = []
    start = 0
    for n in range(NUM_NODES):
        n_in = NUM_INPUTS + n
        if beta is not None:
            b = np.asarray(beta[start:start + n_in], dtype=np.float64)
            edge_w = np.exp(b - b.max())
            edge_w /= edge_w.sum()
        else:
            edge_w = np.ones(n_in)
        scored = []
        for src in range(n_in):
            w = op_weights[start + src]
            best = max(candidates, key=lambda i: w[i])
            scored.append((w[best] * edge_w[src], src, ops[best]))
        scored.sort(key=lambda t: (-t[0], t[1]))
        keep = scored if edges_per_node == 0 else scored[:edges_per_node]
        nodes.append(tuple((op, src) for _, src, op in sorted(keep, key=lambda t: t[1])))
        start += n_in
    return CellGenotype(tuple(nodes))


def random_cell(rng: np.random.Generator, ops: Sequence[str], edges_per_node: int = 2) -> CellGenotype:
    """A cell drawn uniformly from the same space the search explores (the NAS sanity baseline)."""
    candidates = [o for o in ops if o != "none"]
    nodes = []
    for n in range(NUM_NODES):
        n_in = NUM_INPUTS + n
        k = n_in if edges_per_node == 0 else min(edges_per_node, n_in)
        sources = sorted(rng.choice(n_in, size=k, replace=False).tolist())
        nodes.append(tuple((str(rng.choice(candidates)), int(s)) for s in sources))
    return CellGenotype(tuple(nodes))
