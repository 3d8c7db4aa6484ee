"""Running an ablation: every (variant, seed) as an ordinary, resumable run directory, in
sequence or in parallel single-thread processes, then the mean and spread over seeds."""

from __future__ import annotations

import datetime
import json
import subprocess
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Sequence

from partnas_lib import pipeline, threads
from partnas_lib.ablation.report import ablation_markdown
from partnas_lib.ablation.schema import (
    REPORT_GROUPING,
    SCHEMA_VERSION,
    aggregate,
    validate_ablation,
)
from partnas_lib.ablation.stats import comparison_pairs, paired_comparisons
from partnas_lib.ablation.variants import VARIANTS, variant_config, variant_overrides
from partnas_lib.config import Config
from partnas_lib.data.synth.synthetic import RENDER_VERSION
from partnas_lib.eval.metrics import per_part_mpjpe
from partnas_lib.io import atomic_write_text
from partnas_lib.models.summary import summarize_config
from partnas_lib.nas.agreement import genotype_agreement
from partnas_lib.nas.genotype import Genotype
from partnas_lib.skeleton import get_grouping


def _comparable(cfg: Config) -> dict[str, Any]:
    d = cfg.to_dict()
    d.pop("progress", None)
    d.pop("device", None)
    return d


def run_one(cfg: Config, out: Path) -> dict[str, Any]:
    """Run (or resume, or just read) one (variant, seed) run directory; return its record."""
    config_path = out / "config.json"
    if config_path.exists():
        saved = Config.load(config_path)
        if _comparable(saved) != _comparable(cfg):
            raise ValueError(f"{config_path} was written by a different configuration than this ablation asks "
                             f"for (another preset or --set?); use another --out or delete {out}")
    if (out / "metrics.json").exists():
        # evaluate writes metrics.json last, atomically, so it marks a finished run; the checkpoint
        # is not needed to read the record (a committed benchmark keeps config, genotype, metrics)
        metrics = json.loads((out / "metrics.json").read_text())
        rendered = metrics.get("protocol", {}).get("render_version")
        if cfg.data.dataset == "synthetic" and rendered not in (None, RENDER_VERSION):
            raise ValueError(f"{out / 'metrics.json'}: trained and tested on people of generator version {rendered}, "
                             f"but this library renders version {RENDER_VERSION}; use another --out or delete {out}")
    else:
        metrics = pipeline.reproduce(cfg, out, resume=True)
    genotype = Genotype.load(out / "genotype.json") if cfg.model.kind != "baseline" else None
    summary = summarize_config(cfg, cfg.model.kind, genotype)
    return {
        "seed": cfg.seed,
        "dir": str(out),  # run_ablation makes it relative to the ablation directory
        "mpjpe": float(metrics["mpjpe"]),
        "pa_mpjpe": float(metrics["pa_mpjpe"]),
        "per_part_mpjpe": per_part_mpjpe(metrics["per_joint_mpjpe"], get_grouping(REPORT_GROUPING)),
        "params": int(summary["params"]),
        "macs": int(summary["macs"]),
        "search_seconds": float(metrics.get("search_seconds") or 0.0),
        "retrain_seconds": float(metrics.get("retrain_seconds") or 0.0),
        "mean_pose_mpjpe": float(metrics["mean_pose_mpjpe"]),
        "genotype": genotype.to_json()["parts"] if genotype is not None else None,
        "torch_threads": (metrics.get("machine") or {}).get("torch_threads"),  # None: run predates the record
    }


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
        variants: names from :data:`VARIANTS` (default: all of them).
        workers: with N > 1, the runs go to N parallel processes (:func:`run_parallel`) first;
            the results are then read back exactly as a sequential ablation would read them.
    """
    # Long because it is the ablation's one recipe top to bottom: configs per (variant, seed), run
    # them, aggregate, agreement, then the JSON and markdown files; splitting it hides the order.
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
    resolved = {name: variant_overrides(base, VARIANTS[name]) for name in names}
    if workers > 1:
        # seed-major: a long ablation stopped part-way holds the first seeds of every variant
        # (all but the runs still in flight), which the paired comparisons can already use
        run_parallel([(variant_config(base, resolved[name], s), out / name / f"seed{s}")
                      for s in seeds for name in names], workers)
    for name in names:
        variant = VARIANTS[name]
        runs = []
        for s in seeds:
            record = run_one(variant_config(base, resolved[name], s), out / name / f"seed{s}")
            record["dir"] = f"{name}/seed{s}"
            runs.append(record)
        mean, std = aggregate(runs)
        results[name] = {"description": variant.description, "overrides": resolved[name],
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
                    "only the searched variants also run the search (random_best: its selection instead, "
                    "at about the search's multiply-adds)",
        },
        "machine": {k: v for k, v in threads.describe().items() if k not in ("torch_threads", "thread_policy")},
        "workers": int(workers),
        "variants": results,
        "agreement": agreement,
        "comparisons": paired_comparisons({n: v["runs"] for n, v in results.items()},
                                          comparison_pairs(list(results))),
    }
    validate_ablation(data)
    atomic_write_text(out / "ablation.json", json.dumps(data, indent=2) + "\n")
    atomic_write_text(out / "ablation.md", ablation_markdown(data))
    return data
