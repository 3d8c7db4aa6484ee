"""Paired statistics of the ablation: hand-computed differences, intervals and Holm's adjustment."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from partnas_lib.ablation.readme import COMMITTED_BENCHMARKS, benchmark_block
from partnas_lib.ablation.report import comparisons_markdown, readme_block, replace_readme_block
from partnas_lib.ablation.schema import aggregate, upgrade_ablation, validate_ablation
from partnas_lib.ablation.stats import comparison_pairs, holm, paired_comparisons, paired_difference, verdict


def test_paired_difference_by_hand():
    """a = 1, 2, 3 and b = 3, 5, 4: differences 2, 3, 1 -> mean 2, sd 1, se 1/sqrt(3);
    t = 2 sqrt(3) = 3.464 on 2 degrees of freedom, two-sided p = 0.0742;
    CI 2 -+ 4.303 / sqrt(3) = [-0.484, 4.484]."""
    got = paired_difference([1.0, 2.0, 3.0], [3.0, 5.0, 4.0])
    assert got["n"] == 3 and got["mean_diff_mm"] == pytest.approx(2.0)
    assert got["ci95_mm"] == pytest.approx([2 - 4.302653 / 3 ** 0.5, 2 + 4.302653 / 3 ** 0.5], abs=1e-5)
    assert got["p"] == pytest.approx(0.07418, abs=1e-4)
    assert got["p"] == pytest.approx(stats.ttest_rel([3, 5, 4], [1, 2, 3]).pvalue)
    # minimal detectable difference: (t_.975,2 + t_.80,2) * se = (4.303 + 1.061) / sqrt(3)
    assert got["mdd_mm"] == pytest.approx((4.302653 + 1.060660) / 3 ** 0.5, abs=1e-4)
    assert got["p_wilcoxon"] == pytest.approx(stats.wilcoxon([2.0, 3.0, 1.0]).pvalue)
    lo, hi = got["ci95_bootstrap_mm"]
    assert 1.0 <= lo <= 2.0 <= hi <= 3.0  # bootstrap means lie between the smallest and largest difference


def test_paired_difference_edge_cases():
    one = paired_difference([1.0], [2.0])
    assert one["mean_diff_mm"] == 1.0 and one["ci95_mm"] is None and one["p"] is None
    constant = paired_difference([1.0, 2.0], [3.0, 4.0])  # every seed +2: no noise at all
    assert constant["p"] == 0.0 and constant["ci95_mm"] == [2.0, 2.0]
    same = paired_difference([1.0, 2.0], [1.0, 2.0])
    assert same["p"] is None and same["p_wilcoxon"] is None and same["mean_diff_mm"] == 0.0
    with pytest.raises(ValueError, match="equally long"):
        paired_difference([1.0, 2.0], [1.0])


def test_holm_by_hand():
    # sorted 0.01, 0.02, 0.04 with m = 3: 0.03, 0.04, max(0.04, 0.04) -> back in input order
    assert holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1, monotone
    assert holm([None, 0.01]) == [None, pytest.approx(0.01)]  # untestable entries are not in the family


def _runs(values: dict[str, list[float]]) -> dict[str, list[dict]]:
    return {name: [{"seed": s, "mpjpe": v, "pa_mpjpe": v / 2} for s, v in enumerate(vals)]
            for name, vals in values.items()}


def test_paired_comparisons_family_and_verdicts():
    runs = _runs({"part_aware": [100.0, 102.0, 101.0, 99.0], "worse": [110.0, 113.0, 111.0, 109.5],
                  "noise": [101.0, 101.0, 100.0, 101.0]})
    pairs = comparison_pairs(list(runs))
    assert pairs == [("part_aware", "worse"), ("part_aware", "noise")]
    out = paired_comparisons(runs, pairs)
    assert [(c["b"], c["metric"]) for c in out] == [("worse", "mpjpe"), ("worse", "pa_mpjpe"),
                                                    ("noise", "mpjpe"), ("noise", "pa_mpjpe")]
    assert [c["p_holm"] for c in out] == pytest.approx(holm([c["p"] for c in out]))
    worse = out[0]
    assert worse["test"] == "paired" and worse["n"] == 4 and worse["seeds"] == [0, 1, 2, 3]
    assert worse["p_holm"] < 0.05
    assert worse["verdict"].startswith("part_aware is better than worse by 10.4 mm")
    noise = out[2]
    assert noise["p_holm"] > 0.05
    assert noise["verdict"].startswith("no detectable difference between noise and part_aware (95 % CI")
    assert "could not be detected" in noise["verdict"] and "equal" not in noise["verdict"]
    table = comparisons_markdown(out)
    assert "| worse vs part_aware | mpjpe | +10.4 |" in table


def test_paired_comparisons_use_only_shared_seeds():
    runs = _runs({"a": [1.0, 2.0, 3.0], "b": [2.0, 3.0]})
    (c, _) = paired_comparisons(runs, [("a", "b")])
    assert c["seeds"] == [0, 1] and c["mean_diff_mm"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no variant 'c'"):
        paired_comparisons(runs, [("a", "c")])


def test_verdict_without_a_test():
    c = {"a": "x", "b": "y", "n": 1, "ci95_mm": None, "p_holm": None, "mean_diff_mm": 3.0, "mdd_mm": None}
    assert verdict(c).startswith("not tested (1 seed;")


@pytest.fixture
def committed():
    from pathlib import Path
    path = Path(__file__).resolve().parents[2] / "results" / "ablation.json"
    if not path.exists():
        pytest.skip("no committed results/ablation.json")
    return json.loads(path.read_text())


def test_committed_ablation_has_paired_holm_comparisons(committed):
    validate_ablation(committed)
    assert committed["schema_version"] == 2
    assert {(c["b"], c["metric"]) for c in committed["comparisons"]} >= {("random", "mpjpe"), ("shared", "pa_mpjpe")}
    torso = committed["part_grouping"]["torso_head"]
    assert 0 in torso
    for v in committed["variants"].values():
        assert np.isfinite(v["mean"]["per_part_mpjpe"]["torso_head"])
    assert upgrade_ablation(committed) is committed  # already current


def test_upgrade_from_schema_1_is_exact_and_validates(committed):
    """Version 1 averaged the root (error 0) into the torso part, 5 joints: 4/5 of today's value."""
    old = {k: v for k, v in committed.items() if k != "comparisons"}
    old["schema_version"] = 1
    old["variants"] = {}
    for name, v in committed["variants"].items():
        runs = [{**r, "per_part_mpjpe": {**r["per_part_mpjpe"], "torso_head": 0.8 * r["per_part_mpjpe"]["torso_head"]}}
                for r in v["runs"]]
        mean, std = aggregate(runs)
        old["variants"][name] = {**v, "runs": runs, "mean": mean, "std": std}
    new = upgrade_ablation(old)
    validate_ablation(new)
    for name, v in new["variants"].items():
        for r, r0 in zip(v["runs"], committed["variants"][name]["runs"]):
            assert r["per_part_mpjpe"]["torso_head"] == pytest.approx(r0["per_part_mpjpe"]["torso_head"])
    assert [c["verdict"] for c in new["comparisons"]] == [c["verdict"] for c in committed["comparisons"]]
    with pytest.raises(ValueError, match="cannot upgrade version 0"):
        upgrade_ablation({**old, "schema_version": 0})


def test_readme_quotes_the_committed_verdicts_verbatim(committed):
    """The README's "Do the paper's claims hold here?" lists the file's verdicts, not hand-typed numbers."""
    from pathlib import Path
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for c in committed["comparisons"]:
        assert f"* {c['metric']}: {c['verdict']}" in readme, c["verdict"]


@pytest.mark.parametrize("name", list(COMMITTED_BENCHMARKS))
def test_readme_blocks_are_generated_from_the_results_files(name):
    """Each benchmark's README block is exactly what its committed ablation.json generates."""
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    folder = root / COMMITTED_BENCHMARKS[name]
    if not (folder / "ablation.json").exists():
        pytest.skip(f"{folder} not committed yet (the long ablation runs span several sittings)")
    readme = (root / "README.md").read_text()
    assert readme_block(readme, name) == benchmark_block(name, folder)


def test_no_committed_result_is_computed_from_motion_capture_clips():
    """The clips' licence (CC BY-NC 4.0) keeps every number computed from them out of the
    repository: no results file may come from a ``bvh:`` or ``mix:`` data source."""
    import subprocess
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    listed = subprocess.run(["git", "ls-files", "results"], cwd=root, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    for name in listed.stdout.split():
        if name.endswith(".json") or Path(name).name in ("metrics.md", "ablation.md", "log.txt"):
            text = (root / name).read_text()
            for spec in ("--data bvh:", "--data mix:", '"bvh:', '"mix:', "pose_source | bvh:", "pose_source | mix:"):
                assert spec not in text, f"{name} holds results of a motion-capture data source ({spec})"


def test_readme_blocks_round_trip():
    text = "intro\n<!-- ablation:x -->\nold\n<!-- /ablation:x -->\nrest\n"
    new = replace_readme_block(text, "x", "| a |\n* verdict")
    assert readme_block(new, "x") == "| a |\n* verdict" and new.startswith("intro\n") and new.endswith("rest\n")
    assert replace_readme_block(new, "x", "old") == text
    with pytest.raises(ValueError, match="ablation:y"):
        replace_readme_block(text, "y", "z")
