"""Depthwise convolution, forward + backward on CPU: oneDNN's own backward vs partnas's.

:mod:`partnas_lib.nas.depthwise` computes the backward pass of ``5x5`` and dilated depthwise
convolutions as forward convolutions.  This benchmark times ``conv(x).backward(g)`` both ways
for the shapes of the ``cpu`` preset (batch 32; 16 channels = one part's head, 40 / 80 = the
supernet's grouped edges) in both memory formats, and is what
``DepthwiseConv2d.uses_fast_backward`` is based on: partnas's backward on NCHW tensors, oneDNN's
own on NHWC (channels_last) ones.

Usage::

    python benchmarks/bench_depthwise.py          # about a minute

Writes ``benchmarks/results/bench_depthwise.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from partnas_lib.nas.depthwise import _DepthwiseConvFn

RESULTS = Path(__file__).resolve().parent / "results"
SHAPES = [(16, 16), (16, 8), (40, 16), (80, 16), (80, 8)]  # (channels, height = width)
KERNELS = [(3, 1), (5, 1), (3, 2), (5, 2)]  # (kernel, dilation)


def median_ms(fn, iters: int) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--out", default=str(RESULTS / "bench_depthwise.json"))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    print(f"{'layout':<8}{'C':>4}{'H':>4}{'k':>3}{'d':>3}{'oneDNN ms':>11}{'partnas ms':>12}{'ratio':>7}")
    for layout in ("nchw", "nhwc"):
        fmt = torch.channels_last if layout == "nhwc" else torch.contiguous_format
        for c, h in SHAPES:
            for k, d in KERNELS:
                conv = nn.Conv2d(c, c, k, padding=d * (k - 1) // 2, dilation=d, groups=c, bias=False)
                conv = conv.to(memory_format=fmt)
                x = torch.randn(32, c, h, h).contiguous(memory_format=fmt).requires_grad_(True)
                g = torch.randn(32, c, h, h).contiguous(memory_format=fmt)
                native = median_ms(lambda: conv(x).backward(g), args.iters)
                ours = median_ms(lambda: _DepthwiseConvFn.apply(x, conv.weight, d).backward(g), args.iters)
                rows.append({"layout": layout, "channels": c, "size": h, "kernel": k, "dilation": d,
                             "onednn_ms": native, "partnas_ms": ours})
                print(f"{layout:<8}{c:>4}{h:>4}{k:>3}{d:>3}{native:>11.3f}{ours:>12.3f}{ours / native:>7.2f}")
    result = {"benchmark": "depthwise conv forward + backward, batch 32: oneDNN backward vs partnas's",
              "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "threads": args.threads, "cpus": os.cpu_count(),
              "torch": torch.__version__, "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
