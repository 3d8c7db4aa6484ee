"""Errors per action, and the per-action table as the Human3.6M literature prints it.

Human3.6M results are traditionally reported as one row per method with a column per action
(Directions, Discussion, ..., WalkTogether) and an average.  :func:`per_action_means` averages a
per-sample error over the samples of each action, in the order of the 15 Human3.6M actions
(``action_idx`` 2..16, the numbering of 3DMPPE's files; other actions, e.g. the synthetic ones,
follow alphabetically).  Papers print the same 15 columns in different orders (VideoPose3D and
Martinez et al. put Photo after Phoning and WalkDog before Walking): compare columns by name,
not by position.

The last column of :func:`per_action_markdown` is the mean over *samples* (the ``mpjpe`` /
``pa_mpjpe`` of ``metrics.json``, as 3DMPPE reports it), not the mean of the action columns
(VideoPose3D's average); the two differ when actions have different numbers of test samples
(docs/method.md Sec. 3).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from partnas_lib.data.datasets.h36m_facts import ACTION_NAMES

#: The 15 Human3.6M actions in ``action_idx`` order (2..16).
H36M_ACTION_ORDER: tuple[str, ...] = tuple(ACTION_NAMES[i] for i in sorted(ACTION_NAMES))
#: Short column headers, as the literature abbreviates them.
SHORT_NAMES: dict[str, str] = {
    "Directions": "Dir.", "Discussion": "Disc.", "Eating": "Eat", "Greeting": "Greet", "Phoning": "Phone",
    "Posing": "Pose", "Purchases": "Purch.", "Sitting": "Sit", "SittingDown": "SitD.", "Smoking": "Smoke",
    "Photo": "Photo", "Waiting": "Wait", "Walking": "Walk", "WalkDog": "WalkD.", "WalkTogether": "WalkT.",
}


def action_order(names: Iterable[str]) -> list[str]:
    """``names`` sorted as the Human3.6M tables order actions; unknown names after, alphabetically."""
    rank = {name: i for i, name in enumerate(H36M_ACTION_ORDER)}
    return sorted(set(names), key=lambda n: (rank.get(n, len(rank)), n))


def per_action_means(errors: np.ndarray, meta: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Mean of the per-sample ``errors`` ``(N,)`` over the samples of each action (from
    ``meta[i]["action"]``, "unknown" when absent), in :func:`action_order`."""
    groups: dict[str, list[float]] = {}
    for e, m in zip(np.asarray(errors, np.float64), meta):
        groups.setdefault(str(m.get("action", "unknown")), []).append(float(e))
    return {a: float(np.mean(groups[a])) for a in action_order(groups)}


def per_action_markdown(metrics: Mapping[str, Any]) -> str:
    """The per-action table of ``metrics.json``: a row per metric (``mpjpe``, and ``pa_mpjpe``
    when ``per_action_pa_mpjpe`` is there), a column per action, then the mean over samples."""
    rows = [(label, metrics.get(key) or {}, metrics.get(total)) for label, key, total in (
        ("MPJPE (mm)", "per_action_mpjpe", "mpjpe"), ("PA-MPJPE (mm)", "per_action_pa_mpjpe", "pa_mpjpe"))]
    rows = [r for r in rows if r[1]]
    if not rows:
        return "_this metrics.json has no per-action errors_"
    actions = action_order(a for _, values, _ in rows for a in values)
    header = ["metric", *(SHORT_NAMES.get(a, a) for a in actions), "all samples"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, values, total in rows:
        cells = [f"{values[a]:.1f}" if a in values else "-" for a in actions]
        cells.append(f"{total:.1f}" if isinstance(total, (int, float)) else "-")
        lines.append("| " + " | ".join([label, *cells]) + " |")
    return "\n".join(lines)


__all__ = ["H36M_ACTION_ORDER", "SHORT_NAMES", "action_order", "per_action_markdown", "per_action_means"]
