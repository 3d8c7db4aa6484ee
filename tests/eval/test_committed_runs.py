"""The committed reference runs: they load as runs, and their READMEs say what their files hold."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import REPO

from partnas_lib.config import Config
from partnas_lib.eval.predict import load_run
from partnas_lib.nas.genotype import Genotype

RUNS = ["results/reference-cpu", "results/reference-cpu-24k"]


@pytest.mark.parametrize("run", RUNS)
def test_a_committed_reference_run_loads_and_beats_the_mean_pose(run):
    cfg, model, _ = load_run(REPO / run, device="cpu")
    metrics = json.loads((REPO / run / "metrics.json").read_text())
    assert metrics["mpjpe"] < 0.7 * metrics["mean_pose_mpjpe"]
    with torch.no_grad():
        out = model(torch.zeros(2, 3, cfg.data.image_size, cfg.data.image_size))
    assert out.shape == (2, 17, 3) and torch.isfinite(out).all()
    readme = (REPO / run / "README.md").read_text()
    assert f"{metrics['mpjpe']:.1f}" in readme and f"{metrics['pa_mpjpe']:.1f}" in readme


def test_the_24k_run_differs_from_the_reference_only_in_its_training_images():
    """results/reference-cpu-24k/README.md: the same genotype and recipe, 4x the images."""
    def flat(d: dict, prefix: str = "") -> dict:
        out = {}
        for k, v in d.items():
            out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
        return out

    ref, big = (flat(Config.load(REPO / r / "config.json").to_dict()) for r in RUNS)
    assert {k for k in set(ref) | set(big) if ref.get(k) != big.get(k)} == {"data.num_train"}
    assert (ref["data.num_train"], big["data.num_train"]) == (6000, 24000)
    assert Genotype.load(REPO / RUNS[0] / "genotype.json") == Genotype.load(REPO / RUNS[1] / "genotype.json")
    ref_m, big_m = (json.loads((REPO / r / "metrics.json").read_text()) for r in RUNS)
    # the same test people; the mean pose is the training set's, so 4x the images move it a little
    assert ref_m["num_test_samples"] == big_m["num_test_samples"]
    assert abs(ref_m["mean_pose_mpjpe"] - big_m["mean_pose_mpjpe"]) < 0.1
    assert big_m["mpjpe"] < ref_m["mpjpe"]
