"""The ``ablation.json`` schema: its keys, and a validator that names the first bad field."""

from __future__ import annotations

import datetime
import math
from typing import Any, Sequence

import numpy as np

from partnas_lib.ablation.stats import comparison_pairs, paired_comparisons
from partnas_lib.skeleton import ROOT

#: 2: paired ``comparisons`` (Holm-adjusted) added; per-part MPJPE without the root joint
SCHEMA_VERSION = 2
#: per-part errors are always reported on this grouping, whatever grouping a variant searched
REPORT_GROUPING = "5"
#: scalar figures aggregated (mean, std over seeds) per variant
SCALAR_KEYS = ("mpjpe", "pa_mpjpe", "params", "macs", "search_seconds", "retrain_seconds")
RUN_KEYS = ("seed", "dir", "mpjpe", "pa_mpjpe", "per_part_mpjpe", "params", "macs", "search_seconds",
            "retrain_seconds", "mean_pose_mpjpe", "genotype")
TOP_KEYS = ("schema_version", "command", "git_commit", "date", "preset", "overrides", "seeds",
            "part_grouping", "budget", "variants", "agreement", "comparisons")
COMPARISON_KEYS = ("a", "b", "metric", "test", "seeds", "n", "mean_diff_mm", "ci95_mm", "p", "p_holm",
                   "p_wilcoxon", "ci95_bootstrap_mm", "mdd_mm", "verdict")


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof = 1; 0 for a single seed)."""
    arr = np.asarray(values, dtype=np.float64)
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0


def aggregate(runs: Sequence[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Mean and std over seeds of the scalar figures and of every part's MPJPE."""
    mean: dict[str, Any] = {}
    std: dict[str, Any] = {}
    for key in SCALAR_KEYS:
        mean[key], std[key] = _mean_std([r[key] for r in runs])
    mean["per_part_mpjpe"], std["per_part_mpjpe"] = {}, {}
    for part in runs[0]["per_part_mpjpe"]:
        mean["per_part_mpjpe"][part], std["per_part_mpjpe"][part] = _mean_std([r["per_part_mpjpe"][part] for r in runs])
    return mean, std


def _fail(where: str, what: str) -> None:
    raise ValueError(f"ablation.json: {where}: {what}")


def _object_with(value: Any, keys: Sequence[str], where: str) -> None:
    """``value`` is a dict holding every key of ``keys`` (else the first gap is named)."""
    if not isinstance(value, dict):
        _fail(where, "expected an object")
    for key in keys:
        if key not in value:
            _fail(where, f"missing field {key!r}")


def _number(value: Any, where: str, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        _fail(where, f"expected a finite number, got {value!r}")
    if minimum is not None and value < minimum:
        _fail(where, f"expected >= {minimum}, got {value!r}")
    return float(value)


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))


def validate_ablation(data: Any) -> None:
    """Raise ``ValueError`` naming the first field of an ablation result that is missing, of the
    wrong type, or inconsistent (a mean or std that does not match its runs, a seed missing).
    Used on freshly written results and on the committed ``results/ablation.json``."""
    # Long because it checks the schema field by field, in file order, so that the first bad field
    # is the one named; each check is one or two lines.
    if not isinstance(data, dict):
        _fail("top level", f"expected an object, got {type(data).__name__}")
    for key in TOP_KEYS:
        if key not in data:
            _fail("top level", f"missing field {key!r}")
    if data["schema_version"] != SCHEMA_VERSION:
        _fail("schema_version", f"expected {SCHEMA_VERSION}, got {data['schema_version']!r}")
    for key in ("command", "git_commit", "date", "preset"):
        if not isinstance(data[key], str):
            _fail(key, f"expected a string, got {data[key]!r}")
    try:
        datetime.datetime.fromisoformat(data["date"])
    except ValueError:
        _fail("date", f"expected an ISO 8601 date, got {data['date']!r}")
    if not isinstance(data["overrides"], list) or not all(isinstance(o, str) for o in data["overrides"]):
        _fail("overrides", "expected a list of 'section.field=value' strings")
    seeds = data["seeds"]
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) for s in seeds):
        _fail("seeds", f"expected a non-empty list of integers, got {seeds!r}")
    parts = data["part_grouping"]
    if not isinstance(parts, dict) or not parts:
        _fail("part_grouping", "expected an object part -> joint indices")
    if not isinstance(data["budget"], dict):
        _fail("budget", "expected an object")
    variants = data["variants"]
    if not isinstance(variants, dict) or not variants:
        _fail("variants", "expected a non-empty object variant -> results")
    for name, v in variants.items():
        where = f"variants.{name}"
        if not isinstance(v, dict):
            _fail(where, "expected an object")
        for key in ("description", "overrides", "runs", "mean", "std"):
            if key not in v:
                _fail(where, f"missing field {key!r}")
        runs = v["runs"]
        if not isinstance(runs, list) or not runs:
            _fail(f"{where}.runs", "expected a non-empty list")
        if sorted(r.get("seed") for r in runs if isinstance(r, dict)) != sorted(seeds):
            _fail(f"{where}.runs", f"seeds {[r.get('seed') for r in runs if isinstance(r, dict)]} "
                                   f"do not match the top-level seeds {seeds}")
        for i, r in enumerate(runs):
            rw = f"{where}.runs[{i}]"
            _object_with(r, RUN_KEYS, rw)
            for key in ("mpjpe", "pa_mpjpe", "mean_pose_mpjpe", "search_seconds", "retrain_seconds"):
                _number(r[key], f"{rw}.{key}", 0)
            for key in ("params", "macs"):
                if not isinstance(r[key], int) or r[key] <= 0:
                    _fail(f"{rw}.{key}", f"expected a positive integer, got {r[key]!r}")
            if not isinstance(r["per_part_mpjpe"], dict) or set(r["per_part_mpjpe"]) != set(parts):
                _fail(f"{rw}.per_part_mpjpe", f"expected one value per part of part_grouping {sorted(parts)}")
            for part, value in r["per_part_mpjpe"].items():
                _number(value, f"{rw}.per_part_mpjpe.{part}", 0)
            if r["genotype"] is not None and not isinstance(r["genotype"], dict):
                _fail(f"{rw}.genotype", "expected null or an object part -> cell")
        expected_mean, expected_std = aggregate(runs)
        for stat, expected in (("mean", expected_mean), ("std", expected_std)):
            got = v[stat]
            if not isinstance(got, dict):
                _fail(f"{where}.{stat}", "expected an object")
            for key in SCALAR_KEYS:
                if key not in got:
                    _fail(f"{where}.{stat}", f"missing field {key!r}")
                if not _close(_number(got[key], f"{where}.{stat}.{key}"), expected[key]):
                    _fail(f"{where}.{stat}.{key}", f"{got[key]!r} does not match its runs ({expected[key]!r})")
            pp = got.get("per_part_mpjpe")
            if not isinstance(pp, dict) or set(pp) != set(parts):
                _fail(f"{where}.{stat}.per_part_mpjpe", f"expected one value per part {sorted(parts)}")
            for part in parts:
                if not _close(_number(pp[part], f"{where}.{stat}.per_part_mpjpe.{part}"),
                              expected["per_part_mpjpe"][part]):
                    _fail(f"{where}.{stat}.per_part_mpjpe.{part}", "does not match its runs")
    _validate_comparisons(data["comparisons"], variants)
    agreement = data["agreement"]
    if not isinstance(agreement, dict):
        _fail("agreement", "expected an object variant -> agreement summary")
    for name, a in agreement.items():
        where = f"agreement.{name}"
        if name not in variants:
            _fail(where, "names a variant that is not in 'variants'")
        if not isinstance(a, dict) or not {"labels", "num_genotypes", "parts", "mean"} <= set(a):
            _fail(where, "expected labels, num_genotypes, parts and mean")
        for key, value in a["mean"].items():
            if value is not None and not 0 <= _number(value, f"{where}.mean.{key}") <= 1:
                _fail(f"{where}.mean.{key}", f"expected a fraction in [0, 1], got {value!r}")


def _validate_comparisons(comparisons: Any, variants: dict[str, Any]) -> None:
    """Every comparison names two variants and a metric, and its numbers are what
    :func:`~partnas_lib.ablation.stats.paired_comparisons` computes from those variants' runs."""
    if not isinstance(comparisons, list):
        _fail("comparisons", "expected a list")
    pairs: list[tuple[str, str]] = []
    for i, c in enumerate(comparisons):
        where = f"comparisons[{i}]"
        _object_with(c, COMPARISON_KEYS, where)
        if c["a"] not in variants or c["b"] not in variants:
            _fail(where, f"compares {c['a']!r} with {c['b']!r}, not both variants of this ablation")
        if c["test"] != "paired":
            _fail(f"{where}.test", f"expected 'paired', got {c['test']!r}")
        if (c["a"], c["b"]) not in pairs:
            pairs.append((c["a"], c["b"]))
    metrics = list(dict.fromkeys(c["metric"] for c in comparisons))
    if any(m not in RUN_KEYS for m in metrics):
        _fail("comparisons", f"unknown metric in {metrics}")
    expected = paired_comparisons({n: v["runs"] for n, v in variants.items()}, pairs, metrics)
    by_key = {(e["a"], e["b"], e["metric"]): e for e in expected}
    for i, c in enumerate(comparisons):
        e = by_key.get((c["a"], c["b"], c["metric"]))
        for key in ("n", "mean_diff_mm", "ci95_mm", "p", "p_holm", "mdd_mm"):
            got, want = c[key], e[key] if e else None
            same = (got is None and want is None) or (
                got is not None and want is not None and np.allclose(np.asarray(got, float), np.asarray(want, float),
                                                                     rtol=1e-6, atol=1e-9))
            if not same:
                _fail(f"comparisons[{i}].{key}", f"{got!r} does not match the runs ({want!r})")


def upgrade_ablation(data: dict[str, Any]) -> dict[str, Any]:
    """An ``ablation.json`` of an older schema brought to :data:`SCHEMA_VERSION` (a new dict).

    1 -> 2: per-part MPJPE without the root joint -- exact, since the root's root-aligned error
    is zero: a part of ``n`` joints holding the root had its error sum divided by ``n``, now by
    ``n - 1``; means and stds recomputed; paired ``comparisons`` added from the runs.
    """
    version = data.get("schema_version")
    if version == SCHEMA_VERSION:
        return data
    if version != 1:
        _fail("schema_version", f"cannot upgrade version {version!r} (this partnas reads 1 and {SCHEMA_VERSION})")
    out = {**data, "schema_version": SCHEMA_VERSION, "variants": {}}
    scale = {part: len(j) / (len(j) - 1) for part, j in data["part_grouping"].items() if ROOT in j and len(j) > 1}
    for name, v in data["variants"].items():
        runs = [{**r, "per_part_mpjpe": {p: e * scale.get(p, 1.0) for p, e in r["per_part_mpjpe"].items()}}
                for r in v["runs"]]
        mean, std = aggregate(runs)
        out["variants"][name] = {**v, "runs": runs, "mean": mean, "std": std}
    runs_by_variant = {n: v["runs"] for n, v in out["variants"].items()}
    out["comparisons"] = paired_comparisons(runs_by_variant, comparison_pairs(list(runs_by_variant)))
    return out
