"""``metrics.md``: the numbers of ``metrics.json`` as the literature prints them.

The headline numbers, the per-action table (:func:`~partnas_lib.eval.actions.per_action_markdown`)
and the protocol card (:mod:`partnas_lib.eval.protocol`), in one markdown file next to
``metrics.json``, ready to paste next to the anchor numbers of docs/method.md Sec. 4.
"""

from __future__ import annotations

from typing import Any, Mapping

from partnas_lib.eval.actions import per_action_markdown


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_cell(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value).replace("|", "/")


def metrics_markdown(metrics: Mapping[str, Any]) -> str:
    """Headline numbers, the per-action table and the protocol card of ``metrics``."""
    card = metrics.get("protocol") or {}
    lines = ["# Results", "",
             f"- MPJPE: {metrics['mpjpe']:.1f} mm", f"- PA-MPJPE: {metrics['pa_mpjpe']:.1f} mm",
             f"- mean-pose baseline MPJPE: {metrics.get('mean_pose_mpjpe', float('nan')):.1f} mm",
             f"- test samples: {metrics.get('num_test_samples', '?')}"]
    if card.get("reported_metric"):
        lines.append(f"- protocol {card.get('protocol')}: the literature reports `{card['reported_metric']}` "
                     f"({card.get('also_called', '')})")
    lines += ["", "## Per action", "", per_action_markdown(metrics), "",
              "The last column is the mean over test samples (3DMPPE's average), not the mean of the action "
              "columns.", "", "## Protocol card", "", "| field | value |", "|---|---|"]
    lines += [f"| {k} | {_cell(v)} |" for k, v in card.items()]
    return "\n".join(lines) + "\n"


__all__ = ["metrics_markdown"]
