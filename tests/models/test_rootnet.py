"""RootNet: the 3DMPPE distance prior k; an untrained RootNet is that prior."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from partnas_lib.models.backbone import resnet_trunk
from partnas_lib.models.rootnet import A_REAL_MM2, RootNet, k_prior, predict_root_depth


def test_k_prior_by_hand():
    # k = sqrt(fx fy A_real / (w h)) = sqrt(1000 * 1100 * 4e6 / (100 * 200))
    assert k_prior([10, 20, 100, 200], [1000, 1100, 500, 500]) == pytest.approx(np.sqrt(2.2e8))
    assert A_REAL_MM2 == 2000.0 * 2000.0
    # a box that is exactly the image of a 2 m x 2 m square at depth Z gives k = Z
    f, Z = np.array([1145.0, 1143.8]), np.array([3000.0, 5000.0, 7000.0])
    sides = f[None] * 2000.0 / Z[:, None]
    boxes = np.concatenate([np.zeros((3, 2)), sides], axis=1)
    np.testing.assert_allclose(k_prior(boxes, np.tile([*f, 500, 500], (3, 1))), Z)
    # twice as far -> a quarter of the area -> twice the k; the principal point does not matter
    small, large = k_prior([0, 0, 50, 50], [1000, 1000, 0, 0]), k_prior([0, 0, 100, 100], [1000, 1000, 9, 9])
    assert small == pytest.approx(2 * large)
    with pytest.raises(ValueError, match="positive area"):
        k_prior([0, 0, 0, 10], [1000, 1000, 0, 0])


def test_an_untrained_rootnet_is_the_prior():
    net = RootNet(resnet_trunk(18, 0.25, "layer3"))
    images = np.random.default_rng(0).integers(0, 255, (3, 32, 32, 3), dtype=np.uint8)
    boxes = np.array([[0, 0, 60, 60], [5, 5, 80, 80], [1, 2, 100, 100]], float)
    intr = np.tile([300.0, 300.0, 100, 100], (3, 1))
    np.testing.assert_allclose(predict_root_depth(net, images, boxes, intr), k_prior(boxes, intr), rtol=1e-6)
    assert torch.all(net.gamma(torch.rand(2, 3, 32, 32)) == 1.0)
