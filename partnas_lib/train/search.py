"""Stage 1: differentiable search of one decoder cell per part (first-order DARTS / PC-DARTS).

Bilevel optimisation (DARTS, Liu et al. 2019, Eq. 3-4; first-order approximation, Sec. 2.3):
the training split is cut in two halves; the network weights ``w`` take a step on a batch of
the first half, the architecture parameters ``alpha, beta`` of every part take a step on a
batch of the second half.  For ``warmup_epochs`` only the weights train (alpha frozen), so
that the parametric ops are not judged before they have learned anything -- a common remedy
for the early preference of DARTS for parameter-free ops (skip connections).

After every epoch the softmaxed alpha/beta of every part are appended to
``search/alpha_history.json`` and a checkpoint is written, so an interrupted search resumes
with ``--resume``.  At the end the genotype is derived and saved to ``genotype.json``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tqdm.auto import tqdm

from partnas_lib.config import Config
from partnas_lib.data.datasets import load_split
from partnas_lib.models.build import build_supernet
from partnas_lib.nas.genotype import Genotype, edge_index
from partnas_lib.train.checkpoint import load_checkpoint, save_checkpoint, set_rng_state
from partnas_lib.train.loop import (RunDir, Timer, check_finite, epoch_order, get_logger, iterate_batches,
                                    num_batches, pose_loss, resolve_device, seed_everything)

CHECKPOINT = "search_last.pt"


def run_search(cfg: Config, run: RunDir, resume: bool = False) -> Genotype:
    """Search, derive, write ``genotype.json`` and the alpha history; return the genotype."""
    log = get_logger(run)
    device = resolve_device(cfg.device)
    s = cfg.search
    train = load_split(cfg, "train")
    n_w = int(round(len(train) * s.train_portion))
    half_w, half_a = train.subset(slice(0, n_w)), train.subset(slice(n_w, None))
    if min(len(half_w), len(half_a)) < s.batch_size:
        raise ValueError(
            f"search needs at least search.batch_size={s.batch_size} samples in each half of the "
            f"training split; got {len(half_w)} and {len(half_a)} (raise data.num_train)"
        )

    seed_everything(cfg.seed)
    model = build_supernet(cfg).to(device)
    w_opt = torch.optim.Adam(model.weight_parameters(), lr=s.lr, weight_decay=s.weight_decay)
    a_opt = torch.optim.Adam(model.arch_parameters(), lr=s.arch_lr, betas=(s.arch_beta1, s.arch_beta2),
                             weight_decay=s.arch_weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(w_opt, T_max=max(1, s.epochs), eta_min=s.lr * 0.01)
    history = {
        "ops": list(s.ops), "parts": model.grouping.part_names, "edges": edge_index(),
        "partial_channels": s.partial_channels, "edge_norm": s.edge_norm,
        "epochs": [{"epoch": 0, "phase": "init", "parts": model.arch_state()}],
    }
    start_epoch, elapsed = 0, 0.0
    ckpt_path = run.checkpoints / CHECKPOINT
    if resume and ckpt_path.exists():
        ckpt = load_checkpoint(ckpt_path)
        model.load_state_dict(ckpt["model"])
        w_opt.load_state_dict(ckpt["w_opt"])
        a_opt.load_state_dict(ckpt["a_opt"])
        sched.load_state_dict(ckpt["sched"])
        history, start_epoch, elapsed = ckpt["history"], ckpt["epoch"], ckpt["elapsed"]
        set_rng_state(ckpt["rng"])
        log.info(f"search: resumed from {ckpt_path} at epoch {start_epoch}/{s.epochs}")

    log.info(f"search: {len(half_w)} samples for weights, {len(half_a)} for alpha/beta; "
             f"{len(model.grouping)} parts, K={s.partial_channels}, edge_norm={s.edge_norm}, device={device}")
    timer = Timer()
    steps = min(num_batches(len(half_w), s.batch_size), num_batches(len(half_a), s.batch_size))
    for epoch in range(start_epoch, s.epochs):
        model.train()
        update_arch = epoch >= s.warmup_epochs
        order_w = epoch_order(len(half_w), cfg.seed, 2 * epoch)
        order_a = epoch_order(len(half_a), cfg.seed, 2 * epoch + 1)
        batches = zip(iterate_batches(half_w, order_w, s.batch_size, device),
                      iterate_batches(half_a, order_a, s.batch_size, device))
        sums = {"w_loss": 0.0, "a_loss": 0.0}
        bar = tqdm(batches, total=steps, desc=f"search {epoch + 1}/{s.epochs}", disable=not cfg.progress, leave=False)
        for step, (bw, ba) in enumerate(bar):
            if update_arch:
                a_opt.zero_grad(set_to_none=True)
                a_loss = pose_loss(model, ba, model.geometry, device)
                check_finite(a_loss, f"search epoch {epoch + 1} step {step} (architecture step)")
                a_loss.backward()
                a_opt.step()
                sums["a_loss"] += a_loss.item()
            w_opt.zero_grad(set_to_none=True)
            w_loss = pose_loss(model, bw, model.geometry, device)
            check_finite(w_loss, f"search epoch {epoch + 1} step {step} (weight step)")
            w_loss.backward()
            torch.nn.utils.clip_grad_norm_(model.weight_parameters(), s.grad_clip)
            w_opt.step()
            sums["w_loss"] += w_loss.item()
            bar.set_postfix(loss=f"{w_loss.item():.3f}")
        sched.step()
        record = {"epoch": epoch + 1, "phase": "search" if update_arch else "warmup",
                  "w_loss": sums["w_loss"] / max(1, steps),
                  "a_loss": sums["a_loss"] / max(1, steps) if update_arch else None,
                  "parts": model.arch_state(),
                  "genotype": model.derive(s.edges_per_node).to_json()["parts"]}
        history["epochs"].append(record)
        run.write_json(run.alpha_history, history)
        save_checkpoint(ckpt_path, {
            "model": model.state_dict(), "w_opt": w_opt.state_dict(), "a_opt": a_opt.state_dict(),
            "sched": sched.state_dict(), "history": history, "epoch": epoch + 1,
            "elapsed": elapsed + timer.seconds,
        })
        log.info(f"search epoch {epoch + 1}/{s.epochs} ({record['phase']}): weight loss {record['w_loss']:.4f}"
                 + (f", arch loss {record['a_loss']:.4f}" if update_arch else ""))

    genotype = model.derive(s.edges_per_node)
    genotype.save(run.genotype)
    history["search_seconds"] = elapsed + timer.seconds
    run.write_json(run.alpha_history, history)
    log.info(f"search done in {history['search_seconds']:.0f} s; genotype written to {run.genotype}")
    for name, cell in genotype.cells.items():
        log.info(f"  {name}: " + "; ".join(f"{op}({src}->{dst})" for op, src, dst in cell.edges))
    return genotype


def load_genotype(path: Path) -> Genotype:
    return Genotype.load(path)
