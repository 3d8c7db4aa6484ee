"""The DARTS search step: the architecture step's pruned backward pass changes nothing it computes."""

from __future__ import annotations

import copy

import torch

from partnas_lib.config import get_preset
from partnas_lib.models.build import build_supernet
from partnas_lib.models.integral import integral_l1_loss
from partnas_lib.train.device import make_adam
from partnas_lib.train.steps import search_step, train_step


def _setup():
    torch.manual_seed(0)
    cfg = get_preset("smoke")
    model = build_supernet(cfg).train()
    g = torch.Generator().manual_seed(1)
    batches = [{"image": torch.rand(4, 3, 64, 64, generator=g), "target": torch.rand(4, 17, 3, generator=g) * 7}
               for _ in range(2)]
    return model, batches


def _loss(net, batch):
    return integral_l1_loss(net.predict(batch["image"]), batch["target"], torch.ones(4, 17), torch.ones(4))


def test_arch_gradient_alone_equals_the_full_backward():
    model, (batch, _) = _setup()
    arch = model.arch_parameters()
    full = copy.deepcopy(model)
    full_opt = torch.optim.SGD(full.arch_parameters(), lr=0.0)
    train_step(full, full_opt, batch, _loss)
    only_opt = torch.optim.SGD(arch, lr=0.0)
    train_step(model, only_opt, batch, _loss, only=arch)
    for p_only, p_full in zip(arch, full.arch_parameters()):
        torch.testing.assert_close(p_only.grad, p_full.grad, rtol=1e-5, atol=1e-7)
    # the pruned pass computed no weight gradient at all
    assert all(p.grad is None for p in model.weight_parameters())
    assert all(p.grad is not None for p in full.weight_parameters() if p.requires_grad)


def test_search_step_moves_alpha_and_weights_and_is_repeatable():
    runs = []
    for _ in range(2):
        model, (batch_w, batch_a) = _setup()
        alpha0 = model.alpha.detach().clone()
        weights0 = [p.detach().clone() for p in model.weight_parameters()]
        w_opt = make_adam(model.weight_parameters(), torch.device("cpu"), lr=1e-3)
        a_opt = make_adam(model.arch_parameters(), torch.device("cpu"), lr=3e-3)
        losses = search_step(model, w_opt, a_opt, batch_w, batch_a, _loss, model.weight_parameters())
        assert set(losses) == {"a_loss", "w_loss"}
        assert not torch.equal(alpha0, model.alpha.detach())  # the architecture step moved alpha
        moved = [not torch.equal(w0, p.detach()) for w0, p in zip(weights0, model.weight_parameters())]
        assert sum(moved) > 0.9 * len(moved)  # and the weight step the weights
        runs.append((losses, model.alpha.detach().clone(), model.derive().to_json()))
    assert runs[0][0] == runs[1][0]
    torch.testing.assert_close(runs[0][1], runs[1][1], rtol=0, atol=0)
    assert runs[0][2] == runs[1][2]
