"""Rendering speed of the synthetic data vs how fast the `cpu` preset's training consumes it.

Prints rendered samples per second at the `cpu` and `paper` crop sizes next to the training
step throughput (images/s, forward + backward + Adam step) of the `cpu` preset's derived
network, and writes the figures to ``benchmarks/results/bench_data.json``.  Target: rendering
at least 5x faster than training consumes at the `cpu` preset, so data never starves training
(the renderer is vectorised in torch and needs no worker processes).

    python benchmarks/bench_data.py [--samples 512] [--steps 10]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from partnas_lib.config import get_preset
from partnas_lib.data.synth.synthetic import generate_synthetic
from partnas_lib.models.build import build_derived
from partnas_lib.nas.genotype import Genotype, random_cell
from partnas_lib.skeleton import get_grouping

RESULTS = Path(__file__).resolve().parent / "results"


def render_rate(image_size: int, samples: int, supersample: int) -> float:
    generate_synthetic(seed=99, start=0, count=16, image_size=image_size, supersample=supersample)  # warm-up
    t = time.perf_counter()
    generate_synthetic(seed=99, start=16, count=samples, image_size=image_size, supersample=supersample)
    return samples / (time.perf_counter() - t)


def train_rate(steps: int) -> float:
    cfg = get_preset("cpu")
    rng = np.random.default_rng(0)
    grouping = get_grouping(cfg.model.parts)
    genotype = Genotype({n: random_cell(rng, cfg.search.ops) for n in grouping.part_names},
                        grouping.to_json(), cfg.search.ops)
    model = build_derived(cfg, genotype).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    bs, s = cfg.retrain.batch_size, cfg.data.image_size
    x = torch.rand(bs, 3, s, s)
    target = torch.rand(bs, 17, 3)

    def step() -> None:
        opt.zero_grad()
        (model.predict(x) - target).abs().mean().backward()
        opt.step()

    step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * bs / (time.perf_counter() - t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    cpu, paper = get_preset("cpu"), get_preset("paper")
    rows = {
        "render_cpu_preset_per_s": render_rate(cpu.data.image_size, args.samples, cpu.data.supersample),
        "render_paper_preset_per_s": render_rate(paper.data.image_size, max(32, args.samples // 8),
                                                 paper.data.supersample),
        "train_cpu_preset_images_per_s": train_rate(args.steps),
    }
    rows["render_over_train_cpu"] = rows["render_cpu_preset_per_s"] / rows["train_cpu_preset_images_per_s"]
    result = {"figures": rows, "torch_threads": torch.get_num_threads(), "machine": platform.machine(),
              "load_average_1min": __import__("os").getloadavg()[0],  # other jobs distort the figures
              "processor_count": __import__("os").cpu_count(), "date": time.strftime("%Y-%m-%d")}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_data.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'figure':34s} value")
    for k, v in rows.items():
        print(f"{k:34s} {v:10.1f}")
    print(f"target: render_over_train_cpu >= 5 -> {'OK' if rows['render_over_train_cpu'] >= 5 else 'NOT MET'}")


if __name__ == "__main__":
    main()
