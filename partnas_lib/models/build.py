"""Builder functions from a :class:`~partnas_lib.config.Config` (timm style: plain functions).

Every builder makes its trunk with :func:`build_trunk`: the config's depth and width, ImageNet
input normalisation when ``model.normalizes_input`` (docs/method.md Sec. 2.3) and, with
``load_pretrained=True``, the ImageNet weights of ``model.pretrained``
(:mod:`partnas_lib.models.pretrained`).  Training passes ``load_pretrained=True``; everything
that restores weights from a checkpoint or only needs shapes (evaluation, summaries, notebooks)
keeps the default ``False``, so it neither reads nor needs the weights file.
"""

from __future__ import annotations

import numpy as np

from partnas_lib.config import Config
from partnas_lib.models.backbone import ResNetTrunk, resnet_trunk
from partnas_lib.models.baseline import BaselinePoseNet
from partnas_lib.models.heads import PartPoseNet
from partnas_lib.models.partnet import PartAwareNet
from partnas_lib.models.pretrained import load_pretrained_trunk
from partnas_lib.models.rootnet import RootNet
from partnas_lib.models.supernet import PartSupernet
from partnas_lib.nas.genotype import Genotype, random_cell
from partnas_lib.skeleton import get_grouping


def build_trunk(cfg: Config, last_stage: str | None = None, load_pretrained: bool = False) -> ResNetTrunk:
    """The ResNet trunk of ``cfg`` ending at ``last_stage`` (default ``model.trunk_stage``);
    with ``load_pretrained`` and ``model.pretrained`` set, initialised from that file."""
    m = cfg.model
    trunk = resnet_trunk(m.trunk_depth, m.trunk_width, last_stage or m.trunk_stage, m.normalizes_input)
    if load_pretrained and m.pretrained:
        load_pretrained_trunk(trunk, m.pretrained)
    return trunk


def build_supernet(cfg: Config, load_pretrained: bool = False) -> PartSupernet:
    m, s = cfg.model, cfg.search
    return PartSupernet(
        build_trunk(cfg, load_pretrained=load_pretrained), get_grouping(m.parts), cfg.data.image_size,
        m.head_channels, m.head_cells, m.depth_bins, m.cube_mm, s.ops, s.partial_channels, s.edge_norm,
    )


def build_derived(cfg: Config, genotype: Genotype, load_pretrained: bool = False) -> PartAwareNet:
    m = cfg.model
    grouping = get_grouping(m.parts)
    genotype.check_fits(grouping.to_json(), cfg.search.ops)
    return PartAwareNet(build_trunk(cfg, load_pretrained=load_pretrained), grouping, genotype, cfg.data.image_size,
                        m.head_channels, m.head_cells, m.depth_bins, m.cube_mm)


def build_baseline(cfg: Config, load_pretrained: bool = False) -> BaselinePoseNet:
    """The 3DMPPE ResNet + 3 deconvolutions network at ``cfg``'s scale: the same trunk depth and
    width as the part-aware network, but kept to ``layer4`` (stride 32), ``model.deconv_channels``
    channels in the deconvolutions (256 at the paper preset)."""
    m = cfg.model
    trunk = build_trunk(cfg, "layer4", load_pretrained)
    return BaselinePoseNet(trunk, cfg.data.image_size, m.deconv_channels, m.depth_bins, m.cube_mm)


def random_genotype(cfg: Config, seed: int | None = None) -> Genotype:
    """One cell per part drawn uniformly from the search space of ``cfg`` (same ops, same
    ``edges_per_node`` rule), with ``seed`` (default: the run's seed).  Training these is the
    random-search sanity baseline of NAS: the search must beat architectures it did not choose."""
    return random_genotypes(cfg, 1, seed)[0]


def random_genotypes(cfg: Config, count: int, seed: int | None = None) -> list[Genotype]:
    """``count`` genotypes drawn one after another from one generator seeded by ``seed`` (default:
    the run's seed): the first is :func:`random_genotype`'s."""
    grouping = get_grouping(cfg.model.parts)
    rng = np.random.default_rng(cfg.seed if seed is None else seed)
    return [Genotype(cells={name: random_cell(rng, cfg.search.ops, cfg.search.edges_per_node)
                            for name in grouping.part_names},
                     grouping=grouping.to_json(), ops=list(cfg.search.ops)) for _ in range(count)]


def build_model(cfg: Config, genotype: Genotype | None = None, load_pretrained: bool = False) -> PartPoseNet:
    """The network that retrain/evaluate train for ``cfg.model.kind``: the baseline (no genotype)
    or the part-aware network of ``genotype`` (searched or random)."""
    if cfg.model.kind == "baseline":
        return build_baseline(cfg, load_pretrained)
    if genotype is None:
        raise ValueError(f"model.kind={cfg.model.kind!r} needs a genotype (genotype.json of the run)")
    return build_derived(cfg, genotype, load_pretrained)


def build_rootnet(cfg: Config, load_pretrained: bool = False) -> RootNet:
    """RootNet with the pose network's trunk at ``cfg``'s size (depth, width, last stage)."""
    return RootNet(build_trunk(cfg, load_pretrained=load_pretrained))
