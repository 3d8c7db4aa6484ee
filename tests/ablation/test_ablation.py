"""The ablation command at smoke size: every variant end to end, resume, and the results schema."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import REPO

from partnas_lib import cli
from partnas_lib.ablation.report import ablation_markdown
from partnas_lib.ablation.schema import validate_ablation
from partnas_lib.ablation.variants import VARIANTS
from partnas_lib.config import Config, apply_overrides, get_preset
from partnas_lib.data.synth.synthetic import RENDER_VERSION
from partnas_lib.models.build import random_genotype
from partnas_lib.nas.genotype import Genotype

TINY = ["data.num_train=64", "data.num_test=16", "data.num_val=8", "search.batch_size=16",
        "retrain.batch_size=16", "search.epochs=1", "retrain.epochs=1", "search.pt_batches=1",
        "search.pt_tune_steps=1", "search.random_candidates=2"]


SETS = [a for o in TINY for a in ("--set", o)]
SEARCHED = ("part_aware", "part_aware_pt", "shared", "shared_matched")


def _ablate(out: Path, *extra: str) -> int:
    return cli.main(["ablate", "--preset", "smoke", "--seeds", "0", "1", "--out", str(out), "--no-progress",
                     "--threads", "1", *SETS, *extra])


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The networks here are tiny: one thread is faster than two, and much faster on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def ablation(tmp_path_factory, cache_dir) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("ablation") / "abl"
    assert _ablate(out) == 0
    return out, json.loads((out / "ablation.json").read_text())


@pytest.mark.slow
def test_every_variant_runs_end_to_end(ablation):
    out, data = ablation
    validate_ablation(data)
    assert list(data["variants"]) == list(VARIANTS)
    assert data["seeds"] == [0, 1] and data["preset"] == "smoke" and data["overrides"] == TINY
    assert data["command"].startswith("partnas ablate --preset smoke")
    for name in VARIANTS:
        for seed in (0, 1):
            run = out / name / f"seed{seed}"
            for rel in ("config.json", "metrics.json", "checkpoints/model.pt", "predictions.npz"):
                assert (run / rel).is_file(), (name, seed, rel)
            searched = (run / "search" / "alpha_history.json").is_file()
            assert searched == (name in SEARCHED), name
            assert (run / "search" / "selection.json").is_file() == (name == "part_aware_pt"), name
            assert (run / "search" / "random_best.json").is_file() == (name == "random_best"), name
            assert json.loads((run / "metrics.json").read_text())["model_kind"] == \
                ("searched" if name in SEARCHED else name)
    assert not (out / "baseline" / "seed0" / "genotype.json").exists()
    v = data["variants"]
    assert v["baseline"]["mean"]["params"] > v["part_aware"]["mean"]["params"]
    assert v["random"]["mean"]["search_seconds"] == 0 and v["part_aware"]["mean"]["search_seconds"] > 0
    assert v["random_best"]["mean"]["search_seconds"] > 0  # its selection stands in for the search
    assert set(data["agreement"]) == set(SEARCHED)
    compared = {(c["a"], c["b"]) for c in data["comparisons"]}
    assert {("part_aware", "part_aware_pt"), ("part_aware", "random_best")} <= compared
    # the capacity control: one decoder widened to the part-aware network's size
    matched = Config.load(out / "shared_matched" / "seed0" / "config.json").model.head_channels
    assert v["shared_matched"]["overrides"][-1] == f"model.head_channels={matched}"
    assert matched > get_preset("smoke").model.head_channels
    assert v["shared_matched"]["mean"]["params"] > v["shared"]["mean"]["params"]
    assert set(data["agreement"]["part_aware"]["parts"]) == set(data["part_grouping"])
    assert set(v["shared"]["runs"][0]["per_part_mpjpe"]) == set(data["part_grouping"])  # 5 parts for all
    md = (out / "ablation.md").read_text()
    assert md == ablation_markdown(data)
    for name in VARIANTS:
        assert f"| {name} |" in md


@pytest.mark.slow
def test_parallel_workers_give_the_sequential_results(ablation, tmp_path):
    """--workers 2 runs the (variant, seed) runs in two single-thread processes: the same runs, so
    the same numbers as the sequential single-thread ablation, bit for bit."""
    _, sequential = ablation
    out = tmp_path / "parallel"
    assert _ablate(out, "--workers", "2", "--variants", "baseline", "random") == 0
    parallel = json.loads((out / "ablation.json").read_text())
    assert list(parallel["variants"]) == ["baseline", "random"]
    for name in ("baseline", "random"):
        for a, b in zip(parallel["variants"][name]["runs"], sequential["variants"][name]["runs"], strict=True):
            assert (a["seed"], a["mpjpe"], a["pa_mpjpe"], a["genotype"]) == (b["seed"], b["mpjpe"], b["pa_mpjpe"],
                                                                              b["genotype"])
    log = (out / "baseline" / "seed0" / "log.txt").read_text()
    assert "1 torch threads" in log and "torch threads ->" not in log  # pinned: never rebalanced


@pytest.mark.slow
def test_random_genotypes_are_valid_and_seeded(ablation):
    out, _ = ablation
    genotypes = []
    for seed in (0, 1):
        g = Genotype.load(out / "random" / f"seed{seed}" / "genotype.json")
        cfg = apply_overrides(get_preset("smoke"), [*TINY, "model.kind=random", f"seed={seed}"])
        g.check_fits(g.grouping, cfg.search.ops)
        assert g == random_genotype(cfg)
        genotypes.append(g)
    assert genotypes[0] != genotypes[1]


@pytest.mark.slow
def test_an_interrupted_ablation_resumes(ablation, tmp_path):
    out, data = ablation
    copy_dir = tmp_path / "abl"
    shutil.copytree(out, copy_dir)
    shutil.rmtree(copy_dir / "baseline" / "seed1")  # as if killed before this run
    (copy_dir / "part_aware" / "seed1" / "metrics.json").unlink()  # killed before evaluation
    kept = (copy_dir / "random" / "seed0" / "metrics.json").stat().st_mtime_ns
    # what a committed benchmark keeps of a finished run: config, genotype, metrics, log
    for heavy in ("checkpoints", "search", "predictions.npz"):
        path = copy_dir / "shared" / "seed0" / heavy
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    assert _ablate(copy_dir) == 0
    assert not (copy_dir / "shared" / "seed0" / "checkpoints").exists()  # read back, not retrained
    again = json.loads((copy_dir / "ablation.json").read_text())
    validate_ablation(again)
    assert (copy_dir / "random" / "seed0" / "metrics.json").stat().st_mtime_ns == kept  # not redone
    for name in VARIANTS:
        for a, b in zip(data["variants"][name]["runs"], again["variants"][name]["runs"]):
            assert a["mpjpe"] == b["mpjpe"] and a["per_part_mpjpe"] == b["per_part_mpjpe"], name


@pytest.mark.slow
def test_a_different_config_in_the_same_directory_is_refused(ablation, tmp_path, capsys):
    out, _ = ablation
    assert _ablate(out, "--set", "retrain.lr=0.01", "--variants", "baseline") == 2
    assert "different configuration" in capsys.readouterr().err


@pytest.mark.slow
def test_runs_of_another_generator_version_are_refused(ablation, tmp_path, capsys):
    """A finished run is only read back if its people were drawn by today's generator."""
    out, _ = ablation
    copy_dir = tmp_path / "abl"
    shutil.copytree(out, copy_dir)
    metrics_path = copy_dir / "baseline" / "seed0" / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    assert metrics["protocol"]["render_version"] == RENDER_VERSION
    metrics["protocol"]["render_version"] = RENDER_VERSION - 1
    metrics_path.write_text(json.dumps(metrics))
    assert _ablate(copy_dir, "--variants", "baseline") == 2
    assert f"generator version {RENDER_VERSION - 1}" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("mutate,message", [
    (lambda d: d.pop("git_commit"), "missing field 'git_commit'"),
    (lambda d: d["variants"]["random"]["runs"].pop(), "do not match the top-level seeds"),
    (lambda d: d["variants"]["shared"]["mean"].__setitem__("mpjpe", 1.0), "variants.shared.mean.mpjpe"),
    (lambda d: d["variants"]["baseline"]["runs"][0].__setitem__("params", 0), "expected a positive integer"),
    (lambda d: d["variants"]["part_aware"]["runs"][1]["per_part_mpjpe"].pop("left_leg"), "one value per part"),
    (lambda d: d["variants"]["random"]["runs"][0].__setitem__("mpjpe", float("nan")), "finite number"),
    (lambda d: d.__setitem__("date", "yesterday"), "ISO 8601"),
    (lambda d: d["agreement"]["part_aware"]["mean"].__setitem__("edges_all", 2.0), "fraction"),
])
def test_validate_ablation_names_the_broken_field(ablation, mutate, message):
    _, data = ablation
    broken = copy.deepcopy(data)
    mutate(broken)
    with pytest.raises(ValueError, match=message):
        validate_ablation(broken)


@pytest.mark.slow
def test_ablation_records_machine_and_threads_and_writes_its_readme_block(ablation):
    from partnas_lib.ablation.report import claims_markdown
    _, data = ablation
    assert data["workers"] == 1 and data["machine"]["cores"] >= 1 and "torch" in data["machine"]
    assert all(r["torch_threads"] == 1 for v in data["variants"].values() for r in v["runs"])
    block = claims_markdown(data, "Tiny")
    assert block.startswith("**Tiny.**  `partnas ablate --preset smoke") and "1 torch thread(s) each" in block
    for name, v in data["variants"].items():
        assert f"| `{name}` | {v['mean']['params'] / 1e6:.3f} |" in block
    for c in data["comparisons"]:
        assert f"* {c['metric']}: {c['verdict']}" in block


@pytest.mark.slow
def test_ablation_picture_and_notebook_loader(ablation, tmp_path):
    from partnas_lib import notebook as nb
    from partnas_lib.viz.results import plot_ablation

    out, data = ablation
    fig = plot_ablation(data)
    bars, size = fig.axes[0], fig.axes[1]
    groups = 1 + len(data["part_grouping"])  # overall + 5 parts
    assert len(bars.patches) == len(VARIANTS) * groups
    first = bars.patches[0].get_height()  # part_aware, overall
    assert first == pytest.approx(data["variants"]["part_aware"]["mean"]["mpjpe"])
    assert sum(len(c.get_offsets()) for c in size.collections) == len(VARIANTS) * len(data["seeds"])
    assert nb.load_ablation(out / "ablation.json") == data
    broken = copy.deepcopy(data)
    broken.pop("seeds")
    (tmp_path / "bad.json").write_text(json.dumps(broken))
    with pytest.raises(ValueError, match="missing field 'seeds'"):
        nb.load_ablation(tmp_path / "bad.json")


def test_committed_results_files_follow_the_schema():
    paths = sorted((REPO / "results").rglob("ablation.json"))
    if not paths:
        pytest.skip("no results/**/ablation.json has been committed yet")
    for path in paths:
        data = json.loads(path.read_text())
        validate_ablation(data)
        assert data["preset"] == "cpu" and len(data["seeds"]) >= 3, path  # what the README reports


def test_parallel_jobs_go_seed_by_seed(tmp_path, monkeypatch):
    """With workers, the runs are queued seed-major, so an ablation stopped part-way holds the
    first seeds of every variant (what the paired comparisons need), not all seeds of a few."""
    from partnas_lib.ablation import run as ablation_run

    queued = []

    def capture(jobs, workers):
        queued.extend((cfg.seed, out.parent.name) for cfg, out in jobs)
        raise KeyboardInterrupt  # stop before anything trains

    monkeypatch.setattr(ablation_run, "run_parallel", capture)
    with pytest.raises(KeyboardInterrupt):
        ablation_run.run_ablation(get_preset("smoke"), tmp_path / "abl", seeds=[0, 1],
                                  variants=["baseline", "random"], workers=2)
    assert queued == [(0, "baseline"), (0, "random"), (1, "baseline"), (1, "random")]
