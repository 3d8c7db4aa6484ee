"""Small helpers the notebooks call, so that no logic lives only in a notebook.

* :func:`setup` -- plotly renderer and torch threads for a notebook session;
* :func:`make_config` -- a preset plus ``section.field=value`` overrides (the CLI's ``--set``);
* :func:`ensure_search`, :func:`search_seeds` -- run a search once and reuse it afterwards
  (every call resumes, so re-running a notebook costs nothing);
* :func:`load_results`, :func:`load_model`, :func:`head_parameters` -- read a finished run;
* :func:`write_metrics` -- the JSON a notebook writes for the tests (``METRICS_OUT``);
* :func:`find_results_file` -- locate optional result files such as ``results/ablation.json``;
  :func:`find_ablation` -- the ablation a notebook reads (yours, or the newest committed one).

Run directories are those of the CLI (:class:`partnas_lib.train.rundir.RunDir`): a notebook and
``partnas reproduce --out DIR --resume`` can work on the same directory.
"""

from __future__ import annotations

import copy
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import plotly.io as pio
import torch
from tqdm.auto import tqdm

import partnas_lib
from partnas_lib import pipeline
from partnas_lib.ablation.schema import upgrade_ablation, validate_ablation
from partnas_lib.config import Config, apply_overrides, get_preset
from partnas_lib.eval.multi_person import load_pose_model
from partnas_lib.io import read_json, write_json
from partnas_lib.models.build import build_baseline, build_derived
from partnas_lib.models.heads import count_parameters
from partnas_lib.models.receptive_field import part_receptive_fields
from partnas_lib.nas.analysis import SearchHistory, cell_conv_depth, cell_op_counts, parameter_free_fraction
from partnas_lib.nas.genotype import Genotype
from partnas_lib.train.rundir import RunDir, set_console_level


def setup(plotly_renderer: str | None = "plotly_mimetype+notebook", threads: int | None = None,
          quiet: bool = True) -> None:
    """Prepare a notebook session.

    ``plotly_mimetype`` lets JupyterLab draw figures natively and ``notebook`` adds an HTML
    version with plotly.js embedded in the notebook (once, with the first figure), so that
    figures still draw in an exported HTML page or the docs site with no network.  ``threads``
    caps torch's CPU threads (useful on shared machines).  ``quiet`` keeps the runs' progress
    messages in their ``log.txt`` instead of the notebook (warnings still show).
    """
    if plotly_renderer:
        pio.renderers.default = plotly_renderer
    if threads:
        torch.set_num_threads(int(threads))
    if quiet:
        set_console_level(logging.WARNING)


def make_config(preset: str, overrides: Iterable[str] = (), seed: int | None = None, progress: bool = False) -> Config:
    """``get_preset(preset)`` with ``overrides`` (``["retrain.epochs=3", ...]``) applied and validated.

    Progress bars are off by default: a saved notebook would keep them frozen at their last
    state; the runs log one line per epoch to their ``log.txt``."""
    cfg = get_preset(preset)
    cfg.progress = progress
    if seed is not None:
        cfg.seed = int(seed)
    return apply_overrides(cfg, list(overrides))


#: The committed reference run of the ``cpu`` preset, made by the package's own commands
#: (``partnas reproduce --preset cpu`` and ``partnas search --seed N`` into ``seed1/``,
#: ``seed2/``; see its README).  Notebooks 03-06 read it unless ``RUN_TRAINING = True``.
REFERENCE_RUN = "results/reference-cpu"
#: Minutes a quiet 2-core machine needs for what ``RUN_TRAINING = True`` runs at the cpu preset.
CPU_TRAINING_MINUTES = {"search": 4, "trained": 11, "seeds": 4}


def reference_run() -> Path:
    """The committed reference run (:data:`REFERENCE_RUN`), found from the working directory or
    the source checkout."""
    found = find_results_file(f"{REFERENCE_RUN}/metrics.json")
    if found is None:
        raise FileNotFoundError(f"the committed reference run {REFERENCE_RUN} was not found (a pip install "
                                "without the repository?); set RUN_TRAINING = True to make your own run")
    return found.parent


def use_run(cfg: Config, run_dir: str | Path, run_training: bool, stage: str = "trained") -> Path:
    """The run directory a notebook reads, and its config's preset check.

    ``run_training=False`` (the notebooks' default): the committed reference run, read only --
    results in seconds -- whatever ``cfg``'s preset (the reference run is the ``cpu`` preset;
    Binder sets ``PARTNAS_PRESET=smoke`` for what a notebook trains itself, and still shows the
    reference run by default).  ``run_training=True``: ``run_dir``, where ``stage``
    (``"search"`` or ``"trained"``) is first run or resumed unless it already finished (at the
    cpu preset about :data:`CPU_TRAINING_MINUTES` minutes on 2 cores).  Read the run's own config
    afterwards (:func:`load_config`): a finished run keeps the config it was made with.
    """
    if stage not in ("search", "trained"):
        raise ValueError(f"stage must be 'search' or 'trained', got {stage!r}")
    if not run_training:
        return reference_run()
    if stage == "search":
        ensure_search(cfg, run_dir)
    else:
        ensure_trained(cfg, run_dir)
    return Path(run_dir)


def ensure_search(cfg: Config, run_dir: str | Path) -> Genotype:
    """The genotype of ``run_dir``: read it if the search finished, else run (or resume) it.

    This is stage 1 of :func:`partnas_lib.pipeline.reproduce`; a later ``reproduce(cfg,
    run_dir, resume=True)`` skips it and goes straight to retraining.
    """
    if pipeline.search_finished(run_dir):
        return Genotype.load(RunDir(Path(run_dir)).genotype)
    return pipeline.search(cfg, run_dir, resume=True)


def search_seeds(cfg: Config, run_dir: str | Path, seeds: Iterable[int], run_training: bool = True,
                 progress: bool = False) -> dict[int, Path]:
    """One search per seed; ``cfg.seed`` is ``run_dir`` itself (the notebooks' main run), other
    seeds :func:`partnas_lib.pipeline.seed_dir` inside it (``run_dir/seed<N>``, the layout of
    ``partnas search --seeds``).  Only the seed changes (same data, same config), so differences
    between the results are the search's own variance.  With ``run_training=False`` the
    searches must already exist there (the reference run has seeds 0, 1 and 2).  Returns seed
    -> run directory.
    """
    out: dict[int, Path] = {}
    for seed in tqdm(list(seeds), desc="search seeds", disable=not progress):
        path = Path(run_dir) if int(seed) == cfg.seed else pipeline.seed_dir(run_dir, int(seed))
        if run_training:
            c = copy.deepcopy(cfg)
            c.seed = int(seed)
            ensure_search(c, path)
        elif not pipeline.search_finished(path):
            raise FileNotFoundError(f"no finished search of seed {seed} in {path}; set RUN_TRAINING = True")
        out[int(seed)] = path
    return out


def ensure_trained(cfg: Config, run_dir: str | Path) -> dict[str, Any]:
    """The metrics of ``run_dir``: read them if the run finished, else run
    :func:`partnas_lib.pipeline.reproduce` with ``resume=True`` (which skips finished stages)."""
    run = RunDir(Path(run_dir))
    if run.metrics.exists() and run.predictions.exists():
        return json.loads(run.metrics.read_text())
    return pipeline.reproduce(cfg, run_dir, resume=True)


def load_config(run_dir: str | Path) -> Config:
    """The config a run directory was made with (``config.json``).  A resumed run always uses
    it, whatever preset the caller asked for, so notebooks read it back after starting a run."""
    return Config.load(RunDir(Path(run_dir)).config)


def load_history(run_dir: str | Path) -> SearchHistory:
    return SearchHistory.load(Path(run_dir))


def load_genotype(run_dir: str | Path) -> Genotype:
    return Genotype.load(RunDir(Path(run_dir)).genotype)


@dataclass
class RunResults:
    """A finished run: its config, metrics, genotype and test predictions (camera mm)."""

    run_dir: Path
    config: Config
    metrics: dict[str, Any]
    genotype: Genotype
    pred_mm: np.ndarray
    gt_mm: np.ndarray


def load_results(run_dir: str | Path) -> RunResults:
    """Read ``config.json``, ``metrics.json``, ``genotype.json`` and ``predictions.npz``."""
    run = RunDir(Path(run_dir))
    for path in (run.config, run.metrics, run.genotype, run.predictions):
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist; run partnas reproduce --out {run.root} first")
    with np.load(run.predictions) as z:
        pred, gt = z["pred_mm"].astype(np.float64), z["gt_mm"].astype(np.float64)
    return RunResults(run.root, Config.load(run.config), json.loads(run.metrics.read_text()),
                      Genotype.load(run.genotype), pred, gt)


def load_model(run_dir: str | Path, device: str = "cpu"):
    """The retrained network of ``run_dir`` (``checkpoints/model.pt``) in eval mode, and its config."""
    cfg = Config.load(RunDir(Path(run_dir)).config)
    return load_pose_model(cfg, run_dir, torch.device(device)), cfg


def head_parameters(cfg: Config, genotype: Genotype) -> dict[str, int]:
    """Parameters of the derived network: ``trunk``, each part's head, and ``total``."""
    model = build_derived(cfg, genotype)
    out = {"trunk": count_parameters(model.trunk)}
    out.update({name: count_parameters(h) for name, h in zip(model.grouping.part_names, model.heads)})
    out["total"] = count_parameters(model)
    return out


def baseline_parameters(cfg: Config) -> int:
    """Parameters of the 3DMPPE ResNet + deconvolution baseline at ``cfg``'s scale
    (:func:`partnas_lib.models.build.build_baseline`).  Built on the meta device: shapes only,
    no memory, instant even at paper size."""
    with torch.device("meta"):
        return count_parameters(build_baseline(cfg))


def architecture_summary(cfg: Config, genotype: Genotype) -> dict[str, dict[str, Any]]:
    """Per part: receptive field of its head (px), deepest chain of convolutions, share of
    parameter-free edges, the head's parameters and its kept ops -- one row per part."""
    m = cfg.model
    fields = part_receptive_fields(genotype, m.trunk_depth, m.trunk_stage, m.head_cells)
    params = head_parameters(cfg, genotype)
    return {
        name: {
            "receptive_field_px": fields[name],
            "conv_depth": cell_conv_depth(cell),
            "parameter_free_fraction": parameter_free_fraction(cell),
            "head_params": params[name],
            "ops": ", ".join(f"{op} x{n}" if n > 1 else op for op, n in sorted(cell_op_counts(cell).items())),
        }
        for name, cell in genotype.cells.items()
    }


def load_ablation(path: str | Path) -> dict[str, Any]:
    """An ``ablation.json`` written by ``partnas ablate``, after checking its schema
    (:func:`partnas_lib.ablation.schema.validate_ablation` names the first bad field).  Show it with
    :func:`partnas_lib.ablation.report.ablation_markdown` and :func:`partnas_lib.viz.results.plot_ablation`."""
    data = upgrade_ablation(read_json(path, "ablation file"))  # files of an older schema are upgraded
    validate_ablation(data)
    return data


def repo_root() -> Path | None:
    """The source checkout partnas was installed from (``pip install -e``), if any."""
    root = Path(partnas_lib.__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").exists() else None


def find_results_file(relative: str = "results/ablation.json", start: str | Path | None = None) -> Path | None:
    """``relative`` under the working directory, its parents, or the source checkout; None if absent."""
    here = Path(start or Path.cwd()).resolve()
    candidates = [p / relative for p in (here, *here.parents)]
    root = repo_root()
    if root is not None:
        candidates.append(root / relative)
    return next((p for p in candidates if p.is_file()), None)


#: The committed ablations, newest first: the 8-seed procedural benchmark once it is committed,
#: else the first 3-seed run (whose capacity control is a separate file).
COMMITTED_ABLATIONS = ("results/procedural/ablation.json", "results/ablation.json")


def find_ablation(path: str | Path = "") -> Path | None:
    """The ``ablation.json`` a notebook reads: ``path`` (a file, or a run folder holding one), or
    with an empty ``path`` the newest committed ablation (:data:`COMMITTED_ABLATIONS`); None if
    there is none.  A ``path`` that does not hold an ablation file is an error, not a fallback."""
    if str(path):
        given = Path(path).expanduser()
        file = given / "ablation.json" if given.is_dir() else given
        if not file.is_file():
            raise FileNotFoundError(f"no ablation file at {file}: run `partnas ablate --out {given}` first")
        return file
    return next((f for f in map(find_results_file, COMMITTED_ABLATIONS) if f is not None), None)


def ablation_runs(ablation: Mapping[str, Any], path: str | Path) -> dict[str, list[dict[str, Any]]]:
    """Every variant's runs of ``ablation`` (read from ``path``).  The first 3-seed run kept its
    capacity control (a wider shared decoder) in ``capacity/ablation.json`` beside it; where the
    file has no ``shared_matched`` variant of its own, that control joins as ``shared_40``."""
    runs = {name: v["runs"] for name, v in ablation["variants"].items()}
    capacity = Path(path).parent / "capacity" / "ablation.json"
    if "shared_matched" not in runs and capacity.is_file():
        runs["shared_40"] = load_ablation(capacity)["variants"]["shared"]["runs"]
    return runs


def write_metrics(path: str | Path, metrics: Mapping[str, Any]) -> Path:
    """Write the numbers a notebook showed to ``path`` as JSON (numpy types converted).

    Non-finite floats are refused: a notebook whose numbers are NaN has silently failed, and
    the notebook tests read these files to catch exactly that.
    """
    raw = json.loads(json.dumps(dict(metrics), default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v)))
    bad = [k for k, v in _flatten(raw) if isinstance(v, float) and not math.isfinite(v)]
    if bad:
        raise ValueError(f"write_metrics: non-finite values for {bad}")
    write_json(path, metrics)
    return Path(path)


def _flatten(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(data, dict):
        return [kv for k, v in data.items() for kv in _flatten(v, f"{prefix}{k}.")]
    if isinstance(data, list):
        return [kv for i, v in enumerate(data) for kv in _flatten(v, f"{prefix}{i}.")]
    return [(prefix.rstrip("."), data)]


__all__ = [
    "RunResults", "ablation_runs", "architecture_summary", "baseline_parameters", "ensure_search",
    "ensure_trained", "find_ablation", "find_results_file", "head_parameters", "load_ablation", "load_config",
    "load_genotype", "COMMITTED_ABLATIONS",
    "load_history", "load_model", "reference_run", "use_run", "REFERENCE_RUN",
    "load_results", "make_config", "repo_root", "search_seeds", "setup",
    "write_metrics",
]
