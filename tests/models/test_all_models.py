"""Every network and every op, the same checks (the timm ``test_models.py`` pattern).

* every model kind of :data:`partnas_lib.config.MODEL_KINDS`, plus the supernet, built at the
  ``smoke`` preset by the :mod:`partnas_lib.models.build` builders: output and volume shapes,
  finite values, and a backward pass that gives every parameter a finite, non-zero gradient
  (for the supernet also every entry of alpha and beta);
* every op of :data:`partnas_lib.nas.ops.OPS`, with and without affine BatchNorm: the shape is
  kept and gradients reach every parameter and the input (``none`` outputs exact zeros).

A kind or op added to the package is picked up here without editing this file (a new model kind
fails until :func:`build` knows how to make it).
"""

from __future__ import annotations

import pytest
import torch

from partnas_lib.config import MODEL_KINDS, Config, apply_overrides, get_preset
from partnas_lib.models.baseline import BaselinePoseNet
from partnas_lib.models.build import build_model, build_supernet, random_genotype, random_genotypes
from partnas_lib.models.heads import PartPoseNet
from partnas_lib.models.partnet import PartAwareNet
from partnas_lib.models.supernet import PartSupernet
from partnas_lib.nas.ops import OPS, Zero, build_op
from partnas_lib.skeleton import NUM_JOINTS

KINDS = [*MODEL_KINDS, "supernet"]
BATCH = 2


def smoke(kind: str) -> Config:
    cfg = get_preset("smoke")
    return cfg if kind == "supernet" else apply_overrides(cfg, [f"model.kind={kind}"])


def build(kind: str, cfg: Config) -> PartPoseNet:
    """The network ``kind`` as retrain (or, for the supernet, the search) builds it."""
    torch.manual_seed(0)
    if kind == "supernet":
        return build_supernet(cfg)
    if kind == "searched":  # a genotype derived from a supernet's alpha/beta, as after a search
        genotype = build_supernet(cfg).derive(cfg.search.edges_per_node)
    elif kind == "random":
        genotype = random_genotype(cfg)
    elif kind == "random_best":  # the winner is one of the candidates: here the last of them
        genotype = random_genotypes(cfg, cfg.search.random_candidates)[-1]
    elif kind == "baseline":
        genotype = None
    else:
        pytest.fail(f"model kind {kind!r} of MODEL_KINDS has no case in {__file__}: add one to build()")
    return build_model(cfg, genotype)


@pytest.mark.parametrize("kind", KINDS)
def test_model_builds_the_right_class(kind):
    expected = {"searched": PartAwareNet, "random": PartAwareNet, "random_best": PartAwareNet,
                "baseline": BaselinePoseNet, "supernet": PartSupernet}
    assert type(build(kind, smoke(kind))) is expected[kind]


@pytest.mark.parametrize("kind", KINDS)
def test_model_forward_shapes_and_finite_outputs(kind):
    cfg = smoke(kind)
    net = build(kind, cfg).eval()
    s, d = cfg.data.image_size, cfg.model.depth_bins
    x = torch.rand(BATCH, 3, s, s, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        coords = net(x)
        vols = net.volumes(x)
    assert coords.shape == (BATCH, NUM_JOINTS, 3)
    # the volumes are 1/4 of the crop in x and y (a stride-4 read-out) with depth_bins in z
    assert vols.shape == (BATCH, NUM_JOINTS, d, s // 4, s // 4)
    assert (net.geometry.depth_bins, net.geometry.size) == (d, s // 4)
    assert torch.isfinite(coords).all() and torch.isfinite(vols).all()
    # soft-argmax coordinates are inside the volume (voxel units)
    assert coords.min() >= 0 and coords[..., :2].max() <= s // 4 - 1 and coords[..., 2].max() <= d - 1
    torch.testing.assert_close(net.predict(x), coords)


@pytest.mark.parametrize("kind", KINDS)
def test_model_backward_reaches_every_parameter(kind):
    cfg = smoke(kind)
    net = build(kind, cfg).train()
    s = cfg.data.image_size
    gen = torch.Generator().manual_seed(2)
    x = torch.rand(BATCH, 3, s, s, generator=gen)
    target = torch.rand(BATCH, NUM_JOINTS, 3, generator=gen) * (s // 4)
    loss = (net(x) - target).abs().mean()
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    no_grad = [n for n, p in net.named_parameters() if p.grad is None]
    not_finite = [n for n, p in net.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
    zero = [n for n, p in net.named_parameters() if p.grad is not None and not p.grad.abs().sum() > 0]
    assert (no_grad, not_finite, zero) == ([], [], []), kind
    if kind == "supernet":
        assert [n for n, _ in net.named_parameters()].count("alpha") == 1
        # every part's alpha for every edge and op, and its beta for every edge, gets a gradient
        assert (net.alpha.grad != 0).all() and (net.beta.grad != 0).all()


# --------------------------------------------------------------------------------------------
# ops


@pytest.mark.parametrize("affine", [True, False], ids=["affine", "no-affine"])
@pytest.mark.parametrize("name", sorted(OPS))
def test_op_keeps_shape_and_passes_gradients(name, affine):
    torch.manual_seed(0)
    c = 8
    op = build_op(name, c, affine=affine).train()
    x = torch.randn(2, c, 6, 6, requires_grad=True)
    y = op(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    # a random weighting: a loss like y.pow(2).sum() is nearly constant behind a BatchNorm
    (y * torch.randn_like(y)).sum().backward()
    params = dict(op.named_parameters())
    if name == "none":
        assert isinstance(op, Zero) and not params
        assert torch.equal(y, torch.zeros_like(y))
        assert x.grad is None or not x.grad.any()
        return
    assert torch.isfinite(y).all()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0, name
    for pname, p in params.items():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, (name, pname)
    if name.startswith(("sep_conv", "dil_conv")):
        assert params, name  # the parametric ops do have weights
    else:
        assert not params, name  # pooling and skip are parameter-free (their BN, if any, is not affine)
