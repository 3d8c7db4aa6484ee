"""The paper's comparisons as one command: is the *part-aware search* what helps?

Chen et al. (ECCV 2020) claim two things: searching one decoder per body part beats one decoder
for all joints, and the searched network beats the ResNet-50 + deconvolution baseline with far
fewer parameters (docs/method.md Sec. 1).  A NAS result also has to beat architectures it did not
choose.  ``partnas ablate`` trains, at **equal training budget** (same data, same retrain
epochs, optimiser and augmentation; only the network differs), for several seeds:

==============  ===============================================================================
``part_aware``  the method: one searched cell per part, 5 kinematic parts
``shared``      one searched decoder for all 17 joints (``model.parts=1``): "previous methods"
``random``      one cell per part drawn at random from the same space (no search)
``baseline``    the 3DMPPE ResNet + 3 deconvolutions network scaled to the preset (no search)
==============  ===============================================================================

Each (variant, seed) is an ordinary run directory ``DIR/<variant>/seed<N>/`` produced by
:func:`partnas_lib.pipeline.reproduce` with ``resume=True``, so an interrupted ablation picks up
where it stopped (finished runs are not redone).  The results go to ``DIR/ablation.json``
(schema: :func:`validate_ablation`) and ``DIR/ablation.md``: per variant the mean and standard
deviation over seeds of MPJPE, PA-MPJPE, per-part MPJPE (always on the 5 kinematic parts, so
every variant is measured on the same joints), parameters, multiply-adds and wall times, plus
how much the genotypes of the searched variants agree across seeds
(:mod:`partnas_lib.nas.agreement`).
"""

from __future__ import annotations

import copy
import datetime
import json
import math
import subprocess
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from partnas_lib import pipeline, threads
from partnas_lib.config import Config, apply_overrides
from partnas_lib.io import atomic_write_text
from partnas_lib.models.summary import summarize_config
from partnas_lib.nas.agreement import format_agreement, genotype_agreement
from partnas_lib.nas.genotype import Genotype
from partnas_lib.skeleton import get_grouping
from partnas_lib.train.retrain import FINAL

SCHEMA_VERSION = 1
#: per-part errors are always reported on this grouping, whatever grouping a variant searched
REPORT_GROUPING = "5"
#: scalar figures aggregated (mean, std over seeds) per variant
SCALAR_KEYS = ("mpjpe", "pa_mpjpe", "params", "macs", "search_seconds", "retrain_seconds")
RUN_KEYS = ("seed", "dir", "mpjpe", "pa_mpjpe", "per_part_mpjpe", "params", "macs", "search_seconds",
            "retrain_seconds", "mean_pose_mpjpe", "genotype")
TOP_KEYS = ("schema_version", "command", "git_commit", "date", "preset", "overrides", "seeds",
            "part_grouping", "budget", "variants", "agreement")


@dataclass(frozen=True)
class Variant:
    """One arm of the ablation: config overrides applied on top of the preset and user overrides."""

    name: str
    description: str
    overrides: tuple[str, ...]

    @property
    def searched(self) -> bool:
        return "model.kind=searched" in self.overrides


VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("part_aware", "searched, one cell per part (5 kinematic parts): the method",
            ("model.kind=searched", "model.parts=5")),
    Variant("shared", "searched, one shared decoder for all 17 joints (1 part)",
            ("model.kind=searched", "model.parts=1")),
    Variant("random", "random cell per part from the same space (5 parts), no search",
            ("model.kind=random", "model.parts=5")),
    Variant("baseline", "3DMPPE ResNet + 3 deconvolutions (trunk to layer4), no search",
            ("model.kind=baseline", "model.parts=5")),
)}


def variant_config(base: Config, variant: Variant, seed: int) -> Config:
    """``base`` (preset + user overrides) with the variant's overrides and ``seed``."""
    cfg = copy.deepcopy(base)
    return apply_overrides(cfg, [*variant.overrides, f"seed={seed}"])


def _comparable(cfg: Config) -> dict[str, Any]:
    d = cfg.to_dict()
    d.pop("progress", None)
    d.pop("device", None)
    return d


def per_part_from_joints(per_joint: Sequence[float], grouping_spec: str = REPORT_GROUPING) -> dict[str, float]:
    """Per-part MPJPE from per-joint MPJPE (every joint is averaged over the same samples, so the
    mean over a part's joints of the per-joint means is the part's MPJPE)."""
    return {name: float(np.mean([per_joint[j] for j in joints])) for name, joints in get_grouping(grouping_spec).parts}


def run_one(cfg: Config, out: Path) -> dict[str, Any]:
    """Run (or resume, or just read) one (variant, seed) run directory; return its record."""
    config_path = out / "config.json"
    if config_path.exists():
        saved = Config.load(config_path)
        if _comparable(saved) != _comparable(cfg):
            raise ValueError(f"{config_path} was written by a different configuration than this ablation asks "
                             f"for (another preset or --set?); use another --out or delete {out}")
    if (out / "metrics.json").exists() and (out / "checkpoints" / FINAL).exists():
        metrics = json.loads((out / "metrics.json").read_text())
    else:
        metrics = pipeline.reproduce(cfg, out, resume=True)
    genotype = Genotype.load(out / "genotype.json") if cfg.model.kind != "baseline" else None
    summary = summarize_config(cfg, cfg.model.kind, genotype)
    return {
        "seed": cfg.seed,
        "dir": str(out),  # run_ablation makes it relative to the ablation directory
        "mpjpe": float(metrics["mpjpe"]),
        "pa_mpjpe": float(metrics["pa_mpjpe"]),
        "per_part_mpjpe": per_part_from_joints(metrics["per_joint_mpjpe"]),
        "params": int(summary["params"]),
        "macs": int(summary["macs"]),
        "search_seconds": float(metrics.get("search_seconds") or 0.0),
        "retrain_seconds": float(metrics.get("retrain_seconds") or 0.0),
        "mean_pose_mpjpe": float(metrics["mean_pose_mpjpe"]),
        "genotype": genotype.to_json()["parts"] if genotype is not None else None,
    }


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


def git_commit(repo: Path | None = None) -> str:
    """``HEAD`` of the repository holding partnas (``+dirty`` with uncommitted tracked changes),
    or ``unknown`` outside a git checkout."""
    repo = repo or Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def _worker_init(threads_per_worker: int) -> None:
    threads.configure(threads_per_worker)


def run_parallel(jobs: Sequence[tuple[Config, Path]], workers: int) -> None:
    """Run (or resume) the ``(config, run directory)`` jobs in ``workers`` parallel processes of
    ``cores // workers`` torch threads each (at least one).

    On a CPU this is how to use several cores for many small runs: small convolutions scale
    poorly across threads, so N single-thread processes train about N times as fast as one
    N-thread process, while N processes with N threads each slow each other down several times
    (:mod:`partnas_lib.threads`).  Progress bars are off in the workers; each run logs to its own
    ``log.txt``.
    """
    per_worker = max(1, threads.available_cores() // workers)
    threads.release()  # this process only waits: its cores are the workers'
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"), initializer=_worker_init,
                             initargs=(per_worker,)) as pool:
        futures = [pool.submit(run_one, replace(cfg, progress=False), out) for cfg, out in jobs]
        for f in futures:
            f.result()  # re-raises a worker's error here


def run_ablation(base: Config, out: str | Path, seeds: Sequence[int], variants: Sequence[str] | None = None,
                 overrides: Sequence[str] = (), command: str = "", workers: int = 1) -> dict[str, Any]:
    """Run every (variant, seed), aggregate, write ``ablation.json`` and ``ablation.md``.

    Args:
        base: the preset with the user's overrides already applied (``overrides`` are only recorded).
        seeds: one full run (search where applicable + retrain + evaluate) per seed and variant.
        variants: names from :data:`VARIANTS` (default: all four).
        workers: with N > 1, the runs go to N parallel processes (:func:`run_parallel`) first;
            the results are then read back exactly as a sequential ablation would read them.
    """
    out = Path(out)
    names = list(variants or VARIANTS)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown ablation variant(s) {unknown}; expected some of {list(VARIANTS)}")
    if not seeds:
        raise ValueError("the ablation needs at least one seed")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds {list(seeds)} repeat a seed")
    base.validate()
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    agreement: dict[str, Any] = {}
    if workers > 1:
        run_parallel([(variant_config(base, VARIANTS[name], s), out / name / f"seed{s}")
                      for name in names for s in seeds], workers)
    for name in names:
        variant = VARIANTS[name]
        runs = []
        for s in seeds:
            record = run_one(variant_config(base, variant, s), out / name / f"seed{s}")
            record["dir"] = f"{name}/seed{s}"
            runs.append(record)
        mean, std = aggregate(runs)
        results[name] = {"description": variant.description, "overrides": list(variant.overrides),
                         "runs": runs, "mean": mean, "std": std}
        if variant.searched:
            genotypes = [Genotype.load(out / r["dir"] / "genotype.json") for r in runs]
            agreement[name] = genotype_agreement(genotypes, labels=[f"seed{s}" for s in seeds])
    data = {
        "schema_version": SCHEMA_VERSION,
        "command": command,
        "git_commit": git_commit(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "preset": base.preset,
        "overrides": list(overrides),
        "seeds": [int(s) for s in seeds],
        "part_grouping": get_grouping(REPORT_GROUPING).to_json(),
        "budget": {
            "image_size": base.data.image_size,
            "num_train": base.data.num_train,
            "num_test": base.data.num_test,
            "search_epochs": base.search.epochs,
            "retrain_epochs": base.retrain.epochs,
            "retrain_batch_size": base.retrain.batch_size,
            "note": "every variant retrains with the same data, epochs, optimiser and augmentation; "
                    "only the searched variants also run the search",
        },
        "variants": results,
        "agreement": agreement,
    }
    validate_ablation(data)
    atomic_write_text(out / "ablation.json", json.dumps(data, indent=2) + "\n")
    atomic_write_text(out / "ablation.md", ablation_markdown(data))
    return data


# --------------------------------------------------------------------------------------------
# schema


def _fail(where: str, what: str) -> None:
    raise ValueError(f"ablation.json: {where}: {what}")


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
            if not isinstance(r, dict):
                _fail(rw, "expected an object")
            for key in RUN_KEYS:
                if key not in r:
                    _fail(rw, f"missing field {key!r}")
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


# --------------------------------------------------------------------------------------------
# is a difference real?


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
    from scipy import stats

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


# --------------------------------------------------------------------------------------------
# report


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
