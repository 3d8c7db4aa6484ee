"""Stage 1: differentiable search of one decoder cell per part (first-order DARTS / PC-DARTS).

Bilevel optimisation (DARTS, Liu et al. 2019, Eq. 3-4; first-order approximation, Sec. 2.3):
the training split is cut in two halves; the network weights ``w`` take a step on a batch of
the first half, the architecture parameters ``alpha, beta`` of every part take a step on a
batch of the second half.  For ``warmup_epochs`` only the weights train (alpha frozen), so
that the parametric ops are not judged before they have learned anything -- a common remedy
for the early preference of DARTS for parameter-free ops (skip connections).

Each step is :func:`~partnas_lib.train.steps.search_step`; :func:`~partnas_lib.train.runner.run_stage`
runs them with checkpoints and resume.  After every epoch the softmaxed alpha/beta of every part
(and the genotype they would derive) are appended to ``search/alpha_history.json``.  At the end
the genotype is derived and saved to ``genotype.json``: by the magnitudes of alpha/beta (the DARTS
rule, :func:`~partnas_lib.nas.genotype.derive_cell`), or with ``search.selection = "perturbation"``
by removing ops and edges from the trained supernet and measuring the loss (DARTS-PT,
:mod:`partnas_lib.train.selection`; its decisions go to ``search/selection.json``).

Under ``torchrun`` the supernet is wrapped in ``DistributedDataParallel``; alpha and beta are
its registered parameters, so their gradients are all-reduced with the weights' and every
process takes the same architecture step (checked at the end of every epoch).
"""

from __future__ import annotations

import numpy as np
import torch

from partnas_lib.config import Config
from partnas_lib.data.batches import epoch_order, iterate_batches, num_batches
from partnas_lib.data.sample import SampleArrays
from partnas_lib.data.splits import load_split
from partnas_lib.models.build import build_supernet
from partnas_lib.nas.genotype import Genotype, edge_index
from partnas_lib.train import distributed
from partnas_lib.train.device import make_adam, prepare_model, resolve_device, resolve_precision, seed_everything
from partnas_lib.train.rundir import RunDir, check_free_space, checkpoint_bytes, get_logger
from partnas_lib.train.runner import Stage, check_finite_parameters, run_stage
from partnas_lib.train.selection import perturbation_genotype
from partnas_lib.train.steps import pose_loss, search_step

CHECKPOINT = "search_last.pt"
SELECTION = "selection.json"  # in search/, next to the alpha history (search.selection=perturbation)


def search_halves(train: SampleArrays, portion: float, seed: int) -> tuple[SampleArrays, SampleArrays]:
    """The two disjoint halves of the bilevel problem: ``portion`` of the training split for the
    weights, the rest for alpha/beta, drawn by a permutation seeded by ``seed``.

    Shuffled, not cut: loaded datasets come in a meaningful order (Human3.6M subject by subject,
    MPII appended after it), and a contiguous cut would give the architecture step the later
    subjects and every 2D-only sample while the weights never saw them.
    """
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed)).numpy()
    n_w = int(round(len(train) * portion))
    return train.subset(np.sort(order[:n_w])), train.subset(np.sort(order[n_w:]))


def run_search(cfg: Config, run: RunDir, resume: bool = False) -> Genotype:
    """Search, derive, write ``genotype.json`` and the alpha history; return the genotype."""
    # Long because the step, the data streams and the per-epoch record are closures over the
    # run's state (model, optimisers, halves of the data); the DARTS step itself is search_step.
    log = get_logger(run)
    device = resolve_device(cfg.device)
    s = cfg.search
    dist = distributed.info()
    batch = distributed.per_rank_batch(s.batch_size, "search.batch_size")
    with distributed.main_first():  # rank 0 renders a missing data cache, the others then read it
        train = load_split(cfg, "train")
    half_w, half_a = search_halves(train, s.train_portion, cfg.seed)
    if min(len(half_w), len(half_a)) < s.batch_size:
        raise ValueError(
            f"search needs at least search.batch_size={s.batch_size} samples in each half of the "
            f"training split; got {len(half_w)} and {len(half_a)} (raise data.num_train)"
        )
    precision = resolve_precision(cfg, device, log, search=True)

    seed_everything(cfg.seed)
    model = build_supernet(cfg, load_pretrained=True).to(device)  # ImageNet trunk if model.pretrained
    if not s.edge_norm:
        model.beta.requires_grad_(False)  # unused without edge normalisation: DDP must not wait for it
    model = prepare_model(model, cfg, device, precision, log)
    weights = list(model.weight_parameters())
    w_opt = make_adam(weights, device, lr=s.lr, weight_decay=s.weight_decay)
    a_opt = make_adam(model.arch_parameters(), device, lr=s.arch_lr, betas=(s.arch_beta1, s.arch_beta2),
                      weight_decay=s.arch_weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(w_opt, T_max=max(1, s.epochs), eta_min=s.lr * 0.01)
    history = {
        "ops": list(s.ops), "parts": model.grouping.part_names, "edges": edge_index(),
        "partial_channels": s.partial_channels, "edge_norm": s.edge_norm,
        "epochs": [{"epoch": 0, "phase": "init", "parts": model.arch_state()}],
    }
    if dist.is_main:
        check_free_space(run.checkpoints, 2 * checkpoint_bytes(model), "two search checkpoints")
    steps = min(num_batches(len(half_w), s.batch_size), num_batches(len(half_a), s.batch_size))
    stage = Stage("search", s.epochs, steps, run.checkpoints / CHECKPOINT, model,
                  {"model": model, "w_opt": w_opt, "a_opt": a_opt, "sched": sched}, schedulers=[sched],
                  records={"history": history}, checkpoint_every=cfg.train.checkpoint_every, progress=cfg.progress)
    log.info(f"search: {len(half_w)} samples for weights, {len(half_a)} for alpha/beta; "
             f"{len(model.grouping)} parts, K={s.partial_channels}, edge_norm={s.edge_norm}, device={device}, "
             f"{torch.get_num_threads()} torch threads"
             + (f", MACs penalty cost_weight={s.cost_weight}" if s.cost_weight > 0 else "")
             + (f", {dist.world_size} processes x batch {batch}" if dist.enabled else ""))
    net = distributed.wrap(model, device)

    def loss(net: torch.nn.Module, b: dict[str, torch.Tensor]) -> torch.Tensor:
        return pose_loss(net, b, model.geometry, device, precision=precision)

    def batches(epoch: int, first: int):
        """Two independent streams: one half of the data for w, the other for alpha/beta."""
        order_w = distributed.shard_order(epoch_order(len(half_w), cfg.seed, 2 * epoch))[first * batch:]
        order_a = distributed.shard_order(epoch_order(len(half_a), cfg.seed, 2 * epoch + 1))[first * batch:]
        return zip(iterate_batches(half_w, order_w, batch, device), iterate_batches(half_a, order_a, batch, device))

    def arch_loss(net: torch.nn.Module, b: dict[str, torch.Tensor]) -> torch.Tensor:
        """The pose loss plus, with ``search.cost_weight`` > 0, the expected-MACs penalty."""
        return loss(net, b) + s.cost_weight * model.cost_penalty(s.edges_per_node)

    def step(pair: tuple, epoch: int) -> dict[str, float]:
        return search_step(net, w_opt, a_opt, pair[0], pair[1], loss, weights,
                           update_arch=epoch >= s.warmup_epochs, grad_clip=s.grad_clip,
                           arch_loss_fn=arch_loss if s.cost_weight > 0 else None)

    def end_epoch(epoch: int, mean: dict[str, float]) -> None:
        update_arch = epoch >= s.warmup_epochs
        distributed.check_replicas_equal({"alpha": model.alpha, "beta": model.beta}, f"search epoch {epoch + 1}")
        check_finite_parameters(model, f"search epoch {epoch + 1}")
        record = {"epoch": epoch + 1, "phase": "search" if update_arch else "warmup",
                  "w_loss": mean["w_loss"], "a_loss": mean["a_loss"] if update_arch else None,
                  "parts": model.arch_state(), "genotype": model.derive(s.edges_per_node).to_json()["parts"],
                  "expected_head_macs": dict(zip(model.grouping.part_names,
                                                 model.expected_head_macs(s.edges_per_node).tolist()))}
        stage.records["history"]["epochs"].append(record)
        run.write_json(run.alpha_history, stage.records["history"])
        log.info(f"search epoch {epoch + 1}/{s.epochs} ({record['phase']}): weight loss {record['w_loss']:.4f}"
                 + (f", arch loss {record['a_loss']:.4f}" if update_arch else ""))

    seconds = run_stage(stage, batches, step, end_epoch, device, log, resume)
    history = stage.records["history"]
    history["selection"] = s.selection
    if s.selection == "perturbation":
        genotype, record = perturbation_genotype(model, cfg, half_w, half_a, device, precision, log)
        run.write_json(run.alpha_history.parent / SELECTION, record)
        history["selection_seconds"] = record["seconds"]
        seconds += record["seconds"]  # the search's cost includes the selection's
    else:
        genotype = model.derive(s.edges_per_node)
    if dist.is_main:
        genotype.save(run.genotype)
    history["search_seconds"] = seconds
    run.write_json(run.alpha_history, history)
    log.info(f"search done in {seconds:.0f} s; genotype written to {run.genotype}")
    for name, cell in genotype.cells.items():
        log.info(f"  {name}: " + "; ".join(f"{op}({src}->{dst})" for op, src, dst in cell.edges))
    return genotype
