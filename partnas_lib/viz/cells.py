"""Derived architectures in pictures (matplotlib): cells as graphs, op counts, receptive fields.

* :func:`draw_cell`, :func:`draw_cells`, :func:`draw_cells_grid` -- derived cells as graphs
  (inputs 0 and 1, intermediate nodes 2-4, the concatenated output), drawn with matplotlib
  patches only (no graphviz binary needed);
* :func:`plot_op_counts`, :func:`plot_receptive_fields`, :func:`plot_op_parameters` -- derived
  architectures compared.

Every function returns the matplotlib ``Figure``.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch

from partnas_lib.nas.analysis import cell_op_counts
from partnas_lib.nas.genotype import NUM_INPUTS, NUM_NODES, CellGenotype, Genotype
from partnas_lib.viz.skeleton3d import colours_for_parts

#: One colour per candidate op: weighted ops saturated, parameter-free ops in greys/browns.
OP_COLOURS: dict[str, str] = {
    "none": "#c7c7c7",
    "skip_connect": "#7f7f7f",
    "max_pool_3x3": "#8c564b",
    "avg_pool_3x3": "#c49c94",
    "sep_conv_3x3": "#1f77b4",
    "sep_conv_5x5": "#9467bd",
    "dil_conv_3x3": "#2ca02c",
    "dil_conv_5x5": "#d62728",
    "mixed": "#444444",
}
_FALLBACK = ("#17becf", "#bcbd22", "#e377c2", "#ff7f0e")

#: Short op names for labels.
OP_SHORT: dict[str, str] = {
    "none": "none", "skip_connect": "skip", "max_pool_3x3": "max 3x3", "avg_pool_3x3": "avg 3x3",
    "sep_conv_3x3": "sep 3x3", "sep_conv_5x5": "sep 5x5", "dil_conv_3x3": "dil 3x3", "dil_conv_5x5": "dil 5x5",
}


def op_colour(op: str) -> str:
    return OP_COLOURS.get(op, _FALLBACK[sum(map(ord, op)) % len(_FALLBACK)])


def short(op: str) -> str:
    return OP_SHORT.get(op, op)


#: Panels per row in multi-panel figures: five parts side by side would shrink every label to a
#: few pixels in a JupyterLab cell, so figures wrap after three panels.
MAX_COLUMNS = 3


def axes_grid(n: int, ncols: int = MAX_COLUMNS, size: tuple[float, float] = (3.2, 3.1),
              **kw) -> tuple[Figure, list[plt.Axes]]:
    """``n`` panels, ``ncols`` per row (unused panels of the last row hidden); flat list of axes.
    The panels that start a row are ``axes[::ncols]`` (label their y axes)."""
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False, **kw)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


# --------------------------------------------------------------------------------------------
# cells as graphs

#: Where the nodes of a cell sit in :func:`draw_cell` (data units, equal aspect).
NODE_POSITIONS: dict[int | str, tuple[float, float]] = {
    0: (0.0, 1.4), 1: (0.0, -1.4), 2: (2.4, 1.9), 3: (4.0, 0.2), 4: (5.6, -1.7), "out": (7.3, 0.1),
}
#: Curvature of each edge (matplotlib ``arc3`` rad) and where along it the op label sits, chosen
#: so that no edge runs through a node and labels of crossing edges do not collide.
EDGE_STYLE: dict[tuple[int, int], tuple[float, float]] = {
    (0, 2): (0.0, 0.5), (1, 2): (0.0, 0.3), (0, 3): (0.0, 0.72), (1, 3): (0.0, 0.5), (2, 3): (0.0, 0.5),
    (0, 4): (0.0, 0.58), (1, 4): (0.0, 0.5), (2, 4): (-0.3, 0.5), (3, 4): (0.0, 0.55),
}


def _bezier_point(p0: tuple[float, float], p2: tuple[float, float], rad: float, t: float) -> tuple[float, float]:
    """Point at ``t`` on matplotlib's ``arc3`` curve: a quadratic Bezier whose control point is
    ``mid + rad * (dy, -dx)``."""
    (x0, y0), (x2, y2) = p0, p2
    cx, cy = (x0 + x2) / 2 + rad * (y2 - y0), (y0 + y2) / 2 - rad * (x2 - x0)
    u = 1 - t
    return u * u * x0 + 2 * u * t * cx + t * t * x2, u * u * y0 + 2 * u * t * cy + t * t * y2


def draw_cell(cell: CellGenotype, ax: plt.Axes | None = None, title: str | None = None,
              colour: str | None = None) -> Figure:
    """Draw a derived cell as a graph.

    Nodes: the two inputs (``0``: the state two steps back, ``1``: the previous state -- for the
    first cell, the trunk's last two feature maps), the intermediate nodes ``2, 3, 4``, and the
    output, which concatenates the intermediate nodes (dashed grey arrows).  Every kept edge is
    an arrow coloured and labelled by its op.  ``colour`` tints the intermediate nodes (e.g. the
    part's colour).
    """
    fig, ax = (plt.subplots(figsize=(5.6, 3.2)) if ax is None else (ax.figure, ax))
    radius = 0.4
    fills = {0: "#dbe9f6", 1: "#dbe9f6", "out": "#d9f0d3"}
    circles = {}
    for node, (x, y) in NODE_POSITIONS.items():
        face = fills.get(node, "#fff3c4")
        edge = colour if (colour and node not in fills) else "0.25"
        c = Circle((x, y), radius if node != "out" else radius * 1.15, fc=face, ec=edge, lw=2.0, zorder=3)
        ax.add_patch(c)
        circles[node] = c
        label = {0: "in 0", 1: "in 1", "out": "out"}.get(node, str(node))
        ax.text(x, y, label, ha="center", va="center", fontsize=9, zorder=4, weight="bold")
    for op, src, dst in cell.edges:
        p0, p2 = NODE_POSITIONS[src], NODE_POSITIONS[dst]
        rad, t = EDGE_STYLE.get((src, dst), (0.0, 0.5))
        ax.add_patch(FancyArrowPatch(p0, p2, patchA=circles[src], patchB=circles[dst],
                                     connectionstyle=f"arc3,rad={rad}", arrowstyle="-|>", mutation_scale=12,
                                     color=op_colour(op), lw=2.2, zorder=2))
        mx, my = _bezier_point(p0, p2, rad, t)
        ax.text(mx, my, short(op), ha="center", va="center", fontsize=7.5, color=op_colour(op), zorder=5,
                bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.9))
    for node in cell.concat:
        ax.add_patch(FancyArrowPatch(NODE_POSITIONS[node], NODE_POSITIONS["out"], patchA=circles[node],
                                     patchB=circles["out"], arrowstyle="-|>", mutation_scale=10, color="0.6",
                                     lw=1.0, ls="--", zorder=1))
    ax.set_xlim(-0.55, 7.9)
    ax.set_ylim(-2.25, 2.45)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, color=colour or "k")
    return fig


def supernet_cell(label: str = "mixed") -> CellGenotype:
    """The cell *before* deriving: every one of the 9 edges is present, each a mixed edge.
    Draw it with ``draw_cell(supernet_cell())`` to compare with a derived cell."""
    return CellGenotype(tuple(tuple((label, src) for src in range(NUM_INPUTS + n)) for n in range(NUM_NODES)))


def plot_op_parameters(counts: Mapping[str, int], channels: int | None = None) -> Figure:
    """Bars: weights of each candidate op (from :func:`partnas_lib.nas.analysis.op_parameter_counts`)."""
    names = list(counts)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.bar([short(n) for n in names], [counts[n] for n in names], color=[op_colour(n) for n in names])
    for i, n in enumerate(names):
        ax.text(i, counts[n], f"{counts[n]}", ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("parameters")
    ax.set_title("weights per op" + (f" at C = {channels} channels" if channels else ""))
    fig.tight_layout()
    return fig


def _cells(genotype: Genotype | Mapping[str, CellGenotype]) -> dict[str, CellGenotype]:
    return dict(genotype.cells) if isinstance(genotype, Genotype) else dict(genotype)


def draw_cells(genotype: Genotype | Mapping[str, CellGenotype], parts: Sequence[str] | None = None,
               title: str | None = None, ncols: int = 3) -> Figure:
    """The derived cell of every part, side by side, titled and tinted by part."""
    cells = _cells(genotype)
    names = list(parts) if parts is not None else list(cells)
    colours = colours_for_parts(names)
    fig, axes = axes_grid(len(names), ncols=ncols, size=(4.8, 2.9))
    for ax, part in zip(axes, names):
        draw_cell(cells[part], ax=ax, title=part, colour=colours[part])
    _op_legend(fig, {op for part in names for op, _, _ in cells[part].edges})
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def draw_cells_grid(genotypes: Mapping[str, Genotype | Mapping[str, CellGenotype]],
                    parts: Sequence[str] | None = None) -> Figure:
    """Rows = parts, columns = searches (e.g. seeds): do different seeds find the same cell for
    a part?  Read along a row."""
    columns = {k: _cells(g) for k, g in genotypes.items()}
    first = next(iter(columns.values()))
    names = list(parts) if parts is not None else list(first)
    colours = colours_for_parts(names)
    fig, axes = plt.subplots(len(names), len(columns), figsize=(3.9 * len(columns), 2.5 * len(names)),
                             squeeze=False)
    for c, (label, cells) in enumerate(columns.items()):
        for r, part in enumerate(names):
            draw_cell(cells[part], ax=axes[r, c], title=f"{part} | {label}", colour=colours[part])
    _op_legend(fig, {op for cells in columns.values() for cell in cells.values() for op, _, _ in cell.edges})
    fig.tight_layout()
    return fig


def _op_legend(fig: Figure, ops: set[str]) -> None:
    from matplotlib.lines import Line2D

    order = [op for op in OP_COLOURS if op in ops] + sorted(ops - set(OP_COLOURS))
    handles = [Line2D([0], [0], color=op_colour(op), lw=3, label=short(op)) for op in order]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False,
               bbox_to_anchor=(0.5, -0.04), fontsize=9)


def plot_op_counts(genotypes: Mapping[str, Genotype | Mapping[str, CellGenotype]],
                   ops: Sequence[str] | None = None) -> Figure:
    """Per search (column of panels): how many kept edges of each part use each op."""
    rows = {k: _cells(g) for k, g in genotypes.items()}
    first = next(iter(rows.values()))
    parts = list(first)
    if ops is None:
        seen = {op for cells in rows.values() for cell in cells.values() for op, _, _ in cell.edges}
        ops = [op for op in OP_COLOURS if op in seen and op != "none"] + sorted(seen - set(OP_COLOURS))
    ncols = min(2, len(rows))
    fig, axes = axes_grid(len(rows), ncols=ncols, size=(0.55 * len(ops) + 2.0, 0.45 * len(parts) + 1.9))
    for k, (ax, (label, cells)) in enumerate(zip(axes, rows.items())):
        counts = np.array([[cell_op_counts(cells[p]).get(op, 0) for op in ops] for p in parts])
        ax.imshow(counts, cmap="Greens", vmin=0, vmax=max(1, counts.max()))
        for (i, j), v in np.ndenumerate(counts):
            if v:
                ax.text(j, i, str(v), ha="center", va="center", fontsize=9)
        ax.set_xticks(range(len(ops)), [short(o) for o in ops], rotation=60, ha="right")
        ax.set_yticks(range(len(parts)), parts if k % ncols == 0 else [])
        ax.set_title(label)
    fig.suptitle("kept edges per op")
    fig.tight_layout()
    return fig


def plot_receptive_fields(fields: Mapping[str, float], trunk_field: float | None = None,
                          crop_size: int | None = None, title: str | None = None) -> Figure:
    """Horizontal bars: the receptive field (input px) of each part's head, with the trunk's
    own field, the crop size and ``2 x crop + 1`` as reference lines: a head whose field reaches
    the last one sees the whole crop even from the outputs at its edges."""
    names = list(fields)
    colours = colours_for_parts(names)
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(names) + 1.4))
    ax.barh(names, [fields[n] for n in names], color=[colours[n] for n in names])
    for i, n in enumerate(names):
        ax.text(fields[n], i, f" {fields[n]:.0f}", va="center", fontsize=9)
    if trunk_field is not None:
        ax.axvline(trunk_field, color="k", ls="--", lw=1, label=f"trunk alone ({trunk_field:.0f} px)")
    if crop_size is not None:
        ax.axvline(crop_size, color="0.5", ls=":", lw=1, label=f"crop size ({crop_size} px)")
        ax.axvline(2 * crop_size + 1, color="0.5", ls="-.", lw=1,
                   label=f"whole crop seen from its edges ({2 * crop_size + 1} px)")
    ax.invert_yaxis()
    ax.set_xlabel("theoretical receptive field (input pixels)")
    ax.set_title(title or "receptive field of each part's head")
    if trunk_field is not None or crop_size is not None:
        ax.legend(frameon=False, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3)
    fig.tight_layout()
    return fig


__all__ = [
    "EDGE_STYLE", "NODE_POSITIONS", "OP_COLOURS", "OP_SHORT", "axes_grid", "draw_cell", "draw_cells", "draw_cells_grid",
    "op_colour", "plot_op_counts", "plot_op_parameters", "plot_receptive_fields", "short", "supernet_cell",
]
