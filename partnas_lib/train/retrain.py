"""Stage 2: train the derived part-aware network from scratch (the 3DMPPE recipe).

The searched genotype is rebuilt as a fixed network (:class:`~partnas_lib.models.partnet.PartAwareNet`)
and trained on the whole training split with Adam and step decay (method.md Sec. 2).  The
paper's comparisons train through the very same code (``model.kind``): a random genotype of the
same space, or the 3DMPPE ResNet + deconvolution baseline (``genotype=None``), so every variant
gets the same data, epochs, optimiser and augmentation.  A
checkpoint at the end of every epoch and every ``train.checkpoint_every`` steps (atomic, with
the previous one kept) makes ``--resume`` continue a killed run from the step it reached, with
the same result as an uninterrupted run; the final weights go to ``checkpoints/model.pt``
together with the genotype and config that built them.  Under ``torchrun`` the network is
wrapped in ``DistributedDataParallel`` (see :mod:`partnas_lib.train.distributed`).
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from partnas_lib import threads
from partnas_lib.config import Config
from partnas_lib.data.datasets import load_split
from partnas_lib.data.transforms import AugmentConfig
from partnas_lib.models.build import build_model
from partnas_lib.models.heads import PartPoseNet
from partnas_lib.nas.genotype import Genotype
from partnas_lib.train import distributed
from partnas_lib.train.checkpoint import load_resumable, restore_training_state, save_checkpoint
from partnas_lib.train.loop import (RunDir, Timer, check_finite, check_finite_parameters, check_free_space,
                                    checkpoint_bytes, epoch_order, get_logger, iterate_batches, make_adam,
                                    num_batches, pose_loss, prepare_model, resolve_device, resolve_precision,
                                    seed_everything, should_checkpoint)

CHECKPOINT = "retrain_last.pt"
FINAL = "model.pt"


def run_retrain(cfg: Config, run: RunDir, genotype: Genotype | None, resume: bool = False) -> PartPoseNet:
    """Train ``build_model(cfg, genotype)`` from scratch; ``genotype`` is None for the baseline."""
    log = get_logger(run)
    device = resolve_device(cfg.device)
    r = cfg.retrain
    dist = distributed.info()
    batch = distributed.per_rank_batch(r.batch_size, "retrain.batch_size")
    with distributed.main_first():  # rank 0 renders a missing data cache, the others then read it
        train = load_split(cfg, "train")
    if len(train) < r.batch_size:
        raise ValueError(f"retrain.batch_size={r.batch_size} is larger than the training split ({len(train)})")
    precision = resolve_precision(cfg, device, log)

    seed_everything(cfg.seed + 1)
    model = build_model(cfg, genotype).to(device)
    model = prepare_model(model, cfg, device, precision, log)
    opt = make_adam(model.parameters(), device, lr=r.lr, weight_decay=r.weight_decay)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=r.lr_milestones, gamma=r.lr_factor)
    augment = torch.Generator().manual_seed(cfg.seed + 2) if r.augments else None
    # position: ``epoch`` epochs done, then ``step`` steps of the next one
    start_epoch, start_step, total, elapsed, losses = 0, 0, 0.0, 0.0, []
    ckpt_path = run.checkpoints / CHECKPOINT
    if dist.is_main:
        check_free_space(run.checkpoints, 2 * checkpoint_bytes(model), "two retrain checkpoints and the final weights")
    found = load_resumable(ckpt_path, log) if resume else None
    if found is not None:
        ckpt, path = found
        start_epoch, start_step, elapsed = restore_training_state(
            ckpt, {"model": model, "opt": opt, "sched": sched}, "retrain", r.epochs, path, log)
        losses, total = ckpt["losses"], ckpt.get("total", 0.0)
        if augment is not None:  # its own generator: independent of the global RNGs restored above
            augment.set_state(ckpt["augment"])

    params = sum(p.numel() for p in model.parameters())
    log.info(f"retrain: {cfg.model.kind} network, {len(train)} samples, {params / 1e6:.3f} M parameters, "
             f"device={device}, {torch.get_num_threads()} torch threads"
             + (f", {dist.world_size} processes x batch {batch}" if dist.enabled else ""))
    net = distributed.wrap(model, device)
    timer = Timer()
    steps = num_batches(len(train), r.batch_size)

    def save(epoch: int, step: int, loss_sum: float) -> None:
        """Checkpoint the position ``epoch`` epochs + ``step`` steps (collective: all processes)."""
        check_finite_parameters(model, f"retrain epoch {epoch + 1} step {step}")
        if dist.is_main:
            save_checkpoint(ckpt_path, {
                "model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                "epoch": epoch, "step": step, "total": loss_sum, "elapsed": elapsed + timer.seconds,
                "losses": losses, "augment": augment.get_state() if augment is not None else None,
                "world_size": dist.world_size,
            }, keep_previous=True)

    for epoch in range(start_epoch, r.epochs):
        model.train()
        first = start_step if epoch == start_epoch else 0
        if epoch != start_epoch:
            total = 0.0
        order = distributed.shard_order(epoch_order(len(train), cfg.seed + 1, epoch))[first * batch:]
        bar = tqdm(iterate_batches(train, order, batch, device), total=steps, initial=first,
                   desc=f"retrain {epoch + 1}/{r.epochs}", disable=not cfg.progress or not dist.is_main, leave=False)
        for step, b in enumerate(bar, start=first):
            threads.rebalance(log)
            opt.zero_grad(set_to_none=True)
            loss = pose_loss(net, b, model.geometry, device, augment=augment,
                             augment_cfg=AugmentConfig.from_retrain(r), precision=precision)
            check_finite(loss, f"retrain epoch {epoch + 1} step {step}")
            loss.backward()
            opt.step()
            total += loss.item()
            bar.set_postfix(loss=f"{loss.item():.3f}")
            if should_checkpoint(cfg.train.checkpoint_every, epoch, step + 1, steps):
                save(epoch, step + 1, distributed.mean_over_ranks({"t": total}, device)["t"])
                log.info(f"retrain: checkpoint at epoch {epoch + 1} step {step + 1}/{steps}")
        sched.step()
        total = distributed.mean_over_ranks({"t": total}, device)["t"]
        distributed.check_replicas_equal({"parameters": distributed.parameter_fingerprint(model)},
                                         f"retrain epoch {epoch + 1}")
        losses.append(total / max(1, steps))
        save(epoch + 1, 0, 0.0)
        log.info(f"retrain epoch {epoch + 1}/{r.epochs}: loss {losses[-1]:.4f}, lr {opt.param_groups[0]['lr']:.2e}")

    seconds = elapsed + timer.seconds
    check_finite_parameters(model, "retrain (final weights)")
    if dist.is_main:
        save_checkpoint(run.checkpoints / FINAL, {
            "model": model.state_dict(), "genotype": genotype.to_json() if genotype is not None else None,
            "model_kind": cfg.model.kind, "config": cfg.to_dict(),
            "retrain_seconds": seconds, "losses": losses,
        })
    log.info(f"retrain done in {seconds:.0f} s; weights written to {run.checkpoints / FINAL}")
    return model
