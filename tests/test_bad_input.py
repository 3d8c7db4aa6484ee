"""Bad input gives a clear message naming the file or field and what was expected, exit code 2
from the command line, and leaves nothing half-written (docs/architecture.md, "Errors").

Every case goes through the real ``partnas`` command line (in process) where it can, and
checks that the run directory it names was not created (or not changed)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import format_fixtures as ff
import numpy as np
import pytest

from partnas_lib import cli
from partnas_lib.config import get_preset
from partnas_lib.data.datasets.h36m_facts import H36M_SPLITS, H36MSelection
from partnas_lib.data.synth.synthetic import load_arrays, load_synthetic_split, save_arrays
from partnas_lib.models.build import random_genotype

# smaller than smoke: a search or retrain that gets past its input checks ends in seconds
TINY = ["--preset", "smoke", "--no-progress", "--set", "data.num_train=64", "--set", "data.num_test=16",
        "--set", "search.epochs=1", "--set", "search.batch_size=16", "--set", "retrain.epochs=1",
        "--set", "retrain.batch_size=16"]


def run_cli(args: list[str], capsys) -> tuple[int, str]:
    try:
        code = cli.main(args)
    except SystemExit as e:  # argparse rejects bad choices itself
        code = e.code
    return code, capsys.readouterr().err


def assert_clean_error(args: list[str], out: Path, message: str | list[str], capsys) -> str:
    """``partnas ARGS`` fails with exit code 2 and ``message`` on stderr, and ``out`` does not exist."""
    code, err = run_cli(args, capsys)
    assert code == 2, err
    for m in [message] if isinstance(message, str) else message:
        assert m in err, (m, err)
    assert not out.exists(), sorted(p.name for p in out.rglob("*"))
    return err


# --------------------------------------------------------------------------------------------
# config: presets, fields, ranges, ops, part groupings


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


def test_unknown_preset_in_the_library():
    with pytest.raises(ValueError, match=r"unknown preset 'huge'; expected one of \['cpu', 'paper', 'smoke'\]"):
        get_preset("huge")


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


# --------------------------------------------------------------------------------------------
# genotypes


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


# --------------------------------------------------------------------------------------------
# data files


def _tiny_arrays(cache_dir: Path):
    cfg = get_preset("smoke")
    return load_synthetic_split("test", 4, cfg.data.seed, 64, 1, cache_dir=cache_dir, progress=False)


@pytest.mark.parametrize("field,bad,message", [
    ("joints_3d", lambda a: a[:, :16], "array 'joints_3d' has shape (4, 16, 3), expected (4, 17, 3)"),
    ("joints_2d", lambda a: a[..., :1], "array 'joints_2d' has shape (4, 17, 1), expected (4, 17, 2)"),
    ("bbox", lambda a: a[:3], "array 'bbox' has shape (3, 4), expected (4, 4)"),
    ("images", lambda a: a[..., :1], "array 'images' has shape (4, 64, 64, 1) uint8, expected (N, S, S, 3) uint8"),
])
def test_synthetic_npz_with_wrong_shapes(field, bad, message, tmp_path, capsys, cache_dir):
    arrays = _tiny_arrays(cache_dir)
    setattr(arrays, field, bad(getattr(arrays, field)))
    path = tmp_path / "synthetic-bad.npz"
    save_arrays(arrays, path)
    with pytest.raises(ValueError) as err:
        load_arrays(path)
    assert str(path) in str(err.value) and message in str(err.value)
    code, err_text = run_cli(["data", "check", "--dataset", "synthetic", "--root", str(path)], capsys)
    assert code == 2 and str(path) in err_text and message in err_text


def test_damaged_synthetic_cache_is_named_and_rendered_again(tmp_path, cache_dir):
    arrays = _tiny_arrays(tmp_path)  # renders into tmp_path
    (path,) = tmp_path.glob("synthetic-*.npz")
    arrays.joints_3d = arrays.joints_3d[:, :16]
    save_arrays(arrays, path)
    cfg = get_preset("smoke")
    with pytest.warns(UserWarning, match=rf"synthetic cache {path} is unreadable .*array 'joints_3d' has shape"):
        again = load_synthetic_split("test", 4, cfg.data.seed, 64, 1, cache_dir=tmp_path, progress=False)
    assert again.joints_3d.shape == (4, 17, 3)
    assert load_arrays(path).joints_3d.shape == (4, 17, 3)  # the cache was rewritten


def test_user_npz_with_wrong_joint_count(tmp_path, capsys):
    root = ff.write_h36m_videopose3d(tmp_path / "vp3d")
    z = np.load(root / "data_2d_h36m_gt.npz", allow_pickle=True)
    poses = z["positions_2d"].item()
    poses["S1"]["Directions"][0] = poses["S1"]["Directions"][0][:, :16]
    np.savez(root / "data_2d_h36m_gt.npz", positions_2d=poses, metadata=z["metadata"].item())
    code, err = run_cli(["data", "check", "--dataset", "h36m", "--root", str(root), "--allow-pickle"], capsys)
    assert code == 2
    assert "data_2d_h36m_gt.npz: field positions_2d['S1']['Directions'][0] has 16 joints" in err


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


# --------------------------------------------------------------------------------------------
# the run directory: not writable, no space


def test_run_directory_that_cannot_be_created(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    out = blocker / "run"
    assert_clean_error(["search", "--out", str(out), *TINY], out,
                       f"run directory {out} is not writable", capsys)


def test_too_little_disk_space_is_reported_before_any_work(tmp_path, capsys, monkeypatch):
    import shutil as shutil_mod

    usage = shutil_mod.disk_usage(tmp_path)
    monkeypatch.setattr("partnas_lib.train.rundir.shutil.disk_usage",
                        lambda p: usage._replace(free=5 * 2**20))
    out = tmp_path / "run"
    assert_clean_error(["reproduce", "--out", str(out), *TINY], out,
                       [f"not enough free disk space for the run directory (train.min_free_mb): {out} has 5 MB free",
                        "50 MB needed"], capsys)


def test_bad_input_on_resume_leaves_the_existing_run_alone(tmp_path, capsys, cache_dir):
    """A failing command on an existing run directory does not delete or rewrite it."""
    out = tmp_path / "run"
    assert cli.main(["search", "--out", str(out), *TINY]) == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    code, err = run_cli(["retrain", "--out", str(out), "--genotype", str(tmp_path / "missing.json")], capsys)
    assert code == 2 and "missing.json: " in err and "not found" in err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    shutil.rmtree(out)
