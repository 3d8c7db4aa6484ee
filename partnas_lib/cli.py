"""The ``partnas`` command line: ``reproduce | search | retrain | evaluate | rootnet | ablate | model | agreement |
predict``.

Examples::

    partnas reproduce --preset cpu --out runs/cpu
    partnas reproduce --preset smoke --out runs/smoke --set retrain.epochs=3
    partnas reproduce --preset paper --dry-run
    partnas reproduce --preset cpu --out runs/base --model baseline   # the ResNet + deconv baseline
    partnas reproduce --preset cpu --out runs/rand --model random     # a random cell per part
    partnas reproduce --preset cpu --out runs/rbest --model random_best  # best of N random, search's compute
    partnas reproduce --preset cpu --out runs/pt --set search.selection=perturbation  # DARTS-PT derive
    partnas search --preset cpu --out runs/cpu --resume
    partnas search --preset cpu --out runs/seeds --seeds 0 1 2        # + agreement across seeds
    partnas search --preset cpu --out runs/seeds --seeds 0 1 2 --ray  # the seeds in parallel (Ray Tune)
    torchrun --standalone --nproc_per_node=8 -m partnas_lib.cli reproduce --preset paper --out runs/paper
    partnas retrain --out runs/cpu --genotype my_genotype.json
    partnas evaluate --out runs/cpu
    partnas evaluate --out runs/cpu --data bvh:~/mocap/clips            # other data: runs/cpu/eval/bvh-clips/
    partnas rootnet train --out runs/cpu                              # RootNet for absolute root depths
    partnas evaluate --out runs/cpu --dataset synthetic-multi         # MuPoTS-style multi-person 3DPCK
    partnas evaluate --out runs/cpu --dataset mupots --root data/MuPoTS --bbox-root bbox_root_mupots_output.json
    partnas ablate --preset cpu --seeds 0 1 2 --out runs/ablation
    partnas model summary --preset paper --model baseline
    partnas model summary --preset cpu --model searched --genotype runs/cpu/genotype.json
    partnas agreement runs/seeds/seed*/genotype.json
    partnas data coverage --root ~/mocap/clips --normalize-scale          # procedural vs real poses, no training
    partnas predict --run runs/cpu photos/ --out predictions/              # 3D poses of your own images
    partnas predict --run runs/cpu clip.mp4 --bbox 410,120,220,560 --focal 1500 --out predictions/
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

from partnas_lib import pipeline, threads
from partnas_lib.ablation.run import ablation_markdown, run_ablation
from partnas_lib.ablation.variants import VARIANTS
from partnas_lib.config import MODEL_KINDS, PRESETS, Config, apply_overrides, get_preset
from partnas_lib.data.check import add_check_parser
from partnas_lib.eval.multi_person import evaluate_multi
from partnas_lib.eval.multi_report import format_multi_metrics
from partnas_lib.eval.predict import PREDICTIONS_HTML, predict_inputs, save_predictions
from partnas_lib.eval.predict_page import MAX_PAGE_FRAMES, THUMBNAIL_PX, page_html, require_plotly
from partnas_lib.io import atomic_write_text
from partnas_lib.models.summary import MODEL_CHOICES, format_summary, summarize_config
from partnas_lib.nas.agreement import format_agreement, genotype_agreement
from partnas_lib.nas.genotype import Genotype
from partnas_lib.train import distributed
from partnas_lib.train.rootnet import train_rootnet


def _common(p: argparse.ArgumentParser, needs_out: bool = True) -> None:
    p.add_argument("--preset", default=None, choices=sorted(PRESETS),
                   help="named config size (default: cpu, or the run directory's config.json if it exists)")
    p.add_argument("--out", required=needs_out, default=None, help="run directory")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                   help="override a config field, e.g. --set retrain.epochs=3 (repeatable)")
    p.add_argument("--config", default=None, help="start from this config.json instead of a preset")
    p.add_argument("--seed", type=int, default=None, help="shortcut for --set seed=N")
    p.add_argument("--device", default=None, help="auto | cpu | cuda | cuda:N (shortcut for --set device=...)")
    p.add_argument("--data", default=None, metavar="SOURCE",
                   help="where the rendered people's poses come from: 'procedural', 'bvh:/path/to/folder' or "
                        "'mix:F:bvh:/path/to/folder' (a share F from the clips, the rest procedural) "
                        "(shortcut for --set data.pose_source=...)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--threads", default="auto", metavar="N|auto",
                   help="torch CPU threads: N pins them; auto (default) shares the cores with the other "
                        "partnas jobs running on this machine (see partnas_lib/threads.py)")


def _model_kind(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", dest="model_kind", default=None, choices=list(MODEL_KINDS),
                   help="what to train: the searched part-aware net (default), a random cell per part, the "
                        "best of search.random_candidates random genotypes on the validation split, or the "
                        "ResNet + deconvolution baseline (shortcut for --set model.kind=...; random and "
                        "baseline skip the search, random_best replaces it)")


def build_parser() -> argparse.ArgumentParser:
    # Long because it declares every sub-command and its options in one place (argparse is flat).
    parser = argparse.ArgumentParser(prog="partnas", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("reproduce", help="search + derive + retrain + evaluate")
    _common(p, needs_out=False)
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoints in --out")
    p.add_argument("--dry-run", action="store_true",
                   help="build the supernet and a derived network, run one image, print parameter counts")
    _model_kind(p)
    p = sub.add_parser("search", help="architecture search; writes genotype.json")
    _common(p)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--seeds", type=int, nargs="+", default=None, metavar="N",
                   help="search once per seed into OUT/seed<N>/ and report how much the genotypes agree "
                        "(OUT/agreement.json)")
    p.add_argument("--ray", action="store_true",
                   help="with --seeds: run the seeds in parallel, one Ray Tune trial each (pip install 'partnas[ray]')")
    p.add_argument("--cpus-per-trial", type=float, default=1.0, help="with --ray: CPUs per trial (default 1)")
    p.add_argument("--gpus-per-trial", type=float, default=None,
                   help="with --ray: GPUs per trial, fractions allowed (default 1 if CUDA is present, else 0)")
    p = sub.add_parser("retrain", help="train the derived network from scratch")
    _common(p)
    p.add_argument("--genotype", default=None, help="genotype JSON (default: OUT/genotype.json)")
    p.add_argument("--resume", action="store_true")
    _model_kind(p)
    p = sub.add_parser("evaluate", help="evaluate OUT/checkpoints/model.pt; writes metrics.json (on other data "
                                        "than the run's, e.g. --data bvh:DIR: OUT/eval/<data>/metrics.json; "
                                        "metrics_multi.json with --dataset synthetic-multi|mupots)")
    _common(p)
    p.add_argument("--dataset", default=None, choices=["synthetic-multi", "mupots"],
                   help="multi-person evaluation (MuPoTS-3D 3DPCK/AUC, root depth error) on synthetic scenes or "
                        "MuPoTS-3D; default: the single-person test split of the config")
    p.add_argument("--root", default=None, help="MuPoTS-3D folder (with MultiPersonTestSet/) for --dataset mupots")
    p.add_argument("--rootnet", default=None, metavar="DIR",
                   help="RootNet run directory or checkpoint (default: OUT/checkpoints/rootnet.pt if present)")
    p.add_argument("--bbox-root", dest="bbox_root", default=None, metavar="FILE",
                   help="detector boxes (and root depths) in the bbox_root_*.json format instead of ground-truth boxes")
    p = sub.add_parser("ablate", help="part-aware vs shared decoder vs random cells vs ResNet baseline, "
                                      "several seeds; writes OUT/ablation.json and OUT/ablation.md")
    _common(p)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], metavar="N", help="seeds (default 0 1 2)")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="run the (variant, seed) runs in N parallel processes, cores // N torch threads each")
    p.add_argument("--variants", nargs="+", default=None, metavar="NAME",
                   choices=list(VARIANTS), help=f"default: all of {', '.join(VARIANTS)}")
    p = sub.add_parser("model", help="inspect networks without training")
    msub = p.add_subparsers(dest="model_command", required=True)
    p = msub.add_parser("summary", help="parameters (total, trunk, per part), multiply-adds, output shapes")
    _common(p, needs_out=False)
    p.add_argument("--model", dest="model_kind", default=None, choices=list(MODEL_CHOICES),
                   help="searched (needs --genotype), random (a random cell per part drawn with --seed), "
                        "baseline, or supernet; default: searched with --genotype, else model.kind, with "
                        "random standing in for searched")
    p.add_argument("--genotype", default=None, help="genotype JSON of a searched network")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p = sub.add_parser("agreement", help="how much genotypes (e.g. of several search seeds) agree, per part")
    p.add_argument("genotypes", nargs="+", help="genotype.json files of the same part grouping")
    p.add_argument("--json", action="store_true", help="print the full JSON summary")
    p = sub.add_parser("rootnet", help="RootNet: absolute root depth of each person (3DMPPE)")
    rsub = p.add_subparsers(dest="rootnet_command", required=True)
    p = rsub.add_parser("train", help="train RootNet; writes OUT/checkpoints/rootnet.pt and OUT/rootnet_metrics.json")
    _common(p)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--crops", dest="rootnet_data", default="synthetic-multi", choices=["synthetic-multi", "synthetic"],
                   help="train on person crops of synthetic multi-person scenes (default) or of the "
                        "single-person split")
    _predict_parser(sub)
    add_check_parser(sub)
    return parser


def _predict_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="3D poses of your own images, folders or videos with a finished run; "
                                       "writes OUT/predictions.json, .npz and an offline .html")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="image files (jpg, png, ...), folders of them (sorted by name) or videos (mp4, ...; "
                        "pip install 'partnas[video]')")
    p.add_argument("--run", required=True, metavar="DIR", help="a finished run directory (checkpoints/model.pt)")
    p.add_argument("--out", required=True, metavar="OUT", help="output folder")
    boxes = p.add_mutually_exclusive_group()
    boxes.add_argument("--bbox", default=None, metavar="X,Y,W,H",
                       help="the person's box in every frame (pixels); default: the whole frame is the crop")
    boxes.add_argument("--boxes", default=None, metavar="FILE.json",
                       help='a box per file: {"image file name": [x, y, w, h], ...} '
                            '("clip.mp4#17" for one video frame)')
    camera = p.add_mutually_exclusive_group()
    camera.add_argument("--intrinsics", default=None, metavar="FX,FY,CX,CY", help="the camera (pixels)")
    camera.add_argument("--focal", type=float, default=None, metavar="PX",
                        help="focal length (pixels) of a camera centred on the image; default 1.145 x the longer "
                             "image side (Human3.6M's view).  With a RootNet, --intrinsics or --focal also give "
                             "absolute joints")
    p.add_argument("--rootnet", default=None, metavar="DIR",
                   help="RootNet run directory or checkpoint for root depths (default: the run's "
                        "checkpoints/rootnet.pt if present, else the k prior)")
    p.add_argument("--device", default=None, help="auto | cpu | cuda | cuda:N (default: the run's config)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--threads", default="auto", metavar="N|auto", help="torch CPU threads (see reproduce --threads)")


def _predict(args: argparse.Namespace) -> None:
    require_plotly()  # before any work: the page is part of the output
    pred = predict_inputs(args.run, args.inputs, bbox=args.bbox, boxes=args.boxes, intrinsics=args.intrinsics,
                          focal=args.focal, rootnet=args.rootnet, device=args.device, thumbnails=MAX_PAGE_FRAMES,
                          thumbnail_px=THUMBNAIL_PX, progress=not args.no_progress)
    page = page_html(pred)
    json_path, npz_path = save_predictions(pred, args.out)
    atomic_write_text(Path(args.out) / PREDICTIONS_HTML, page)
    print(f"{len(pred)} frames from {len(set(pred.sources))} files | root depth: {pred.root_text} | "
          f"absolute joints: {'yes' if pred.joints_abs_mm is not None else 'no'}")
    print(f"results: {json_path}, {npz_path}, {Path(args.out) / PREDICTIONS_HTML}")


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
    if getattr(args, "model_kind", None) in MODEL_KINDS and args.command != "model":
        overrides.append(f"model.kind={args.model_kind}")
    if args.seed is not None:
        overrides.append(f"seed={args.seed}")
    if getattr(args, "data", None) is not None:
        overrides.append(f"data.pose_source={args.data}")
    if args.device is not None:
        overrides.append(f"device={args.device}")
    if args.no_progress:
        overrides.append("progress=false")
    return apply_overrides(cfg, overrides)


def _model_summary(args: argparse.Namespace, cfg: Config) -> None:
    which = args.model_kind or ("searched" if args.genotype else cfg.model.kind)
    if which == "searched" and not args.genotype:
        which = "random"  # nothing searched yet: the same space, one random cell per part
    if args.genotype and which != "searched":
        raise ValueError(f"--genotype only applies to --model searched, not --model {which}")
    genotype = Genotype.load(args.genotype) if args.genotype else None
    report = summarize_config(cfg, which, genotype)
    if which in ("searched", "random", "random_best"):
        report["genotype_source"] = args.genotype or f"random (seed {cfg.seed})"
    print(json.dumps(report, indent=2) if args.json else format_summary(report))


def _agreement(args: argparse.Namespace) -> None:
    summary = genotype_agreement([Genotype.load(p) for p in args.genotypes], labels=args.genotypes)
    print(json.dumps(summary, indent=2) if args.json else format_agreement(summary))


def main(argv: list[str] | None = None) -> int:
    """Run one ``partnas`` command; returns the exit code (2 for bad input, with a one-line error)."""
    # Long because it dispatches every sub-command in one place, each branch a call and its print.
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    _quiet_other_ranks()
    if args.command == "data":
        return args.func(args)  # data check | data coverage
    try:
        if getattr(args, "threads", None) is not None:
            threads.configure(args.threads)
        if args.command == "agreement":
            _agreement(args)
            return 0
        if args.command == "predict":
            _predict(args)
            return 0
        cfg = resolve_config(args)
        if args.command == "model":
            _model_summary(args, cfg)
        elif args.command == "ablate":
            if args.workers < 1:
                raise ValueError(f"--workers must be at least 1, got {args.workers}")
            data = run_ablation(cfg, args.out, args.seeds, args.variants, overrides=list(args.overrides),
                                command=shlex.join(["partnas", *argv]), workers=args.workers)
            print(ablation_markdown(data))
            print(f"results: {Path(args.out) / 'ablation.json'}, {Path(args.out) / 'ablation.md'}")
        elif args.command == "reproduce":
            if args.dry_run:
                print(json.dumps(pipeline.dry_run(cfg), indent=2))
                return 0
            out = args.out or f"runs/{cfg.preset}"
            metrics = pipeline.reproduce(cfg, out, resume=args.resume)
            if not metrics:  # another process of a torchrun run; rank 0 reports
                return 0
            print(f"\nMPJPE {metrics['mpjpe']:.1f} mm | PA-MPJPE {metrics['pa_mpjpe']:.1f} mm | "
                  f"mean-pose baseline {metrics['mean_pose_mpjpe']:.1f} mm | {metrics['params'] / 1e6:.3f} M params")
            print(f"results: {Path(out) / 'metrics.json'}"
                  + (f"  (genotype: {Path(out) / 'genotype.json'})" if cfg.model.kind != "baseline" else ""))
        elif args.command == "search" and args.seeds:
            summary = pipeline.search_seeds(cfg, args.out, args.seeds, resume=args.resume, ray=args.ray,
                                            cpus_per_trial=args.cpus_per_trial, gpus_per_trial=args.gpus_per_trial)
            print(format_agreement(summary))
            print(f"genotypes: {Path(args.out)}/seed<N>/genotype.json; agreement: {Path(args.out) / 'agreement.json'}")
        elif args.command == "search":
            if args.ray:
                raise ValueError("--ray runs several seeds in parallel; give them with --seeds N [N ...]")
            pipeline.search(cfg, args.out, resume=args.resume)
            print(f"genotype: {Path(args.out) / 'genotype.json'}")
        elif args.command == "retrain":
            pipeline.retrain(cfg, args.out, args.genotype, resume=args.resume)
            print(f"weights: {Path(args.out) / 'checkpoints' / 'model.pt'}")
        elif args.command == "rootnet":
            metrics = train_rootnet(cfg, args.out, data=args.rootnet_data, resume=args.resume)
            if "val" in metrics:
                v = metrics["val"]
                print(f"root depth error {v['root_error_mm']:.0f} mm | "
                      f"k prior alone {v['k_prior_root_error_mm']:.0f} mm"
                      f" | constant mean depth {v['mean_depth_root_error_mm']:.0f} mm")
            print(f"weights: {Path(args.out) / 'checkpoints' / 'rootnet.pt'}")
        elif args.command == "evaluate" and args.dataset:
            metrics = evaluate_multi(cfg, args.out, args.dataset, root=args.root, rootnet=args.rootnet,
                                     bbox_root=args.bbox_root)
            print(format_multi_metrics(metrics))
            print(f"results: {Path(args.out) / 'metrics_multi.json'}")
        elif args.command == "evaluate":
            metrics = pipeline.evaluate(cfg, args.out)
            if not metrics:  # another process of a torchrun run; rank 0 reports
                return 0
            print(f"MPJPE {metrics['mpjpe']:.1f} mm | PA-MPJPE {metrics['pa_mpjpe']:.1f} mm | "
                  f"mean-pose baseline {metrics['mean_pose_mpjpe']:.1f} mm")
            print(f"results: {pipeline.evaluation_dir(cfg, args.out) / 'metrics.json'}")
    except (ValueError, FileNotFoundError, RuntimeError, OSError, FloatingPointError) as e:
        print(f"partnas: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("partnas: interrupted; resume with --resume", file=sys.stderr)
        return 130
    finally:
        threads.release()
        _end_distributed()
    return 0


def _quiet_other_ranks() -> None:
    """Under torchrun only rank 0 prints results (errors still reach stderr from every process)."""
    if os.environ.get("RANK", "0") not in ("", "0"):
        sys.stdout = open(os.devnull, "w")


def _end_distributed() -> None:
    if "torch.distributed" in sys.modules:
        distributed.shutdown()


if __name__ == "__main__":
    sys.exit(main())
