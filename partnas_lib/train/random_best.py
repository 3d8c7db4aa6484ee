r"""The random-search baseline at the search's compute: ``model.kind = "random_best"``.

One random genotype (``model.kind = "random"``) is the NAS sanity check; the stronger baseline
of Li & Talwalkar ("Random Search and Reproducibility for Neural Architecture Search", UAI 2019)
and Yang et al. ("NAS evaluation is frustratingly hard", ICLR 2020) is the *best of several*
random architectures, each trained briefly and compared on held-out data, with the compute a
search would have used.  A search that does not beat this has not earned its cost.  Here, in
place of the DARTS search (:func:`run_random_best`):

1. draw N = ``search.random_candidates`` genotypes of the search space from one generator
   seeded by the run's seed (candidate 0 is the ``random`` variant's genotype);
2. train each for S steps from the same initialisation on the same batches (a paired
   comparison: only the genotype differs), with the retraining's optimiser (Adam at
   ``retrain.lr``, ``retrain.batch_size``), no augmentation and a constant learning rate;
3. score each by its MPJPE on the **validation** split -- never the test split, which is for
   the final number only (the scorer is the caller's: the pipeline passes the evaluation's MPJPE);
4. keep the lowest: ``genotype.json``; every candidate's genotype, steps, final training loss,
   validation MPJPE and seconds go to ``search/random_best.json``.

**Equal compute.**  The budget is counted in multiply-adds of training steps.  The search makes
:math:`T = s\,(E + E - E_w)` supernet steps on batches of :math:`b_s` (``s`` steps per epoch,
``E`` epochs of weight steps, ``E - E_w`` of them after the warm-up also with an architecture
step, counted as one weight step: an upper bound, it skips the trunk's backward pass).  A
training step costs about three forward passes for either network, so with :math:`M_{sup}` and
:math:`M_i` the forward multiply-adds per image of the supernet and of candidate :math:`i`
(:func:`~partnas_lib.models.summary.count_macs`), each of the N candidates gets

.. math::

    S = \left\lfloor \frac{T\, b_s\, M_{sup}}{N\, b_r\, \bar M} \right\rfloor, \qquad
    \bar M = \frac1N \sum_i M_i,

steps of batch :math:`b_r` = ``retrain.batch_size`` (at least one).  With PC-DARTS's partial
channels the supernet's multiply-adds are close to a derived network's (ratio 1.14 at
``smoke``, 1.17 at ``cpu``), so N candidates share about the search's step count: at the cpu
preset 4 candidates of about 270 steps (1.5 epochs) each.  Multiply-adds, not seconds: on a
CPU the supernet's many small kernels make its steps slower per multiply-add, so this stage
takes less wall time than the search (both are recorded, as ``search_seconds``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from partnas_lib.config import Config
from partnas_lib.data.batches import epoch_order, iterate_batches, num_batches
from partnas_lib.data.sample import SampleArrays
from partnas_lib.data.splits import load_split
from partnas_lib.models.build import build_derived, build_supernet, random_genotypes
from partnas_lib.models.heads import PartPoseNet
from partnas_lib.models.summary import count_macs
from partnas_lib.nas.genotype import Genotype
from partnas_lib.train import distributed
from partnas_lib.train.device import (
    Precision,
    make_adam,
    prepare_model,
    resolve_device,
    resolve_precision,
    seed_everything,
)
from partnas_lib.train.rundir import RunDir, Timer, get_logger
from partnas_lib.train.runner import Stage, run_stage
from partnas_lib.train.steps import pose_loss, train_step

RECORD = "random_best.json"  # in search/
REFERENCES = ("Li & Talwalkar, Random Search and Reproducibility for NAS, UAI 2019; "
              "Yang, Esperanca, Carlucci: NAS evaluation is frustratingly hard, ICLR 2020")

#: ``scorer(model, arrays) -> error`` (lower is better): the validation MPJPE in mm.
Scorer = Callable[[PartPoseNet, SampleArrays], float]


def record_path(run: RunDir) -> Path:
    return run.alpha_history.parent / RECORD


def search_supernet_steps(cfg: Config, num_train: int) -> int:
    """:math:`T`: the supernet training steps of the search on ``num_train`` training samples
    (weight steps, plus one per architecture step after the warm-up)."""
    s = cfg.search
    n_w = int(round(num_train * s.train_portion))
    steps = min(num_batches(n_w, s.batch_size), num_batches(num_train - n_w, s.batch_size))
    return steps * (s.epochs + max(0, s.epochs - s.warmup_epochs))


def candidate_budget(cfg: Config, genotypes: list[Genotype], num_train: int) -> dict[str, Any]:
    """The steps :math:`S` per candidate (module docstring) and the figures they come from."""
    x = torch.zeros(1, 3, cfg.data.image_size, cfg.data.image_size)
    with torch.device("meta"):
        supernet_macs = count_macs(build_supernet(cfg), x)
        macs = [count_macs(build_derived(cfg, g), x) for g in genotypes]
    total = search_supernet_steps(cfg, num_train)
    ratio = supernet_macs / float(np.mean(macs))
    steps = max(1, int(total * cfg.search.batch_size * ratio / (len(genotypes) * cfg.retrain.batch_size)))
    return {"search_supernet_steps": total, "search_batch_size": cfg.search.batch_size,
            "candidate_batch_size": cfg.retrain.batch_size, "supernet_macs": supernet_macs,
            "candidate_macs": macs, "macs_ratio": ratio, "candidates": len(genotypes), "steps_per_candidate": steps}


def repeated_order(n: int, seed: int, steps: int, batch_size: int) -> np.ndarray:
    """The sample order of ``steps`` batches: seeded epoch orders (those of the retraining, whole
    batches only) one after another, as many as needed."""
    orders, total, epoch = [], 0, 0
    while total < steps * batch_size:
        order = epoch_order(n, seed, epoch)
        orders.append(order[:len(order) - len(order) % batch_size])
        total += len(orders[-1])
        epoch += 1
    return np.concatenate(orders)[:steps * batch_size]


def train_candidate(cfg: Config, genotype: Genotype, train: SampleArrays, steps: int, name: str,
                    device: torch.device, precision: Precision, log: logging.Logger) -> tuple[PartPoseNet, float]:
    """Train the derived network of ``genotype`` for ``steps`` steps (one :class:`Stage` of
    :func:`run_stage`, no checkpoints); return it and its mean training loss."""
    r = cfg.retrain
    seed_everything(cfg.seed + 1)  # the retraining's initialisation, the same for every candidate
    model = build_derived(cfg, genotype, load_pretrained=True).to(device)
    model = prepare_model(model, cfg, device, precision, log)
    opt = make_adam(model.parameters(), device, lr=r.lr, weight_decay=r.weight_decay)
    stage = Stage(name, 1, steps, None, model, {"model": model, "opt": opt}, progress=cfg.progress)
    order = repeated_order(len(train), cfg.seed + 1, steps, r.batch_size)
    losses: list[float] = []

    def loss(net: torch.nn.Module, b: dict[str, torch.Tensor]) -> torch.Tensor:
        return pose_loss(net, b, model.geometry, device, precision=precision)

    def batches(epoch: int, first: int):
        return iterate_batches(train, order[first * r.batch_size:], r.batch_size, device)

    def step(b: dict[str, torch.Tensor], epoch: int) -> dict[str, float]:
        return {"loss": train_step(model, opt, b, loss, where=name)}

    run_stage(stage, batches, step, lambda epoch, mean: losses.append(mean["loss"]), device, log)
    return model, losses[-1]


def select_best(candidates: list[dict[str, Any]]) -> int:
    """Index of the candidate with the lowest validation MPJPE (the first of equal ones)."""
    return min(range(len(candidates)), key=lambda i: (candidates[i]["val_mpjpe"], i))


def run_random_best(cfg: Config, run: RunDir, scorer: Scorer, resume: bool = False) -> Genotype:
    """Draw, train and score the candidates (module docstring); write ``genotype.json`` and
    ``search/random_best.json``; return the chosen genotype.  With ``resume``, candidates already
    in the record (same genotype and steps) are not trained again."""
    if distributed.info().enabled:
        raise ValueError("model.kind=random_best runs in one process; start it without torchrun")
    log = get_logger(run)
    device = resolve_device(cfg.device)
    precision = resolve_precision(cfg, device, log)
    train, val = load_split(cfg, "train"), load_split(cfg, "val")
    if len(train) < cfg.retrain.batch_size:
        raise ValueError(f"retrain.batch_size={cfg.retrain.batch_size} is larger than the training split "
                         f"({len(train)})")
    genotypes = random_genotypes(cfg, cfg.search.random_candidates)
    budget = candidate_budget(cfg, genotypes, len(train))
    steps = budget["steps_per_candidate"]
    path = record_path(run)
    done = read_record(path)["candidates"] if resume and path.exists() else []
    log.info(f"random_best: {len(genotypes)} random genotypes, {steps} steps of batch {cfg.retrain.batch_size} each "
             f"(the search's {budget['search_supernet_steps']} supernet steps x multiply-add ratio "
             f"{budget['macs_ratio']:.2f}), chosen on {len(val)} validation samples")
    record: dict[str, Any] = {"method": "random_best", "references": REFERENCES, "budget": budget,
                              "num_val": len(val), "candidates": []}
    timer = Timer()
    for i, genotype in enumerate(genotypes):
        parts = genotype.to_json()["parts"]
        if i < len(done) and done[i]["genotype"] == parts and done[i]["steps"] == steps:
            record["candidates"].append(done[i])
            continue
        t = Timer()
        name = f"candidate {i + 1}/{len(genotypes)}"
        model, final_loss = train_candidate(cfg, genotype, train, steps, name, device, precision, log)
        with precision.autocast(device):
            error = float(scorer(model, val))
        record["candidates"].append({"index": i, "genotype": parts, "steps": steps, "final_loss": final_loss,
                                     "val_mpjpe": error, "seconds": t.seconds})
        run.write_json(path, record)  # after every candidate: a resumed run skips the finished ones
        log.info(f"random_best {name}: training loss {final_loss:.4f}, validation MPJPE {error:.1f} mm")
    best = select_best(record["candidates"])
    record.update({"chosen": best, "genotype": record["candidates"][best]["genotype"],
                   "seconds": sum(c["seconds"] for c in record["candidates"])})
    run.write_json(path, record)
    genotypes[best].save(run.genotype)
    log.info(f"random_best: candidate {best + 1} chosen (validation MPJPE "
             f"{record['candidates'][best]['val_mpjpe']:.1f} mm) in {timer.seconds:.0f} s; written to {run.genotype}")
    return genotypes[best]


def read_record(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def random_best_finished(run: RunDir) -> bool:
    """True when ``run`` holds a finished selection (a genotype and a record naming the chosen one)."""
    path = record_path(run)
    return run.genotype.exists() and path.exists() and "chosen" in read_record(path)
