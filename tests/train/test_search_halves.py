"""The bilevel split of the search: two disjoint halves drawn by a seeded permutation."""

from __future__ import annotations

import numpy as np
from toy_data import toy_arrays

from partnas_lib.train.search import search_halves


def _subjects(n: int):
    arrays = toy_arrays(n, size=8)
    for i, m in enumerate(arrays.meta):
        m["row"] = i
        m["subject"] = 1 if i < n // 2 else 9  # sorted by subject, as loaded datasets are
    return arrays


def test_halves_are_disjoint_cover_everything_and_follow_the_portion():
    arrays = _subjects(40)
    w, a = search_halves(arrays, 0.5, seed=3)
    rows_w, rows_a = [m["row"] for m in w.meta], [m["row"] for m in a.meta]
    assert len(rows_w) == len(rows_a) == 20
    assert sorted(rows_w + rows_a) == list(range(40))
    np.testing.assert_array_equal(w.joints_3d, arrays.joints_3d[rows_w])  # arrays follow the rows


def test_halves_mix_a_sorted_split_and_depend_only_on_the_seed():
    arrays = _subjects(40)
    w, a = search_halves(arrays, 0.5, seed=0)
    # a contiguous cut would give all of subject 1 to the weights and all of subject 9 to alpha
    assert {m["subject"] for m in w.meta} == {m["subject"] for m in a.meta} == {1, 9}
    again, _ = search_halves(arrays, 0.5, seed=0)
    other, _ = search_halves(arrays, 0.5, seed=1)
    assert [m["row"] for m in again.meta] == [m["row"] for m in w.meta]
    assert [m["row"] for m in other.meta] != [m["row"] for m in w.meta]
