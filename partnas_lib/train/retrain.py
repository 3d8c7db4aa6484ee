"""Stage 2: train the derived part-aware network from scratch (the 3DMPPE recipe).

The searched genotype is rebuilt as a fixed network (:class:`~partnas_lib.models.partnet.PartAwareNet`)
and trained on the whole training split with Adam and step decay (docs/method.md Sec. 2).  The
paper's comparisons train through the very same code (``model.kind``): a random genotype of the
same space, or the 3DMPPE ResNet + deconvolution baseline (``genotype=None``), so every variant
gets the same data, epochs, optimiser and augmentation.  Each step is
:func:`~partnas_lib.train.steps.train_step`; :func:`~partnas_lib.train.runner.run_stage` runs them
with checkpoints and ``--resume``.  The final weights go to ``checkpoints/model.pt`` together
with the genotype and config that built them.  Under ``torchrun`` the network is
wrapped in ``DistributedDataParallel`` (see :mod:`partnas_lib.train.distributed`).
"""

from __future__ import annotations

import torch

from partnas_lib.config import Config
from partnas_lib.data.batches import epoch_order, iterate_batches, num_batches
from partnas_lib.data.splits import load_split
from partnas_lib.data.transforms import AugmentConfig
from partnas_lib.models.build import build_model
from partnas_lib.models.heads import PartPoseNet
from partnas_lib.nas.genotype import Genotype
from partnas_lib.train import distributed
from partnas_lib.train.checkpoint import save_checkpoint
from partnas_lib.train.device import make_adam, prepare_model, resolve_device, resolve_precision, seed_everything
from partnas_lib.train.rundir import RunDir, check_free_space, checkpoint_bytes, get_logger
from partnas_lib.train.runner import Stage, check_finite_parameters, run_stage
from partnas_lib.train.steps import pose_loss, train_step

CHECKPOINT = "retrain_last.pt"
FINAL = "model.pt"


def run_retrain(cfg: Config, run: RunDir, genotype: Genotype | None, resume: bool = False) -> PartPoseNet:
    """Train ``build_model(cfg, genotype)`` from scratch (its trunk from ImageNet when ``model.pretrained``
    is set); ``genotype`` is None for the baseline."""
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
    model = build_model(cfg, genotype, load_pretrained=True).to(device)  # ImageNet trunk if model.pretrained
    model = prepare_model(model, cfg, device, precision, log)
    opt = make_adam(model.parameters(), device, lr=r.lr, weight_decay=r.weight_decay)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=r.lr_milestones, gamma=r.lr_factor)
    augment = torch.Generator().manual_seed(cfg.seed + 2) if r.augments else None
    augment_cfg = AugmentConfig.from_retrain(r)
    if dist.is_main:
        check_free_space(run.checkpoints, 2 * checkpoint_bytes(model), "two retrain checkpoints and the final weights")
    stage = Stage("retrain", r.epochs, num_batches(len(train), r.batch_size), run.checkpoints / CHECKPOINT, model,
                  {"model": model, "opt": opt, "sched": sched}, schedulers=[sched],
                  generators={"augment": augment} if augment is not None else {}, records={"losses": []},
                  checkpoint_every=cfg.train.checkpoint_every, progress=cfg.progress)
    params = sum(p.numel() for p in model.parameters())
    log.info(f"retrain: {cfg.model.kind} network, {len(train)} samples, {params / 1e6:.3f} M parameters, "
             f"device={device}, {torch.get_num_threads()} torch threads"
             + (f", {dist.world_size} processes x batch {batch}" if dist.enabled else ""))
    net = distributed.wrap(model, device)

    def loss(net: torch.nn.Module, b: dict[str, torch.Tensor]) -> torch.Tensor:
        return pose_loss(net, b, model.geometry, device, augment=augment, augment_cfg=augment_cfg, precision=precision)

    def batches(epoch: int, first: int):
        order = distributed.shard_order(epoch_order(len(train), cfg.seed + 1, epoch))[first * batch:]
        return iterate_batches(train, order, batch, device)

    def step(b: dict[str, torch.Tensor], epoch: int) -> dict[str, float]:
        return {"loss": train_step(net, opt, b, loss)}

    def end_epoch(epoch: int, mean: dict[str, float]) -> None:
        distributed.check_replicas_equal({"parameters": distributed.parameter_fingerprint(model)},
                                         f"retrain epoch {epoch + 1}")
        stage.records["losses"].append(mean["loss"])
        log.info(f"retrain epoch {epoch + 1}/{r.epochs}: loss {mean['loss']:.4f}, lr {opt.param_groups[0]['lr']:.2e}")

    seconds = run_stage(stage, batches, step, end_epoch, device, log, resume)
    check_finite_parameters(model, "retrain (final weights)")
    if dist.is_main:
        save_checkpoint(run.checkpoints / FINAL, {
            "model": model.state_dict(), "genotype": genotype.to_json() if genotype is not None else None,
            "model_kind": cfg.model.kind, "config": cfg.to_dict(),
            "retrain_seconds": seconds, "losses": stage.records["losses"],
        })
    log.info(f"retrain done in {seconds:.0f} s; weights written to {run.checkpoints / FINAL}")
    return model
