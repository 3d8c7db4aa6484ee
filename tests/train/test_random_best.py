"""The random-best baseline: the compute budget by hand, the candidate with the lowest validation
error is kept, the test split is never read, resume skips finished candidates; end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
from toy_data import toy_arrays

from partnas_lib import cli
from partnas_lib.config import apply_overrides, get_preset
from partnas_lib.models.build import random_genotype, random_genotypes
from partnas_lib.nas.genotype import Genotype
from partnas_lib.train import random_best
from partnas_lib.train.random_best import repeated_order, run_random_best, search_supernet_steps
from partnas_lib.train.rundir import RunDir


def test_search_steps_count_weight_and_architecture_steps():
    cfg = get_preset("cpu")  # 6000 samples, halves of 3000, batch 32: 93 steps an epoch
    assert search_supernet_steps(cfg, 6000) == 93 * (6 + (6 - 2))
    cfg.search.warmup_epochs = 9  # longer than the search: weight steps only
    assert search_supernet_steps(cfg, 6000) == 93 * 6


def test_budget_equates_multiply_adds(monkeypatch):
    cfg = apply_overrides(get_preset("cpu"), ["search.random_candidates=4", "retrain.batch_size=16"])
    genotypes = random_genotypes(cfg, 4)
    macs = iter([150, 100, 120, 80, 100])  # supernet first, then the four candidates (mean 100)
    monkeypatch.setattr(random_best, "count_macs", lambda model, x: next(macs))
    budget = random_best.candidate_budget(cfg, genotypes, 6000)
    total = 93 * 10  # supernet steps of batch 32
    assert budget["macs_ratio"] == 1.5
    assert budget["steps_per_candidate"] == int(total * 32 * 1.5 / (4 * 16))  # the search's multiply-adds, shared


def test_candidates_start_with_the_random_variants_genotype():
    cfg = get_preset("smoke")
    genotypes = random_genotypes(cfg, 3)
    assert genotypes[0] == random_genotype(cfg) and len({json.dumps(g.to_json()) for g in genotypes}) == 3


def test_repeated_order_runs_over_epochs_in_whole_batches():
    order = repeated_order(10, seed=1, steps=7, batch_size=4)  # 2 whole batches per epoch of 10
    assert len(order) == 28
    for start in range(0, 28, 8):
        epoch = order[start:start + 8]
        assert len(set(epoch.tolist())) == len(epoch)  # no sample twice within an epoch
    assert not np.array_equal(order[:8], order[8:16])


@pytest.fixture
def tiny_run(tmp_path, monkeypatch):
    """A smoke config on toy arrays (no rendering); ``load_split`` records the splits asked for."""
    cfg = apply_overrides(get_preset("smoke"), ["search.random_candidates=3", "retrain.batch_size=4",
                                                "data.num_val=4", "progress=false"])
    loaded: list[str] = []

    def load(c, split):
        loaded.append(split)
        return {"train": toy_arrays(8, 64), "val": toy_arrays(4, 64)}[split]

    monkeypatch.setattr(random_best, "load_split", load)
    monkeypatch.setattr(random_best, "candidate_budget", lambda c, g, n: {"steps_per_candidate": 2,
                                                                        "search_supernet_steps": 2, "macs_ratio": 1.0})
    run = RunDir(tmp_path / "run")
    run.prepare()
    return cfg, run, loaded


def test_the_lowest_validation_error_wins_and_the_test_split_is_never_read(tiny_run):
    cfg, run, loaded = tiny_run
    errors = iter([30.0, 10.0, 20.0])
    scored = []

    def scorer(model, arrays):
        scored.append(len(arrays))
        return next(errors)

    genotype = run_random_best(cfg, run, scorer)
    candidates = random_genotypes(cfg, 3)
    assert genotype == candidates[1] and Genotype.load(run.genotype) == candidates[1]
    assert genotype != random_genotype(cfg)  # not the first draw: the comparison chose
    assert loaded == ["train", "val"] and "test" not in loaded
    assert scored == [4, 4, 4]  # every candidate scored on the 4 validation samples
    record = json.loads(random_best.record_path(run).read_text())
    assert [c["val_mpjpe"] for c in record["candidates"]] == [30.0, 10.0, 20.0]
    assert record["chosen"] == 1 and record["genotype"] == candidates[1].to_json()["parts"]
    assert all(c["steps"] == 2 and np.isfinite(c["final_loss"]) for c in record["candidates"])
    assert random_best.random_best_finished(run)

    # resumed: finished candidates are read back, not trained or scored again
    def refuse(model, arrays):
        raise AssertionError("a finished candidate was scored again")

    assert run_random_best(cfg, run, refuse, resume=True) == candidates[1]


def test_equal_errors_keep_the_first_candidate():
    assert random_best.select_best([{"val_mpjpe": 5.0}, {"val_mpjpe": 3.0}, {"val_mpjpe": 3.0}]) == 1


def test_random_best_needs_a_validation_split():
    with pytest.raises(ValueError, match="data.num_val = 0 is out of range; expected at least 1 with "
                                         "model.kind=random_best"):
        apply_overrides(get_preset("smoke"), ["model.kind=random_best", "data.num_val=0"])


@pytest.mark.slow
def test_reproduce_random_best_end_to_end(tmp_path, cache_dir):
    out = tmp_path / "rbest"
    assert cli.main(["reproduce", "--preset", "smoke", "--out", str(out), "--model", "random_best", "--no-progress",
                     "--threads", "1", "--set", "data.num_train=64", "--set", "data.num_test=16",
                     "--set", "data.num_val=8", "--set", "search.batch_size=16", "--set", "retrain.batch_size=16",
                     "--set", "search.epochs=1", "--set", "retrain.epochs=1",
                     "--set", "search.random_candidates=2"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    record = json.loads((out / "search" / "random_best.json").read_text())
    genotype = Genotype.load(out / "genotype.json")
    assert metrics["model_kind"] == "random_best" and metrics["genotype"] == genotype.to_json()["parts"]
    assert record["genotype"] == genotype.to_json()["parts"] and len(record["candidates"]) == 2
    assert metrics["search_seconds"] == pytest.approx(record["seconds"]) and record["seconds"] > 0
    assert not (out / "search" / "alpha_history.json").exists()
