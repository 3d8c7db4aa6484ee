"""Baseline vs part-aware network: parameters, multiply-adds, CPU latency and training speed.

The paper's efficiency claim (method.md Sec. 1): against the ResNet-50 + deconvolution network
of 3DMPPE (34.3 M parameters, 8.4 G multiply-adds at 256x256), the part-aware network has 62 %
(ECCV) / 64.4 % (IJCV) fewer parameters at roughly the same / 8.5 % fewer multiply-adds.  This
benchmark measures, for the ``cpu`` and ``paper`` presets:

* parameters and multiply-adds (:mod:`partnas_lib.models.summary`, ``FlopCounterMode``);
* CPU inference latency per image (eval mode, ``torch.no_grad``, median over a few batches);
* CPU training throughput in images/s (forward, soft-argmax L1 loss, backward, Adam step).

The part-aware network is built from random genotypes of the search space (``--genotypes``
seeds; the parameter ratio is reported for each, timings for the first) or from a genotype
file (``--genotype``).  At the paper preset the CPU timings use a tiny number of iterations
(the paper scale is meant for a GPU; the figures only compare the two networks).

Usage::

    python benchmarks/bench_models.py                  # cpu and paper presets
    python benchmarks/bench_models.py --presets cpu --threads 2

Writes ``benchmarks/results/bench_models.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
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
TIMING = {"smoke": (16, 3, 16, 2), "cpu": (32, 5, 32, 3), "paper": (1, 2, 2, 1)}


def time_inference(model: torch.nn.Module, image_size: int, batch: int, iters: int) -> float:
    """Median seconds per image of ``model.predict`` in eval mode (after one warm-up batch)."""
    model.eval()
    x = torch.rand(batch, 3, image_size, image_size)
    times = []
    with torch.no_grad():
        model.predict(x)
        for _ in range(iters):
            t0 = time.perf_counter()
            model.predict(x)
            times.append((time.perf_counter() - t0) / batch)
    return statistics.median(times)


def time_training(model: torch.nn.Module, image_size: int, batch: int, iters: int) -> float:
    """Training images per second: forward, L1 loss on soft-argmax coordinates, backward, Adam."""
    model.train()
    geo = model.geometry
    x = torch.rand(batch, 3, image_size, image_size)
    hi = torch.tensor([geo.size - 1, geo.size - 1, geo.depth_bins - 1], dtype=torch.float32)
    target = torch.rand(batch, 17, 3) * hi
    vis, has3d = torch.ones(batch, 17), torch.ones(batch)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        integral_l1_loss(model.predict(x), target, vis, has3d).backward()
        opt.step()

    step()  # warm-up (allocates gradients and Adam state)
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return batch / statistics.median(times)


def bench_preset(preset: str, genotype_seeds: list[int], genotype_file: str | None) -> dict:
    cfg = get_preset(preset)
    s = cfg.data.image_size
    inf_batch, inf_iters, train_batch, train_iters = TIMING[preset]
    base = summarize_config(cfg, "baseline")
    if genotype_file:
        genotypes = {genotype_file: Genotype.load(genotype_file)}
    else:
        genotypes = {f"random seed {k}": random_genotype(cfg, k) for k in genotype_seeds}
    derived = {name: summarize_config(cfg, "derived", g) for name, g in genotypes.items()}
    first_name, first = next(iter(genotypes.items()))
    torch.manual_seed(0)
    rows = {}
    for label, model, summ in (("baseline", build_baseline(cfg), base),
                               ("part_aware", build_derived(cfg, first), derived[first_name])):
        rows[label] = {
            "params": summ["params"], "macs": summ["macs"], "trunk_params": summ["trunk_params"],
            "per_part_params": summ["per_part_params"],
            "latency_ms_per_image": 1e3 * time_inference(model, s, inf_batch, inf_iters),
            "train_images_per_s": time_training(model, s, train_batch, train_iters),
        }
        del model
    rows["part_aware"]["genotype"] = first_name
    ratios = {name: {"params": d["params"] / base["params"], "macs": d["macs"] / base["macs"]}
              for name, d in derived.items()}
    return {
        "preset": preset, "image_size": s, "depth_bins": cfg.model.depth_bins,
        "timing": {"inference_batch": inf_batch, "inference_iters": inf_iters, "train_batch": train_batch,
                   "train_iters": train_iters},
        "models": rows,
        "part_aware_over_baseline": ratios,
        "max_param_ratio": max(r["params"] for r in ratios.values()),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--presets", nargs="+", default=["cpu", "paper"], choices=sorted(TIMING))
    p.add_argument("--genotypes", type=int, nargs="+", default=[0, 1, 2, 3, 4],
                   help="seeds of the random genotypes (timings use the first)")
    p.add_argument("--genotype", default=None, help="a genotype JSON instead of random ones")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(RESULTS / "bench_models.json"))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    result = {
        "benchmark": "ResNet + deconv baseline vs part-aware network: params, MACs, CPU latency, training speed",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count(),
                    "torch": torch.__version__, "threads": args.threads},
        "presets": {preset: bench_preset(preset, args.genotypes, args.genotype) for preset in args.presets},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"CPU, {args.threads} thread(s); MACs = multiply-adds per image")
    print(f"{'preset':<7}{'model':<12}{'params (M)':>12}{'MACs (G)':>10}{'ms/image':>10}{'train img/s':>13}")
    for preset, r in result["presets"].items():
        for name, m in r["models"].items():
            print(f"{preset:<7}{name:<12}{m['params'] / 1e6:>12.3f}{m['macs'] / 1e9:>10.3f}"
                  f"{m['latency_ms_per_image']:>10.2f}{m['train_images_per_s']:>13.2f}")
        ratios = r["part_aware_over_baseline"]
        print(f"{preset:<7}part-aware / baseline over {len(ratios)} genotype(s): params "
              + ", ".join(f"{v['params']:.3f}" for v in ratios.values())
              + "; MACs " + ", ".join(f"{v['macs']:.3f}" for v in ratios.values()))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
