"""The shared trunk: a ResNet (He et al. 2016) written here, truncatable after any stage.

The paper builds its part heads on a ResNet trunk shared by all parts; docs/method.md Sec. 2 takes
ResNet-50 up to ``layer3`` (stride 16, 1024 channels, 8.5 M parameters) as the project default
at the paper preset.  CPU presets use ResNet-18 with a width multiplier.

``ResNetTrunk.forward`` returns the feature maps after the stem and after every kept stage, so
a head can take the last two as its two input states (docs/method.md: "2 input nodes fed by the
shared trunk").

Module names follow the classic ResNet with two renamings: ``stem.0`` / ``stem.1`` are
torchvision's ``conv1`` / ``bn1`` and ``stages.i`` is ``layer{i+1}``; so ImageNet weights load
with a key map (:mod:`partnas_lib.models.pretrained`).  With ``normalize_input`` the trunk first
maps its [0, 1] RGB input to ImageNet statistics, ``(x - mean) / std``, the input an ImageNet
trunk was trained on (docs/method.md Sec. 2.3).  The mean and std are non-persistent buffers: they
move with the module to any device but are not in its state dict, so checkpoints are the same
with or without normalisation.
"""

from __future__ import annotations

import torch
from torch import nn

STAGES = ("layer1", "layer2", "layer3", "layer4")
#: ImageNet RGB mean and std of inputs in [0, 1] (torchvision's and timm's resnet weights).
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
#: depth -> (block type, blocks per stage)
DEPTHS: dict[int, tuple[str, tuple[int, int, int, int]]] = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
}


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, c_in: int, width: int, stride: int = 1):
        super().__init__()
        c_out = width * self.expansion
        self.conv1 = nn.Conv2d(c_in, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, c_in: int, width: int, stride: int = 1):
        super().__init__()
        c_out = width * self.expansion
        self.conv1 = nn.Conv2d(c_in, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)  # stride on 3x3 (torchvision v1.5)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, c_out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNetTrunk(nn.Module):
    """ResNet-{18,34,50} without the classifier, ending after ``last_stage``.

    Attributes:
        channels: output channels of [stem, layer1, ...] (only the kept stages).
        strides: output stride of each of those feature maps.
        depth, width, last_stage, normalize_input: as built.
    """

    def __init__(self, depth: int = 50, width: float = 1.0, last_stage: str = "layer3", normalize_input: bool = False):
        super().__init__()
        self.depth, self.width, self.last_stage = depth, float(width), last_stage
        self.normalize_input = bool(normalize_input)
        self.register_buffer("input_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("input_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        if depth not in DEPTHS:
            raise ValueError(f"ResNet depth {depth} is not supported; expected one of {sorted(DEPTHS)}")
        if last_stage not in STAGES:
            raise ValueError(f"unknown trunk stage {last_stage!r}; expected one of {STAGES}")
        kind, blocks = DEPTHS[depth]
        block = BasicBlock if kind == "basic" else Bottleneck
        widths = [max(4, int(round(w * width))) for w in (64, 128, 256, 512)]
        stem = max(4, int(round(64 * width)))
        self.stem = nn.Sequential(
            nn.Conv2d(3, stem, 7, 2, 3, bias=False), nn.BatchNorm2d(stem), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        )
        self.channels = [stem]
        self.strides = [4]
        self.stages = nn.ModuleList()
        c_in = stem
        for i in range(STAGES.index(last_stage) + 1):
            stride = 1 if i == 0 else 2
            layers = []
            for b in range(blocks[i]):
                layers.append(block(c_in, widths[i], stride if b == 0 else 1))
                c_in = widths[i] * block.expansion
            self.stages.append(nn.Sequential(*layers))
            self.channels.append(c_in)
            self.strides.append(self.strides[-1] * stride)

    @property
    def out_channels(self) -> int:
        return self.channels[-1]

    @property
    def out_stride(self) -> int:
        return self.strides[-1]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self.normalize_input:
            x = (x - self.input_mean) / self.input_std
        feats = [self.stem(x)]
        for stage in self.stages:
            feats.append(stage(feats[-1]))
        return feats


def resnet_trunk(depth: int = 50, width: float = 1.0, last_stage: str = "layer3",
                 normalize_input: bool = False) -> ResNetTrunk:
    """Builder used by the configs (timm style)."""
    return ResNetTrunk(depth=depth, width=width, last_stage=last_stage, normalize_input=normalize_input)
