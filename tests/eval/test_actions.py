"""Per-action errors in the order of the Human3.6M tables, and the table itself (eval/actions.py)."""

from __future__ import annotations

import numpy as np

from partnas_lib.eval.actions import H36M_ACTION_ORDER, action_order, per_action_markdown, per_action_means


def test_the_15_actions_in_action_idx_order():
    assert len(H36M_ACTION_ORDER) == 15
    assert H36M_ACTION_ORDER[:3] == ("Directions", "Discussion", "Eating")
    assert H36M_ACTION_ORDER[-3:] == ("Walking", "WalkDog", "WalkTogether")
    assert action_order(["waving", "WalkTogether", "Directions", "Photo", "jumping"]) == [
        "Directions", "Photo", "WalkTogether", "jumping", "waving"]


def test_per_action_means_average_the_samples_of_each_action():
    meta = [{"action": "Walking"}, {"action": "Directions"}, {"action": "Walking"}, {}]
    means = per_action_means(np.array([10.0, 20.0, 30.0, 5.0]), meta)
    assert list(means) == ["Directions", "Walking", "unknown"]
    assert means == {"Directions": 20.0, "Walking": 20.0, "unknown": 5.0}


def test_table_has_a_column_per_action_and_the_mean_over_samples():
    metrics = {"mpjpe": 47.25, "pa_mpjpe": 32.7,
               "per_action_mpjpe": {"Walking": 40.0, "Directions": 50.04},
               "per_action_pa_mpjpe": {"Walking": 30.0, "Directions": 35.0}}
    lines = per_action_markdown(metrics).splitlines()
    assert lines[0] == "| metric | Dir. | Walk | all samples |"
    assert lines[2] == "| MPJPE (mm) | 50.0 | 40.0 | 47.2 |"
    assert lines[3] == "| PA-MPJPE (mm) | 35.0 | 30.0 | 32.7 |"
    assert per_action_markdown({"mpjpe": 1.0}) == "_this metrics.json has no per-action errors_"


def test_older_metrics_without_pa_rows_still_print():
    metrics = {"mpjpe": 10.0, "per_action_mpjpe": {"Eating": 10.0}}
    assert per_action_markdown(metrics).splitlines()[2] == "| MPJPE (mm) | 10.0 | 10.0 |"
