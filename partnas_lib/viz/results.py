"""Results of a run as pictures and tables: errors per part, joint and action; the protocol card.

Inputs are the run directory's ``metrics.json`` (see :func:`partnas_lib.pipeline.evaluate`) read
as a dict.  Plots are matplotlib and return the ``Figure``; tables are Markdown strings (show
them with ``IPython.display.Markdown``), so nothing here needs pandas.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from partnas_lib.skeleton import JOINT_NAMES
from partnas_lib.viz.skeleton3d import GroupingSpec, _grouping, colours_for_parts, part_colours


def _baselines(ax: plt.Axes, metrics: Mapping[str, Any]) -> None:
    ax.axhline(metrics["mpjpe"], color="k", lw=1, ls="--", label=f"overall MPJPE {metrics['mpjpe']:.0f} mm")
    if metrics.get("mean_pose_mpjpe") is not None:
        ax.axhline(metrics["mean_pose_mpjpe"], color="0.5", lw=1, ls=":",
                   label=f"mean-pose baseline {metrics['mean_pose_mpjpe']:.0f} mm")


def plot_per_part(metrics: Mapping[str, Any]) -> Figure:
    """Bars: MPJPE of each part (mm), with the overall MPJPE and the mean-pose baseline."""
    per_part = metrics["per_part_mpjpe"]
    names = list(per_part)
    colours = colours_for_parts(names)
    fig, ax = plt.subplots(figsize=(1.1 * len(names) + 4.5, 3.6))
    ax.bar(names, [per_part[n] for n in names], color=[colours[n] for n in names])
    _baselines(ax, metrics)
    ax.set_ylabel("MPJPE (mm)")
    ax.set_title("error per part")
    ax.tick_params(axis="x", rotation=30)
    # beside the axes, not inside: any corner of the plot can hold a bar (it hid the last one)
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


def plot_per_joint(metrics: Mapping[str, Any], grouping: GroupingSpec = "5") -> Figure:
    """Bars: MPJPE of each of the 17 joints, coloured by the part that owns it.  The pelvis
    is the alignment root and always scores 0; errors grow along the kinematic chains."""
    g = _grouping(grouping)
    owner = g.part_of_joint()
    colours = part_colours(g)
    values = metrics["per_joint_mpjpe"]
    names = metrics.get("joint_names") or list(JOINT_NAMES)
    fig, ax = plt.subplots(figsize=(9, 3.6))
    ax.bar(range(len(values)), values, color=[colours[owner[j]] for j in range(len(values))])
    ax.set_xticks(range(len(values)), names, rotation=60, ha="right")
    _baselines(ax, metrics)
    from matplotlib.patches import Patch

    handles = [Patch(color=colours[p], label=p) for p in g.part_names]
    leg = ax.legend(handles=handles, frameon=False, fontsize=8, loc="upper left")
    ax.add_artist(leg)
    ax.legend(frameon=False, fontsize=8, loc="upper center")  # the reference lines
    ax.set_ylabel("MPJPE (mm)")
    ax.set_title("error per joint")
    fig.tight_layout()
    return fig


def plot_per_action(metrics: Mapping[str, Any]) -> Figure:
    """Bars: MPJPE per action (mean over that action's test samples)."""
    per_action = metrics.get("per_action_mpjpe") or {}
    if not per_action:
        raise ValueError("metrics has no per_action_mpjpe")
    names = sorted(per_action, key=per_action.get)
    fig, ax = plt.subplots(figsize=(0.9 * len(names) + 2.5, 3.6))
    ax.bar(names, [per_action[n] for n in names], color="#4c72b0")
    _baselines(ax, metrics)
    ax.set_ylabel("MPJPE (mm)")
    ax.set_title("error per action")
    ax.tick_params(axis="x", rotation=30)
    ax.legend(frameon=False, fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def plot_error_histogram(errors_mm: np.ndarray, metrics: Mapping[str, Any] | None = None) -> Figure:
    """Histogram of per-sample MPJPE: is the mean carried by a few disasters or by everyone?"""
    errors_mm = np.asarray(errors_mm, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.hist(errors_mm, bins=min(40, max(5, len(errors_mm) // 5)), color="#4c72b0", alpha=0.85)
    ax.axvline(np.median(errors_mm), color="k", lw=1, label=f"median {np.median(errors_mm):.0f} mm")
    if metrics and metrics.get("mean_pose_mpjpe") is not None:
        ax.axvline(metrics["mean_pose_mpjpe"], color="0.5", ls=":", label="mean-pose baseline")
    ax.set_xlabel("per-sample MPJPE (mm)")
    ax.set_ylabel("test samples")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# Markdown tables


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.2f}" if abs(v) < 10 else f"{v:.1f}"
        return str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def plot_ablation(ablation: Mapping[str, Any]) -> Figure:
    """The ablation of ``partnas ablate`` (``ablation.json`` as a dict) in two panels.

    Left: MPJPE overall and per part for every variant, bars at the mean over seeds with the
    seeds' standard deviation as error bars -- does the part-aware search help, and on which
    parts?  Right: MPJPE against parameters, one point per run -- the paper's
    accuracy-for-size claim (Sec. 4.3: better than ResNet-50 models with 62 % fewer parameters).
    """
    variants = list(ablation["variants"])
    parts = list(ablation["part_grouping"])
    groups = ["overall", *parts]
    fig, (ax, ax_size) = plt.subplots(1, 2, figsize=(12, 3.8), gridspec_kw={"width_ratios": [2.2, 1]})
    width = 0.8 / max(1, len(variants))
    x = np.arange(len(groups))
    for i, name in enumerate(variants):
        m, s = ablation["variants"][name]["mean"], ablation["variants"][name]["std"]
        means = [m["mpjpe"], *(m["per_part_mpjpe"][p] for p in parts)]
        stds = [s["mpjpe"], *(s["per_part_mpjpe"][p] for p in parts)]
        ax.bar(x + (i - (len(variants) - 1) / 2) * width, means, width, yerr=stds, capsize=2, label=name)
        runs = ablation["variants"][name]["runs"]
        ax_size.scatter([r["params"] / 1e6 for r in runs], [r["mpjpe"] for r in runs], label=name)
    ax.set_xticks(x, groups, rotation=20)
    ax.set_ylabel("MPJPE (mm)")
    ax.set_ylim(top=ax.get_ylim()[1] * 1.15)  # room for the legend above the bars
    ax.set_title(f"mean ± std over seeds {ablation['seeds']}")
    ax.legend(frameon=False, fontsize=8, ncol=len(variants), loc="upper center")
    ax_size.set_xlim(left=0)
    ax_size.set_xlabel("parameters (M)")
    ax_size.set_ylabel("MPJPE (mm)")
    ax_size.set_title("accuracy vs size (one point per run)")
    fig.tight_layout()
    return fig


def dict_table_markdown(rows: Mapping[str, Mapping[str, Any]], index: str = "part") -> str:
    """``{row name: {column: value}}`` as a Markdown table (columns in first-seen order)."""
    cols: list[str] = []
    for r in rows.values():
        cols += [c for c in r if c not in cols]
    return _table([index, *cols], [[name, *[r.get(c, "") for c in cols]] for name, r in rows.items()])


def summary_markdown(metrics: Mapping[str, Any]) -> str:
    """The headline numbers of a run as a Markdown table."""
    rows = [
        ("MPJPE (root-aligned)", metrics["mpjpe"], "mm"),
        ("PA-MPJPE (after similarity Procrustes)", metrics["pa_mpjpe"], "mm"),
        ("mean-pose baseline MPJPE", metrics.get("mean_pose_mpjpe", float("nan")), "mm"),
        ("test samples", metrics.get("num_test_samples", "?"), ""),
        ("parameters (derived network)", f"{metrics.get('params', 0) / 1e6:.3f} M", ""),
        ("preset / seed", f"{metrics.get('preset', '?')} / {metrics.get('seed', '?')}", ""),
    ]
    return _table(["quantity", "value", "unit"], rows)


def per_part_markdown(metrics: Mapping[str, Any]) -> str:
    per_part = metrics["per_part_mpjpe"]
    return _table(["part", "MPJPE (mm)"], [(k, float(v)) for k, v in per_part.items()])


def protocol_card_markdown(metrics: Mapping[str, Any]) -> str:
    """The protocol card of ``metrics.json``: what exactly was measured (docs/method.md Sec. 3)."""
    card = metrics.get("protocol") or {}
    if not card:
        return "_this metrics.json has no protocol card_"
    return _table(["field", "value"], [(k, v) for k, v in card.items()])


__all__ = [
    "dict_table_markdown", "per_part_markdown", "plot_ablation", "plot_error_histogram", "plot_per_action",
    "plot_per_joint", "plot_per_part", "protocol_card_markdown", "summary_markdown",
]
