"""Stage 1: differentiable search of one decoder cell per part (first-order DARTS / PC-DARTS).

Bilevel optimisation (DARTS, Liu et al. 2019, Eq. 3-4; first-order approximation, Sec. 2.3):
the training split is cut in two halves; the network weights ``w`` take a step on a batch of
the first half, the architecture parameters ``alpha, beta`` of every part take a step on a
batch of the second half.  For ``warmup_epochs`` only the weights train (alpha frozen), so
that the parametric ops are not judged before they have learned anything -- a common remedy
for the early preference of DARTS for parameter-free ops (skip connections).

After every epoch the softmaxed alpha/beta of every part are appended to
``search/alpha_history.json`` and a checkpoint is written (and one every
``train.checkpoint_every`` steps in between), so an interrupted search resumes with
``--resume`` from the exact step it reached.  At the end the genotype is derived and saved
to ``genotype.json``.

Under ``torchrun`` the supernet is wrapped in ``DistributedDataParallel``; alpha and beta are
its registered parameters, so their gradients are all-reduced with the weights' and every
process takes the same architecture step (checked at the end of every epoch).
"""

from __future__ import annotations

from pathlib import Path

import torch
from tqdm.auto import tqdm

from partnas_lib import threads
from partnas_lib.config import Config
from partnas_lib.data.datasets import load_split
from partnas_lib.models.build import build_supernet
from partnas_lib.nas.genotype import Genotype, edge_index
from partnas_lib.train import distributed
from partnas_lib.train.checkpoint import load_resumable, restore_training_state, save_checkpoint
from partnas_lib.train.loop import (RunDir, Timer, check_finite, check_finite_parameters, check_free_space,
                                    checkpoint_bytes, epoch_order, get_logger, iterate_batches, make_adam,
                                    num_batches, pose_loss, prepare_model, resolve_device, resolve_precision,
                                    seed_everything, should_checkpoint)

CHECKPOINT = "search_last.pt"


def run_search(cfg: Config, run: RunDir, resume: bool = False) -> Genotype:
    """Search, derive, write ``genotype.json`` and the alpha history; return the genotype."""
    log = get_logger(run)
    device = resolve_device(cfg.device)
    s = cfg.search
    dist = distributed.info()
    batch = distributed.per_rank_batch(s.batch_size, "search.batch_size")
    with distributed.main_first():  # rank 0 renders a missing data cache, the others then read it
        train = load_split(cfg, "train")
    n_w = int(round(len(train) * s.train_portion))
    half_w, half_a = train.subset(slice(0, n_w)), train.subset(slice(n_w, None))
    if min(len(half_w), len(half_a)) < s.batch_size:
        raise ValueError(
            f"search needs at least search.batch_size={s.batch_size} samples in each half of the "
            f"training split; got {len(half_w)} and {len(half_a)} (raise data.num_train)"
        )
    precision = resolve_precision(cfg, device, log, search=True)

    seed_everything(cfg.seed)
    model = build_supernet(cfg).to(device)
    if not s.edge_norm:
        model.beta.requires_grad_(False)  # unused without edge normalisation: DDP must not wait for it
    model = prepare_model(model, cfg, device, precision, log)
    w_opt = make_adam(model.weight_parameters(), device, lr=s.lr, weight_decay=s.weight_decay)
    a_opt = make_adam(model.arch_parameters(), device, lr=s.arch_lr, betas=(s.arch_beta1, s.arch_beta2),
                      weight_decay=s.arch_weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(w_opt, T_max=max(1, s.epochs), eta_min=s.lr * 0.01)
    history = {
        "ops": list(s.ops), "parts": model.grouping.part_names, "edges": edge_index(),
        "partial_channels": s.partial_channels, "edge_norm": s.edge_norm,
        "epochs": [{"epoch": 0, "phase": "init", "parts": model.arch_state()}],
    }
    zero = {"w_loss": 0.0, "a_loss": 0.0}
    # position: ``epoch`` epochs done, then ``step`` steps of the next one
    start_epoch, start_step, sums, elapsed = 0, 0, dict(zero), 0.0
    ckpt_path = run.checkpoints / CHECKPOINT
    if dist.is_main:
        check_free_space(run.checkpoints, 2 * checkpoint_bytes(model), "two search checkpoints")
    found = load_resumable(ckpt_path, log) if resume else None
    if found is not None:
        ckpt, path = found
        start_epoch, start_step, elapsed = restore_training_state(
            ckpt, {"model": model, "w_opt": w_opt, "a_opt": a_opt, "sched": sched}, "search", s.epochs, path, log)
        history, sums = ckpt["history"], dict(ckpt.get("sums", zero))

    log.info(f"search: {len(half_w)} samples for weights, {len(half_a)} for alpha/beta; "
             f"{len(model.grouping)} parts, K={s.partial_channels}, edge_norm={s.edge_norm}, device={device}, "
             f"{torch.get_num_threads()} torch threads"
             + (f", {dist.world_size} processes x batch {batch}" if dist.enabled else ""))
    net = distributed.wrap(model, device)
    timer = Timer()
    steps = min(num_batches(len(half_w), s.batch_size), num_batches(len(half_a), s.batch_size))

    def save(epoch: int, step: int, epoch_sums: dict[str, float]) -> None:
        """Checkpoint the position ``epoch`` epochs + ``step`` steps (collective: all processes)."""
        check_finite_parameters(model, f"search epoch {epoch + 1} step {step}")
        if dist.is_main:
            save_checkpoint(ckpt_path, {
                "model": model.state_dict(), "w_opt": w_opt.state_dict(), "a_opt": a_opt.state_dict(),
                "sched": sched.state_dict(), "history": history, "epoch": epoch, "step": step,
                "sums": epoch_sums, "elapsed": elapsed + timer.seconds, "world_size": dist.world_size,
            }, keep_previous=True)

    for epoch in range(start_epoch, s.epochs):
        model.train()
        update_arch = epoch >= s.warmup_epochs
        first = start_step if epoch == start_epoch else 0
        if epoch != start_epoch:
            sums = dict(zero)
        order_w = distributed.shard_order(epoch_order(len(half_w), cfg.seed, 2 * epoch))[first * batch:]
        order_a = distributed.shard_order(epoch_order(len(half_a), cfg.seed, 2 * epoch + 1))[first * batch:]
        batches = zip(iterate_batches(half_w, order_w, batch, device),
                      iterate_batches(half_a, order_a, batch, device))
        bar = tqdm(batches, total=steps, initial=first, desc=f"search {epoch + 1}/{s.epochs}",
                   disable=not cfg.progress or not dist.is_main, leave=False)
        for step, (bw, ba) in enumerate(bar, start=first):
            threads.rebalance(log)
            if update_arch:
                a_opt.zero_grad(set_to_none=True)
                a_loss = pose_loss(net, ba, model.geometry, device, precision=precision)
                check_finite(a_loss, f"search epoch {epoch + 1} step {step} (architecture step)")
                a_loss.backward()
                a_opt.step()
                sums["a_loss"] += a_loss.item()
            w_opt.zero_grad(set_to_none=True)
            w_loss = pose_loss(net, bw, model.geometry, device, precision=precision)
            check_finite(w_loss, f"search epoch {epoch + 1} step {step} (weight step)")
            w_loss.backward()
            torch.nn.utils.clip_grad_norm_(model.weight_parameters(), s.grad_clip, foreach=True)
            w_opt.step()
            sums["w_loss"] += w_loss.item()
            bar.set_postfix(loss=f"{w_loss.item():.3f}")
            if should_checkpoint(cfg.train.checkpoint_every, epoch, step + 1, steps):
                save(epoch, step + 1, distributed.mean_over_ranks(sums, device))
                log.info(f"search: checkpoint at epoch {epoch + 1} step {step + 1}/{steps}")
        sched.step()
        mean = distributed.mean_over_ranks(sums, device)
        distributed.check_replicas_equal({"alpha": model.alpha, "beta": model.beta}, f"search epoch {epoch + 1}")
        check_finite_parameters(model, f"search epoch {epoch + 1}")
        record = {"epoch": epoch + 1, "phase": "search" if update_arch else "warmup",
                  "w_loss": mean["w_loss"] / max(1, steps),
                  "a_loss": mean["a_loss"] / max(1, steps) if update_arch else None,
                  "parts": model.arch_state(),
                  "genotype": model.derive(s.edges_per_node).to_json()["parts"]}
        history["epochs"].append(record)
        run.write_json(run.alpha_history, history)
        save(epoch + 1, 0, dict(zero))
        log.info(f"search epoch {epoch + 1}/{s.epochs} ({record['phase']}): weight loss {record['w_loss']:.4f}"
                 + (f", arch loss {record['a_loss']:.4f}" if update_arch else ""))

    genotype = model.derive(s.edges_per_node)
    if dist.is_main:
        genotype.save(run.genotype)
    history["search_seconds"] = elapsed + timer.seconds
    run.write_json(run.alpha_history, history)
    log.info(f"search done in {history['search_seconds']:.0f} s; genotype written to {run.genotype}")
    for name, cell in genotype.cells.items():
        log.info(f"  {name}: " + "; ".join(f"{op}({src}->{dst})" for op, src, dst in cell.edges))
    return genotype


def load_genotype(path: Path) -> Genotype:
    return Genotype.load(path)
