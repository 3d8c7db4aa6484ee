"""The whole method from one call: search -> derive -> retrain -> evaluate, in a run directory.

``reproduce`` is what ``partnas reproduce`` and ``make demo`` run.  Each stage can also run on
its own (``search``, ``retrain``, ``evaluate``) against the same run directory, and every stage
resumes from its last checkpoint with ``resume=True``.

``model.kind`` selects what is retrained and evaluated (the paper's comparisons, see
:mod:`partnas_lib.ablation`): ``searched`` runs the search first; ``random`` skips it and writes a
genotype drawn at random from the same space (with the run's seed) to ``genotype.json``;
``random_best`` runs, instead of the search, the selection of the best of several briefly
trained random genotypes on the validation split (:mod:`partnas_lib.train.random_best`);
``baseline`` skips it and trains the 3DMPPE ResNet + deconvolution network.

Under ``torchrun`` every function here runs on every process (they train together); only rank
0 writes the run directory and only rank 0 evaluates (the others get ``{}`` from
:func:`evaluate` / :func:`reproduce`).  A command that fails before its first checkpoint
removes the run directory it created, so bad input leaves nothing half-written behind.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from partnas_lib import threads
from partnas_lib.config import Config, split_pose_source
from partnas_lib.data.mocap.library import load_mocap_folder
from partnas_lib.data.sample import SampleArrays
from partnas_lib.data.splits import load_split
from partnas_lib.data.synth.pose_source import parse_pose_source
from partnas_lib.eval.evaluate import evaluate_model, predict_camera_mm
from partnas_lib.eval.metrics import mpjpe
from partnas_lib.eval.protocol import protocol_card
from partnas_lib.eval.report import metrics_markdown
from partnas_lib.io import atomic_write_text
from partnas_lib.models.build import build_derived, build_model, build_supernet, random_genotype
from partnas_lib.models.heads import PartPoseNet, count_parameters
from partnas_lib.nas.agreement import genotype_agreement
from partnas_lib.nas.genotype import Genotype, random_cell
from partnas_lib.skeleton import get_grouping
from partnas_lib.train import distributed
from partnas_lib.train.checkpoint import load_checkpoint
from partnas_lib.train.device import resolve_device, resolve_precision
from partnas_lib.train.random_best import Scorer, random_best_finished, read_record, record_path, run_random_best
from partnas_lib.train.retrain import FINAL, run_retrain
from partnas_lib.train.rundir import RunDir, get_logger
from partnas_lib.train.search import run_search

#: The markdown twin of metrics.json (per-action table, protocol card), written by evaluate.
METRICS_MD = "metrics.md"


def start_run(cfg: Config, out: str | Path, resume: bool = False) -> tuple[Config, RunDir]:
    """Validate the config, prepare ``out`` and write ``config.json``.

    With ``resume`` an existing ``config.json`` wins (a resumed run must not change its config).
    Under ``torchrun`` this initialises the process group; only rank 0 writes.
    """
    distributed.setup(cfg.device)
    run = RunDir(Path(out))
    if resume and run.config.exists():
        saved = Config.load(run.config)
        if saved.to_dict() != cfg.to_dict():
            get_logger(run).info(f"resume: using the saved config {run.config} (command-line preset/overrides ignored)")
        cfg = saved
    cfg.validate()
    run.prepare(cfg.train.min_free_mb)
    if distributed.is_main():
        cfg.save(run.config)
        write_data_splits(cfg, run)
    distributed.barrier()
    return cfg, run


@contextmanager
def clean_on_failure(out: str | Path) -> Iterator[None]:
    """If the body fails and ``out`` did not exist before and holds no checkpoint yet, remove
    ``out``: a command stopped by bad input leaves nothing half-written (a run that got as far
    as a checkpoint is kept, so it can be resumed or inspected)."""
    out = Path(out)
    existed = out.exists()
    try:
        yield
    except Exception:
        ckpts = out / "checkpoints"
        if (not existed and out.is_dir() and distributed.is_main()
                and not (ckpts.is_dir() and any(ckpts.iterdir()))):
            shutil.rmtree(out, ignore_errors=True)
        raise


def write_data_splits(cfg: Config, run: RunDir) -> None:
    """For a BVH pose source, list the clips of each split in ``data_splits.json`` so anyone can
    check that test poses come from clips never used in training."""
    root = parse_pose_source(cfg.data.pose_source)
    if root is None:
        return
    lib = load_mocap_folder(root)
    splits = {split: sorted(c.name for c in lib.clips_in(split)) for split in ("train", "val", "test")}
    run.write_json(run.root / "data_splits.json", {
        "pose_source": cfg.data.pose_source,
        "rule": "clips grouped by motion (file name minus take number); groups ordered by SHA-256 "
                "of their name; ~10 % test, ~10 % val, the rest train (partnas_lib.data.mocap.library.assign_splits)",
        "clips": splits,
    })


def search(cfg: Config, out: str | Path, resume: bool = False) -> Genotype:
    """The search stage alone: the DARTS search (``model.kind=searched``) or the random-best
    selection that stands in for it (``random_best``); writes ``genotype.json``."""
    if cfg.model.kind not in ("searched", "random_best"):
        raise ValueError(f"model.kind={cfg.model.kind!r} has no search stage; use model.kind=searched "
                         "(or run 'partnas reproduce', which skips the search for random/baseline)")
    with clean_on_failure(out):
        cfg, run = start_run(cfg, out, resume)
        if cfg.model.kind == "random_best":
            return run_random_best(cfg, run, validation_scorer(cfg), resume)
        return run_search(cfg, run, resume)


def validation_scorer(cfg: Config) -> Scorer:
    """MPJPE (mm) of a model on a split as the evaluation measures it (ground-truth box and root
    depth, flip test per ``eval.flip_test``): how ``random_best`` compares its candidates."""
    device = resolve_device(cfg.device)

    def score(model: PartPoseNet, arrays: SampleArrays) -> float:
        pred = predict_camera_mm(model, arrays, cfg.eval.batch_size, device, cfg.eval.flip_test)
        return mpjpe(pred, arrays.joints_3d.astype(np.float64))

    return score


def search_stage(cfg: Config, run: RunDir, resume: bool = False) -> Genotype:
    """What :func:`reproduce` runs before retraining for a model kind that chooses its genotype:
    the DARTS search (``searched``) or the random-best selection (``random_best``); with
    ``resume``, a finished one is read back."""
    if cfg.model.kind == "random_best":
        if resume and random_best_finished(run):
            get_logger(run).info(f"resume: random_best selection already finished, using {run.genotype}")
            return Genotype.load(run.genotype)
        return run_random_best(cfg, run, validation_scorer(cfg), resume)
    if resume and search_finished(run.root):
        get_logger(run).info(f"resume: search already finished, using {run.genotype}")
        return Genotype.load(run.genotype)
    return run_search(cfg, run, resume)


def seed_dir(out: str | Path, seed: int) -> Path:
    """Where the search of ``seed`` lives when several seeds are searched: ``out/seed<N>``."""
    return Path(out) / f"seed{seed}"


def search_seeds(cfg: Config, out: str | Path, seeds: list[int], resume: bool = False, ray: bool = False,
                 cpus_per_trial: float = 1.0, gpus_per_trial: float | None = None) -> dict[str, Any]:
    """Search once per seed into ``out/seed<N>/`` and measure how much the per-part genotypes
    agree across seeds (:mod:`partnas_lib.nas.agreement`); writes ``out/agreement.json``.

    DARTS-style searches are known not to be reproducible across seeds (docs/method.md Sec. 4), so a
    derived architecture means little until we know which of its choices survive a re-run."""
    if not seeds:
        raise ValueError("search_seeds needs at least one seed")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds {' '.join(map(str, seeds))}: a seed is repeated")
    if ray:
        genotypes = _search_seeds_ray(cfg, Path(out), seeds, resume, cpus_per_trial, gpus_per_trial)
    else:
        genotypes = []
        for seed in seeds:
            c = copy.deepcopy(cfg)
            c.seed = seed
            genotypes.append(search(c, seed_dir(out, seed), resume=resume))
    summary = genotype_agreement(genotypes, labels=[f"seed{s}" for s in seeds])
    RunDir(Path(out)).write_json(Path(out) / "agreement.json", summary)
    return summary


RAY_MISSING = ("--ray needs Ray Tune, which is not installed: pip install 'partnas[ray]' "
               "(or drop --ray to search the seeds one after another)")


def _search_seeds_ray(cfg: Config, out: Path, seeds: list[int], resume: bool, cpus_per_trial: float,
                      gpus_per_trial: float | None) -> list[Genotype]:
    """One Ray Tune trial per seed (``tune.with_resources``: ``cpus_per_trial`` CPUs and
    ``gpus_per_trial`` GPUs each, fractions allowed; default one GPU per trial when CUDA is
    present), each running :func:`search` into ``out/seed<N>/``; returns the genotypes in
    seed order."""
    try:
        from ray import tune
    except ImportError:
        raise RuntimeError(RAY_MISSING) from None
    if gpus_per_trial is None:
        gpus_per_trial = 1.0 if torch.cuda.is_available() and cfg.device != "cpu" else 0.0
    out = out.absolute()
    base = cfg.to_dict()
    threads = max(1, int(cpus_per_trial))

    def trial(params: dict[str, Any]) -> None:
        """One seed's search; its products are the files of ``out/seed<N>/`` (nothing is reported)."""
        torch.set_num_threads(threads)
        c = Config.from_dict(params["cfg"])
        c.seed = int(params["seed"])
        c.progress = False
        search(c, seed_dir(out, c.seed), resume=params["resume"])

    try:  # Ray >= 2.10 exports RunConfig from ray.tune; 2.9 from ray.train
        from ray.tune import RunConfig
    except ImportError:
        from ray.train import RunConfig
    out.mkdir(parents=True, exist_ok=True)
    tuner = tune.Tuner(
        tune.with_resources(trial, {"cpu": cpus_per_trial, "gpu": gpus_per_trial}),
        param_space={"seed": tune.grid_search(list(seeds)), "cfg": base, "resume": resume},
        run_config=RunConfig(name="search_seeds", storage_path=str(out / "ray_results")),
    )
    results = tuner.fit()
    failed = [str(r.error) for r in results if r.error is not None]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(seeds)} Ray trials failed: " + " | ".join(failed))
    return [Genotype.load(seed_dir(out, seed) / "genotype.json") for seed in seeds]


def check_genotype_file(cfg: Config, path: str | Path) -> Genotype:
    """Load ``path`` and check that it fits the config's part grouping and op set (the error
    names the file)."""
    genotype = Genotype.load(path)
    genotype.check_fits(get_grouping(cfg.model.parts).to_json(), cfg.search.ops, where=f"genotype file {path}")
    return genotype


def resolve_genotype(cfg: Config, run: RunDir, genotype_path: str | Path | None = None) -> Genotype | None:
    """The genotype retrain needs for ``cfg.model.kind``: None for the baseline; for ``random``
    the run's ``genotype.json`` if it exists, else a new one drawn with the run's seed (saved
    there so it can be inspected); otherwise ``genotype_path`` or the run's ``genotype.json``.
    A genotype given by ``genotype_path`` is copied into the run directory."""
    if cfg.model.kind == "baseline":
        if genotype_path:
            raise ValueError("model.kind=baseline takes no genotype (drop --genotype)")
        return None
    if genotype_path is None and cfg.model.kind == "random" and not run.genotype.exists():
        genotype = random_genotype(cfg)
        if distributed.is_main():
            genotype.save(run.genotype)
        return genotype
    genotype = check_genotype_file(cfg, genotype_path or run.genotype)
    if genotype_path and Path(genotype_path) != run.genotype and distributed.is_main():
        genotype.save(run.genotype)
    return genotype


def retrain(cfg: Config, out: str | Path, genotype_path: str | Path | None = None, resume: bool = False) -> None:
    if genotype_path and not resume:
        check_genotype_file(cfg, genotype_path)  # before anything is written
    with clean_on_failure(out):
        cfg, run = start_run(cfg, out, resume)
        run_retrain(cfg, run, resolve_genotype(cfg, run, genotype_path), resume)


def data_name(cfg: Config) -> str:
    """A short folder name for the data ``cfg`` evaluates on: ``procedural``, ``bvh-<folder>``,
    ``mix0.3-bvh-<folder>``, ``h36m-<protocol or test subset>``."""
    d = cfg.data
    if d.dataset == "h36m":
        name = f"h36m-{d.protocol or d.test_subset}"
    else:
        fraction, folder = split_pose_source(d.pose_source)
        name = "procedural" if folder is None else f"bvh-{Path(folder.rstrip('/')).name}"
        if 0 < fraction < 1:
            name = f"mix{fraction:g}-{name}"
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", name)


def _data_without_cache(cfg: Config) -> dict[str, Any]:
    data = dataclasses.asdict(cfg.data)
    data.pop("cache_dir", None)
    return data


def evaluation_dir(cfg: Config, out: str | Path) -> Path:
    """Where :func:`evaluate` writes: the run directory itself when ``cfg`` evaluates on the
    run's own data (its ``config.json``), else ``OUT/eval/<data_name>/`` -- so evaluating a run on
    other data (``--data bvh:DIR``, another protocol, more test samples) never overwrites the
    run's own ``metrics.json`` and predictions."""
    run = RunDir(Path(out))
    if not run.config.exists() or _data_without_cache(Config.load(run.config)) == _data_without_cache(cfg):
        return run.root
    return run.root / "eval" / data_name(cfg)


def evaluate(cfg: Config, out: str | Path) -> dict[str, Any]:
    """Evaluate ``out/checkpoints/model.pt`` on the test split of ``cfg``'s data; write
    ``metrics.json``, ``metrics.md``, ``predictions.npz`` and its log lines to :func:`evaluation_dir`
    (the run directory, or ``OUT/eval/<data>/`` for data other than the run's own).

    Under ``torchrun`` only rank 0 evaluates; the other processes return ``{}``."""
    distributed.setup(cfg.device)
    if not distributed.is_main():
        return {}
    run = RunDir(Path(out))
    results = RunDir(evaluation_dir(cfg, out))
    results.root.mkdir(parents=True, exist_ok=True)
    log = get_logger(results)  # other data: its own log.txt, so the run's log stays the run's
    device = resolve_device(cfg.device)
    precision = resolve_precision(cfg, device, log)
    ckpt = load_checkpoint(run.checkpoints / FINAL)
    genotype = None
    if ckpt.get("genotype") is not None:
        genotype = Genotype.from_json(ckpt["genotype"], where=f"{run.checkpoints / FINAL}: genotype")
    model = precision.model(build_model(cfg, genotype).to(device))
    model.load_state_dict(ckpt["model"])
    test, train = load_split(cfg, "test"), load_split(cfg, "train")
    with precision.autocast(device):
        metrics, pred = evaluate_model(cfg, model, test, train, device)
    history = json.loads(run.alpha_history.read_text()) if run.alpha_history.exists() else {}
    if record_path(run).exists():  # random_best: its selection stands in for the search
        history = {"search_seconds": read_record(record_path(run)).get("seconds")}
    metrics.update({
        "params": count_parameters(model),
        "preset": cfg.preset,
        "seed": cfg.seed,
        "search_seconds": history.get("search_seconds"),
        "retrain_seconds": ckpt.get("retrain_seconds"),
        "protocol": protocol_card(cfg, test, train),
        "model_kind": cfg.model.kind,
        "genotype": genotype.to_json()["parts"] if genotype is not None else None,
        "machine": threads.describe(),
    })
    atomic_write_text(results.root / METRICS_MD, metrics_markdown(metrics))
    np.savez_compressed(results.predictions, pred_mm=pred.astype(np.float32), gt_mm=test.joints_3d)
    results.write_json(results.metrics, metrics)  # last (atomic): its presence marks a finished evaluation
    where = "" if results.root == run.root else f" ({results.root})"
    log.info(f"evaluate: MPJPE {metrics['mpjpe']:.1f} mm, PA-MPJPE {metrics['pa_mpjpe']:.1f} mm, "
             f"mean-pose baseline {metrics['mean_pose_mpjpe']:.1f} mm on {len(test)} test samples{where}")
    return metrics


def reproduce(cfg: Config, out: str | Path, resume: bool = False) -> dict[str, Any]:
    """Search, derive, retrain and evaluate; returns the metrics (also in ``out/metrics.json``).

    For ``model.kind`` ``random`` or ``baseline`` the search stage is skipped (a random
    genotype is drawn with the run's seed and written to ``genotype.json``; the baseline needs
    none); ``random_best`` runs its selection instead (:func:`search_stage`); retraining and
    evaluation are identical for every kind."""
    t0 = time.perf_counter()
    with clean_on_failure(out):
        cfg, run = start_run(cfg, out, resume)
        genotype: Genotype | None
        if cfg.model.kind == "baseline":
            genotype = None
            get_logger(run).info("model.kind=baseline: no search; training the ResNet + deconvolution baseline")
        elif cfg.model.kind == "random":
            if resume and run.genotype.exists():
                genotype = Genotype.load(run.genotype)
            else:
                genotype = random_genotype(cfg)
                if distributed.is_main():
                    genotype.save(run.genotype)
            get_logger(run).info(f"model.kind=random: no search; random genotype (seed {cfg.seed}) in {run.genotype}")
        else:
            genotype = search_stage(cfg, run, resume)
        if not (resume and (run.checkpoints / FINAL).exists()):
            run_retrain(cfg, run, genotype, resume)
        distributed.barrier()  # model.pt is written by rank 0
        metrics = evaluate(cfg, out)
    if not metrics:  # not rank 0
        return metrics
    metrics["wall_seconds"] = time.perf_counter() - t0 if not resume else None
    run.write_json(run.metrics, metrics)
    return metrics


def search_finished(run_dir: str | Path) -> bool:
    """True when ``run_dir`` holds a finished search (a genotype and a complete alpha history)."""
    run = RunDir(Path(run_dir))
    if not (run.genotype.exists() and run.alpha_history.exists()):
        return False
    return "search_seconds" in json.loads(run.alpha_history.read_text())


def dry_run(cfg: Config) -> dict[str, Any]:
    """Build the supernet and a derived network at ``cfg``'s size, run one image through each
    on CPU, and report their parameter counts and output shapes (no training)."""
    cfg.validate()
    supernet = build_supernet(cfg).eval()
    genotype = supernet.derive(cfg.search.edges_per_node)
    rng = np.random.default_rng(cfg.seed)
    genotype = Genotype({n: random_cell(rng, cfg.search.ops, cfg.search.edges_per_node) for n in genotype.cells},
                        genotype.grouping, genotype.ops)
    derived = build_derived(cfg, genotype).eval()
    x = torch.zeros(1, 3, cfg.data.image_size, cfg.data.image_size)
    with torch.no_grad():
        vs, vd = supernet.volumes(x), derived.volumes(x)
    return {
        "preset": cfg.preset,
        "image_size": cfg.data.image_size,
        "trunk_params": count_parameters(supernet.trunk),
        "supernet_params": count_parameters(supernet),
        "supernet_arch_params": sum(p.numel() for p in supernet.arch_parameters()),
        "derived_params": count_parameters(derived),
        "derived_params_per_part": {n: count_parameters(h) for n, h in zip(derived.grouping.part_names, derived.heads)},
        "volume_shape": list(vs.shape),
        "derived_volume_shape": list(vd.shape),
        "genotype": "random cell per part (the search would choose these)",
    }
