"""Ablation variants: fixed overrides, the shared decoder matched to the part-aware size, and the
selection arms (perturbation, best of N random) reachable from the command line and compared."""

from __future__ import annotations

import copy

from partnas_lib import cli
from partnas_lib.ablation.stats import comparison_pairs
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


def test_selection_variants_change_only_how_the_genotype_is_chosen():
    base = get_preset("smoke")
    pt = variant_config(base, variant_overrides(base, VARIANTS["part_aware_pt"]), seed=0)
    ref = variant_config(base, variant_overrides(base, VARIANTS["part_aware"]), seed=0)
    assert pt.search.selection == "perturbation" and ref.search.selection == "magnitude"
    pt.search.selection = "magnitude"
    assert pt.to_dict() == ref.to_dict()  # the same search otherwise
    best = variant_config(base, variant_overrides(base, VARIANTS["random_best"]), seed=0)
    assert best.model.kind == "random_best" and best.model.parts == "5" and best.data.num_val >= 1
    assert VARIANTS["part_aware_pt"].searched and not VARIANTS["random_best"].searched
    for name in ("part_aware", "shared", "shared_matched", "random", "baseline"):  # the old arms as they were
        assert name in VARIANTS
    pairs = comparison_pairs(list(VARIANTS))
    assert ("part_aware", "part_aware_pt") in pairs and ("part_aware", "random_best") in pairs


def test_ablate_accepts_the_new_variant_names():
    args = cli.build_parser().parse_args(["ablate", "--out", "x", "--variants", "part_aware_pt", "random_best"])
    assert args.variants == ["part_aware_pt", "random_best"]
