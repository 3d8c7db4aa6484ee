"""``partnas data check``: counts, missing files, cameras and joint order on fixture datasets."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import format_fixtures as ff
import numpy as np
import pytest

from partnas_lib.data.check import add_check_parser, check_dataset, format_report, run_check
from partnas_lib.data.datasets import h36m, h36m_facts
from partnas_lib.data.synth.synthetic import save_arrays
from partnas_lib.skeleton import flip_permutation

#: A shuffle that keeps the pelvis but scrambles limbs.
SHUFFLE = [0, 2, 1, 3, 5, 4, 6, 7, 8, 9, 10, 13, 12, 11, 16, 15, 14]


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("check")


@pytest.fixture(scope="module")
def layout_1(base) -> Path:
    return ff.write_h36m_3dmppe(base / "a", subjects=(1,), frames=(0, 64))


def _cli(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="partnas")
    add_check_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_layout_1_is_clean(layout_1):
    r = check_dataset("h36m", layout_1, frame_step=1)
    assert r["ok"], r["problems"]
    assert r["layout"] == "3dmppe" and r["camera_convention"] == "3dmppe"
    assert r["samples"] == 4 and r["counts"]["camera"] == {"54138969": 2, "55011271": 2}
    assert r["counts"]["subject"] == {"S1": 4} and r["counts"]["action"] == {"Directions": 4}
    assert r["missing_files"]["count"] == 0
    assert r["reprojection_px"]["mean"] < 3 and r["reprojection_px"]["max"] < 3
    assert r["bbox_coverage"] == 1.0 and r["facing"] == {"hips": 1.0, "shoulders": 1.0}
    assert 0.9 < r["bone_lengths"]["scale"] < 1.1
    json.dumps(r)  # JSON-ready
    assert "result: OK" in format_report(r)


def test_wrong_convention_is_flagged(base):
    root = ff.write_h36m_3dmppe(base / "wrong", subjects=(1,), with_images=False, convention="transposed_R")
    r = check_dataset("h36m", root, frame_step=1)
    assert not r["ok"] and r["camera_convention"] is None and r["samples"] == 0
    assert any("Human36M_subject1_camera.json" in p and "neither camera convention" in p for p in r["problems"])


def test_requested_convention_that_does_not_fit_is_flagged(layout_1):
    r = check_dataset("h36m", layout_1, frame_step=1, camera_convention="i2l")
    assert not r["ok"] and any("camera_convention='i2l'" in p for p in r["problems"])


def test_left_right_swap_is_flagged(base):
    root = ff.write_h36m_3dmppe(base / "swapped", subjects=(1,), with_images=False, joint_order=flip_permutation())
    r = check_dataset("h36m", root, frame_step=1)
    assert not r["ok"] and r["facing"]["hips"] == 0.0 and r["facing"]["shoulders"] == 0.0
    assert any("look swapped" in p for p in r["problems"])


def test_shuffled_joints_are_flagged(base):
    root = ff.write_h36m_3dmppe(base / "shuffled", subjects=(1,), with_images=False, joint_order=SHUFFLE)
    r = check_dataset("h36m", root, frame_step=1)
    assert not r["ok"]
    assert any("not in Human3.6M-17 order" in p for p in r["problems"])


def test_2d_order_disagreeing_with_3d_is_flagged(base):
    good = check_dataset("h36m", ff.write_h36m_videopose3d(base / "b", subjects=(9,)), allow_pickle=True,
                         frame_step=8)
    assert good["ok"], good["problems"]
    assert good["reprojection_px"]["mean"] < 3  # lens distortion only
    bad = check_dataset("h36m", ff.write_h36m_videopose3d(base / "b_swapped", subjects=(9,),
                                                          order_2d=flip_permutation()),
                        allow_pickle=True, frame_step=8)
    assert not bad["ok"] and bad["reprojection_px"]["mean"] > 10
    assert any("reprojection" in p for p in bad["problems"])


def test_cdf_and_missing_files(base, layout_1, tmp_path):
    r = check_dataset("h36m", ff.write_h36m_cdf(base / "c", subjects=(1,), cameras=(1,)), frame_step=16)
    assert r["ok"] and r["layout"] == "cdf" and r["counts"]["camera"] == {"54138969": 4 * 5}
    no_images = ff.write_h36m_3dmppe(tmp_path / "a_no_images", subjects=(1,), frames=(0,), with_images=False)
    r = check_dataset("h36m", no_images, frame_step=1)
    assert not r["ok"] and r["missing_files"]["count"] == 2
    assert r["missing_files"]["examples"][0].endswith(ff.h36m_image_name(1, 2, 1, 1, 0))


def test_mupots_mpii_synthetic(base):
    r = check_dataset("mupots", ff.write_mupots_mat(base / "m", with_images=False))
    assert r["reprojection_px"]["max"] < 1e-3 and r["counts"]["subject"] == {"TS1": 4, "TS6": 3}
    assert r["missing_files"]["count"] == 4 and not r["ok"]
    r = check_dataset("mpii", ff.write_mpii_json(base / "p"))
    assert r["ok"] and r["samples"] == 3 and r["reprojection_px"] is None
    arrays = h36m.load_h36m(base / "c", selection=h36m_facts.H36MSelection((1,), 16, (1,)), image_size=8)
    save_arrays(arrays, base / "syn" / "synthetic-test.npz")
    r = check_dataset("synthetic", base / "syn")
    assert r["ok"] and r["samples"] == len(arrays)


def test_bvh_folder_without_clips(base):
    # The bvh checker itself is covered in test_bvh.py; an empty folder is an error naming it.
    empty = base / "no-mocap"
    empty.mkdir(exist_ok=True)
    with pytest.raises(FileNotFoundError, match="no .bvh files"):
        check_dataset("bvh", empty)


def test_cli_json_and_report(layout_1, base, capsys):
    assert run_check(_cli(["data", "check", "--dataset", "h36m", "--root", str(layout_1), "--frame-step", "1",
                           "--json"])) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] and out["samples"] == 4
    swapped = base / "swapped"
    if not swapped.exists():
        ff.write_h36m_3dmppe(swapped, subjects=(1,), with_images=False, joint_order=flip_permutation())
    assert run_check(_cli(["data", "check", "--dataset", "h36m", "--root", str(swapped), "--frame-step", "1"])) == 1
    text = capsys.readouterr().out
    assert "problem(s)" in text and "look swapped" in text
    assert run_check(_cli(["data", "check", "--dataset", "h36m", "--root", str(base / "nowhere")])) == 2
    assert "dataset root not found" in capsys.readouterr().err
    args = _cli(["data", "check", "--dataset", "mupots", "--root", str(base)])
    assert args.func is run_check and args.data_command == "check"


def test_reprojection_ignores_invisible_joints():
    from partnas_lib.data.sanity import reprojection_error

    X = np.array([[[0.0, 0.0, 4000.0], [100.0, 0.0, 4000.0]]])
    uv = np.array([[[500.0, 500.0], [900.0, 900.0]]])
    intr = np.array([[1000.0, 1000.0, 500.0, 500.0]])
    assert reprojection_error(X, uv, intr, np.array([[True, False]]))["max"] == 0.0
