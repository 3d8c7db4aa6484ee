"""How much do searches with different seeds agree?  Per-part overlap of derived genotypes.

DARTS-style searches are not reproducible across seeds (docs/method.md Sec. 4): two runs that
differ only in the random initialisation and the batch order can derive different cells.
Before reading meaning into "the search chose a dilated conv for the wrist", check whether a
second seed chose it too.  This module compares the genotypes of several searches part by
part, as sets:

* an **edge** is ``(target node, source node)`` -- *which* connections a cell keeps;
* an **edge-op** is ``(target node, source node, op)`` -- which connections and what they do.

For each part and each of the two kinds of set it reports

* ``*_all``: ``|intersection over all genotypes| / |union over all genotypes|`` -- the fraction
  of everything any seed chose that *every* seed chose (1 = identical cells, 0 = nothing
  shared by all);
* ``*_jaccard_mean``: the mean over pairs of genotypes of the Jaccard index
  ``|A & B| / |A | B|`` (with ``pairwise`` the full matrix), which degrades more gently than
  ``*_all`` as seeds are added;
* ``votes``: how many genotypes keep each edge / edge-op, the raw material for a consensus cell.

Chance level helps reading the numbers: with 2 of 2, 3 and 4 incoming edges kept (the DARTS
rule) two random cells share on average 2 + 4/3 + 1 = 4.3 of their 6 edges (mean edge Jaccard
0.58, the floor any search should beat), and with 7 candidate ops only about 1/7 of those also
agree on the op (mean edge-op Jaccard 0.06; both by simulation of
:func:`~partnas_lib.nas.genotype.random_cell`).
"""

from __future__ import annotations

from itertools import combinations
from typing import Any, Sequence

from partnas_lib.nas.genotype import NUM_INPUTS, CellGenotype, Genotype

Edge = tuple[int, int]
EdgeOp = tuple[int, int, str]


def cell_edges(cell: CellGenotype) -> set[Edge]:
    """``{(target, source)}`` of the kept edges."""
    return {(NUM_INPUTS + n, src) for n, node in enumerate(cell.nodes) for _, src in node}


def cell_edge_ops(cell: CellGenotype) -> set[EdgeOp]:
    """``{(target, source, op)}`` of the kept edges."""
    return {(NUM_INPUTS + n, src, op) for n, node in enumerate(cell.nodes) for op, src in node}


def jaccard(a: set, b: set) -> float:
    """``|a & b| / |a | b|``; two empty sets agree perfectly (1.0)."""
    union = a | b
    return len(a & b) / len(union) if union else 1.0


def shared_fraction(sets: Sequence[set]) -> float:
    """``|intersection of all| / |union of all|`` (the Jaccard index of many sets)."""
    union = set().union(*sets)
    if not union:
        return 1.0
    return len(set.intersection(*map(set, sets))) / len(union)


def _pairwise(sets: Sequence[set]) -> tuple[list[list[float]], float | None]:
    n = len(sets)
    matrix = [[1.0] * n for _ in range(n)]
    values = []
    for i, j in combinations(range(n), 2):
        matrix[i][j] = matrix[j][i] = jaccard(sets[i], sets[j])
        values.append(matrix[i][j])
    return matrix, (sum(values) / len(values) if values else None)


def _edge_name(edge: Edge) -> str:
    return f"{edge[1]}->{edge[0]}"


def part_agreement(cells: Sequence[CellGenotype]) -> dict[str, Any]:
    """Agreement of one part's cells across genotypes (see the module docstring)."""
    edges = [cell_edges(c) for c in cells]
    edge_ops = [cell_edge_ops(c) for c in cells]
    edge_matrix, edge_mean = _pairwise(edges)
    op_matrix, op_mean = _pairwise(edge_ops)
    edge_votes = {e: sum(e in s for s in edges) for e in sorted(set().union(*edges))}
    op_votes = {e: sum(e in s for s in edge_ops) for e in sorted(set().union(*edge_ops))}
    return {
        "edges_all": shared_fraction(edges),
        "edge_ops_all": shared_fraction(edge_ops),
        "edge_jaccard_mean": edge_mean,
        "edge_op_jaccard_mean": op_mean,
        "edge_jaccard_pairwise": edge_matrix,
        "edge_op_jaccard_pairwise": op_matrix,
        "edge_votes": {_edge_name(e): v for e, v in edge_votes.items()},
        "edge_op_votes": {f"{op}({_edge_name((t, s))})": v for (t, s, op), v in op_votes.items()},
    }


SCALARS = ("edges_all", "edge_ops_all", "edge_jaccard_mean", "edge_op_jaccard_mean")


def genotype_agreement(genotypes: Sequence[Genotype], labels: Sequence[str] | None = None) -> dict[str, Any]:
    """Per-part agreement of ``genotypes`` (e.g. one per search seed) and its mean over parts.

    All genotypes must share the part grouping.  Returns a JSON-ready dict with ``labels``,
    ``num_genotypes``, ``parts`` (part -> :func:`part_agreement`) and ``mean`` (the scalar
    measures averaged over parts; pairwise means are None for a single genotype).
    """
    if not genotypes:
        raise ValueError("genotype_agreement needs at least one genotype")
    labels = list(labels) if labels is not None else [f"genotype{i}" for i in range(len(genotypes))]
    if len(labels) != len(genotypes):
        raise ValueError(f"{len(labels)} labels for {len(genotypes)} genotypes")
    ref = {k: sorted(v) for k, v in genotypes[0].grouping.items()}
    for label, g in zip(labels, genotypes):
        if {k: sorted(v) for k, v in g.grouping.items()} != ref:
            raise ValueError(f"genotype {label!r} has part grouping {g.grouping}, but {labels[0]!r} has "
                             f"{genotypes[0].grouping}; only genotypes of the same grouping can be compared")
    parts = {name: part_agreement([g.cells[name] for g in genotypes]) for name in genotypes[0].grouping}
    mean: dict[str, float | None] = {}
    for key in SCALARS:
        values = [p[key] for p in parts.values() if p[key] is not None]
        mean[key] = sum(values) / len(values) if values else None
    return {"labels": labels, "num_genotypes": len(genotypes), "parts": parts, "mean": mean}


def format_agreement(summary: dict[str, Any]) -> str:
    """A markdown table of the scalar measures, one row per part plus the mean."""
    def cell(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}"

    lines = [
        f"Agreement of {summary['num_genotypes']} genotypes ({', '.join(summary['labels'])}):",
        "",
        "| part | edges kept by all | edge+op kept by all | mean pairwise Jaccard (edges) "
        "| mean pairwise Jaccard (edge+op) |",
        "|---|---|---|---|---|",
    ]
    rows = list(summary["parts"].items()) + [("**mean**", summary["mean"])]
    for name, p in rows:
        lines.append(f"| {name} | " + " | ".join(cell(p[k]) for k in SCALARS) + " |")
    return "\n".join(lines)
