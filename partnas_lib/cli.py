"""The ``partnas`` command line: ``reproduce | search | retrain | evaluate``.

Examples::

    partnas reproduce --preset cpu --out runs/cpu
    partnas reproduce --preset smoke --out runs/smoke --set retrain.epochs=3
    partnas reproduce --preset paper --dry-run
    partnas search --preset cpu --out runs/cpu --resume
    partnas retrain --out runs/cpu --genotype my_genotype.json
    partnas evaluate --out runs/cpu
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from partnas_lib.config import Config, PRESETS, apply_overrides, get_preset


def _common(p: argparse.ArgumentParser, needs_out: bool = True) -> None:
    p.add_argument("--preset", default=None, choices=sorted(PRESETS),
                   help="named config size (default: cpu, or the run directory's config.json if it exists)")
    p.add_argument("--out", required=needs_out, default=None, help="run directory")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                   help="override a config field, e.g. --set retrain.epochs=3 (repeatable)")
    p.add_argument("--config", default=None, help="start from this config.json instead of a preset")
    p.add_argument("--seed", type=int, default=None, help="shortcut for --set seed=N")
    p.add_argument("--device", default=None, help="auto | cpu | cuda | cuda:N (shortcut for --set device=...)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="partnas", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("reproduce", help="search + derive + retrain + evaluate")
    _common(p, needs_out=False)
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoints in --out")
    p.add_argument("--dry-run", action="store_true",
                   help="build the supernet and a derived network, run one image, print parameter counts")
    p = sub.add_parser("search", help="architecture search; writes genotype.json")
    _common(p)
    p.add_argument("--resume", action="store_true")
    p = sub.add_parser("retrain", help="train the derived network from scratch")
    _common(p)
    p.add_argument("--genotype", default=None, help="genotype JSON (default: OUT/genotype.json)")
    p.add_argument("--resume", action="store_true")
    p = sub.add_parser("evaluate", help="evaluate OUT/checkpoints/model.pt; writes metrics.json")
    _common(p)
    return parser


def resolve_config(args: argparse.Namespace) -> Config:
    """Preset, or ``--config``, or the run directory's saved config; then the overrides."""
    if args.config:
        cfg = Config.load(args.config)
    elif args.preset:
        cfg = get_preset(args.preset)
    elif args.out and (Path(args.out) / "config.json").exists():
        cfg = Config.load(Path(args.out) / "config.json")
    else:
        cfg = get_preset("cpu")
    overrides = list(args.overrides)
    if args.seed is not None:
        overrides.append(f"seed={args.seed}")
    if args.device is not None:
        overrides.append(f"device={args.device}")
    if args.no_progress:
        overrides.append("progress=false")
    return apply_overrides(cfg, overrides)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cfg = resolve_config(args)
        from partnas_lib import pipeline

        if args.command == "reproduce":
            if args.dry_run:
                print(json.dumps(pipeline.dry_run(cfg), indent=2))
                return 0
            out = args.out or f"runs/{cfg.preset}"
            metrics = pipeline.reproduce(cfg, out, resume=args.resume)
            print(f"\nMPJPE {metrics['mpjpe']:.1f} mm | PA-MPJPE {metrics['pa_mpjpe']:.1f} mm | "
                  f"mean-pose baseline {metrics['mean_pose_mpjpe']:.1f} mm | {metrics['params'] / 1e6:.3f} M params")
            print(f"results: {Path(out) / 'metrics.json'}  (genotype: {Path(out) / 'genotype.json'})")
        elif args.command == "search":
            pipeline.search(cfg, args.out, resume=args.resume)
            print(f"genotype: {Path(args.out) / 'genotype.json'}")
        elif args.command == "retrain":
            pipeline.retrain(cfg, args.out, args.genotype, resume=args.resume)
            print(f"weights: {Path(args.out) / 'checkpoints' / 'model.pt'}")
        elif args.command == "evaluate":
            metrics = pipeline.evaluate(cfg, args.out)
            print(f"MPJPE {metrics['mpjpe']:.1f} mm | PA-MPJPE {metrics['pa_mpjpe']:.1f} mm | "
                  f"mean-pose baseline {metrics['mean_pose_mpjpe']:.1f} mm")
            print(f"results: {Path(args.out) / 'metrics.json'}")
    except (ValueError, FileNotFoundError, RuntimeError, OSError, FloatingPointError) as e:
        print(f"partnas: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("partnas: interrupted; resume with --resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
