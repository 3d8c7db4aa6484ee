"""ImageNet weights for the trunk: a torchvision or timm ResNet state dict, loaded strictly.

3DMPPE and Integral regression start their ResNet-50 from ImageNet, and so can partnas
(``model.pretrained``; docs/method.md Sec. 2.3).  torchvision is not a dependency: the user saves
a state dict once on a machine with internet (README, "Real data") and partnas reads the file.

**Key layout.**  torchvision's ``resnet18/34/50`` and timm's (same names: timm's ResNet began as
a copy of torchvision's) call the stem ``conv1`` / ``bn1`` and the stages ``layer1..layer4``,
each block ``conv1, bn1, conv2, bn2[, conv3, bn3][, downsample.0, downsample.1]``, plus a
classifier ``fc``.  :func:`torchvision_key` maps the names of
:class:`~partnas_lib.models.backbone.ResNetTrunk` onto them (``stem.0`` -> ``conv1``,
``stem.1`` -> ``bn1``, ``stages.i`` -> ``layer{i+1}``).  timm's "D" variants (``resnet50d``: a
deep stem ``conv1.0 ...`` and average-pool shortcuts) are other networks and are refused.

**Strict.**  Every tensor of the trunk must be in the file with the same shape, and every
tensor of the file must belong to the trunk, except the classifier ``fc.*`` and the stages a
truncated trunk does not build (``layer4.*`` for a trunk that ends at ``layer3``).  The first
missing, surplus or mis-shaped key is named with the file; a file of another depth is named as
such (``ResNet-50 weights, but model.trunk_depth = 18``).  A width multiplier other than 1 has no
ImageNet weights and is refused.  ``num_batches_tracked`` (absent from old torchvision files)
is optional.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

import torch

from partnas_lib.models.backbone import DEPTHS, STAGES, ResNetTrunk

#: Classifier keys in the file, never loaded.
IGNORED_PREFIXES: tuple[str, ...] = ("fc.",)
OPTIONAL_SUFFIX = "num_batches_tracked"


def torchvision_key(name: str) -> str:
    """Our trunk's state-dict key -> torchvision's / timm's (``stem.1.weight`` -> ``bn1.weight``,
    ``stages.2.0.downsample.0.weight`` -> ``layer3.0.downsample.0.weight``)."""
    if name.startswith("stem.0."):
        return "conv1." + name[len("stem.0."):]
    if name.startswith("stem.1."):
        return "bn1." + name[len("stem.1."):]
    m = re.match(r"stages\.(\d+)\.(.*)$", name)
    if m:
        return f"layer{int(m.group(1)) + 1}.{m.group(2)}"
    raise KeyError(f"no torchvision name for trunk key {name!r}")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a ``.pth`` / ``.pt`` state dict (``torch.load(weights_only=True)``; a
    checkpoint wrapping it under ``state_dict`` or ``model`` works too, and a ``module.`` prefix
    of DDP is dropped) or of a ``.safetensors`` file (needs the ``safetensors`` package)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: pretrained weights file not found (model.pretrained)")
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise RuntimeError(f"{path}: reading .safetensors needs `pip install safetensors` "
                               "(or save the state dict with torch.save)") from None
        state: Any = load_file(str(path))
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # pickles with code, truncated files, foreign formats
            raise ValueError(f"{path}: not a readable torch state dict ({type(err).__name__}: {err})") from None
    for wrapper in ("state_dict", "model"):
        if isinstance(state, Mapping) and isinstance(state.get(wrapper), Mapping):
            state = state[wrapper]
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: expected a state dict (names -> tensors), got {type(state).__name__}")
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}


def file_depth(state: Mapping[str, torch.Tensor]) -> int | None:
    """The ResNet depth a torchvision-layout state dict was saved from (None if unrecognised):
    bottleneck blocks have a ``conv3``; the blocks per stage tell 18 from 34."""
    blocks = []
    for stage in range(1, 5):
        ids = {int(m.group(1)) for k in state if (m := re.match(rf"layer{stage}\.(\d+)\.", k))}
        blocks.append(len(ids))
    kind = "bottleneck" if any(k.endswith(".conv3.weight") for k in state) else "basic"
    for depth, (k, counts) in DEPTHS.items():
        if k == kind and all(b in (0, c) for b, c in zip(blocks, counts)) and blocks[0]:
            return depth
    return None


def load_pretrained_trunk(trunk: ResNetTrunk, path: str | Path) -> ResNetTrunk:
    """Copy the ImageNet weights of ``path`` into ``trunk`` (in place; see the module docstring
    for what must match).  Returns ``trunk``."""
    where = f"{path} (model.pretrained)"
    if trunk.width != 1.0:
        raise ValueError(f"{where}: ImageNet weights exist for width 1 only, but the trunk has width "
                         f"{trunk.width:g} (model.trunk_width); set model.trunk_width=1 or model.pretrained=''")
    state = read_state_dict(path)
    if "conv1.0.weight" in state:
        raise ValueError(f"{where}: a deep-stem ResNet ('conv1.0.weight', timm's *d variants); expected "
                         "torchvision's / timm's plain resnet18/34/50 (stem 'conv1.weight')")
    depth = file_depth(state)
    if depth is not None and depth != trunk.depth:
        raise ValueError(f"{where}: holds ResNet-{depth} weights, but the trunk is a ResNet-{trunk.depth} "
                         f"(model.trunk_depth = {trunk.depth})")
    built = {f"layer{i + 1}." for i in range(STAGES.index(trunk.last_stage) + 1)}
    absent = tuple(f"{s}." for s in STAGES if f"{s}." not in built)
    ours = trunk.state_dict()
    wanted = {torchvision_key(k): k for k in ours}
    surplus = [k for k in state if k not in wanted and not k.startswith(IGNORED_PREFIXES + absent)]
    if surplus:
        raise ValueError(f"{where}: key {surplus[0]!r} (and {len(surplus) - 1} more) belongs to no tensor of the "
                         f"ResNet-{trunk.depth} trunk; expected torchvision's / timm's resnet{trunk.depth} layout")
    loaded = {}
    for theirs, mine in wanted.items():
        if theirs not in state:
            if theirs.endswith(OPTIONAL_SUFFIX):
                loaded[mine] = ours[mine]
                continue
            raise ValueError(f"{where}: missing key {theirs!r} (trunk tensor {mine!r}, shape "
                             f"{tuple(ours[mine].shape)})")
        if state[theirs].shape != ours[mine].shape:
            raise ValueError(f"{where}: key {theirs!r} has shape {tuple(state[theirs].shape)}, the trunk's "
                             f"{mine!r} has {tuple(ours[mine].shape)}")
        loaded[mine] = state[theirs].to(ours[mine].dtype)
    trunk.load_state_dict(loaded, strict=True)
    return trunk


__all__ = ["IGNORED_PREFIXES", "file_depth", "load_pretrained_trunk", "read_state_dict", "torchvision_key"]
