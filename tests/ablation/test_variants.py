"""Ablation variants: fixed overrides, and the shared decoder matched to the part-aware size."""

from __future__ import annotations

import copy

from partnas_lib.ablation.variants import (
    VARIANTS,
    expected_parameters,
    matched_head_channels,
    variant_config,
    variant_overrides,
)
from partnas_lib.config import apply_overrides, get_preset


def _with(base, *overrides):
    cfg = copy.deepcopy(base)
    return apply_overrides(cfg, list(overrides))


def test_matched_width_is_the_closest_multiple_of_k():
    base = get_preset("smoke")
    k = base.search.partial_channels
    c = matched_head_channels(base)
    assert c % k == 0 and c > base.model.head_channels  # one decoder must be wider than each of five
    target = expected_parameters(_with(base, "model.parts=5"))
    gap = {w: abs(expected_parameters(_with(base, "model.parts=1", f"model.head_channels={w}")) - target)
           for w in (c - k, c, c + k)}
    assert gap[c] <= gap[c - k] and gap[c] <= gap[c + k], gap
    assert gap[c] < 0.1 * target


def test_shared_matched_resolves_its_width_and_others_do_not():
    base = get_preset("smoke")
    over = variant_overrides(base, VARIANTS["shared_matched"])
    assert over[:2] == ["model.kind=searched", "model.parts=1"]
    assert over[2] == f"model.head_channels={matched_head_channels(base)}"
    assert variant_overrides(base, VARIANTS["shared"]) == ["model.kind=searched", "model.parts=1"]
    cfg = variant_config(base, over, seed=3)
    assert cfg.seed == 3 and cfg.model.head_channels == matched_head_channels(base)
    assert base.model.head_channels == get_preset("smoke").model.head_channels  # base untouched
