"""ImageNet weights for the trunk (models/pretrained.py) and input normalisation (models/backbone.py).

torchvision is not installed, so the files are written here in torchvision's key layout, from
torchvision's ResNet definition written out by hand (stem ``conv1``/``bn1``, ``layer1..4`` of
BasicBlock or Bottleneck v1.5, ``downsample.0/1``, classifier ``fc``): an independent spec of the
names and shapes the loader must accept.
"""

from __future__ import annotations

import pytest
import torch

from partnas_lib.config import apply_overrides, get_preset
from partnas_lib.models.backbone import IMAGENET_MEAN, IMAGENET_STD, ResNetTrunk
from partnas_lib.models.build import build_baseline, build_rootnet, build_supernet
from partnas_lib.models.pretrained import file_depth, load_pretrained_trunk

BLOCKS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3)}


def torchvision_resnet_state(depth: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """A random state dict with exactly the keys and shapes of ``torchvision.models.resnet{depth}()``."""
    g = torch.Generator().manual_seed(seed)
    sd: dict[str, torch.Tensor] = {}

    def conv(name: str, c_out: int, c_in: int, k: int) -> None:
        sd[f"{name}.weight"] = torch.randn(c_out, c_in, k, k, generator=g)

    def bn(name: str, c: int) -> None:
        sd[f"{name}.weight"] = torch.rand(c, generator=g) + 0.5
        sd[f"{name}.bias"] = torch.randn(c, generator=g)
        sd[f"{name}.running_mean"] = torch.randn(c, generator=g)
        sd[f"{name}.running_var"] = torch.rand(c, generator=g) + 0.5
        sd[f"{name}.num_batches_tracked"] = torch.tensor(1234)

    conv("conv1", 64, 3, 7)
    bn("bn1", 64)
    c_in, bottleneck = 64, depth == 50
    for i, (n, width) in enumerate(zip(BLOCKS[depth], (64, 128, 256, 512))):
        c_out = width * (4 if bottleneck else 1)
        for b in range(n):
            p = f"layer{i + 1}.{b}"
            if bottleneck:
                conv(f"{p}.conv1", width, c_in, 1), bn(f"{p}.bn1", width)
                conv(f"{p}.conv2", width, width, 3), bn(f"{p}.bn2", width)
                conv(f"{p}.conv3", c_out, width, 1), bn(f"{p}.bn3", c_out)
            else:
                conv(f"{p}.conv1", width, c_in, 3), bn(f"{p}.bn1", width)
                conv(f"{p}.conv2", c_out, width, 3), bn(f"{p}.bn2", c_out)
            if b == 0 and (i > 0 or c_in != c_out):
                conv(f"{p}.downsample.0", c_out, c_in, 1), bn(f"{p}.downsample.1", c_out)
            c_in = c_out
    sd["fc.weight"] = torch.randn(1000, c_in, generator=g)
    sd["fc.bias"] = torch.randn(1000, generator=g)
    return sd


def expected_trunk_key(torchvision_key: str) -> str:
    """The trunk tensor a torchvision key must land in (written out independently of the loader)."""
    head, _, rest = torchvision_key.partition(".")
    if head == "conv1":
        return f"stem.0.{rest}"
    if head == "bn1":
        return f"stem.1.{rest}"
    return f"stages.{int(head[len('layer'):]) - 1}.{rest}"


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "resnet18.pth"
    state = torchvision_resnet_state(18)
    torch.save(state, path)
    return path, state


@pytest.mark.parametrize("last_stage", ["layer4", "layer2"])
def test_torchvision_weights_land_bit_exactly(resnet18_file, last_stage):
    path, state = resnet18_file
    trunk = load_pretrained_trunk(ResNetTrunk(18, 1.0, last_stage), path)
    ours = trunk.state_dict()
    kept = [k for k in state if not k.startswith("fc.") and
            (not k.startswith("layer") or int(k[5]) <= int(last_stage[-1]))]
    assert len(kept) == len(ours)
    for key in kept:
        assert torch.equal(ours[expected_trunk_key(key)], state[key]), key


@pytest.mark.slow
def test_resnet50_paper_trunk_and_timm_wrapping(tmp_path):
    """The paper trunk (ResNet-50 to layer3) from a checkpoint wrapping the dict (DDP prefix)."""
    state = torchvision_resnet_state(50, seed=1)
    path = tmp_path / "timm_resnet50.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    assert file_depth(state) == 50
    trunk = load_pretrained_trunk(ResNetTrunk(50, 1.0, "layer3"), path)
    expected = {expected_trunk_key(k): v for k, v in state.items() if not k.startswith(("fc.", "layer4."))}
    assert set(expected) == set(trunk.state_dict())
    for key, value in trunk.state_dict().items():
        assert torch.equal(value, expected[key]), key


def test_missing_key_is_named(resnet18_file, tmp_path):
    state = dict(resnet18_file[1])
    del state["layer2.1.bn2.running_var"]
    torch.save(state, tmp_path / "w.pth")
    with pytest.raises(ValueError, match=r"w\.pth \(model\.pretrained\): missing key 'layer2\.1\.bn2\.running_var'"):
        load_pretrained_trunk(ResNetTrunk(18, 1.0, "layer3"), tmp_path / "w.pth")


def test_wrong_shape_is_named(resnet18_file, tmp_path):
    state = dict(resnet18_file[1])
    state["layer1.0.conv1.weight"] = torch.zeros(64, 64, 1, 1)
    torch.save(state, tmp_path / "w.pth")
    with pytest.raises(ValueError, match=r"key 'layer1\.0\.conv1\.weight' has shape \(64, 64, 1, 1\), the trunk's "
                                         r"'stages\.0\.0\.conv1\.weight' has \(64, 64, 3, 3\)"):
        load_pretrained_trunk(ResNetTrunk(18, 1.0, "layer3"), tmp_path / "w.pth")


def test_wrong_depth_and_surplus_keys_are_named(resnet18_file, tmp_path):
    path, state = resnet18_file
    with pytest.raises(ValueError, match=r"holds ResNet-18 weights, but the trunk is a ResNet-34 "
                                         r"\(model\.trunk_depth = 34\)"):
        load_pretrained_trunk(ResNetTrunk(34, 1.0, "layer3"), path)
    torch.save({**state, "layer1.0.se.fc1.weight": torch.zeros(4, 64)}, tmp_path / "se.pth")
    with pytest.raises(ValueError, match=r"key 'layer1\.0\.se\.fc1\.weight' .* belongs to no tensor"):
        load_pretrained_trunk(ResNetTrunk(18, 1.0, "layer3"), tmp_path / "se.pth")


def test_width_other_than_one_is_refused(resnet18_file):
    path, _ = resnet18_file
    with pytest.raises(ValueError, match=r"width 1 only, but the trunk has width 0\.25 \(model\.trunk_width\)"):
        load_pretrained_trunk(ResNetTrunk(18, 0.25, "layer3"), path)
    with pytest.raises(ValueError, match=r"model\.trunk_width = 0\.25 is out of range; expected 1 with "
                                         r"model\.pretrained"):
        apply_overrides(get_preset("smoke"), [f"model.pretrained={path}"])


def test_missing_or_foreign_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nowhere\.pth: pretrained weights file not found"):
        load_pretrained_trunk(ResNetTrunk(18, 1.0, "layer3"), tmp_path / "nowhere.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match=r"junk\.pth: not a readable torch state dict"):
        load_pretrained_trunk(ResNetTrunk(18, 1.0, "layer3"), tmp_path / "junk.pth")


def test_normalisation_is_imagenet_mean_std_and_not_in_the_state_dict():
    torch.manual_seed(0)
    plain = ResNetTrunk(18, 0.25, "layer2").eval()
    norm = ResNetTrunk(18, 0.25, "layer2", normalize_input=True).eval()
    norm.load_state_dict(plain.state_dict())  # same keys: the mean/std buffers are not persistent
    x = torch.rand(2, 3, 32, 32)
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        assert torch.equal(norm(x)[-1], plain((x - mean) / std)[-1])
        assert not torch.equal(norm(x)[-1], plain(x)[-1])
    assert set(norm.state_dict()) == set(plain.state_dict())


def test_normalize_input_follows_pretrained_unless_forced(resnet18_file):
    path, _ = resnet18_file
    smoke = get_preset("smoke")
    assert not smoke.model.normalizes_input  # the synthetic presets stay bit-identical
    cfg = apply_overrides(get_preset("smoke"), ["model.trunk_width=1", f"model.pretrained={path}"])
    assert cfg.model.normalizes_input
    assert not apply_overrides(cfg, ["model.normalize_input=off"]).model.normalizes_input
    assert apply_overrides(get_preset("smoke"), ["model.normalize_input=on"]).model.normalizes_input
    with pytest.raises(ValueError, match="model.normalize_input = 'maybe' is out of range"):
        apply_overrides(get_preset("smoke"), ["model.normalize_input=maybe"])


def test_every_builder_loads_the_trunk_only_when_asked(resnet18_file):
    path, state = resnet18_file
    cfg = apply_overrides(get_preset("smoke"), ["model.trunk_width=1", f"model.pretrained={path}"])
    stem = state["conv1.weight"]
    for build in (build_supernet, build_baseline, build_rootnet):
        loaded = build(cfg, load_pretrained=True).trunk
        assert loaded.normalize_input and torch.equal(loaded.stem[0].weight, stem), build.__name__
    assert not torch.equal(build_rootnet(cfg).trunk.stem[0].weight, stem)  # evaluation: weights from a checkpoint
    assert torch.equal(build_baseline(cfg, load_pretrained=True).trunk.stages[3][1].bn2.running_var,
                       state["layer4.1.bn2.running_var"])
