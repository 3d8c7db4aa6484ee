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


def _mean_pose_mpjpe(data: dict[str, Any]) -> float:
    """The mean-pose baseline's error, averaged over every run of every variant."""
    return float(np.mean([r["mean_pose_mpjpe"] for v in data["variants"].values() for r in v["runs"]]))


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
    lines += ["", f"Mean-pose baseline (predicts the training set's mean pose): {_mean_pose_mpjpe(data):.1f} mm.", ""]
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


def claims_markdown(data: dict[str, Any], title: str) -> str:
    """One benchmark's block of the README's "Do the paper's claims hold here?": provenance
    (command, commit, machine, threads), one row per variant (mean ± sample std over seeds and
    the wall time of one run) and the verdict of every paired comparison -- all read from the
    ablation file, so the README holds no hand-typed number (:func:`replace_readme_block`)."""
    machine = data.get("machine") or {}
    run_threads = sorted({r.get("torch_threads") for v in data["variants"].values() for r in v["runs"]} - {None})
    where = "machine not recorded"
    if machine:
        where = (f"{machine.get('cpu', 'unknown CPU')}, {machine.get('cores', '?')} cores, "
                 f"torch {machine.get('torch', '?')}")
    threads = f"{data.get('workers', 1)} runs at a time" + (
        f", {'/'.join(map(str, run_threads))} torch thread(s) each" if run_threads else "")
    lines = [f"**{title}.**  `{data['command']}` at commit `{data['git_commit']}` ({data['date'][:10]}); "
             f"seeds {', '.join(map(str, data['seeds']))}; {where}; {threads}.  "
             f"Mean ± std over seeds; the mean pose scores {_mean_pose_mpjpe(data):.1f} mm.", "",
             "| variant | params (M) | MACs (M) | MPJPE (mm) | PA-MPJPE (mm) | wall time of one run (s) |",
             "|---|---|---|---|---|---|"]
    for name, v in data["variants"].items():
        m, s = v["mean"], v["std"]
        lines.append(f"| `{name}` | {m['params'] / 1e6:.3f} | {m['macs'] / 1e6:.1f} | {_pm(m['mpjpe'], s['mpjpe'])} | "
                     f"{_pm(m['pa_mpjpe'], s['pa_mpjpe'])} | {m['search_seconds'] + m['retrain_seconds']:.0f} |")
    lines += ["", *[f"* {c['metric']}: {c['verdict']}" for c in data["comparisons"]]]
    return "\n".join(lines)


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- ablation:{name} -->", f"<!-- /ablation:{name} -->"


def replace_readme_block(text: str, name: str, body: str) -> str:
    """``text`` with the lines between ``<!-- ablation:NAME -->`` and ``<!-- /ablation:NAME -->``
    replaced by ``body`` (``ValueError`` if the markers are missing)."""
    start, end = _markers(name)
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise ValueError(f"expected one '{start}' ... '{end}' block")
    head, rest = text.split(start)
    _, tail = rest.split(end)
    return f"{head}{start}\n{body}\n{end}{tail}"


def readme_block(text: str, name: str) -> str:
    """The body of the ``<!-- ablation:NAME -->`` block of ``text`` (``ValueError`` if missing)."""
    start, end = _markers(name)
    if start not in text or end not in text:
        raise ValueError(f"no '{start}' ... '{end}' block")
    return text.split(start)[1].split(end)[0].strip("\n")
