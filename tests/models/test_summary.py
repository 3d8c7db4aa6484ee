"""Parameter and multiply-add counts (partnas model summary) and the paper's efficiency claim."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from partnas_lib import cli
from partnas_lib.config import get_preset
from partnas_lib.models.build import build_derived, random_genotype
from partnas_lib.models.heads import count_parameters
from partnas_lib.models.summary import count_macs, format_summary, model_summary, summarize_config
from partnas_lib.nas.genotype import CellGenotype, Genotype


def test_count_macs_hand_computed():
    x = torch.zeros(1, 3, 10, 10)
    # a 3x3 conv: every output value (8 x 10 x 10) costs 3 x 3 x 3 multiply-adds
    assert count_macs(nn.Conv2d(3, 8, 3, padding=1), x) == 8 * 10 * 10 * 3 * 9
    # a 4x4 stride-2 transposed conv: every input value is spread by a 4x4 kernel to 8 channels
    assert count_macs(nn.ConvTranspose2d(3, 8, 4, stride=2, padding=1), x) == 3 * 10 * 10 * 8 * 16
    # BatchNorm, ReLU and pooling are not counted (as in the papers' figures)
    assert count_macs(nn.Sequential(nn.BatchNorm2d(3), nn.ReLU(), nn.MaxPool2d(2)), x) == 0


def test_summary_leaves_the_model_alone():
    cfg = get_preset("smoke")
    net = build_derived(cfg, random_genotype(cfg))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    report = model_summary(net, 64)
    assert all(p.device.type == "cpu" for p in net.parameters())
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert report["params"] == count_parameters(net)


@pytest.mark.parametrize("which", ["baseline", "supernet", "searched", "random"])
def test_summary_fields_add_up(which):
    cfg = get_preset("smoke")
    r = summarize_config(cfg, which, random_genotype(cfg) if which == "searched" else None)
    assert r["params"] == r["trunk_params"] + r["head_params"]
    assert r["macs"] == r["trunk_macs"] + r["head_macs"] and r["head_macs"] > 0
    assert sum(r["per_part_params"].values()) == r["head_params"]
    assert r["output_shape"] == [1, 17, 8, 16, 16]
    assert sum(s[1] for s in r["part_output_shapes"].values()) == 17
    if which == "supernet":
        assert r["arch_params"] == 5 * 9 * 8 + 5 * 9  # alpha + beta, not counted in params
    else:
        assert r["arch_params"] == 0
    if which == "baseline":
        assert "over_baseline" not in r
    else:  # the paper's efficiency claim, as ratios to the baseline at the same preset
        base = summarize_config(cfg, "baseline")
        o = r["over_baseline"]
        assert o["params"] == pytest.approx(r["params"] / base["params"])
        assert o["macs"] == pytest.approx(r["macs"] / base["macs"])
        assert (o["baseline_params"], o["baseline_macs"]) == (base["params"], base["macs"])
        assert "x multiply-adds" in format_summary(r)


@pytest.mark.slow
def test_paper_preset_part_aware_network_is_at_most_0_38_of_the_baseline():
    """The paper's claim (62 % fewer parameters than the ResNet-50 baseline), checked on random
    cells of the search space and on its heaviest cell (every edge a sep_conv_5x5)."""
    cfg = get_preset("paper")
    baseline = summarize_config(cfg, "baseline")
    ratios = [summarize_config(cfg, "searched", random_genotype(cfg, seed))["params"] / baseline["params"]
              for seed in range(8)]
    assert max(ratios) <= 0.38, ratios
    g = random_genotype(cfg, 0)
    heavy = CellGenotype(tuple((("sep_conv_5x5", 0), ("sep_conv_5x5", 1)) for _ in range(3)))
    worst = summarize_config(cfg, "searched", Genotype({n: heavy for n in g.cells}, g.grouping, g.ops))
    assert worst["params"] / baseline["params"] <= 0.38


@pytest.mark.slow
def test_cli_model_summary_json(capsys, tmp_path):
    """One --model vocabulary with reproduce/retrain: searched (with --genotype), random, baseline,
    plus supernet."""
    assert cli.main(["model", "summary", "--preset", "smoke", "--json", "--model", "random", "--seed", "3"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"params", "macs", "per_part_params"} <= set(report)
    assert report["which"] == "random" and report["genotype_source"] == "random (seed 3)"
    cfg = get_preset("smoke")
    cfg.seed = 3
    assert report["genotype"] == random_genotype(cfg).to_json()["parts"]
    # nothing searched yet: the default stands in a random cell per part
    assert cli.main(["model", "summary", "--preset", "smoke", "--json", "--seed", "3"]) == 0
    assert json.loads(capsys.readouterr().out)["genotype"] == report["genotype"]
    path = tmp_path / "g.json"
    random_genotype(cfg, 7).save(path)
    assert cli.main(["model", "summary", "--preset", "smoke", "--genotype", str(path), "--json"]) == 0
    searched = json.loads(capsys.readouterr().out)
    assert searched["which"] == "searched" and searched["genotype"] == random_genotype(cfg, 7).to_json()["parts"]
    assert cli.main(["model", "summary", "--preset", "smoke", "--model", "baseline"]) == 0
    out = capsys.readouterr().out
    assert "parameters" in out and "multiply-adds" in out and "body" in out
    assert cli.main(["model", "summary", "--preset", "smoke", "--model", "supernet", "--genotype", str(path)]) == 2
    assert "only applies to --model searched" in capsys.readouterr().err
