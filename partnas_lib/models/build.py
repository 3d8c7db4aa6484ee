"""Builder functions from a :class:`~partnas_lib.config.Config` (timm style: plain functions)."""

from __future__ import annotations

import numpy as np

from partnas_lib.config import Config
from partnas_lib.models.backbone import ResNetTrunk, resnet_trunk
from partnas_lib.models.baseline import BaselinePoseNet
from partnas_lib.models.heads import PartPoseNet
from partnas_lib.models.partnet import PartAwareNet
from partnas_lib.models.rootnet import RootNet
from partnas_lib.models.supernet import PartSupernet
from partnas_lib.nas.genotype import Genotype, random_cell
from partnas_lib.skeleton import get_grouping


def build_trunk(cfg: Config) -> ResNetTrunk:
    m = cfg.model
    return resnet_trunk(m.trunk_depth, m.trunk_width, m.trunk_stage)


def build_supernet(cfg: Config) -> PartSupernet:
    m, s = cfg.model, cfg.search
    return PartSupernet(
        build_trunk(cfg), get_grouping(m.parts), cfg.data.image_size, m.head_channels, m.head_cells,
        m.depth_bins, m.cube_mm, s.ops, s.partial_channels, s.edge_norm,
    )


def build_derived(cfg: Config, genotype: Genotype) -> PartAwareNet:
    m = cfg.model
    grouping = get_grouping(m.parts)
    genotype.check_fits(grouping.to_json(), cfg.search.ops)
    return PartAwareNet(build_trunk(cfg), grouping, genotype, cfg.data.image_size, m.head_channels,
                        m.head_cells, m.depth_bins, m.cube_mm)


def build_baseline(cfg: Config) -> BaselinePoseNet:
    """The 3DMPPE ResNet + 3 deconvolutions network at ``cfg``'s scale: the same trunk depth and
    width as the part-aware network, but kept to ``layer4`` (stride 32), ``model.deconv_channels``
    channels in the deconvolutions (256 at the paper preset)."""
    m = cfg.model
    trunk = resnet_trunk(m.trunk_depth, m.trunk_width, "layer4")
    return BaselinePoseNet(trunk, cfg.data.image_size, m.deconv_channels, m.depth_bins, m.cube_mm)


def random_genotype(cfg: Config, seed: int | None = None) -> Genotype:
    """One cell per part drawn uniformly from the search space of ``cfg`` (same ops, same
    ``edges_per_node`` rule), with ``seed`` (default: the run's seed).  Training these is the
    random-search sanity baseline of NAS: the search must beat architectures it did not choose."""
    grouping = get_grouping(cfg.model.parts)
    rng = np.random.default_rng(cfg.seed if seed is None else seed)
    cells = {name: random_cell(rng, cfg.search.ops, cfg.search.edges_per_node) for name in grouping.part_names}
    return Genotype(cells=cells, grouping=grouping.to_json(), ops=list(cfg.search.ops))


def build_model(cfg: Config, genotype: Genotype | None = None) -> PartPoseNet:
    """The network that retrain/evaluate train for ``cfg.model.kind``: the baseline (no genotype)
    or the part-aware network of ``genotype`` (searched or random)."""
    if cfg.model.kind == "baseline":
        return build_baseline(cfg)
    if genotype is None:
        raise ValueError(f"model.kind={cfg.model.kind!r} needs a genotype (genotype.json of the run)")
    return build_derived(cfg, genotype)


def build_rootnet(cfg: Config) -> RootNet:
    """RootNet with the pose network's trunk at ``cfg``'s size (depth, width, last stage)."""
    m = cfg.model
    return RootNet(resnet_trunk(m.trunk_depth, m.trunk_width, m.trunk_stage))
