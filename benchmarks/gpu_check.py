"""One prepared GPU check: paper-size steps in bf16 + channels_last, and the torchrun / DDP paths.

Run it on a machine with one GPU (an H200 finishes in about 2 minutes, well inside 8)::

    python benchmarks/gpu_check.py                      # -> benchmarks/results/gpu.json
    python benchmarks/gpu_check.py --tiny --out /tmp/g  # CPU, smoke size, seconds (what the test runs)

What it does, each phase with its own peak memory (``torch.cuda.max_memory_allocated`` after
``reset_peak_memory_stats``; on a CPU the process's peak RSS instead, which only grows):

1. **search**: the ``paper`` preset's supernet (ResNet-50 to layer3, 5 parts, 96 head channels,
   64^3 volumes, 256x256 crops) takes ``--steps`` timed first-order search steps
   (:func:`partnas_lib.train.steps.search_step`: an alpha/beta step on one batch, then a weight
   step on another) after ``--warmup`` untimed ones, with bf16 autocast and channels_last as
   :func:`partnas_lib.train.device.resolve_precision` grants them (``train.amp`` and
   ``train.channels_last`` switched on).  img/s counts both batches of a step.
2. **retrain**: a derived network of random cells of the same space (what a search would
   produce) takes ``--steps`` timed :func:`~partnas_lib.train.steps.train_step` steps with the
   paper preset's augmentation.
3. **torchrun**: ``torchrun --standalone --nproc_per_node=1 -m partnas_lib.cli search`` at a tiny
   size (smoke preset, 64 samples, one epoch) in a subprocess: the launcher, the environment it
   sets and the device resolution.  With one process the library starts no process group
   (``partnas_lib.train.distributed.setup``), so
4. **ddp**: a process group of one (NCCL on a GPU, gloo on a CPU) and a
   ``DistributedDataParallel`` derived network taking two training steps under bf16 and
   channels_last: the gradient all-reduce path on this GPU.

The batches are synthetic people rendered at the preset's size (``--batch`` of them, reused in
shuffled orders), so the numbers measure the network, not the data pipeline.  The JSON records
the torch, CUDA and cuDNN versions, the device name, every phase's timings, img/s and peak
memory, and the total wall time; a phase that fails records its error and the others still run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a plain script from a checkout
    sys.path.insert(0, str(REPO))

from partnas_lib.config import Config, get_preset  # noqa: E402
from partnas_lib.data.batches import make_batch  # noqa: E402
from partnas_lib.data.synth.synthetic import load_synthetic_split  # noqa: E402
from partnas_lib.data.transforms import AugmentConfig  # noqa: E402
from partnas_lib.models.build import build_derived, build_supernet, random_genotype  # noqa: E402
from partnas_lib.train.device import make_adam, resolve_precision  # noqa: E402
from partnas_lib.train.steps import pose_loss, search_step, train_step  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
TINY_SEARCH = ["--preset", "smoke", "--no-progress", "--threads", "1", "--set", "data.num_train=64",
               "--set", "data.num_test=16", "--set", "data.num_val=0", "--set", "search.epochs=1",
               "--set", "search.warmup_epochs=0", "--set", "search.batch_size=16"]


def environment(device: torch.device) -> dict[str, Any]:
    env: dict[str, Any] = {"torch": torch.__version__, "cuda": torch.version.cuda,
                           "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
                           "device": str(device), "platform": platform.platform(), "cpus": os.cpu_count(),
                           "cudnn_benchmark": torch.backends.cudnn.benchmark}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env.update({"device_name": torch.cuda.get_device_name(device), "device_memory_bytes": props.total_memory,
                    "compute_capability": f"{props.major}.{props.minor}", "bf16": torch.cuda.is_bf16_supported()})
    else:
        env["device_name"] = platform.processor() or "cpu"
    return env


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _peak(device: torch.device) -> dict[str, Any]:
    if device.type == "cuda":
        return {"peak_memory_bytes": int(torch.cuda.max_memory_allocated(device)),
                "memory_method": "torch.cuda.max_memory_allocated since the phase began"}
    return {"peak_memory_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "memory_method": "CPU: peak RSS of the whole process so far (ru_maxrss)"}


def _timed(step: Callable[[int], None], warmup: int, steps: int, device: torch.device) -> list[float]:
    for i in range(warmup):
        step(i)
    times = []
    for i in range(steps):
        _sync(device)
        t0 = time.perf_counter()
        step(warmup + i)
        _sync(device)
        times.append(time.perf_counter() - t0)
    return times


def _batches(cfg: Config, n: int, device: torch.device) -> Callable[[int], dict[str, torch.Tensor]]:
    """``batch(i)``: ``n`` rendered samples in the ``i``-th seeded order."""
    arrays = load_synthetic_split("train", n, cfg.data.seed, cfg.data.image_size, 1, cache_dir=None, progress=False)
    return lambda i: make_batch(arrays, np.random.default_rng(i).permutation(n), device)


def search_phase(cfg: Config, device: torch.device, batch: Callable, args: argparse.Namespace) -> dict[str, Any]:
    precision = resolve_precision(cfg, device, search=True)
    _reset_peak(device)
    model = precision.model(build_supernet(cfg).to(device))
    weights = list(model.weight_parameters())
    w_opt = make_adam(weights, device, lr=cfg.search.lr)
    a_opt = make_adam(model.arch_parameters(), device, lr=cfg.search.arch_lr, betas=(0.5, 0.999), weight_decay=1e-3)

    def loss(net: torch.nn.Module, b: dict[str, torch.Tensor]) -> torch.Tensor:
        return pose_loss(net, b, model.geometry, device, precision=precision)

    def step(i: int) -> None:
        search_step(model, w_opt, a_opt, batch(2 * i), batch(2 * i + 1), loss, weights, grad_clip=cfg.search.grad_clip)

    times = _timed(step, args.warmup, args.steps, device)
    return _report(times, 2 * args.batch, precision, model, device)


def retrain_phase(cfg: Config, device: torch.device, batch: Callable, args: argparse.Namespace) -> dict[str, Any]:
    precision = resolve_precision(cfg, device)
    _reset_peak(device)
    model = precision.model(build_derived(cfg, random_genotype(cfg)).to(device))
    opt = make_adam(model.parameters(), device, lr=cfg.retrain.lr)
    augment, augment_cfg = torch.Generator().manual_seed(0), AugmentConfig.from_retrain(cfg.retrain)

    def loss(net: torch.nn.Module, b: dict[str, torch.Tensor]) -> torch.Tensor:
        return pose_loss(net, b, model.geometry, device, augment=augment, augment_cfg=augment_cfg, precision=precision)

    times = _timed(lambda i: train_step(model, opt, batch(i), loss), args.warmup, args.steps, device)
    return _report(times, args.batch, precision, model, device)


def _report(times: list[float], images_per_step: int, precision: Any, model: torch.nn.Module,
            device: torch.device) -> dict[str, Any]:
    median = statistics.median(times)
    return {"steps": len(times), "step_seconds_median": median, "step_seconds": times,
            "images_per_step": images_per_step, "images_per_second": images_per_step / median,
            "bf16_autocast": precision.amp, "channels_last": precision.channels_last,
            "params": sum(p.numel() for p in model.parameters()), **_peak(device)}


def torchrun_phase(device: torch.device, timeout: float) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="gpu_check_torchrun_"))
    try:
        return _torchrun(device, timeout, tmp / "run")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _torchrun(device: torch.device, timeout: float, out: Path) -> dict[str, Any]:
    launcher = Path(sys.executable).with_name("torchrun")
    head = [str(launcher)] if launcher.exists() else [sys.executable, "-m", "torch.distributed.run"]
    cmd = [*head, "--standalone", "--nproc_per_node=1", "-m", "partnas_lib.cli", "search", "--out", str(out),
           *TINY_SEARCH, "--device", "cuda" if device.type == "cuda" else "cpu"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    ok = done.returncode == 0 and (out / "genotype.json").is_file()
    result = {"ok": ok, "returncode": done.returncode, "seconds": time.perf_counter() - t0,
              "command": " ".join(cmd), "genotype_written": (out / "genotype.json").is_file()}
    if not ok:
        result["output_tail"] = (done.stdout + done.stderr)[-3000:]
    return result


def ddp_phase(cfg: Config, device: torch.device, batch: Callable) -> dict[str, Any]:
    import torch.distributed as dist

    backend = "nccl" if device.type == "cuda" else "gloo"
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", str(29500 + os.getpid() % 1000))
    dist.init_process_group(backend, rank=0, world_size=1)
    try:
        precision = resolve_precision(cfg, device)
        _reset_peak(device)
        model = precision.model(build_derived(cfg, random_genotype(cfg)).to(device))
        ids = [device.index if device.index is not None else torch.cuda.current_device()] \
            if device.type == "cuda" else None  # as partnas_lib.train.distributed.wrap builds it
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
        opt = make_adam(model.parameters(), device, lr=cfg.retrain.lr)

        def loss(n: torch.nn.Module, b: dict[str, torch.Tensor]) -> torch.Tensor:
            return pose_loss(n, b, model.geometry, device, precision=precision)

        losses = [train_step(net, opt, batch(i), loss) for i in range(2)]
        _sync(device)
        return {"ok": all(np.isfinite(losses)), "backend": backend, "world_size": dist.get_world_size(),
                "losses": losses, "bf16_autocast": precision.amp, "channels_last": precision.channels_last,
                **_peak(device)}
    finally:
        dist.destroy_process_group()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tiny", action="store_true", help="CPU, smoke preset, batch 4, 2 steps: seconds")
    p.add_argument("--out", default=str(RESULTS / "gpu.json"), help="JSON file, or a folder to hold gpu.json")
    p.add_argument("--batch", type=int, default=None, help="per step (default 32; 4 with --tiny)")
    p.add_argument("--steps", type=int, default=None, help="timed steps per phase (default 10; 2 with --tiny)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 3; 1 with --tiny)")
    p.add_argument("--budget-s", type=float, default=420.0, help="phases that would start later are skipped")
    args = p.parse_args(argv)
    t_start = time.perf_counter()
    args.batch = args.batch or (4 if args.tiny else 32)
    args.steps = args.steps or (2 if args.tiny else 10)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.tiny else 3)
    device = torch.device("cpu" if args.tiny or not torch.cuda.is_available() else "cuda")
    if args.tiny:
        torch.set_num_threads(1)
    cfg = get_preset("smoke" if args.tiny else "paper")
    cfg.train.amp, cfg.train.channels_last, cfg.progress = True, True, False
    cfg.search.batch_size = cfg.retrain.batch_size = args.batch
    torch.manual_seed(0)
    batch = _batches(cfg, args.batch, device)
    result: dict[str, Any] = {
        "benchmark": "GPU check: paper-size search and retrain steps (bf16, channels_last), torchrun, DDP",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": " ".join([Path(__file__).name, *(sys.argv[1:] if argv is None else argv)]),
        "tiny": args.tiny, "preset": cfg.preset, "image_size": cfg.data.image_size, "batch": args.batch,
        "environment": environment(device),
    }
    phases: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        ("search", lambda: search_phase(cfg, device, batch, args)),
        ("retrain", lambda: retrain_phase(cfg, device, batch, args)),
        ("torchrun", lambda: torchrun_phase(device, max(60.0, args.budget_s - (time.perf_counter() - t_start)))),
        ("ddp", lambda: ddp_phase(cfg, device, batch)),
    ]
    for name, run in phases:
        if time.perf_counter() - t_start > args.budget_s:
            result[name] = {"ok": False, "skipped": f"--budget-s {args.budget_s:g} spent"}
            continue
        try:
            result[name] = {"ok": True, **run()}
        except Exception as err:  # record and go on: one failure must not hide the other phases
            result[name] = {"ok": False, "error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()}
        print(f"{name}: {_summary(result[name])}", flush=True)
    result["total_seconds"] = time.perf_counter() - t_start
    result["ok"] = all(result[name]["ok"] for name, _ in phases)
    out = Path(args.out)
    out = out / "gpu.json" if out.is_dir() or not out.suffix else out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'all phases ok' if result['ok'] else 'SOME PHASES FAILED'} in {result['total_seconds']:.0f} s; "
          f"written to {out}")
    return 0 if result["ok"] else 1


def _summary(r: dict[str, Any]) -> str:
    if not r.get("ok"):
        return "FAILED " + r.get("error", r.get("skipped", "")) + r.get("output_tail", "")[-500:]
    if "images_per_second" in r:
        return (f"{r['step_seconds_median']:.3f} s/step, {r['images_per_second']:.1f} img/s, "
                f"peak {r['peak_memory_bytes'] / 2**30:.2f} GiB")
    return f"ok ({r.get('seconds', 0):.0f} s)" if "seconds" in r else "ok"


if __name__ == "__main__":
    sys.exit(main())
