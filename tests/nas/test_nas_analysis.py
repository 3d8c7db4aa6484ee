"""nas.analysis: entropy, the search history, cell statistics and op costs, by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from toy_data import CHAIN, MIXED, SKIPS, history_json

from partnas_lib.config import DEFAULT_OPS
from partnas_lib.nas import analysis as nas_analysis


def test_entropy_by_hand():
    assert nas_analysis.entropy(np.full(8, 1 / 8)) == pytest.approx(math.log(8))
    assert nas_analysis.entropy(np.full(8, 1 / 8), normalise=True) == pytest.approx(1.0)
    assert nas_analysis.entropy(np.eye(4)[1]) == pytest.approx(0.0)
    assert nas_analysis.entropy([0.5, 0.5, 0.0, 0.0]) == pytest.approx(math.log(2))
    assert nas_analysis.entropy([0.5, 0.5, 0.0, 0.0], normalise=True) == pytest.approx(0.5)
    np.testing.assert_allclose(nas_analysis.entropy(np.array([[1.0, 0.0], [0.5, 0.5]])), [0.0, math.log(2)])


def test_search_history_reads_and_summarises(tmp_path):
    (tmp_path / "search").mkdir()
    (tmp_path / "search" / "alpha_history.json").write_text(json.dumps(history_json()))
    h = nas_analysis.SearchHistory.load(tmp_path)
    assert h.alpha.shape == (3, 2, 9, 3) and h.beta.shape == (3, 2, 9)
    assert h.finished and h.warmup_epochs() == [1] and h.edge_labels[4] == "2→3"
    assert np.isnan(h.w_loss[0]) and np.isnan(h.a_loss[1]) and h.a_loss[2] == 1.6
    ent = nas_analysis.alpha_entropy(h)
    np.testing.assert_allclose(ent[0], [1.0, 1.0])
    np.testing.assert_allclose(ent[2], [math.log(2) / math.log(3), 0.0])
    # parameter-free ops here: none + skip_connect
    np.testing.assert_allclose(nas_analysis.parameter_free_share(h)[2], [0.5, 0.0])
    np.testing.assert_allclose(nas_analysis.op_share(h)[2, 1], [0.0, 0.0, 1.0])
    # derive score of edge 0 of part a: best non-none op 0.5 x beta 0.5
    assert nas_analysis.edge_scores(h)[0, 0] == pytest.approx(0.25)
    assert h.cells_at(0) is None and h.cells_at(-1)["a"].edges[0] == ("sep_conv_3x3", 0, 2)
    with pytest.raises(FileNotFoundError, match="has the search run"):
        nas_analysis.SearchHistory.load(tmp_path / "missing")


def test_cell_statistics_by_hand():
    assert nas_analysis.cell_conv_depth(CHAIN) == 3
    assert nas_analysis.cell_conv_depth(SKIPS) == 0
    assert nas_analysis.cell_conv_depth(MIXED) == 3  # sep 1->2, sep5 2->3, dil 3->4
    assert nas_analysis.parameter_free_fraction(MIXED) == pytest.approx(3 / 6)
    assert nas_analysis.cell_op_counts(CHAIN) == {"sep_conv_3x3": 3, "skip_connect": 3}


def test_op_parameter_counts_by_hand():
    # C = 8: sep 3x3 = 2 x (depthwise 8*9 + pointwise 8*8 + BN 2*8) = 2 x 152; dil 3x3 = 152 once
    counts = nas_analysis.op_parameter_counts(DEFAULT_OPS, 8)
    assert counts == {"none": 0, "max_pool_3x3": 0, "avg_pool_3x3": 0, "skip_connect": 0,
                      "sep_conv_3x3": 304, "sep_conv_5x5": 560, "dil_conv_3x3": 152, "dil_conv_5x5": 280}
