"""Search step cost: plain DARTS (K=1, no edge normalisation) vs PC-DARTS (K=4, edge normalisation).

PC-DARTS (Xu et al. 2020) sends only ``1/K`` of a cell's channels through the mixed ops, which
is what lets it search with large batches in little memory (docs/method.md Sec. 4: 0.1 GPU-day in
under 4 GB on CIFAR-10).  This benchmark measures, on the *same batch* and the same supernet
otherwise, the time and the peak memory of one search step -- an architecture step (forward +
backward on the alpha/beta half) plus a weight step (forward + backward + clip + Adam), as in
:func:`partnas_lib.train.search.run_search` -- and prints their ratios.

How memory is measured (recorded in the JSON as ``memory_method``):

* on a GPU: ``torch.cuda.max_memory_allocated`` during the step, minus the memory allocated
  before it;
* on a CPU: every variant runs in a fresh subprocess (so one variant's allocations cannot hide
  the other's), with glibc told to serve large blocks by ``mmap`` (``MALLOC_MMAP_THRESHOLD_``) so
  freed tensors leave the resident set at once; the figure is the process's peak resident set
  size after the step (``resource.getrusage(...).ru_maxrss``) minus its resident set size just
  before it.  It includes everything the step allocates (activations kept for backward,
  gradients, Adam's moment buffers) -- the same quantity ``max_memory_allocated`` reports on GPU,
  up to allocator overhead.

Step times are measured in a second fresh subprocess per variant with the default allocator
settings (serving every large block by ``mmap`` costs page faults that would distort them).

Usage::

    python benchmarks/bench_search.py                      # cpu preset, batch 32
    python benchmarks/bench_search.py --preset smoke --batch 16 --steps 2
    git worktree add /tmp/ref f6225cd && python benchmarks/bench_search.py --threads 2 --reference-tree /tmp/ref

Writes ``benchmarks/results/bench_search.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
VARIANTS = {
    "darts": {"partial_channels": 1, "edge_norm": False, "label": "DARTS (K=1, no edge norm)"},
    "pcdarts": {"partial_channels": 4, "edge_norm": True, "label": "PC-DARTS (K=4, edge norm)"},
}


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _maxrss_bytes() -> int:
    # ru_maxrss is in KiB on Linux (bytes on macOS)
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def worker(args: argparse.Namespace) -> dict:
    """One variant in this process: build, then either the memory of the first step
    (``--measure memory``) or the median time of ``--steps`` steps after a warm-up one."""
    import torch

    from partnas_lib.config import get_preset
    from partnas_lib.models.build import build_supernet
    from partnas_lib.models.integral import integral_l1_loss

    torch.set_num_threads(args.threads)
    v = VARIANTS[args.variant]
    cfg = get_preset(args.preset)
    cfg.search.partial_channels, cfg.search.edge_norm = v["partial_channels"], v["edge_norm"]
    cfg.validate()
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = build_supernet(cfg).to(device).train()
    s, geo = cfg.data.image_size, model.geometry
    g = torch.Generator().manual_seed(0)  # the same batch for every variant
    images = [torch.rand(args.batch, 3, s, s, generator=g).to(device) for _ in range(2)]
    hi = torch.tensor([geo.size - 1, geo.size - 1, geo.depth_bins - 1], dtype=torch.float32)
    targets = [(torch.rand(args.batch, 17, 3, generator=g) * hi).to(device) for _ in range(2)]
    vis = torch.ones(args.batch, 17, device=device)
    has3d = torch.ones(args.batch, device=device)
    try:  # the optimiser the library's search uses; a --reference-tree checkout may predate it
        from partnas_lib.train.device import make_adam
    except ImportError:
        try:
            from partnas_lib.train.loop import make_adam
        except ImportError:
            def make_adam(params, device, **kw):  # type: ignore[no-redef]
                return torch.optim.Adam(params, **kw)
    w_opt = make_adam(model.weight_parameters(), device, lr=1e-3)
    a_opt = make_adam(model.arch_parameters(), device, lr=6e-4, betas=(0.5, 0.999), weight_decay=1e-3)

    try:  # the library's own DARTS step; a --reference-tree checkout may predate it
        from partnas_lib.train.steps import search_step
    except ImportError:
        search_step = None
    batches = [{"image": images[i], "target": targets[i]} for i in range(2)]
    weights = model.weight_parameters()

    def loss_fn(net: torch.nn.Module, batch: dict) -> torch.Tensor:
        return integral_l1_loss(net.predict(batch["image"]), batch["target"], vis, has3d)

    def step() -> None:
        if search_step is not None:
            search_step(model, w_opt, a_opt, batches[0], batches[1], loss_fn, weights, grad_clip=5.0)
        else:
            inline_step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    def inline_step() -> None:
        a_opt.zero_grad(set_to_none=True)
        integral_l1_loss(model.predict(images[1]), targets[1], vis, has3d).backward()
        a_opt.step()
        w_opt.zero_grad(set_to_none=True)
        integral_l1_loss(model.predict(images[0]), targets[0], vis, has3d).backward()
        torch.nn.utils.clip_grad_norm_(model.weight_parameters(), 5.0, foreach=True)
        w_opt.step()

    if args.measure == "time":
        step()  # warm-up: allocates gradients and Adam state
        times = []
        for _ in range(args.steps):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
        return {"step_seconds_median": statistics.median(times), "step_seconds": times}
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        step()
        peak = torch.cuda.max_memory_allocated() - before
        method = "torch.cuda.max_memory_allocated during the first step minus memory_allocated before it"
        lower_bound = False
    else:
        rss0, max0 = _rss_bytes(), _maxrss_bytes()
        step()
        max1 = _maxrss_bytes()
        peak = max1 - rss0
        method = ("CPU: peak RSS (getrusage ru_maxrss) after the first step minus RSS before it, fresh "
                  "subprocess per variant, MALLOC_MMAP_THRESHOLD_=131072")
        lower_bound = max1 <= max0  # the step never exceeded an earlier peak: delta is a lower bound
    return {
        "variant": args.variant, "label": v["label"], **{k: v[k] for k in ("partial_channels", "edge_norm")},
        "preset": args.preset, "batch": args.batch, "image_size": s, "parts": len(model.grouping),
        "head_channels": cfg.model.head_channels, "device": str(device), "threads": args.threads,
        "peak_memory_bytes": int(peak), "peak_memory_is_lower_bound": bool(lower_bound), "memory_method": method,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="cpu")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=3, help="timed steps after the measured one")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cuda" if _cuda() else "cpu")
    p.add_argument("--reference-tree", default=None, metavar="DIR",
                   help="also time the PC-DARTS step of another checkout (e.g. `git worktree add /tmp/ref f6225cd`)")
    p.add_argument("--reference-runs", type=int, default=5, help="fresh processes per checkout, in turns")
    p.add_argument("--out", default=str(RESULTS / "bench_search.json"))
    p.add_argument("--variant", choices=sorted(VARIANTS), help=argparse.SUPPRESS)
    p.add_argument("--measure", choices=["memory", "time"], default="memory", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.variant:  # subprocess mode
        print(json.dumps(worker(args)))
        return
    rows = {}
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    for name in VARIANTS:
        cmd = _cmd(args, name)
        runs = {}
        for measure, extra in (("memory", {"MALLOC_MMAP_THRESHOLD_": "131072"}), ("time", {})):
            out = subprocess.run([*cmd, "--measure", measure], env={**env, **extra}, capture_output=True,
                                 text=True, check=True).stdout
            runs[measure] = json.loads(out.strip().splitlines()[-1])
        rows[name] = {**runs["memory"], **runs["time"]}
    reference = None
    if args.reference_tree:  # the same step, same batch, on the other checkout's partnas_lib
        ref_env = {**env, "PYTHONPATH": str(Path(args.reference_tree).resolve())}
        times = {"this": [], "reference": []}
        for _ in range(args.reference_runs):  # in turns: this, reference, this, reference, ...
            for tree, e in (("this", env), ("reference", ref_env)):
                out = subprocess.run([*_cmd(args, "pcdarts"), "--measure", "time"], env=e, capture_output=True,
                                     text=True, check=True).stdout
                times[tree].append(json.loads(out.strip().splitlines()[-1])["step_seconds_median"])
        reference = {"tree": args.reference_tree, "variant": "pcdarts",
                     "step_seconds_this": statistics.median(times["this"]),
                     "step_seconds_reference": statistics.median(times["reference"]), "runs": times}
        reference["speedup"] = reference["step_seconds_reference"] / reference["step_seconds_this"]
    d, pc = rows["darts"], rows["pcdarts"]
    result = {
        "benchmark": "search step: DARTS K=1 vs PC-DARTS K=4, same batch",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count()},
        "variants": rows,
        "ratio_pcdarts_over_darts": {
            "step_time": pc["step_seconds_median"] / d["step_seconds_median"],
            "peak_memory": pc["peak_memory_bytes"] / d["peak_memory_bytes"],
        },
        "reference": reference,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"search step, preset {args.preset}, batch {args.batch}, {d['parts']} parts, "
          f"{d['head_channels']} head channels, device {args.device}, {args.threads} thread(s)")
    print(f"{'variant':<28}{'step time (s)':>15}{'peak memory (MiB)':>20}")
    for r in rows.values():
        flag = " (lower bound)" if r["peak_memory_is_lower_bound"] else ""
        print(f"{r['label']:<28}{r['step_seconds_median']:>15.3f}{r['peak_memory_bytes'] / 2**20:>20.1f}{flag}")
    ratio = result["ratio_pcdarts_over_darts"]
    print(f"{'ratio PC-DARTS / DARTS':<28}{ratio['step_time']:>15.2f}{ratio['peak_memory']:>20.2f}")
    print(f"memory: {d['memory_method']}")
    if reference:
        print(f"PC-DARTS step, this checkout {reference['step_seconds_this']:.3f} s vs {args.reference_tree} "
              f"{reference['step_seconds_reference']:.3f} s: {reference['speedup']:.2f}x faster")
    print(f"written to {args.out}")


def _cmd(args: argparse.Namespace, variant: str) -> list[str]:
    return [sys.executable, __file__, "--variant", variant, "--preset", args.preset, "--batch", str(args.batch),
            "--steps", str(args.steps), "--threads", str(args.threads), "--device", args.device]


def _cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


if __name__ == "__main__":
    main()
