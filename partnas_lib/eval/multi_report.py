"""The multi-person results as ``partnas evaluate --dataset ...`` prints them: one row per
sequence (people, matched, 3DPCK and AUC root-relative and absolute, root-depth error) and the
summary lines (:func:`format_multi_metrics`)."""

from __future__ import annotations

from typing import Any

import numpy as np


def _sequence_table(metrics: dict[str, Any]) -> str:
    head = (f"{'sequence':<9}{'people':>7}{'matched':>8}{'PCK_rel':>9}{'PCK_abs':>9}{'AUC_rel':>9}{'AUC_abs':>9}"
            f"{'root err':>10}")
    lines = [head, "-" * len(head)]
    for seq, r in metrics["per_sequence"].items():
        lines.append(f"{seq:<9}{r['annotated']:>7}{r['matched']:>8}{r['pck3d_rel']:>9.1f}{r['pck3d_abs']:>9.1f}"
                     f"{r['auc_rel']:>9.1f}{r['auc_abs']:>9.1f}{_mm(r.get('root_error_mm'))}")
    lines.append("-" * len(head))
    lines.append(f"{'mean':<9}{metrics['num_people']:>7}{metrics['num_matched']:>8}{metrics['pck3d_rel']:>9.1f}"
                 f"{metrics['pck3d_abs']:>9.1f}{metrics['auc_rel']:>9.1f}{metrics['auc_abs']:>9.1f}"
                 f"{_mm(metrics['root_error_mm'])}")
    return "\n".join(lines)


def _mm(value: float | None) -> str:
    return f"{'-':>10}" if value is None or np.isnan(value) else f"{value:>8.0f}mm"


def format_multi_metrics(metrics: dict[str, Any]) -> str:
    """The per-sequence table and the summary lines, as printed by ``partnas evaluate``."""
    m = metrics["matched"]
    return "\n".join([
        _sequence_table(metrics),
        f"all annotated people: 3DPCK_rel {metrics['pck3d_rel']:.1f} | 3DPCK_abs {metrics['pck3d_abs']:.1f} | "
        f"AUC_rel {metrics['auc_rel']:.1f} | AUC_abs {metrics['auc_abs']:.1f}",
        f"matched people:       3DPCK_rel {m['pck3d_rel']:.1f} | 3DPCK_abs {m['pck3d_abs']:.1f} | "
        f"AUC_rel {m['auc_rel']:.1f} | AUC_abs {m['auc_abs']:.1f}  ({metrics['num_matched']}/{metrics['num_people']})",
        f"root depth error: {metrics['root_error_mm']:.0f} mm ({metrics['root_source']}) | k prior alone "
        f"{metrics['k_prior_root_error_mm']:.0f} mm | constant mean depth {metrics['mean_depth_root_error_mm']:.0f} mm",
    ])
