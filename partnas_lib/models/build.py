"""Builder functions from a :class:`~partnas_lib.config.Config` (timm style: plain functions)."""

from __future__ import annotations

from partnas_lib.config import Config
from partnas_lib.models.backbone import ResNetTrunk, resnet_trunk
from partnas_lib.models.partnet import PartAwareNet
from partnas_lib.nas.genotype import Genotype
from partnas_lib.nas.supernet import PartSupernet
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
