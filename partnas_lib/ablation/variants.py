"""The arms of the ablation: what each variant changes in the config, and the capacity control.

Most variants are fixed config overrides on top of the preset and the user's ``--set``s.
``shared_matched`` is the fair version of ``shared``: one shared searched decoder is smaller
than five part heads of the same width, so a part-aware gain over ``shared`` could be capacity
alone.  Its ``model.head_channels`` is chosen from the config before anything runs
(:func:`matched_head_channels`): the width at which a shared decoder's *expected* parameter
count -- the mean over random cells of the search space, since the searched cell is not known
yet -- is closest to the part-aware network's.

Two arms ask whether the search's *choices* are worth their cost: ``part_aware_pt`` reads the
genotype out of the trained supernet by perturbation (DARTS-PT) instead of argmax alpha, and
``random_best`` replaces the search by the best of several briefly trained random genotypes at
the search's compute, chosen on the validation split (:mod:`partnas_lib.train.random_best`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import numpy as np

from partnas_lib.config import Config, apply_overrides
from partnas_lib.models.build import build_derived, random_genotype
from partnas_lib.models.heads import count_parameters

#: random cells whose mean parameter count stands for "a cell of this space" when matching sizes
MATCH_SAMPLES = 16


def expected_parameters(cfg: Config, samples: int = MATCH_SAMPLES) -> float:
    """Mean parameter count of the derived network of ``cfg`` over ``samples`` random genotypes
    (seeds 0..samples-1, so the estimate is the same every time)."""
    return float(np.mean([count_parameters(build_derived(cfg, random_genotype(cfg, s))) for s in range(samples)]))


def matched_head_channels(base: Config, parts: str = "1", reference_parts: str = "5") -> int:
    """The ``head_channels`` (a multiple of ``search.partial_channels``) at which a network with
    ``parts`` heads has the expected parameter count closest to ``reference_parts`` heads at
    ``base``'s width.  Parameters grow with the width, so the search walks up from one step."""
    ref = copy.deepcopy(base)
    apply_overrides(ref, [f"model.parts={reference_parts}"])
    target = expected_parameters(ref)
    step = base.search.partial_channels
    best, best_gap = step, float("inf")
    channels = step
    while True:
        cfg = copy.deepcopy(base)
        apply_overrides(cfg, [f"model.parts={parts}", f"model.head_channels={channels}"])
        gap = expected_parameters(cfg) - target
        if abs(gap) < best_gap:
            best, best_gap = channels, abs(gap)
        if gap >= 0 or channels > 16 * base.model.head_channels:
            return best
        channels += step


@dataclass(frozen=True)
class Variant:
    """One arm of the ablation: config overrides applied on top of the preset and user
    overrides, plus ``resolve``: overrides computed from that config (e.g. a matched width)."""

    name: str
    description: str
    overrides: tuple[str, ...]
    resolve: Callable[[Config], tuple[str, ...]] | None = None

    @property
    def searched(self) -> bool:
        return "model.kind=searched" in self.overrides


def _matched_width(base: Config) -> tuple[str, ...]:
    return (f"model.head_channels={matched_head_channels(base)}",)


VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("part_aware", "searched, one cell per part (5 kinematic parts): the method",
            ("model.kind=searched", "model.parts=5")),
    Variant("part_aware_pt", "the same search, genotype chosen by perturbation (DARTS-PT) instead of argmax alpha",
            ("model.kind=searched", "model.parts=5", "search.selection=perturbation")),
    Variant("shared", "searched, one shared decoder for all 17 joints (1 part)",
            ("model.kind=searched", "model.parts=1")),
    Variant("shared_matched", "searched, one shared decoder (1 part) widened to the part-aware network's "
            "expected parameter count: the capacity control", ("model.kind=searched", "model.parts=1"),
            _matched_width),
    Variant("random", "random cell per part from the same space (5 parts), no search",
            ("model.kind=random", "model.parts=5")),
    Variant("random_best", "best of search.random_candidates random genotypes (5 parts), each trained briefly "
            "at the search's compute and chosen on the validation split", ("model.kind=random_best", "model.parts=5")),
    Variant("baseline", "3DMPPE ResNet + 3 deconvolutions (trunk to layer4), no search",
            ("model.kind=baseline", "model.parts=5")),
)}


def variant_overrides(base: Config, variant: Variant) -> list[str]:
    """Every override the variant applies to ``base``: its fixed ones, then the resolved ones."""
    return [*variant.overrides, *(variant.resolve(base) if variant.resolve else ())]


def variant_config(base: Config, overrides: list[str], seed: int) -> Config:
    """``base`` (preset + user overrides) with a variant's overrides (:func:`variant_overrides`,
    resolved once per ablation) and ``seed``."""
    cfg = copy.deepcopy(base)
    return apply_overrides(cfg, [*overrides, f"seed={seed}"])
