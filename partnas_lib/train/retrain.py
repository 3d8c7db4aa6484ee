"""Stage 2: train the derived part-aware network from scratch (the 3DMPPE recipe).

The searched genotype is rebuilt as a fixed network (:class:`~partnas_lib.models.partnet.PartAwareNet`)
and trained on the whole training split with Adam and step decay (method.md Sec. 2).  The
paper's comparisons train through the very same code (``model.kind``): a random genotype of the
same space, or the 3DMPPE ResNet + deconvolution baseline (``genotype=None``), so every variant
gets the same data, epochs, optimiser and augmentation.  One
checkpoint per epoch (atomic) makes ``--resume`` continue a killed run; the final weights go to
``checkpoints/model.pt`` together with the genotype and config that built them.
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from partnas_lib.config import Config
from partnas_lib.data.datasets import load_split
from partnas_lib.models.build import build_model
from partnas_lib.models.heads import PartPoseNet
from partnas_lib.nas.genotype import Genotype
from partnas_lib.train.checkpoint import load_checkpoint, save_checkpoint, set_rng_state
from partnas_lib.train.loop import (RunDir, Timer, check_finite, epoch_order, get_logger, iterate_batches,
                                    num_batches, pose_loss, resolve_device, seed_everything)

CHECKPOINT = "retrain_last.pt"
FINAL = "model.pt"


def run_retrain(cfg: Config, run: RunDir, genotype: Genotype | None, resume: bool = False) -> PartPoseNet:
    """Train ``build_model(cfg, genotype)`` from scratch; ``genotype`` is None for the baseline."""
    log = get_logger(run)
    device = resolve_device(cfg.device)
    r = cfg.retrain
    train = load_split(cfg, "train")
    if len(train) < r.batch_size:
        raise ValueError(f"retrain.batch_size={r.batch_size} is larger than the training split ({len(train)})")

    seed_everything(cfg.seed + 1)
    model = build_model(cfg, genotype).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=r.lr, weight_decay=r.weight_decay)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=r.lr_milestones, gamma=r.lr_factor)
    augment = torch.Generator().manual_seed(cfg.seed + 2) if r.augments else None
    start_epoch, elapsed, losses = 0, 0.0, []
    ckpt_path = run.checkpoints / CHECKPOINT
    if resume and ckpt_path.exists():
        ckpt = load_checkpoint(ckpt_path)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["opt"])
        sched.load_state_dict(ckpt["sched"])
        start_epoch, elapsed, losses = ckpt["epoch"], ckpt["elapsed"], ckpt["losses"]
        if augment is not None:
            augment.set_state(ckpt["augment"])
        set_rng_state(ckpt["rng"])
        log.info(f"retrain: resumed from {ckpt_path} at epoch {start_epoch}/{r.epochs}")

    params = sum(p.numel() for p in model.parameters())
    log.info(f"retrain: {cfg.model.kind} network, {len(train)} samples, {params / 1e6:.3f} M parameters, "
             f"device={device}")
    timer = Timer()
    steps = num_batches(len(train), r.batch_size)
    for epoch in range(start_epoch, r.epochs):
        model.train()
        total = 0.0
        order = epoch_order(len(train), cfg.seed + 1, epoch)
        bar = tqdm(iterate_batches(train, order, r.batch_size, device), total=steps,
                   desc=f"retrain {epoch + 1}/{r.epochs}", disable=not cfg.progress, leave=False)
        for step, batch in enumerate(bar):
            opt.zero_grad(set_to_none=True)
            loss = pose_loss(model, batch, model.geometry, device, augment=augment,
                             augment_cfg=r.augment_config())
            check_finite(loss, f"retrain epoch {epoch + 1} step {step}")
            loss.backward()
            opt.step()
            total += loss.item()
            bar.set_postfix(loss=f"{loss.item():.3f}")
        sched.step()
        losses.append(total / max(1, steps))
        save_checkpoint(ckpt_path, {
            "model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
            "epoch": epoch + 1, "elapsed": elapsed + timer.seconds, "losses": losses,
            "augment": augment.get_state() if augment is not None else None,
        })
        log.info(f"retrain epoch {epoch + 1}/{r.epochs}: loss {losses[-1]:.4f}, lr {opt.param_groups[0]['lr']:.2e}")

    seconds = elapsed + timer.seconds
    save_checkpoint(run.checkpoints / FINAL, {
        "model": model.state_dict(), "genotype": genotype.to_json() if genotype is not None else None,
        "model_kind": cfg.model.kind, "config": cfg.to_dict(),
        "retrain_seconds": seconds, "losses": losses,
    })
    log.info(f"retrain done in {seconds:.0f} s; weights written to {run.checkpoints / FINAL}")
    return model
