"""Bad input gives a clear message naming the file or field and what was expected, exit code 2
from the command line, and leaves nothing half-written (docs/architecture.md, "Errors").

Every case goes through the real ``partnas`` command line (in process) where it can, and
checks that the run directory it names was not created (or not changed).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import format_fixtures as ff
import pytest
from cli_helpers import TINY, assert_clean_error, run_cli

from partnas_lib import cli
from partnas_lib.config import get_preset
from partnas_lib.data.datasets.h36m_facts import H36M_SPLITS, H36MSelection
from partnas_lib.models.build import random_genotype


@pytest.mark.parametrize("args,message", [
    (["--preset", "huge"], "argument --preset: invalid choice: 'huge'"),
    (["--set", "retrain.epochs=-1"], "config field retrain.epochs = -1 is out of range; expected >= 0"),
    (["--set", "train.checkpoint_every=-5"], "config field train.checkpoint_every = -5 is out of range"),
    (["--set", "search.partial_channels=3"], "config field search.partial_channels = 3 is out of range; "
                                            "expected a divisor of model.head_channels"),
    (["--set", "retrain.epoch=3"], "--set retrain.epoch: unknown config field 'epoch'"),
    (["--set", "retrian.epochs=3"], "--set retrian.epochs: unknown config section 'retrian'"),
    (["--set", "retrain.epochs=three"], "--set retrain.epochs='three': cannot read 'three'"),
    (["--set", "retrain.epochs"], "--set 'retrain.epochs': expected the form section.field=value"),
    (["--set", "search.ops=none,conv_9x9"], "config field search.ops: unknown op(s) ['conv_9x9']; known ops are"),
    (["--set", "search.ops=none"], "config field search.ops: needs at least one op other than 'none'"),
    (["--set", "model.parts=4"], "config field model.parts: unknown part grouping '4'; expected one of"),
    (["--set", 'model.parts={"a": [0, 1, 2, 3, 4, 5, 6, 7, 8], "b": [9, 10, 11, 12, 13, 14, 15]}'],
     "config field model.parts: part grouping 'custom': joints 16 (r_wrist) are in no part"),
    (["--set", 'model.parts={"a": [0, 1, 2, 3, 4, 5, 6, 7, 8], "b": [8, 9, 10, 11, 12, 13, 14, 15, 16]}'],
     "joint 8 (thorax) is in both 'a' and 'b'; every joint must be in exactly one part"),
    (["--set", 'model.parts={"a": [0, 1, 2, 3, 4, 5, 6, 7, 8], "b": [9, 10, 11, 12, 13, 14, 15, 17]}'],
     "part 'b' has joint 17; expected an index in 0..16"),
    (["--set", "data.dataset=coco"], "config field data.dataset = 'coco' is out of range"),
    (["--device", "tpu"], "config field device = 'tpu' is not a torch device"),
])
def test_bad_config_values(args, message, tmp_path, capsys, cache_dir):
    out = tmp_path / "run"
    assert_clean_error(["reproduce", "--out", str(out), *TINY, *args], out, message, capsys)


def test_malformed_config_json_names_the_file(tmp_path, capsys):
    bad = tmp_path / "config.json"
    bad.write_text('{"seed": 1, "model": {"trunk_depth": 18,')
    out = tmp_path / "run"
    assert_clean_error(["reproduce", "--config", str(bad), "--out", str(out)], out,
                       [f"{bad}: config file is malformed JSON", "line 1"], capsys)
    bad.write_text('{"seed": 1, "model": {"trunk_depth": 18, "colour": 3}}')
    assert_clean_error(["reproduce", "--config", str(bad), "--out", str(out)], out,
                       [str(bad), "unknown field(s) ['colour'] in ModelConfig"], capsys)
    bad.write_text('{"seed": 1, "retrain": {"epochs": -2}}')
    assert_clean_error(["reproduce", "--config", str(bad), "--out", str(out)], out,
                       "config field retrain.epochs = -2 is out of range", capsys)
    assert_clean_error(["reproduce", "--config", str(tmp_path / "nope.json"), "--out", str(out)], out,
                       f"{tmp_path / 'nope.json'}: config file not found", capsys)


@pytest.fixture
def genotype_file(tmp_path) -> Path:
    path = tmp_path / "genotype.json"
    random_genotype(get_preset("smoke")).save(path)
    return path


def test_malformed_genotype_json_names_the_file(genotype_file, tmp_path, capsys):
    genotype_file.write_text(genotype_file.read_text()[:-30])
    out = tmp_path / "run"
    assert_clean_error(["retrain", "--out", str(out), *TINY, "--genotype", str(genotype_file)], out,
                       f"{genotype_file}: genotype file is malformed JSON", capsys)
    assert_clean_error(["retrain", "--out", str(out), *TINY, "--genotype", str(tmp_path / "none.json")], out,
                       f"{tmp_path / 'none.json'}: genotype file not found", capsys)


@pytest.mark.parametrize("edit,message", [
    (lambda g: g["parts"]["left_arm"][0][0].__setitem__(0, "conv_9x9"),
     "parts.left_arm[0]: unknown op 'conv_9x9'; the op set is"),
    (lambda g: g["parts"]["left_arm"][1].__setitem__(0, ["skip_connect", 7]),
     "parts.left_arm[1]: source node 7 must be in 0..2 for node 3"),
    (lambda g: g["parts"].pop("left_arm"),
     "field 'parts' has parts ['left_leg', 'right_arm', 'right_leg', 'torso_head'] but the grouping has"),
    (lambda g: g["parts"].__setitem__("tail", g["parts"].pop("left_arm")),
     "field 'parts' has parts ['left_leg', 'right_arm', 'right_leg', 'tail', 'torso_head']"),
    (lambda g: g["parts"]["left_arm"].pop(),
     "parts.left_arm: expected a list of 3 nodes"),
    (lambda g: g.pop("ops"), "missing field 'ops'"),
])
def test_genotype_with_wrong_content_names_file_and_field(edit, message, genotype_file, tmp_path, capsys):
    data = json.loads(genotype_file.read_text())
    edit(data)
    genotype_file.write_text(json.dumps(data))
    out = tmp_path / "run"
    assert_clean_error(["retrain", "--out", str(out), *TINY, "--genotype", str(genotype_file)], out,
                       [str(genotype_file), message], capsys)


def test_genotype_that_does_not_fit_the_grouping_or_op_set(genotype_file, tmp_path, capsys):
    out = tmp_path / "run"
    assert_clean_error(["retrain", "--out", str(out), *TINY, "--set", "model.parts=3", "--genotype",
                        str(genotype_file)], out,
                       [f"genotype file {genotype_file}: its part grouping", "does not match the config's"], capsys)
    data = json.loads(genotype_file.read_text())
    used = sorted({e[0] for cell in data["parts"].values() for node in cell for e in node})
    ops = ["none", "skip_connect"] if used != ["skip_connect"] else ["none", "sep_conv_3x3"]
    assert_clean_error(["retrain", "--out", str(out), *TINY, "--set", f"search.ops={','.join(ops)}", "--genotype",
                        str(genotype_file)], out,
                       [f"genotype file {genotype_file}: part", f"which is not in the op set {ops}"], capsys)


def test_baseline_takes_no_genotype(genotype_file, tmp_path, capsys):
    out = tmp_path / "run"
    assert_clean_error(["retrain", "--out", str(out), *TINY, "--model", "baseline", "--genotype",
                        str(genotype_file)], out, "model.kind=baseline takes no genotype", capsys)


def test_missing_image_file_names_it_and_leaves_no_run(tmp_path, capsys, monkeypatch, cache_dir):
    root = ff.write_h36m_3dmppe(tmp_path / "Human36M", subjects=(1, 9))
    monkeypatch.setitem(H36M_SPLITS, "fixture_train", H36MSelection((1,), 1))
    monkeypatch.setitem(H36M_SPLITS, "fixture_test", H36MSelection((9,), 1))
    victim = root / "images" / ff.h36m_image_name(1, 2, 1, 2, 5)
    victim.unlink()
    out = tmp_path / "run"
    assert_clean_error(["reproduce", "--out", str(out), *TINY, "--set", "data.dataset=h36m", "--set",
                        f"data.root={root}", "--set", "data.train_subset=fixture_train", "--set",
                        "data.test_subset=fixture_test"], out,
                       [f"{victim}: image file missing (referenced by", "Human36M_subject1_data.json"], capsys)


def test_missing_dataset_root(tmp_path, capsys, cache_dir):
    out = tmp_path / "run"
    assert_clean_error(["reproduce", "--out", str(out), *TINY, "--set", "data.dataset=h36m", "--set",
                        f"data.root={tmp_path / 'nowhere'}"], out,
                       f"{tmp_path / 'nowhere'}: Human3.6M root folder not found", capsys)


def test_bad_input_on_resume_leaves_the_existing_run_alone(tmp_path, capsys, cache_dir):
    """A failing command on an existing run directory does not delete or rewrite it."""
    out = tmp_path / "run"
    assert cli.main(["search", "--out", str(out), *TINY]) == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    code, err = run_cli(["retrain", "--out", str(out), "--genotype", str(tmp_path / "missing.json")], capsys)
    assert code == 2 and "missing.json: " in err and "not found" in err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    shutil.rmtree(out)


@pytest.mark.parametrize("args,message", [
    (["--preset", "huge"], "invalid choice: 'huge'"),
    (["--set", "retrain.epochs=-1"], "retrain.epochs = -1 is out of range"),
    (["--set", "retrain.epoch=3"], "unknown config field 'epoch'"),
    (["--set", "model.parts=4"], "unknown part grouping '4'"),
    (["--set", "search.ops=none,conv_9x9"], "unknown op"),
    (["--set", 'model.parts={"a": [0, 1]}'], "are in no part"),
])
def test_bad_command_line_input_gives_clear_errors(args, message, tmp_path, capsys):
    try:
        code = cli.main(["reproduce", "--out", str(tmp_path / "x"), *args])
    except SystemExit as e:  # argparse rejects unknown choices itself
        code = e.code
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()  # nothing half-written


def test_malformed_config_file_is_named(tmp_path, capsys):
    bad = tmp_path / "config.json"
    bad.write_text('{"seed": 1, "model": {"trunk_depth": 18, "colour": 3}}')
    assert cli.main(["reproduce", "--config", str(bad), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "colour" in err


@pytest.mark.parametrize("command", [["search"], ["retrain", "--model", "baseline"], ["reproduce"]])
def test_human36m_without_images_is_refused_with_the_fix(command, tmp_path, capsys, cache_dir):
    """The original release (CDF poses, no decoded frames) would train and test on black crops:
    every training/evaluation command refuses it, naming the folder, the layout and the script
    that converts it (evaluate and RootNet load their data through the same load_split)."""
    root = ff.write_h36m_cdf(tmp_path / "h36m_original", subjects=(1,), actions=(2,), subactions=(1,),
                             cameras=(1,), num_frames=2)
    out = tmp_path / "run"
    assert_clean_error([command[0], "--out", str(out), *TINY, *command[1:], "--set", "data.dataset=h36m",
                        "--set", f"data.root={root}"], out,
                       [f"{root}: Human3.6M layout 'cdf' has no images",
                        f"data_scripts/prepare_h36m.py --src {root} --out DIR", "--set data.root=DIR"], capsys)
