"""The derived part-aware network: the fixed cells of a genotype, trained from scratch.

Stage 2 of the paper (Sec. 3): after the search, each part's head is rebuilt from its derived
cell (only the kept edges, one op each, all channels, affine BatchNorm) and the whole network
is retrained from scratch.
"""

from __future__ import annotations

import torch
from torch import nn

from partnas_lib.models.backbone import ResNetTrunk
from partnas_lib.models.heads import PartPoseNet, VolumeOutput
from partnas_lib.nas.cells import FixedCell
from partnas_lib.nas.genotype import CellGenotype, Genotype
from partnas_lib.skeleton import PartGrouping


class FixedHead(nn.Module):
    def __init__(self, c_prev_prev: int, c_prev: int, channels: int, num_cells: int, genotype: CellGenotype,
                 num_joints: int, depth_bins: int):
        super().__init__()
        self.cells = nn.ModuleList()
        for _ in range(num_cells):
            cell = FixedCell(c_prev_prev, c_prev, channels, genotype)
            self.cells.append(cell)
            c_prev_prev, c_prev = c_prev, cell.out_channels
        self.out = VolumeOutput(c_prev, num_joints, depth_bins)

    def forward(self, feats: list[torch.Tensor], sizes: list[tuple[int, int]]) -> torch.Tensor:
        s0, s1 = feats[-2], feats[-1]
        for cell, size in zip(self.cells, sizes):
            s0, s1 = s1, cell(s0, s1, size)
        return self.out(s1)


class PartAwareNet(PartPoseNet):
    """Trunk + one :class:`FixedHead` per part, built from a :class:`Genotype`."""

    def __init__(self, trunk: ResNetTrunk, grouping: PartGrouping, genotype: Genotype, image_size: int,
                 channels: int, num_cells: int, depth_bins: int, cube_mm: float):
        super().__init__(trunk, grouping, image_size, num_cells, depth_bins, cube_mm)
        genotype.check_fits(grouping.to_json(), genotype.ops)
        self.genotype = genotype
        c_pp, c_p = trunk.channels[-2], trunk.channels[-1]
        self.heads = nn.ModuleList(
            FixedHead(c_pp, c_p, channels, num_cells, genotype.cells[name], len(joints), depth_bins)
            for name, joints in grouping.parts
        )

    def part_volumes(self, feats: list[torch.Tensor], sizes: list[tuple[int, int]]) -> list[torch.Tensor]:
        return [head(feats, sizes) for head in self.heads]
