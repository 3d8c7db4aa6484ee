"""RootNet training: a tiny RootNet learns to beat the mean depth and the bare prior."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from partnas_lib.data.synth import scene_splits as multi
from partnas_lib.data.synth import scenes
from partnas_lib.models.backbone import resnet_trunk
from partnas_lib.models.rootnet import RootNet
from partnas_lib.train.rootnet import fit_rootnet, rootnet_report

#: Half of these people crouch or sit: the poses whose small boxes fool the bare prior k.
TEST_ACTIONS = ("standing", "walking", "crouching", "sitting")


@pytest.fixture(scope="module")
def people() -> tuple:
    """A few hundred people of small synthetic scenes, training and held-out sets, each doing
    one of :data:`TEST_ACTIONS` (the default mix of actions is mostly upright)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(scenes, "draw_action", lambda rng: str(rng.choice(TEST_ACTIONS)))
        train = multi.generate_multi_people(11, 70, 2, 32, width=192, supersample=1)
        val = multi.generate_multi_people(12, 20, 2, 32, width=192, supersample=1)
    return train, val


@pytest.mark.slow
def test_training_beats_the_mean_depth_and_the_bare_prior(people):
    """A tiny RootNet trained for ~15 s on ~400 people: on held-out people its root-depth error
    is below the constant mean-depth guess and below k alone (the prior is fooled by crouching
    and sitting people, whose boxes are small; the crop shows the network who crouches)."""
    train, val = people
    assert len(train) > 300 and len(val) > 80
    torch.manual_seed(0)
    net = RootNet(resnet_trunk(18, 0.25, "layer3"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny batches: one thread is as fast, and never stalls on a busy CPU
    try:
        losses = fit_rootnet(net, train, epochs=20, batch_size=32, lr=1e-3, milestones=[15], seed=0)
    finally:
        torch.set_num_threads(threads)
    assert losses[-1] < 0.6 * losses[0]
    report = rootnet_report(net, val, float(train.root_depth.mean()))
    assert report["root_error_mm"] < 0.9 * report["mean_depth_root_error_mm"]
    assert report["root_error_mm"] < 0.8 * report["k_prior_root_error_mm"]
    # the learned correction goes the right way for the poses that fool the prior
    images = torch.from_numpy(val.images).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        gamma = net.eval().gamma(images).numpy()
    low = np.array([m["action"] in ("crouching", "sitting") for m in val.meta])
    assert gamma[low].mean() < gamma[~low].mean()
