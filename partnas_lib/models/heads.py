"""What every part-aware network shares: a trunk, one head per part, joints in H36M order.

``PartPoseNet`` runs the shared trunk once, runs each part's head on the trunk's last two
feature maps, reads every part's volumes out by soft-argmax and re-assembles the joints into
Human3.6M order, so the rest of partnas sees ``(B, 17, 3)`` coordinates no matter how the
joints were grouped (``volumes`` gives the ``(B, 17, D, H, W)`` heatmaps for pictures).  The
supernet (:mod:`partnas_lib.models.supernet`) and the derived network
(:mod:`partnas_lib.models.partnet`) differ only in the cells inside the heads.
"""

from __future__ import annotations

import torch
from torch import nn

from partnas_lib.models.backbone import ResNetTrunk
from partnas_lib.models.integral import VolumeGeometry, soft_argmax_3d
from partnas_lib.skeleton import NUM_JOINTS, PartGrouping


class VolumeOutput(nn.Module):
    """ReLU + 1x1 conv from a head's last cell to ``|part| x D`` channels, reshaped to volumes."""

    def __init__(self, c_in: int, num_joints: int, depth_bins: int):
        super().__init__()
        self.num_joints, self.depth_bins = num_joints, depth_bins
        self.conv = nn.Sequential(nn.ReLU(inplace=False), nn.Conv2d(c_in, num_joints * depth_bins, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        # contiguous: soft-argmax reads each joint's D x H x W values as one row (a channels_last
        # conv output would otherwise be copied inside the softmax, forward and backward)
        return self.conv(x).contiguous().view(b, self.num_joints, self.depth_bins, h, w)


class PartPoseNet(nn.Module):
    """Base class: trunk + per-part heads -> volumes (joint order) -> soft-argmax coordinates.

    Subclasses build the heads and implement :meth:`part_volumes`.
    """

    def __init__(self, trunk: ResNetTrunk, grouping: PartGrouping, image_size: int, num_cells: int,
                 depth_bins: int, cube_mm: float):
        super().__init__()
        if trunk.out_stride % (2 ** num_cells):
            raise ValueError(f"{num_cells} x2 up-sampling cells do not fit a trunk of stride {trunk.out_stride}")
        self.trunk = trunk
        self.grouping = grouping
        self.num_cells = num_cells
        self.geometry = VolumeGeometry(image_size, trunk.out_stride // 2 ** num_cells, depth_bins, cube_mm)
        order = [j for joints in grouping.joint_lists for j in joints]
        # position in the concatenated part outputs of each joint in H36M order
        self.register_buffer("joint_order", torch.tensor([order.index(j) for j in range(NUM_JOINTS)]),
                             persistent=False)

    def cell_sizes(self, feat: torch.Tensor) -> list[tuple[int, int]]:
        h, w = feat.shape[-2:]
        return [(h * 2 ** (i + 1), w * 2 ** (i + 1)) for i in range(self.num_cells)]

    def part_volumes(self, feats: list[torch.Tensor], sizes: list[tuple[int, int]]) -> list[torch.Tensor]:
        """Per part (grouping order) a ``(B, |part|, D, H, W)`` volume from the trunk features."""
        raise NotImplementedError

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 3, S, S)`` images -> ``(B, 17, 3)`` voxel coordinates (x, y, z) in joint order.

        Soft-argmax runs on each part's volumes and only the ``17 x 3`` coordinates are put in
        joint order: re-ordering the volumes themselves would copy ``17 D H W`` values per image
        forward and backward for nothing (the largest tensor of the network).
        """
        feats = self.trunk(images)
        vols = self.part_volumes(feats, self.cell_sizes(feats[-1]))
        coords = [soft_argmax_3d(v) for v in vols]
        return (coords[0] if len(coords) == 1 else torch.cat(coords, dim=1)).index_select(1, self.joint_order)

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 17, 3)`` voxel coordinates by soft-argmax (the same as calling the network)."""
        return self(images)

    @torch.no_grad()
    def volumes(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 17, D, H, W)`` volume logits in joint order (for pictures; no gradient)."""
        feats = self.trunk(images)
        vols = self.part_volumes(feats, self.cell_sizes(feats[-1]))
        return torch.cat(vols, dim=1).index_select(1, self.joint_order)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
