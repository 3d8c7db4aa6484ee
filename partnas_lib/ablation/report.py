"""An ablation as a report: is each variant's difference from the part-aware network real,
and the markdown tables ``partnas ablate`` prints and writes to ``ablation.md``."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from partnas_lib.nas.agreement import format_agreement


def comparisons_markdown(comparisons: list[dict[str, Any]]) -> str:
    """The paired comparisons (:func:`partnas_lib.ablation.stats.paired_comparisons`) as a
    markdown table and, below it, one verdict per line."""
    lines = ["| b vs a | metric | mean b − a (mm) | 95 % CI (t) | 95 % CI (bootstrap) | p | Holm p | "
             "Wilcoxon p | detectable (mm) | seeds |", "|---" * 10 + "|"]

    def num(v: float | None, fmt: str) -> str:
        return "-" if v is None else format(v, fmt)

    def ci(v: list[float] | None) -> str:
        return "-" if v is None else f"{v[0]:+.1f} to {v[1]:+.1f}"

    for c in comparisons:
        lines.append(f"| {c['b']} vs {c['a']} | {c['metric']} | {c['mean_diff_mm']:+.1f} | {ci(c['ci95_mm'])} | "
                     f"{ci(c['ci95_bootstrap_mm'])} | {num(c['p'], '.3g')} | {num(c['p_holm'], '.3g')} | "
                     f"{num(c['p_wilcoxon'], '.3g')} | {num(c['mdd_mm'], '.1f')} | {c['n']} |")
    lines += ["", *[f"* {c['metric']}: {c['verdict']}" for c in comparisons]]
    return "\n".join(lines)


def _pm(mean: float, std: float, scale: float = 1.0, digits: int = 1) -> str:
    return f"{mean / scale:.{digits}f} ± {std / scale:.{digits}f}"


def ablation_markdown(data: dict[str, Any]) -> str:
    """The results as markdown: provenance, one table row per variant, seed agreement."""
    parts = list(data["part_grouping"])
    lines = [
        "# Ablation: part-aware search vs. shared decoder, random cells and the ResNet baseline",
        "",
        f"* command: `{data['command']}`",
        f"* preset: `{data['preset']}`, overrides: {', '.join(f'`{o}`' for o in data['overrides']) or 'none'}",
        f"* seeds: {', '.join(map(str, data['seeds']))} (mean ± sample std over seeds)",
        f"* git commit: `{data['git_commit']}`, date: {data['date']}",
        f"* budget: {json.dumps({k: v for k, v in data['budget'].items() if k != 'note'})}; "
        f"{data['budget'].get('note', '')}",
        "* errors in mm (MPJPE after root alignment, PA-MPJPE after similarity Procrustes); per-part "
        "MPJPE on the 5 kinematic parts for every variant; MACs = multiply-adds per image",
        "",
        "| variant | params (M) | MACs (M) | MPJPE | PA-MPJPE | " + " | ".join(parts)
        + " | search (s) | retrain (s) |",
        "|---|" + "---|" * (6 + len(parts)),
    ]
    for name, v in data["variants"].items():
        m, s = v["mean"], v["std"]
        row = [name, _pm(m["params"], s["params"], 1e6, 3), _pm(m["macs"], s["macs"], 1e6, 1),
               _pm(m["mpjpe"], s["mpjpe"]), _pm(m["pa_mpjpe"], s["pa_mpjpe"])]
        row += [_pm(m["per_part_mpjpe"][p], s["per_part_mpjpe"][p]) for p in parts]
        row += [_pm(m["search_seconds"], s["search_seconds"], digits=0),
                _pm(m["retrain_seconds"], s["retrain_seconds"], digits=0)]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "Variants:", ""]
    lines += [f"* `{name}`: {v['description']}" for name, v in data["variants"].items()]
    mean_pose = [r["mean_pose_mpjpe"] for v in data["variants"].values() for r in v["runs"]]
    lines += ["", f"Mean-pose baseline (predicts the training set's mean pose): {np.mean(mean_pose):.1f} mm.", ""]
    if data["comparisons"]:
        lines += ["## Is a difference real?  Paired by seed, Holm-adjusted", "",
                  "Runs with the same seed share data, trunk initialisation, batch order and augmentation, so "
                  "each comparison is the paired difference b − a over seeds (positive: `a` has the smaller "
                  "error), its 95 % confidence interval from Student's t and from a bootstrap over seeds, the "
                  "paired t p-value, Holm's adjustment over all the comparisons below (the family), the "
                  "Wilcoxon signed-rank p-value as a check, and the smallest difference these seeds could "
                  "detect (80 % power).  Per-part errors leave out the root joint (zero by construction).  "
                  "A difference that is not significant is not zero: read its CI.", "",
                  comparisons_markdown(data["comparisons"]), ""]
    for name, a in data["agreement"].items():
        lines += [f"## Seed agreement of the `{name}` genotypes", "", format_agreement(a), ""]
    return "\n".join(lines)
