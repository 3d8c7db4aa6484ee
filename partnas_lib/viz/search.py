"""Pictures of the architecture search (matplotlib): alpha/beta over epochs, cells as graphs.

What each picture answers:

* :func:`plot_alpha_trajectories` -- which ops gain weight in each part, epoch by epoch
  (the mean of ``softmax(alpha)`` over a part's 9 edges, or one chosen edge);
* :func:`plot_beta_trajectories` -- which incoming edges each node prefers (PC-DARTS edge
  normalisation);
* :func:`plot_op_heatmaps` -- the full ``edges x ops`` alpha of every part at one epoch,
  centred on the uniform value ``1 / O`` so gains are red and losses blue; the edges the
  derive rule keeps are framed;
* :func:`plot_entropy` / :func:`plot_parameter_free_share` -- how decided the search is, and
  whether it drifts towards skip connections and pooling (the DARTS collapse);
Cells drawn as graphs and derived architectures compared are in :mod:`partnas_lib.viz.cells`.

Every function returns the matplotlib ``Figure``; in a notebook assign it (``fig = ...``) so
the inline backend shows it exactly once.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from partnas_lib.nas.analysis import (
    PARAMETER_FREE_OPS,
    SearchHistory,
    alpha_entropy,
    op_share,
    parameter_free_share,
)
from partnas_lib.viz.cells import MAX_COLUMNS, axes_grid, op_colour, short
from partnas_lib.viz.skeleton3d import colours_for_parts


def _parts(history: SearchHistory, parts: Sequence[str] | None) -> list[str]:
    if parts is None:
        return list(history.parts)
    for p in parts:
        history.part_index(p)
    return list(parts)


def _shade_warmup(ax: plt.Axes, history: SearchHistory, label: bool = False) -> None:
    """Grey band over the warm-up epochs (alpha frozen); also forces integer epoch ticks."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    warm = history.warmup_epochs()
    if warm:
        ax.axvspan(0, max(warm), color="0.85", alpha=0.6, lw=0, label="warm-up (alpha frozen)" if label else None)


# --------------------------------------------------------------------------------------------
# trajectories


def plot_alpha_trajectories(history: SearchHistory, parts: Sequence[str] | None = None,
                            edge: int | None = None) -> Figure:
    """Per part, ``softmax(alpha)`` of every op against the epoch.

    ``edge=None`` averages a part's 9 edges (the op's overall share); an edge index (0-8, see
    ``history.edge_labels``) shows that edge alone.  The dotted line is the uniform start
    ``1 / O``; the grey band marks warm-up epochs, when alpha is frozen.
    """
    names = _parts(history, parts)
    values = op_share(history) if edge is None else history.alpha[:, :, edge]
    fig, axes = axes_grid(len(names), sharey=True)
    for k, (ax, part) in enumerate(zip(axes, names)):
        p = history.part_index(part)
        _shade_warmup(ax, history, label=(k == 0))
        for o, op in enumerate(history.ops):
            ax.plot(history.epochs, values[:, p, o], marker="o", ms=3, color=op_colour(op), label=short(op),
                    lw=2.2 if op == "skip_connect" else 1.5)
        ax.axhline(1 / len(history.ops), color="k", lw=0.8, ls=":")
        ax.set_title(part)
        ax.set_xlabel("epoch")
    for ax in axes[::MAX_COLUMNS]:
        ax.set_ylabel("op weight" + ("" if edge is None else f" on edge {history.edge_labels[edge]}"))
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    what = "mean over the 9 edges" if edge is None else f"edge {history.edge_labels[edge]}"
    fig.suptitle(f"softmax(alpha) per part ({what})")
    fig.tight_layout()
    return fig


def plot_beta_trajectories(history: SearchHistory, parts: Sequence[str] | None = None) -> Figure:
    """Per part, the edge-normalisation weights ``softmax(beta)`` of the 9 edges per epoch.

    Colour = the node the edge enters (its weights sum to 1 over that node's 2, 3 or 4
    inputs), line style = the source node.  Only for searches with ``edge_norm`` (PC-DARTS).
    """
    if history.beta is None:
        raise ValueError("this search ran without edge normalisation (search.edge_norm=false): there is no beta")
    names = _parts(history, parts)
    node_colours = {2: "#1b9e77", 3: "#d95f02", 4: "#7570b3"}
    styles = ["-", "--", "-.", ":"]
    fig, axes = axes_grid(len(names), sharey=True)
    for k, (ax, part) in enumerate(zip(axes, names)):
        p = history.part_index(part)
        _shade_warmup(ax, history, label=(k == 0))
        for e, (src, dst) in enumerate(history.edges):
            ax.plot(history.epochs, history.beta[:, p, e], color=node_colours.get(dst, "k"),
                    ls=styles[src % len(styles)], marker="o", ms=2.5, label=f"{src}→{dst}")
        ax.set_title(part)
        ax.set_xlabel("epoch")
    for ax in axes[::MAX_COLUMNS]:
        ax.set_ylabel("softmax(beta)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, title="edge")
    fig.suptitle("edge weights per part (colour: target node; style: source node)")
    fig.tight_layout()
    return fig


def plot_op_heatmaps(history: SearchHistory, row: int = -1, parts: Sequence[str] | None = None) -> Figure:
    """``edges x ops`` heatmap of ``softmax(alpha)`` per part at history row ``row``.

    Colours are centred on the uniform weight ``1 / O``: red = the op gained, blue = it lost.
    Black frames mark the ``(edge, op)`` pairs the derive rule would keep at that epoch.
    """
    names = _parts(history, parts)
    alpha = history.alpha[row]
    centre = 1 / len(history.ops)
    spread = max(float(np.abs(alpha - centre).max()), 1e-6)
    norm = TwoSlopeNorm(vcenter=centre, vmin=max(0.0, centre - spread), vmax=centre + spread)
    cells = history.cells_at(row)
    fig, axes = axes_grid(len(names), size=(2.9, 3.4), sharey=True, layout="constrained")
    im = None
    for ax, part in zip(axes, names):
        p = history.part_index(part)
        im = ax.imshow(alpha[p], cmap="RdBu_r", norm=norm, aspect="auto")
        ax.set_xticks(range(len(history.ops)), [short(o) for o in history.ops], rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(len(history.edges)), history.edge_labels, fontsize=8)
        ax.set_title(part)
        if cells is not None:
            for op, src, dst in cells[part].edges:
                e = history.edges.index((src, dst))
                ax.add_patch(Rectangle((history.ops.index(op) - 0.5, e - 0.5), 1, 1, fill=False, ec="k", lw=1.8))
    for ax in axes[::MAX_COLUMNS]:
        ax.set_ylabel("edge (source→node)")
    if im is not None:
        fig.colorbar(im, ax=axes, shrink=0.8, label="softmax(alpha)")
    fig.suptitle(f"op weights per edge after epoch {int(history.epochs[row])} (framed: kept when deriving)")
    for ax in axes:
        ax.set_xlabel("")
    return fig


def _histories(h: SearchHistory | Mapping[str, SearchHistory]) -> dict[str, SearchHistory]:
    return {"": h} if isinstance(h, SearchHistory) else dict(h)


def _per_part_lines(histories: Mapping[str, SearchHistory], values: Mapping[str, np.ndarray], ax: plt.Axes) -> None:
    styles = ["-", "--", "-.", ":"]
    for s, (label, hist) in enumerate(histories.items()):
        colours = colours_for_parts(hist.parts)
        for p, part in enumerate(hist.parts):
            name = f"{part}" + (f" ({label})" if label else "")
            ax.plot(hist.epochs, values[label][:, p], color=colours[part], ls=styles[s % len(styles)],
                    marker="o", ms=3, label=name)


def plot_entropy(histories: SearchHistory | Mapping[str, SearchHistory], ax: plt.Axes | None = None) -> Figure:
    """Normalised entropy of alpha (mean over edges) per part and epoch; 1 = undecided
    (uniform over ops), 0 = one op per edge.  Several searches (e.g. seeds) get line styles."""
    hs = _histories(histories)
    fig, ax = (plt.subplots(figsize=(7, 4)) if ax is None else (ax.figure, ax))
    _shade_warmup(ax, next(iter(hs.values())), label=True)
    _per_part_lines(hs, {k: alpha_entropy(h) for k, h in hs.items()}, ax)
    ax.set_xlabel("epoch")
    ax.set_ylabel("entropy of softmax(alpha) / log(#ops)")
    ax.ticklabel_format(axis="y", useOffset=False)
    ax.set_title("how undecided each part's search is")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def plot_parameter_free_share(histories: SearchHistory | Mapping[str, SearchHistory],
                              ax: plt.Axes | None = None) -> Figure:
    """Total alpha on parameter-free ops (skip, pooling, none) per part and epoch.

    The dotted line is where a uniform alpha starts.  A curve climbing towards 1 is the
    well-known DARTS failure: parameter-free ops make the *supernet* easy to fit early, so the
    search rewards them, and the derived network ends up with too few convolutions.
    """
    hs = _histories(histories)
    fig, ax = (plt.subplots(figsize=(7, 4)) if ax is None else (ax.figure, ax))
    first = next(iter(hs.values()))
    _shade_warmup(ax, first, label=True)
    _per_part_lines(hs, {k: parameter_free_share(h) for k, h in hs.items()}, ax)
    start = sum(op in PARAMETER_FREE_OPS for op in first.ops) / len(first.ops)
    ax.axhline(start, color="k", lw=0.8, ls=":", label="uniform start")
    ax.set_xlabel("epoch")
    ax.set_ylabel("alpha on skip / pool / none")
    ax.set_title("drift towards parameter-free ops (skip-connection collapse)")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def plot_search_losses(histories: SearchHistory | Mapping[str, SearchHistory]) -> Figure:
    """Weight loss (first half of the data) and architecture loss (second half) per epoch."""
    hs = _histories(histories)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for label, h in hs.items():
        suffix = f" ({label})" if label else ""
        ax.plot(h.epochs, h.w_loss, marker="o", label="weight loss" + suffix)
        ax.plot(h.epochs, h.a_loss, marker="s", ls="--", label="architecture loss" + suffix)
    ax.set_xlabel("epoch")
    ax.set_ylabel("integral L1 loss (voxels)")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


__all__ = [
    "plot_alpha_trajectories", "plot_beta_trajectories", "plot_entropy", "plot_op_heatmaps",
    "plot_parameter_free_share", "plot_search_losses",
]
