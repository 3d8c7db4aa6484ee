"""BatchNorm folding (models.fuse) keeps every network's function."""

from __future__ import annotations

import pytest
import torch
from torch import nn


@pytest.mark.parametrize("which", ["baseline", "derived", "supernet"])
def test_batchnorm_folding_keeps_the_function(which):
    from partnas_lib.config import get_preset
    from partnas_lib.models.build import build_baseline, build_derived, build_supernet, random_genotype
    from partnas_lib.models.fuse import fuse_conv_bn

    cfg = get_preset("smoke")
    torch.manual_seed(0)
    net = {"baseline": build_baseline, "supernet": build_supernet,
           "derived": lambda c: build_derived(c, random_genotype(c))}[which](cfg)
    for m in net.modules():  # non-trivial running statistics and affine parameters
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            if m.affine:
                nn.init.uniform_(m.weight, 0.5, 1.5)
                nn.init.uniform_(m.bias, -0.2, 0.2)
    net.eval()
    fused = fuse_conv_bn(net)
    left = [m for m in fused.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(left) < len([m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]) / 2
    x = torch.rand(2, 3, cfg.data.image_size, cfg.data.image_size)
    with torch.no_grad():
        torch.testing.assert_close(fused(x), net(x), rtol=1e-4, atol=1e-3)
