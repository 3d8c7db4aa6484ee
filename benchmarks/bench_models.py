"""Baseline vs part-aware network: parameters, multiply-adds, CPU latency and training speed.

The paper's efficiency claim (docs/method.md Sec. 1): against the ResNet-50 + deconvolution network
of 3DMPPE (34.3 M parameters, 8.4 G multiply-adds at 256x256), the part-aware network has 62 %
(ECCV) / 64.4 % (IJCV) fewer parameters at roughly the same / 8.5 % fewer multiply-adds.  This
benchmark measures, for the ``cpu`` and ``paper`` presets:

* parameters and multiply-adds (:mod:`partnas_lib.models.summary`, ``FlopCounterMode``);
* CPU inference latency per image (eval mode, ``torch.no_grad``, median over a few batches);
* CPU training throughput in images/s (forward, soft-argmax L1 loss, backward, Adam step).

The part-aware networks are built from random genotypes of the search space (``--genotypes``
seeds) and from genotype files (``--genotype``, e.g. the one ``make demo`` found).  Training is
timed side by side in one run (the models take turns, step by step), with the memory format and
optimiser the library's retrain uses, and reported as ratios to the baseline.  At the paper
preset the CPU timings use one genotype and few iterations (the paper scale is meant for a GPU;
the figures only compare the two networks).  ``--reference-tree`` runs the same benchmark on
another checkout of partnas (e.g. the commit before a speed-up) in a subprocess and records
both, for before/after tables measured the same way.

Usage::

    python benchmarks/bench_models.py                  # cpu and paper presets, 2 threads
    python benchmarks/bench_models.py --presets cpu --genotype runs/demo/genotype.json
    git worktree add /tmp/ref f6225cd && python benchmarks/bench_models.py --reference-tree /tmp/ref

Writes ``benchmarks/results/bench_models.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from partnas_lib.config import get_preset
from partnas_lib.models.build import build_baseline, build_derived, random_genotype
from partnas_lib.models.integral import integral_l1_loss
from partnas_lib.models.summary import summarize_config
from partnas_lib.nas.genotype import Genotype

RESULTS = Path(__file__).resolve().parent / "results"
#: per preset: (inference batch, inference iterations, training batch, training iterations)
TIMING = {"smoke": (16, 3, 16, 2), "cpu": (32, 8, 32, 8), "paper": (1, 3, 2, 2)}


def _speed_options(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.nn.Module, torch.Tensor, object]:
    """The memory format and optimiser the library's retrain uses (``train.device``), so that the
    figures are what a user gets; a ``--reference-tree`` checkout without them runs plain."""
    from partnas_lib.config import get_preset as _preset
    try:
        from partnas_lib.train.device import make_adam, resolve_precision
    except ImportError:  # a reference checkout from before the one-loop layout
        try:
            from partnas_lib.train.loop import make_adam, resolve_precision
        except ImportError:  # the reference checkout predates these helpers
            return model, x, lambda params: torch.optim.Adam(params, lr=1e-3)
    precision = resolve_precision(_preset("cpu"), torch.device("cpu"))
    model = precision.model(model)
    if precision.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return model, x, lambda params: make_adam(params, torch.device("cpu"), lr=1e-3)


def time_inference(model: torch.nn.Module, image_size: int, batch: int, iters: int) -> float:
    """Median seconds per image of ``model.predict`` in eval mode (after one warm-up batch), on
    the inference copy evaluation uses (BatchNorm folded into the convolutions, where the
    checkout has it)."""
    try:
        from partnas_lib.models.fuse import fuse_conv_bn
        model = fuse_conv_bn(model)
    except ImportError:  # a --reference-tree checkout that predates it
        model = model.eval()
    model, x, _ = _speed_options(model, torch.rand(batch, 3, image_size, image_size))
    times = []
    with torch.no_grad():
        model.predict(x)
        for _ in range(iters):
            t0 = time.perf_counter()
            model.predict(x)
            times.append((time.perf_counter() - t0) / batch)
    return statistics.median(times)


def training_step(model: torch.nn.Module, image_size: int, batch: int):
    """One training step as retrain runs it: forward, L1 loss on soft-argmax coordinates,
    backward, Adam (after one warm-up step that allocates gradients and Adam's state)."""
    model.train()
    geo = model.geometry
    model, x, make_opt = _speed_options(model, torch.rand(batch, 3, image_size, image_size))
    hi = torch.tensor([geo.size - 1, geo.size - 1, geo.depth_bins - 1], dtype=torch.float32)
    target = torch.rand(batch, 17, 3) * hi
    vis, has3d = torch.ones(batch, 17), torch.ones(batch)
    opt = make_opt(model.parameters())

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        integral_l1_loss(model.predict(x), target, vis, has3d).backward()
        opt.step()

    step()
    return step


def time_training_side_by_side(models: dict[str, torch.nn.Module], image_size: int, batch: int,
                               iters: int) -> dict[str, float]:
    """Training images/s of every model, timed in turns (model A, B, C, A, B, C, ...) so that a
    change in the machine's speed during the run affects all of them alike."""
    steps = {name: training_step(m, image_size, batch) for name, m in models.items()}
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(iters):
        for name, step in steps.items():
            t0 = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - t0)
    return {name: batch / statistics.median(t) for name, t in times.items()}


def bench_preset(preset: str, genotype_seeds: list[int], genotype_files: list[str]) -> dict:
    cfg = get_preset(preset)
    s = cfg.data.image_size
    inf_batch, inf_iters, train_batch, train_iters = TIMING[preset]
    if preset == "paper":  # minutes per model on a CPU: time the first genotype only
        genotype_seeds, genotype_files = genotype_seeds[:1], genotype_files[:1]
    genotypes = {f"random seed {k}": random_genotype(cfg, k) for k in genotype_seeds}
    genotypes.update({f: Genotype.load(f) for f in genotype_files})
    torch.manual_seed(0)
    models = {"baseline": build_baseline(cfg), **{name: build_derived(cfg, g) for name, g in genotypes.items()}}
    base = summarize_config(cfg, "baseline")
    summaries = {"baseline": base, **{n: summarize_config(cfg, "derived", g) for n, g in genotypes.items()}}
    train = time_training_side_by_side(models, s, train_batch, train_iters)
    rows = {}
    for name, model in models.items():
        summ = summaries[name]
        rows[name] = {
            "params": summ["params"], "macs": summ["macs"], "trunk_params": summ["trunk_params"],
            "per_part_params": summ["per_part_params"],
            "latency_ms_per_image": 1e3 * time_inference(model, s, inf_batch, inf_iters),
            "train_images_per_s": train[name],
        }
    b = rows["baseline"]
    for name, r in rows.items():
        r["over_baseline"] = {"params": r["params"] / b["params"], "macs": r["macs"] / b["macs"],
                              "train_speed": r["train_images_per_s"] / b["train_images_per_s"],
                              "latency": r["latency_ms_per_image"] / b["latency_ms_per_image"]}
    derived = [r["over_baseline"] for n, r in rows.items() if n != "baseline"]
    return {
        "preset": preset, "image_size": s, "depth_bins": cfg.model.depth_bins,
        "timing": {"inference_batch": inf_batch, "inference_iters": inf_iters, "train_batch": train_batch,
                   "train_iters": train_iters},
        "models": rows,
        "worst_train_speed_ratio": min(d["train_speed"] for d in derived),
        "worst_latency_ratio": max(d["latency"] for d in derived),
        "max_param_ratio": max(d["params"] for d in derived),
    }


def print_table(result: dict) -> None:
    m = result["machine"]
    print(f"CPU: {m['processor'] or m['platform']}, {m['cpus']} cores, {m['threads']} torch thread(s), "
          f"torch {m['torch']}; MACs = multiply-adds per image")
    print(f"{'preset':<7}{'model':<26}{'params (M)':>11}{'MACs (G)':>10}{'ms/image':>10}{'train img/s':>13}"
          f"{'x speed':>9}{'x latency':>11}")
    for preset, r in result["presets"].items():
        for name, row in r["models"].items():
            o = row["over_baseline"]
            print(f"{preset:<7}{name[-26:]:<26}{row['params'] / 1e6:>11.3f}{row['macs'] / 1e9:>10.3f}"
                  f"{row['latency_ms_per_image']:>10.2f}{row['train_images_per_s']:>13.1f}"
                  f"{o['train_speed']:>9.2f}{o['latency']:>11.2f}")


def machine(threads: int) -> dict:
    try:
        from partnas_lib.threads import describe
        cpu = str(describe()["cpu"])
    except ImportError:  # a --reference-tree checkout that predates it
        cpu = platform.processor()
    return {"platform": platform.platform(), "processor": cpu or platform.processor(), "cpus": os.cpu_count(),
            "torch": torch.__version__, "threads": threads, "load_average_1min": os.getloadavg()[0]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--presets", nargs="+", default=["cpu", "paper"], choices=sorted(TIMING))
    p.add_argument("--genotypes", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="seeds of random genotypes")
    p.add_argument("--genotype", nargs="*", default=[], help="genotype JSON files to time as well")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reference-tree", default=None, metavar="DIR",
                   help="also run this benchmark on the partnas_lib of another checkout (e.g. "
                        "`git worktree add /tmp/ref f6225cd`), in a subprocess, and record both")
    p.add_argument("--out", default=str(RESULTS / "bench_models.json"))
    p.add_argument("--no-write", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    result = {
        "benchmark": "ResNet + deconv baseline vs part-aware networks: params, MACs, CPU latency, training speed",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": "python benchmarks/bench_models.py " + " ".join(sys.argv[1:]),
        "machine": machine(args.threads),
        "presets": {preset: bench_preset(preset, args.genotypes, args.genotype) for preset in args.presets},
    }
    print_table(result)
    if args.reference_tree:
        cmd = [sys.executable, __file__, "--presets", *args.presets, "--genotypes", *map(str, args.genotypes),
               "--threads", str(args.threads), "--no-write", "--out", "-"]
        env = {**os.environ, "PYTHONPATH": str(Path(args.reference_tree).resolve())}
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
        reference = json.loads(out[out.index("{"):])
        result["reference"] = {"tree": args.reference_tree, "commit": _commit(args.reference_tree),
                               "presets": reference["presets"]}
        print(f"reference checkout {args.reference_tree} ({result['reference']['commit']}):")
        print_table(reference)
    if args.no_write:
        print(json.dumps(result))
        return
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {args.out}")


def _commit(tree: str) -> str:
    try:
        return subprocess.run(["git", "-C", tree, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


if __name__ == "__main__":
    main()
