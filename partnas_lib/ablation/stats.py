r"""Paired comparisons of ablation variants: differences by seed, confidence intervals, Holm.

Runs of two variants with the same seed are **paired**: the seed fixes the data, the trunk's
initialisation from the stem to ``layer3``, the batch order and the augmentation stream, so
what differs within a pair is (mostly) the variant.  For variants ``a`` (the reference) and
``b`` with errors :math:`e^a_s, e^b_s` on seeds :math:`s = 1..n`:

.. math::
    \Delta_s = e^b_s - e^a_s, \qquad \bar\Delta = \frac1n \sum_s \Delta_s, \qquad
    \bar\Delta \pm t_{0.975,\,n-1} \frac{\operatorname{sd}(\Delta)}{\sqrt n}
    \quad \text{(95 % CI, paired } t\text{)},

with the two-sided paired-:math:`t` p-value, and two checks that do not assume normal
differences: the Wilcoxon signed-rank p-value and a percentile bootstrap CI of
:math:`\bar\Delta` (resampling seeds).  A positive :math:`\Delta` means ``b`` has the larger
error (``a`` is better).

**Multiple comparisons.**  An ablation reports a family of ``m`` comparisons (every variant
against the reference, on MPJPE and PA-MPJPE); Holm's step-down method (Holm 1979) keeps the
chance of *any* false "significant" below 5 %: with the p-values sorted,
:math:`p_{(1)} \le \dots \le p_{(m)}`,

.. math:: p^{\text{Holm}}_{(i)} = \max_{j \le i} \min\bigl(1,\ (m - j + 1)\, p_{(j)}\bigr).

**What the run could have seen.**  The minimal detectable difference (80 % power, two-sided
5 % paired :math:`t`, the observed spread of :math:`\Delta`) is
:math:`(t_{0.975,n-1} + t_{0.80,n-1})\,\operatorname{sd}(\Delta)/\sqrt n`.  A non-significant
difference is reported as "no detectable difference" *with its CI*, never as "equal": the CI
says how large a difference the data still allow.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from scipy import stats

#: Family-wise error rate of the verdicts, and the power of the minimal detectable difference.
ALPHA = 0.05
POWER = 0.80
BOOTSTRAP_SAMPLES = 10_000


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm-adjusted p-values (the equation of the module docstring), in the input order;
    ``None`` entries (no test possible) stay ``None`` and do not count in the family."""
    present = [(p, i) for i, p in enumerate(p_values) if p is not None]
    m = len(present)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(present)):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def paired_difference(a: Sequence[float], b: Sequence[float], seed: int = 0) -> dict[str, Any]:
    """Paired statistics of ``b - a`` over seeds (module docstring): mean, t CI, t p-value,
    Wilcoxon p-value, bootstrap CI and the minimal detectable difference.  Fields that need
    two or more seeds (or some spread) are ``None`` when there are too few."""
    a_arr, b_arr = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a_arr.shape != b_arr.shape or a_arr.ndim != 1 or not len(a_arr):
        raise ValueError(f"paired_difference needs two equally long lists of runs, got {len(a)} and {len(b)}")
    d = b_arr - a_arr
    n = len(d)
    out: dict[str, Any] = {"n": n, "mean_diff_mm": float(d.mean()), "ci95_mm": None, "p": None,
                           "p_wilcoxon": None, "ci95_bootstrap_mm": None, "mdd_mm": None}
    if n < 2:
        return out
    sd = float(d.std(ddof=1))
    se = sd / np.sqrt(n)
    t_crit = float(stats.t.ppf(1 - ALPHA / 2, n - 1))
    out["ci95_mm"] = [float(d.mean() - t_crit * se), float(d.mean() + t_crit * se)]
    out["mdd_mm"] = float((t_crit + stats.t.ppf(POWER, n - 1)) * se)
    if sd > 0:
        out["p"] = float(2 * stats.t.sf(abs(d.mean()) / se, n - 1))
    elif d.mean() != 0:
        out["p"] = 0.0  # every seed moved by the same nonzero amount: no noise at all
    if np.any(d != 0):
        out["p_wilcoxon"] = float(stats.wilcoxon(d).pvalue)
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, n, size=(BOOTSTRAP_SAMPLES, n))].mean(axis=1)
    out["ci95_bootstrap_mm"] = [float(np.quantile(means, ALPHA / 2)), float(np.quantile(means, 1 - ALPHA / 2))]
    return out


def verdict(c: dict[str, Any]) -> str:
    """Plain words from the numbers of one comparison (after Holm): which is better and by how
    much, or that no difference was detectable and how large one the CI still allows."""
    a, b, n = c["a"], c["b"], c["n"]
    if c["ci95_mm"] is None:
        return f"not tested ({n} seed{'s' if n != 1 else ''}; a paired test needs at least 2)"
    lo, hi = c["ci95_mm"]
    ci = f"95 % CI {lo:+.1f} to {hi:+.1f} mm, Holm p = {c['p_holm']:.3g}" if c["p_holm"] is not None \
        else f"95 % CI {lo:+.1f} to {hi:+.1f} mm"
    if c["p_holm"] is not None and c["p_holm"] < ALPHA:
        better, worse = (a, b) if c["mean_diff_mm"] > 0 else (b, a)
        return f"{better} is better than {worse} by {abs(c['mean_diff_mm']):.1f} mm ({ci}, {n} seeds)"
    return (f"no detectable difference between {b} and {a} ({ci}; with {n} seeds differences below "
            f"about {c['mdd_mm']:.1f} mm could not be detected)")


def comparison_pairs(variants: list[str], reference: str = "part_aware") -> list[tuple[str, str]]:
    """The family of comparisons an ablation reports: every other variant against
    ``reference`` (or, without it, against the first variant)."""
    ref = reference if reference in variants else variants[0]
    return [(ref, name) for name in variants if name != ref]


def paired_comparisons(runs: dict[str, Sequence[dict[str, Any]]], pairs: Sequence[tuple[str, str]],
                       metrics: Sequence[str] = ("mpjpe", "pa_mpjpe")) -> list[dict[str, Any]]:
    """One entry per ``(a, b)`` pair and metric: :func:`paired_difference` on the seeds both
    variants ran, Holm-adjusted over the whole list (the family), and :func:`verdict`.

    ``runs``: variant -> its runs (each a dict with ``seed`` and the metrics).  Entries carry
    ``a``, ``b``, ``metric``, ``test`` (``"paired"``), ``seeds``, ``n``, ``mean_diff_mm``
    (``b - a``), ``ci95_mm``, ``p``, ``p_holm``, ``p_wilcoxon``, ``ci95_bootstrap_mm``,
    ``mdd_mm`` and ``verdict``.
    """
    out = []
    for a, b in pairs:
        for name in (a, b):
            if name not in runs:
                raise ValueError(f"comparison {a} vs {b}: no variant {name!r} (have {sorted(runs)})")
        by_seed = [{r["seed"]: r for r in runs[name]} for name in (a, b)]
        seeds = sorted(set(by_seed[0]) & set(by_seed[1]))
        if not seeds:
            raise ValueError(f"comparison {a} vs {b}: the two variants share no seed")
        for metric in metrics:
            stats_ = paired_difference([by_seed[0][s][metric] for s in seeds], [by_seed[1][s][metric] for s in seeds])
            out.append({"a": a, "b": b, "metric": metric, "test": "paired", "seeds": seeds, **stats_})
    for c, p in zip(out, holm([c["p"] for c in out])):
        c["p_holm"] = p
        c["verdict"] = verdict(c)
    return out
