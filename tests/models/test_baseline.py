"""The 3DMPPE ResNet + deconvolution baseline: size at the paper preset, shapes, training path."""

from __future__ import annotations

import pytest
import torch

from partnas_lib.config import apply_overrides, get_preset
from partnas_lib.models.baseline import BaselinePoseNet, baseline_posenet
from partnas_lib.models.build import build_baseline, build_model, random_genotype
from partnas_lib.models.heads import count_parameters
from partnas_lib.models.partnet import PartAwareNet
from partnas_lib.models.summary import summarize_config
from partnas_lib.skeleton import get_grouping


def test_paper_preset_baseline_has_34_3_million_parameters():
    """docs/method.md Sec. 2: ResNet-50 + 3 deconvs (256 ch) + 1x1 conv to 17 x 64 = 34.3 M."""
    with torch.device("meta"):
        net = build_baseline(get_preset("paper"))
    assert abs(count_parameters(net) - 34.3e6) <= 0.1e6
    assert abs(count_parameters(net.trunk) - 23.5e6) <= 0.1e6  # ResNet-50 without fc
    with torch.device("meta"):
        assert count_parameters(baseline_posenet()) == count_parameters(net)


def test_paper_preset_baseline_has_about_8_4_g_multiply_adds():
    report = summarize_config(get_preset("paper"), "baseline")
    assert abs(report["macs"] - 8.4e9) <= 0.1e9
    assert report["output_shape"] == [1, 17, 64, 64, 64]
    assert report["trunk_output_shapes"][-1] == [1, 2048, 8, 8]  # layer4, stride 32


def test_smoke_forward_shapes_and_gradients():
    cfg = get_preset("smoke")
    torch.manual_seed(0)
    net = build_baseline(cfg)
    assert isinstance(net, BaselinePoseNet)
    assert net.trunk.out_stride == 32 and net.geometry.stride == 4
    assert net.geometry.size == 16 and net.geometry.depth_bins == cfg.model.depth_bins
    assert net.heads[0].deconvs[0].out_channels == cfg.model.deconv_channels
    x = torch.rand(2, 3, 64, 64)
    vol = net.volumes(x)
    assert vol.shape == (2, 17, cfg.model.depth_bins, 16, 16)
    coords = net.predict(x)
    assert coords.shape == (2, 17, 3)
    (coords * torch.randn_like(coords)).sum().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert missing == []


@pytest.mark.parametrize("preset", ["smoke", "cpu"])
def test_baseline_scales_with_the_preset(preset):
    cfg = get_preset(preset)
    net = build_baseline(cfg)
    s = cfg.data.image_size
    with torch.no_grad():
        assert net.volumes(torch.rand(1, 3, s, s)).shape == (1, 17, cfg.model.depth_bins, s // 4, s // 4)
    # same trunk depth/width as the part-aware net, but to layer4
    assert net.trunk.channels[:4] == build_model(cfg, random_genotype(cfg)).trunk.channels
    assert len(net.trunk.stages) == 4


def test_model_kind_dispatch():
    cfg = apply_overrides(get_preset("smoke"), ["model.kind=baseline"])
    assert isinstance(build_model(cfg), BaselinePoseNet)
    cfg = apply_overrides(get_preset("smoke"), ["model.kind=random"])
    assert isinstance(build_model(cfg, random_genotype(cfg)), PartAwareNet)
    with pytest.raises(ValueError, match="needs a genotype"):
        build_model(cfg)
    with pytest.raises(ValueError, match="model.kind = 'huge' is out of range"):
        apply_overrides(get_preset("smoke"), ["model.kind=huge"])


def test_baseline_is_one_part_covering_every_joint():
    net = build_baseline(get_preset("smoke"))
    assert net.grouping == get_grouping("1")
    assert net.joint_order.tolist() == list(range(17))
