"""Which speed levers help the derived part-aware network train on a CPU (issue 11's question).

The derived network of the ``cpu`` preset trains at ~0.4x the baseline's images/s on 2 cores
(``bench_models.py``).  A profile shows no single hot kernel: convolution backward, BatchNorm and
the depthwise convs of ~170 small layers, each a few passes over ``(32, 16, 16, 16)`` tensors.
This script times, side by side in one process (models take turns step by step), the levers
one would try first, all computing the same network:

* ``eager``: the library's derived network as retrain runs it (NHWC, fused Adam);
* ``same cell x5, separate heads`` vs ``same cell x5, one grouped head``: every part given
  the same cell, then either P separate heads or all P heads as one part-grouped network
  (``groups = P`` 1x1 convs, as the supernet does).  The grouped form is the best case for
  batching the per-part heads (one kernel call per op instead of P); with different cells per
  part, batching could only do less;
* ``torch.compile``: the eager network compiled with the default inductor backend (its first
  step, which compiles, is reported separately);
* ``bf16 autocast``: CPU bfloat16 autocast (AVX-512 BF16 where the CPU has it).

Usage::

    python benchmarks/bench_levers.py                  # cpu preset, 2 threads, with torch.compile
    python benchmarks/bench_levers.py --no-compile     # skip the (minutes-long) compilation

Writes ``benchmarks/results/bench_levers.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_models import machine  # noqa: E402

from partnas_lib.config import Config, get_preset  # noqa: E402
from partnas_lib.models.build import build_baseline, build_derived, build_trunk, random_genotype  # noqa: E402
from partnas_lib.models.heads import PartPoseNet, VolumeOutput  # noqa: E402
from partnas_lib.models.integral import integral_l1_loss  # noqa: E402
from partnas_lib.nas.cells import FixedCell  # noqa: E402
from partnas_lib.nas.genotype import CellGenotype, Genotype  # noqa: E402
from partnas_lib.skeleton import get_grouping  # noqa: E402
from partnas_lib.train.device import make_adam  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


class GroupedHeadsNet(PartPoseNet):
    """A derived network whose P heads (one shared cell) run as one part-grouped head."""

    def __init__(self, cfg: Config, cell: CellGenotype):
        m = cfg.model
        grouping = get_grouping(m.parts)
        trunk = build_trunk(cfg)
        super().__init__(trunk, grouping, cfg.data.image_size, m.head_cells, m.depth_bins, m.cube_mm)
        parts = len(grouping)
        c_pp, c_p = trunk.channels[-2], trunk.channels[-1]
        self.cells = nn.ModuleList()
        grouped = (False, False)  # the first cell reads the trunk, shared by all parts
        for _ in range(m.head_cells):
            c = FixedCell(c_pp, c_p, m.head_channels, cell, parts, grouped)
            self.cells.append(c)
            c_pp, c_p, grouped = c_p, c.out_channels, (grouped[1], True)
        self.parts = parts
        self.outs = nn.ModuleList(VolumeOutput(c_p // parts, len(j), m.depth_bins) for j in grouping.joint_lists)

    def part_volumes(self, feats: list[torch.Tensor], sizes: list[tuple[int, int]]) -> list[torch.Tensor]:
        s0, s1 = feats[-2], feats[-1]
        for cell, size in zip(self.cells, sizes):
            s0, s1 = s1, cell(s0, s1, size)
        return [out(x) for out, x in zip(self.outs, s1.chunk(self.parts, dim=1))]


def make_step(model: nn.Module, batch: int, size: int, amp: bool = False, compiled: bool = False):
    """A retrain-like step (NHWC, fused Adam, L1 on soft-argmax coordinates) and its first-call time."""
    model = model.to(memory_format=torch.channels_last).train()
    geo = model.geometry
    forward = torch.compile(model) if compiled else model
    opt = make_adam(model.parameters(), torch.device("cpu"), lr=1e-3)
    x = torch.rand(batch, 3, size, size).contiguous(memory_format=torch.channels_last)
    hi = torch.tensor([geo.size - 1, geo.size - 1, geo.depth_bins - 1], dtype=torch.float32)
    target, vis, has3d = torch.rand(batch, 17, 3) * hi, torch.ones(batch, 17), torch.ones(batch)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            pred = forward(x)
        integral_l1_loss(pred.float(), target, vis, has3d).backward()
        opt.step()

    t0 = time.perf_counter()
    step()
    first = time.perf_counter() - t0
    step()
    return step, first


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="cpu")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--no-compile", action="store_true")
    p.add_argument("--out", default=str(RESULTS / "bench_levers.json"))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    cfg = get_preset(args.preset)
    torch.manual_seed(0)
    genotype = random_genotype(cfg, 0)
    cell = genotype.cells[next(iter(genotype.cells))]
    same = Genotype({n: cell for n in genotype.cells}, genotype.grouping, genotype.ops)
    models = {
        "baseline": (build_baseline(cfg), {}),
        "eager (random seed 0)": (build_derived(cfg, genotype), {}),
        "bf16 autocast": (build_derived(cfg, genotype), {"amp": True}),
        "same cell x5, separate heads": (build_derived(cfg, same), {}),
        "same cell x5, one grouped head": (GroupedHeadsNet(cfg, cell), {}),
    }
    if not args.no_compile:
        models["torch.compile"] = (build_derived(cfg, genotype), {"compiled": True})
    steps, first = {}, {}
    for name, (model, opts) in models.items():
        print(f"preparing {name} ...", flush=True)
        steps[name], first[name] = make_step(model, args.batch, cfg.data.image_size, **opts)
    times: dict[str, list[float]] = {n: [] for n in steps}
    for _ in range(args.iters):
        for name, step in steps.items():
            t0 = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - t0)
    speed = {n: args.batch / statistics.median(t) for n, t in times.items()}
    eager = speed["eager (random seed 0)"]
    print(f"{'lever':<34}{'train img/s':>12}{'x eager':>9}{'x baseline':>12}{'first step s':>14}")
    for n, v in speed.items():
        print(f"{n:<34}{v:>12.1f}{v / eager:>9.2f}{v / speed['baseline']:>12.2f}{first[n]:>14.1f}")
    result = {
        "benchmark": "speed levers for the derived part-aware network on CPU (training img/s, side by side)",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": " ".join(["python", *sys.argv]),
        "machine": machine(args.threads), "preset": args.preset, "batch": args.batch, "iters": args.iters,
        "train_images_per_s": speed, "first_step_seconds": first,
        "over_eager": {n: v / eager for n, v in speed.items()},
        "over_baseline": {n: v / speed["baseline"] for n, v in speed.items()},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
