"""The network the paper compares against: 3DMPPE PoseNet / Integral regression.

Chen et al. (ECCV 2020) measure their part-aware network against "models built on ResNet-50":
the 3DMPPE PoseNet of Moon et al. (ICCV 2019), which is the Integral regression network of
Sun et al. (ECCV 2018) -- the "simple baseline" of Xiao et al. (ECCV 2018) with a volumetric
output (docs/method.md Sec. 2):

* the full ResNet-50 trunk without the classifier (``layer4``, stride 32, 2048 channels);
* 3 deconvolution layers, each ``ConvTranspose2d(256, 4x4, stride 2, padding 1)`` + BN + ReLU,
  bringing stride 32 back to stride 4;
* a 1x1 conv to ``17 x D`` channels, read as one ``D x H x W`` volume per joint;
* soft-argmax (:func:`partnas_lib.models.integral.soft_argmax_3d`).

At 256x256 with 64 depth bins this has 34.3 M parameters and 8.4 G multiply-adds (docs/method.md
Sec. 2; a test pins the count).  All 17 joints share one decoder -- exactly the design the paper
argues against -- so the class is a :class:`~partnas_lib.models.heads.PartPoseNet` with a single
part covering every joint: it has the same interface (``forward -> (B, 17, 3)``,
``volumes``, ``geometry``) and trains, evaluates and flip-tests through the same code as the
part-aware networks.
"""

from __future__ import annotations

import torch
from torch import nn

from partnas_lib.models.backbone import ResNetTrunk
from partnas_lib.models.heads import PartPoseNet
from partnas_lib.skeleton import NUM_JOINTS, PartGrouping, get_grouping

#: 3DMPPE initialisation: N(0, 0.001) for the deconvolutions and the output conv.
INIT_STD = 0.001


class DeconvHead(nn.Module):
    """``num_deconvs`` x (4x4 stride-2 transposed conv, BN, ReLU), then a 1x1 conv to volumes.

    Each transposed conv with kernel 4, stride 2 and padding 1 exactly doubles the resolution
    (``out = 2 in``), so 3 of them turn the stride-32 trunk output into stride-4 heatmaps.
    """

    def __init__(self, c_in: int, channels: int, num_deconvs: int, num_joints: int, depth_bins: int):
        super().__init__()
        self.num_joints, self.depth_bins = num_joints, depth_bins
        layers: list[nn.Module] = []
        for _ in range(num_deconvs):
            layers += [nn.ConvTranspose2d(c_in, channels, 4, stride=2, padding=1, output_padding=0, bias=False),
                       nn.BatchNorm2d(channels), nn.ReLU(inplace=True)]
            c_in = channels
        self.deconvs = nn.Sequential(*layers)
        self.out = nn.Conv2d(c_in, num_joints * depth_bins, 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, (nn.ConvTranspose2d, nn.Conv2d)):
                nn.init.normal_(m.weight, std=INIT_STD)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.out(self.deconvs(x))
        b, _, h, w = x.shape
        return x.contiguous().view(b, self.num_joints, self.depth_bins, h, w)  # one row per joint for soft-argmax


class BaselinePoseNet(PartPoseNet):
    """ResNet trunk (to ``layer4``) + one shared :class:`DeconvHead` for all 17 joints.

    ``heads`` is a one-element ``ModuleList`` so that code counting parameters per part (see
    :mod:`partnas_lib.models.summary`) treats it like the part-aware networks.
    """

    def __init__(self, trunk: ResNetTrunk, image_size: int, deconv_channels: int, depth_bins: int,
                 cube_mm: float, num_deconvs: int = 3, grouping: PartGrouping | None = None):
        grouping = grouping or get_grouping("1")
        if len(grouping) != 1:
            raise ValueError(f"the baseline has one decoder for all joints; got a grouping of {len(grouping)} parts")
        # the deconvolutions play the role of the cells: each doubles the resolution
        super().__init__(trunk, grouping, image_size, num_deconvs, depth_bins, cube_mm)
        self.heads = nn.ModuleList([DeconvHead(trunk.out_channels, deconv_channels, num_deconvs, NUM_JOINTS,
                                               depth_bins)])

    def part_volumes(self, feats: list[torch.Tensor], sizes: list[tuple[int, int]]) -> list[torch.Tensor]:
        # only the last trunk feature map is used; the deconvolutions set the sizes themselves
        return [self.heads[0](feats[-1])]


def baseline_posenet(depth: int = 50, width: float = 1.0, image_size: int = 256, deconv_channels: int = 256,
                     depth_bins: int = 64, cube_mm: float = 2000.0) -> BaselinePoseNet:
    """Builder (timm style).  The defaults are 3DMPPE's: ResNet-50, 256x256, 256 deconv channels,
    64 depth bins -> 34.3 M parameters."""
    trunk = ResNetTrunk(depth, width, "layer4")
    return BaselinePoseNet(trunk, image_size, deconv_channels, depth_bins, cube_mm)
