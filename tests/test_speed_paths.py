"""The CPU speed paths compute the same functions as their plain references."""

import os

import pytest
import torch
from torch import nn

from partnas_lib import threads
from partnas_lib.config import DEFAULT_OPS
from partnas_lib.nas.cells import FixedCell, MixedEdge
from partnas_lib.nas.depthwise import DepthwiseConv2d, _DepthwiseConvFn, depthwise_weight_grad
from partnas_lib.nas.genotype import CellGenotype
from partnas_lib.nas.ops import ReLUFirst, build_op
from partnas_lib.train.device import make_adam


@pytest.mark.parametrize("kernel,dilation", [(3, 1), (5, 1), (3, 2), (5, 2)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_depthwise_conv_matches_nn_conv2d(kernel, dilation, channels_last):
    torch.manual_seed(0)
    fast = DepthwiseConv2d(6, kernel, dilation)
    ref = nn.Conv2d(6, 6, kernel, padding=dilation * (kernel - 1) // 2, dilation=dilation, groups=6, bias=False)
    ref.weight.data.copy_(fast.weight.data)
    x = torch.randn(3, 6, 8, 10)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    y_fast, y_ref = fast(x), ref(x)
    torch.testing.assert_close(y_fast, y_ref)
    g = torch.randn_like(y_ref)
    gx_fast, gw_fast = torch.autograd.grad(y_fast, (x, fast.weight), g)
    gx_ref, gw_ref = torch.autograd.grad(y_ref, (x, ref.weight), g)
    torch.testing.assert_close(gx_fast, gx_ref, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(gw_fast, gw_ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kernel,dilation", [(5, 1), (3, 2)])
def test_depthwise_conv_gradcheck(kernel, dilation):
    conv = DepthwiseConv2d(2, kernel, dilation).double()
    x = torch.randn(2, 2, 6, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda inp, w: _DepthwiseConvFn.apply(inp, w, dilation), (x, conv.weight))


def test_depthwise_weight_grad_by_hand():
    """1 channel, 1 image: dL/dW[i, j] is the sum of g times the input shifted by (i, j) - p."""
    x = torch.arange(16.0).view(1, 1, 4, 4)
    g = torch.zeros(1, 1, 4, 4)
    g[0, 0, 1, 2] = 1.0  # only output pixel (1, 2) matters
    grad = depthwise_weight_grad(x, g, 3, 1)[0, 0]
    # W[i, j] multiplies x[1 + i - 1, 2 + j - 1]
    assert grad.tolist() == [[1.0, 2.0, 3.0], [5.0, 6.0, 7.0], [9.0, 10.0, 11.0]]


def test_batched_mixed_edges_equal_separate_edges():
    """A MixedEdge with S sources is S MixedEdges summed (parameters in source-major blocks)."""
    torch.manual_seed(0)
    s_count, parts, c = 3, 2, 8
    batched = MixedEdge(c, DEFAULT_OPS, 4, parts, sources=s_count)
    singles = [MixedEdge(c, DEFAULT_OPS, 4, parts) for _ in range(s_count)]
    state = batched.state_dict()
    for s, edge in enumerate(singles):
        own = {k: (v if v.ndim == 0 else state[k][s * v.shape[0]:(s + 1) * v.shape[0]])
               for k, v in edge.state_dict().items()}
        edge.load_state_dict(own)
    xs = [torch.randn(4, parts * c, 8, 8) for _ in range(s_count)]
    w = torch.softmax(torch.randn(s_count, parts, len(DEFAULT_OPS)), -1)
    beta = torch.softmax(torch.randn(s_count, parts), 0)
    mixed, bypass = batched.mix(xs, w, beta)
    together = batched.assemble(mixed, bypass)
    separate = sum(e(x, w[s]) * beta[s].repeat_interleave(c).view(1, -1, 1, 1)
                   for s, (e, x) in enumerate(zip(singles, xs)))
    torch.testing.assert_close(together, separate)


def test_fixed_cell_shares_relu_without_changing_the_function():
    torch.manual_seed(0)
    genotype = CellGenotype(((("sep_conv_3x3", 0), ("dil_conv_3x3", 1)), (("sep_conv_5x5", 0), ("max_pool_3x3", 2)),
                             (("skip_connect", 1), ("dil_conv_5x5", 0))))
    cell = FixedCell(8, 8, 4, genotype).eval()
    s0, s1 = torch.randn(2, 8, 4, 4), torch.randn(2, 8, 4, 4)
    states = cell.inputs(s0, s1, (8, 8))
    for node, ops in zip(genotype.nodes, cell.edge_ops):  # the plain DARTS cell: every op on its own
        states.append(sum(op(states[src]) for (_, src), op in zip(node, ops)))
    torch.testing.assert_close(cell(s0, s1, (8, 8)), torch.cat(states[2:], dim=1))
    assert all(isinstance(build_op(o, 4, True), ReLUFirst) for o in ("sep_conv_3x3", "dil_conv_5x5"))


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


def test_thread_policy_shares_cores_between_partnas_jobs(tmp_path, monkeypatch):
    monkeypatch.setenv("PARTNAS_CACHE", str(tmp_path))
    monkeypatch.delenv("PARTNAS_THREADS", raising=False)
    before = torch.get_num_threads()
    threads.release()
    try:
        assert threads.configure(2) == 2 and torch.get_num_threads() == 2
        n_auto = threads.configure("auto")
        assert (tmp_path / "threads" / f"{os.getpid()}.pid").exists()
        assert n_auto == threads.available_cores()  # alone on the machine
        (tmp_path / "threads" / "999999999.pid").write_text("stale")  # a dead job is not counted ...
        assert threads.live_jobs() == 1 and not (tmp_path / "threads" / "999999999.pid").exists()
        (tmp_path / "threads" / f"{os.getppid()}.pid").write_text("x")  # ... a live one is
        assert threads.live_jobs() == 2
        threads._policy.last_check = -1e9
        assert threads.rebalance() == max(1, threads.available_cores() // 2)
        with pytest.raises(ValueError, match="positive integer"):
            threads.configure("many")
    finally:
        threads.configure(before)
        threads.release()
    assert not (tmp_path / "threads" / f"{os.getpid()}.pid").exists()


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


def test_depthwise_conv_under_cpu_autocast_gives_float32_gradients():
    conv = DepthwiseConv2d(4, 5)
    x = torch.randn(2, 4, 8, 8, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = conv(x)
    y.float().sum().backward()
    assert y.dtype == torch.bfloat16
    assert x.grad.dtype == torch.float32 and conv.weight.grad.dtype == torch.float32
    ref = nn.Conv2d(4, 4, 5, padding=2, groups=4, bias=False)
    ref.weight.data.copy_(conv.weight.data)
    ref(x.detach()).sum().backward()
    torch.testing.assert_close(conv.weight.grad, ref.weight.grad, rtol=0.05,
                               atol=0.05 * ref.weight.grad.abs().max().item())


@pytest.mark.parametrize("k", [1, 4])
def test_mixed_edge_equals_the_darts_sum_over_ops(k):
    """DARTS Eq. 2 written plainly -- every op called as a module, times its weight, summed --
    against MixedEdge (ReLU shared by the conv ops, the none op skipped, one multiply-add per op)."""
    import copy

    from partnas_lib.nas.cells import channel_shuffle

    torch.manual_seed(0)
    c, parts = 8, 2
    edge = MixedEdge(c, DEFAULT_OPS, k, parts).train()
    plain_ops = copy.deepcopy(edge.ops)
    x = torch.randn(4, parts * c, 8, 8)
    alpha = torch.randn(parts, len(DEFAULT_OPS), requires_grad=True)
    y = edge(x, torch.softmax(alpha, -1))
    (grad_alpha,) = torch.autograd.grad((y * torch.linspace(-1, 1, y.numel()).view_as(y)).sum(), alpha)

    alpha2 = alpha.detach().clone().requires_grad_(True)
    w = torch.softmax(alpha2, -1)
    a = c // k
    xa = x.view(4, parts, c, 8, 8)[:, :, :a].reshape(4, parts * a, 8, 8)
    mixed = sum(op(xa) * w[:, i].repeat_interleave(a).view(1, -1, 1, 1) for i, op in enumerate(plain_ops))
    if k > 1:
        rest = x.view(4, parts, c, 8, 8)[:, :, a:]
        mixed = channel_shuffle(torch.cat([mixed.view(4, parts, a, 8, 8), rest], 2).view(4, parts * c, 8, 8), k, parts)
    torch.testing.assert_close(y, mixed)
    (grad_plain,) = torch.autograd.grad((mixed * torch.linspace(-1, 1, y.numel()).view_as(y)).sum(), alpha2)
    torch.testing.assert_close(grad_alpha, grad_plain, rtol=1e-4, atol=1e-6)
    for m, n in zip(edge.ops.modules(), plain_ops.modules(), strict=True):  # running statistics moved alike
        if isinstance(m, nn.BatchNorm2d):
            torch.testing.assert_close(m.running_mean, n.running_mean)
            assert int(m.num_batches_tracked) == int(n.num_batches_tracked) == 1
