"""How big and how costly a network is: parameters (total, trunk, per part head), multiply-adds.

The paper's efficiency claims are relative to the 3DMPPE ResNet-50 + deconvolution network
(34.3 M parameters, 8.4 G multiply-adds at 256x256; docs/method.md Sec. 1-2): "62 % fewer
parameters" (ECCV), "64.4 % fewer parameters and 8.5 % fewer multiply-adds" (IJCV).  This
module measures both numbers for any partnas network so the claims can be checked.

Multiply-adds (MACs) are counted by ``torch.utils.flop_counter.FlopCounterMode``, which counts
the FLOPs of convolutions (transposed too) and matrix products as ``2 x`` their multiply-adds;
MACs = FLOPs / 2.  Like the numbers papers report, this ignores BatchNorm, ReLU, pooling,
interpolation and the soft-argmax (all linear in the activations and small next to the convs).
The count runs on the ``meta`` device (shapes only, no arithmetic), so even the paper-size
supernet is measured in about a second on any machine.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from partnas_lib.config import MODEL_KINDS, Config
from partnas_lib.models.build import build_baseline, build_derived, build_supernet, random_genotype
from partnas_lib.models.heads import PartPoseNet, count_parameters
from partnas_lib.models.supernet import PartSupernet
from partnas_lib.nas.genotype import Genotype

#: What ``partnas model summary --model`` can summarise: the kinds retrain trains, and the supernet.
MODEL_CHOICES: tuple[str, ...] = (*MODEL_KINDS, "supernet")


def _on_meta(model: nn.Module) -> nn.Module:
    if all(p.device.type == "meta" for p in model.parameters()):
        return model
    return copy.deepcopy(model).to("meta")


def count_macs(module: nn.Module, inputs: torch.Tensor) -> int:
    """Multiply-adds of ``module(inputs)`` (FLOPs / 2 from ``FlopCounterMode``), on the meta device."""
    meta = _on_meta(module)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        meta(inputs.to("meta"))
    return counter.get_total_flops() // 2


def per_part_parameters(model: PartPoseNet) -> dict[str, int]:
    """Parameters of each part's head (architecture parameters alpha/beta excluded).

    For a derived network or the baseline each head is its own module.  The supernet computes
    all heads as one part-grouped network (:mod:`partnas_lib.nas.cells`) whose every layer
    splits evenly into P parts, so a part owns ``1/P`` of the shared cells plus its own volume
    output."""
    names = model.grouping.part_names
    if isinstance(model, PartSupernet):
        cells = sum(count_parameters(c) for c in model.heads.cells)
        share = cells // len(names)
        return {n: share + count_parameters(out) for n, out in zip(names, model.heads.outs)}
    return {n: count_parameters(h) for n, h in zip(names, model.heads)}


def model_summary(model: PartPoseNet, image_size: int) -> dict[str, Any]:
    """Parameters, multiply-adds (per image, at ``image_size`` x ``image_size``) and shapes."""
    meta = _on_meta(model).eval()
    x = torch.zeros(1, 3, image_size, image_size, device="meta")
    arch = sum(p.numel() for p in meta.arch_parameters()) if isinstance(meta, PartSupernet) else 0
    total = count_parameters(meta) - arch
    trunk = count_parameters(meta.trunk)
    with torch.no_grad():
        feats = meta.trunk(x)
        vols = meta.part_volumes(feats, meta.cell_sizes(feats[-1]))
        out = meta.volumes(x)
    macs, trunk_macs = count_macs(meta, x), count_macs(meta.trunk, x)
    return {
        "model": type(model).__name__,
        "image_size": image_size,
        "params": total,
        "trunk_params": trunk,
        "head_params": total - trunk,
        "per_part_params": per_part_parameters(meta),
        "arch_params": arch,
        "macs": macs,
        "trunk_macs": trunk_macs,
        "head_macs": macs - trunk_macs,
        "trunk_output_shapes": [list(f.shape) for f in feats],
        "part_output_shapes": {n: list(v.shape) for n, v in zip(meta.grouping.part_names, vols)},
        "output_shape": list(out.shape),
        "geometry": {"stride": meta.geometry.stride, "depth_bins": meta.geometry.depth_bins,
                     "heatmap_size": meta.geometry.size, "cube_mm": meta.geometry.cube_mm},
    }


def summarize_config(cfg: Config, which: str = "searched", genotype: Genotype | None = None) -> dict[str, Any]:
    """Build ``which`` for ``cfg`` on the meta device and summarise it: a model kind of
    :data:`~partnas_lib.config.MODEL_KINDS` (``searched`` needs ``genotype``; ``random`` and
    ``random_best`` draw one cell per part with ``cfg.seed`` unless ``genotype`` is given) or
    ``supernet``."""
    if which not in MODEL_CHOICES:
        raise ValueError(f"unknown model {which!r}; expected one of {MODEL_CHOICES}")
    with torch.device("meta"):
        if which == "baseline":
            model: PartPoseNet = build_baseline(cfg)
        elif which == "supernet":
            model = build_supernet(cfg)
        else:
            if genotype is None and which == "searched":
                raise ValueError("a searched network needs its genotype (--genotype FILE); --model random "
                                 "summarises a random cell per part")
            genotype = genotype if genotype is not None else random_genotype(cfg)
            model = build_derived(cfg, genotype)
    report = model_summary(model, cfg.data.image_size)
    report.update({"preset": cfg.preset, "which": which})
    if which != "baseline":  # the paper's efficiency claim is a ratio to this network (docs/method.md Sec. 1)
        with torch.device("meta"):
            base = model_summary(build_baseline(cfg), cfg.data.image_size)
        report["over_baseline"] = {"params": report["params"] / base["params"], "macs": report["macs"] / base["macs"],
                                   "baseline_params": base["params"], "baseline_macs": base["macs"]}
    if which not in ("baseline", "supernet") and genotype is not None:
        report["genotype"] = genotype.to_json()["parts"]
    return report


def _si(n: float) -> str:
    return f"{n / 1e9:.3f} G" if n >= 1e9 else f"{n / 1e6:.3f} M"


def format_summary(report: dict[str, Any]) -> str:
    """A human-readable block for the command line."""
    lines = [
        f"{report['which']} network ({report['model']}), preset {report.get('preset')}, "
        f"input {report['image_size']}x{report['image_size']}",
        f"  parameters     {_si(report['params']):>11}  (trunk {_si(report['trunk_params'])}, "
        f"heads {_si(report['head_params'])}"
        + (f", alpha/beta {report['arch_params']}" if report["arch_params"] else "") + ")",
        f"  multiply-adds  {_si(report['macs']):>11}  (trunk {_si(report['trunk_macs'])}, "
        f"heads {_si(report['head_macs'])})",
        f"  output         {report['output_shape']}  (stride {report['geometry']['stride']})",
    ]
    if "over_baseline" in report:
        o = report["over_baseline"]
        lines.append(f"  vs baseline    {o['params']:.3f}x parameters, {o['macs']:.3f}x multiply-adds (ResNet + "
                     f"deconv at this preset: {_si(o['baseline_params'])}, {_si(o['baseline_macs'])})")
    lines.append("  per part:")
    for name, n in report["per_part_params"].items():
        lines.append(f"    {name:<16} {n / 1e6:8.3f} M  volume {report['part_output_shapes'][name]}")
    return "\n".join(lines)
