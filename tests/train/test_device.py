"""Device and precision options: fused Adam, GPU-only options switched off on CPU, channels_last."""

from __future__ import annotations

import torch
from torch import nn

from partnas_lib import cli
from partnas_lib.train.device import make_adam

ARGS = ["--preset", "smoke", "--no-progress", "--set", "data.num_train=256", "--set", "data.num_test=32",
        "--set", "retrain.epochs=2"]


def test_fused_adam_takes_the_same_step_as_adam():
    torch.manual_seed(0)
    a, b = nn.Linear(5, 3), nn.Linear(5, 3)
    b.load_state_dict(a.state_dict())
    opt_a, opt_b = torch.optim.Adam(a.parameters(), lr=1e-2), make_adam(b.parameters(), torch.device("cpu"), lr=1e-2)
    for _ in range(3):
        x = torch.randn(4, 5)
        for net, opt in ((a, opt_a), (b, opt_b)):
            opt.zero_grad()
            net(x).square().sum().backward()
            opt.step()
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q)


def test_gpu_options_are_switched_off_on_cpu_with_a_log_line(tmp_path, cache_dir):
    out = tmp_path / "run"
    assert cli.main(["search", "--out", str(out), *ARGS, "--set", "data.num_train=64", "--set", "search.epochs=1",
                     "--set", "search.batch_size=16", "--set", "train.amp=true",
                     "--set", "train.channels_last=true", "--device", "cpu"]) == 0
    assert "train.amp requested, but the device is cpu: switched off" in (out / "log.txt").read_text()


def test_channels_last_networks_compute_the_same(cache_dir):
    """The channels_last path runs and changes nothing but the memory layout."""
    from conftest import tiny_cfg

    from partnas_lib.models.build import build_baseline, build_derived, build_supernet, random_genotype

    cfg = tiny_cfg(cache_dir)
    x = torch.rand(2, 3, cfg.data.image_size, cfg.data.image_size)
    for build in (build_supernet, lambda c: build_derived(c, random_genotype(c)), build_baseline):
        torch.manual_seed(0)
        net = build(cfg).eval()
        with torch.no_grad():
            ref = net(x)
            out = net.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last))
        torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)
