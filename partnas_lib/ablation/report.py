"""An ablation as a report: is each variant's difference from the part-aware network real,
and the markdown tables ``partnas ablate`` prints and writes to ``ablation.md``."""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np
from scipy import stats

from partnas_lib.nas.agreement import format_agreement


def compare_variants(data: dict[str, Any], reference: str = "part_aware", metric: str = "mpjpe") -> dict[str, Any]:
    """How every other variant's ``metric`` differs from ``reference``'s, and whether the seeds
    say the difference is real.

    With a handful of seeds a 2 mm gap can be noise: the search, the initialisation and the
    batch order all change with the seed.  For each variant this gives the difference of the
    means over seeds (``other - reference``: positive = the reference is better) and Welch's
    t-test (two samples, unequal variances; ``scipy.stats.ttest_ind(equal_var=False)``), whose
    two-sided ``p_value`` is the chance of a gap at least this large if both variants were
    equally good.  Runs of different variants share nothing but the seed number, so the test is
    unpaired.  ``p_value`` is None when a variant has fewer than two runs or both have zero
    variance.
    """
    variants = data["variants"]
    if reference not in variants:
        raise ValueError(f"reference variant {reference!r} is not in the ablation ({list(variants)})")
    ref = [r[metric] for r in variants[reference]["runs"]]
    out: dict[str, Any] = {}
    for name, v in variants.items():
        if name == reference:
            continue
        other = [r[metric] for r in v["runs"]]
        diff = float(np.mean(other) - np.mean(ref))
        p_value: float | None = None
        t_stat: float | None = None
        if len(ref) > 1 and len(other) > 1 and (np.std(ref) > 0 or np.std(other) > 0):
            with warnings.catch_warnings():  # scipy warns when one side's runs are identical; t is still right
                warnings.simplefilter("ignore", RuntimeWarning)
                result = stats.ttest_ind(other, ref, equal_var=False)
            t_stat, p_value = float(result.statistic), float(result.pvalue)
        out[name] = {"difference": diff, "t": t_stat, "p_value": p_value, "num_runs": [len(ref), len(other)]}
    return out


def comparison_markdown(data: dict[str, Any], reference: str = "part_aware", metric: str = "mpjpe") -> str:
    """:func:`compare_variants` as a markdown table."""
    rows = compare_variants(data, reference, metric)
    lines = [f"| variant | {metric} − {reference} (mm) | Welch t | p (two-sided) |", "|---|---|---|---|"]
    for name, c in rows.items():
        t = "-" if c["t"] is None else f"{c['t']:.2f}"
        p = "-" if c["p_value"] is None else f"{c['p_value']:.3f}"
        lines.append(f"| {name} | {c['difference']:+.1f} | {t} | {p} |")
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
    if "part_aware" in data["variants"] and len(data["variants"]) > 1:
        lines += ["## Is the gap real?  Each variant against `part_aware`", "",
                  "Difference of the means over seeds (positive: the part-aware network is better) and "
                  "Welch's t-test over the seeds (`compare_variants`).", "",
                  comparison_markdown(data), "", comparison_markdown(data, metric="pa_mpjpe"), ""]
    for name, a in data["agreement"].items():
        lines += [f"## Seed agreement of the `{name}` genotypes", "", format_agreement(a), ""]
    return "\n".join(lines)
