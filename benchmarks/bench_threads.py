"""Two partnas trainings on one machine: how much do they slow each other down?

torch runs its CPU kernels on an OpenMP pool with one thread per core; two processes that each
take every core spin-wait on each other (:mod:`partnas_lib.threads`).  This benchmark starts
two training processes *at the same time* (the part-aware network of the ``cpu`` preset, batch
32, training steps as retrain runs them) for each thread policy and measures their total
training throughput once both run:

* ``single``: each process pinned to one thread (``--threads 1``): the reference;
* ``auto``: partnas's default, ``--threads auto`` (the jobs register and split the cores);
* ``torch default``: no policy at all (each process takes every core, as partnas did before).

The target: two concurrent trainings with the default policy keep at least 0.9x the total
throughput of two single-thread jobs.  Also recorded: one process alone with the default policy.

Usage::

    python benchmarks/bench_threads.py            # about 2 minutes on 2 cores

Writes ``benchmarks/results/bench_threads.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
POLICIES = {"single": "1", "auto": "auto", "torch default": None}


def worker(args: argparse.Namespace) -> dict:
    """One training process: warm up, then train for ``--seconds`` and report images/s."""
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_models import training_step

    from partnas_lib import threads
    from partnas_lib.config import get_preset
    from partnas_lib.models.build import build_derived, random_genotype

    if args.policy is not None:
        threads.configure(args.policy)
    cfg = get_preset("cpu")
    torch.manual_seed(0)
    step = training_step(build_derived(cfg, random_genotype(cfg, 0)), cfg.data.image_size, args.batch)
    t_end = time.monotonic() + args.warmup
    while time.monotonic() < t_end:
        threads.rebalance()
        step()
    images, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < args.seconds:
        threads.rebalance()
        step()
        images += args.batch
    return {"images_per_s": images / (time.perf_counter() - t0), "torch_threads": torch.get_num_threads()}


def run_jobs(policy: str | None, jobs: int, args: argparse.Namespace, cache: str) -> list[dict]:
    cmd = [sys.executable, __file__, "--worker", "--seconds", str(args.seconds), "--warmup", str(args.warmup),
           "--batch", str(args.batch)]
    if policy is not None:
        cmd += ["--policy", policy]
    env = {**os.environ, "PARTNAS_CACHE": cache}
    env.pop("OMP_NUM_THREADS", None)
    env.pop("PARTNAS_THREADS", None)
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True) for _ in range(jobs)]
    out = []
    for p in procs:
        stdout, _ = p.communicate()
        if p.returncode:
            raise SystemExit(f"worker failed with exit code {p.returncode}")
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=20.0, help="timed training per process")
    p.add_argument("--warmup", type=float, default=8.0, help="untimed training first (covers the auto policy's "
                                                            "first re-check, every 5 s)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--out", default=str(RESULTS / "bench_threads.json"))
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--policy", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    with tempfile.TemporaryDirectory() as cache:
        rows = {"one job alone (auto)": run_jobs("auto", 1, args, cache)}
        for name, policy in POLICIES.items():
            rows[f"two jobs, {name}"] = run_jobs(policy, 2, args, cache)
    totals = {name: sum(r["images_per_s"] for r in runs) for name, runs in rows.items()}
    reference = totals["two jobs, single"]
    result = {
        "benchmark": "two concurrent cpu-preset trainings of the part-aware network: total img/s per thread policy",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpus": os.cpu_count(), "load_average_1min_at_end": os.getloadavg()[0]},
        "seconds_per_job": args.seconds, "batch": args.batch,
        "runs": rows, "total_images_per_s": totals,
        "over_two_single_thread_jobs": {name: t / reference for name, t in totals.items()},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'jobs and thread policy':<30}{'threads':>10}{'total img/s':>13}{'x two 1-thread jobs':>21}")
    for name, runs in rows.items():
        print(f"{name:<30}{'/'.join(str(r['torch_threads']) for r in runs):>10}{totals[name]:>13.1f}"
              f"{totals[name] / reference:>21.2f}")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
