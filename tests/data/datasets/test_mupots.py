"""MuPoTS-3D loaders: the original annot.mat layout and Moon's JSON load into the same people."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import format_fixtures as ff
import numpy as np
import pytest
import scipy.io

from partnas_lib.data.datasets import mupots, mupots_facts, mupots_mat
from partnas_lib.io import DataFormatError
from partnas_lib.skeleton import JOINT_NAMES


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("mupots")
    return {"mat": ff.write_mupots_mat(base / "mat"), "json": ff.write_mupots_json(base / "json")}


def _key(meta: dict) -> tuple:
    return meta["file_name"], meta["person"]


def test_joint_map_is_a_permutation_with_matching_names():
    assert sorted(mupots_facts.H36M_FROM_MUPOTS) == list(range(17))
    same = {"pelvis", "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "spine", "thorax",
            "l_shoulder", "l_elbow", "l_wrist", "r_shoulder", "r_elbow", "r_wrist"}
    for h, m in enumerate(mupots_facts.H36M_FROM_MUPOTS):
        if JOINT_NAMES[h] in same:
            assert mupots_facts.MUPOTS_JOINT_NAMES[m] == JOINT_NAMES[h]
    assert mupots_facts.MUPOTS_JOINT_NAMES[mupots_facts.H36M_FROM_MUPOTS[10]] == "head_top"


def test_both_layouts_load_the_same_people(trees):
    mat = mupots.load_mupots(trees["mat"], image_size=32)
    js = mupots.load_mupots(trees["json"], image_size=32)
    assert [m["layout"] for m in mat.meta[:1] + js.meta[:1]] == ["mat", "json"]
    assert [_key(m) for m in mat.meta] == [_key(m) for m in js.meta]
    np.testing.assert_allclose(mat.joints_3d, js.joints_3d, atol=1e-3, rtol=0)
    np.testing.assert_allclose(mat.joints_2d, js.joints_2d, atol=1e-3, rtol=0)
    np.testing.assert_allclose(mat.intrinsics, js.intrinsics, atol=1e-3, rtol=0)  # estimated vs given
    np.testing.assert_array_equal(mat.joints_vis, js.joints_vis)
    np.testing.assert_allclose(mat.bbox, js.bbox, atol=1e-3)
    assert mat.images.shape == (len(mat), 32, 32, 3) and mat.images.mean() > 20
    for i in range(len(mat)):
        mat.sample(i).validate(f"person {i}")


def test_people_match_the_ground_truth_in_h36m_order(trees):
    mat = mupots.load_mupots(trees["mat"], with_images=False)
    for i, m in enumerate(mat.meta):
        truth = ff.mupots_person(m["sequence"], m["frame"], m["person"])
        np.testing.assert_allclose(mat.joints_3d[i], truth, atol=1e-3)
        np.testing.assert_array_equal(mat.joints_vis[i], ~ff.mupots_occluded(m["frame"], m["person"]))
        univ = np.asarray(m["joints_3d_univ"])
        np.testing.assert_allclose(univ, (truth - truth[0]) * 0.93 + truth[0], atol=1e-2)


def test_intrinsics_are_estimated_per_sequence(trees):
    mat = mupots.load_mupots(trees["mat"], with_images=False)
    for seq, (_, intr) in ff.MUPOTS_SEQUENCES.items():
        rows = [i for i, m in enumerate(mat.meta) if m["sequence"] == seq]
        np.testing.assert_allclose(mat.intrinsics[rows], np.tile(intr, (len(rows), 1)), atol=1e-3)
        assert all(mat.meta[i]["intrinsics_rms_px"] < 1e-6 for i in rows)
    X = np.array([[-1.0, -0.5, 2.0], [0.0, 0.5, 4.0], [1.0, -1.0, 3.0], [2.0, 1.0, 5.0]]) * 1000
    true = np.array([1200.0, 1100.0, 960.0, 540.0])
    uv = X[:, :2] / X[:, 2:] * true[:2] + true[2:]
    est, rms = mupots_mat.estimate_intrinsics(uv, X)
    np.testing.assert_allclose(est, true, atol=1e-6)
    assert rms < 1e-6


def test_grouping_meta_and_validity(trees):
    mat = mupots.load_mupots(trees["mat"], with_images=False)
    everyone = mupots.load_mupots(trees["mat"], with_images=False, valid_only=False)
    n_all = len(ff.MUPOTS_SEQUENCES) * ff.MUPOTS_FRAMES * ff.MUPOTS_PEOPLE
    assert len(everyone) == n_all and len(mat) == n_all - 1
    assert [m for m in everyone.meta if not m["is_valid"]][0]["file_name"] == "TS6/img_000001.jpg"
    by_image: dict[int, list[int]] = {}
    for m in everyone.meta:
        by_image.setdefault(m["image_id"], []).append(m["person"])
    assert all(p == list(range(ff.MUPOTS_PEOPLE)) for p in by_image.values())
    assert {m["sequence"] for m in mat.meta} == {"TS1", "TS6"}
    only = mupots.load_mupots(trees["json"], with_images=False, sequences=["TS6"])
    assert {m["sequence"] for m in only.meta} == {"TS6"} and {m["action"] for m in only.meta} == {"outdoor"}


def test_detections(trees):
    det = mupots.load_mupots_detections(trees["json"])
    assert sorted(det) == list(range(len(ff.MUPOTS_SEQUENCES) * ff.MUPOTS_FRAMES))
    assert det[0][0]["root_cam"].shape == (3,) and len(det[0]) == ff.MUPOTS_PEOPLE


def test_mat_wrong_joint_count_names_file_and_field(tmp_path, trees):
    root = Path(shutil.copytree(trees["mat"], tmp_path / "mat"))
    path = root / "MultiPersonTestSet" / "TS6" / "annot.mat"
    cell = scipy.io.loadmat(path)["annotations"]
    fixed = np.empty(cell.shape, dtype=object)
    for f in range(cell.shape[0]):
        for p in range(cell.shape[1]):
            s = cell[f, p]
            fixed[f, p] = {name: s[name][0, 0] for name in s.dtype.names}
    fixed[1, 0]["annot3"] = fixed[1, 0]["annot3"][:, :16]
    scipy.io.savemat(path, {"annotations": fixed})
    with pytest.raises(DataFormatError, match=r"TS6/annot\.mat: field annotations\[1, 0\]\.annot3 has 16 joints"):
        mupots.load_mupots(root, with_images=False)


def test_mat_missing_field(tmp_path):
    folder = tmp_path / "MultiPersonTestSet" / "TS2"
    folder.mkdir(parents=True)
    cell = np.empty((1, 1), dtype=object)
    cell[0, 0] = {"annot2": np.zeros((2, 17)), "annot3": np.ones((3, 17))}
    scipy.io.savemat(folder / "annot.mat", {"annotations": cell})
    with pytest.raises(DataFormatError, match=r"annot\.mat: annotations\[0, 0\] has no field 'univ_annot3'"):
        mupots.load_mupots(tmp_path, with_images=False)


def test_json_errors_name_file_and_field(tmp_path, trees):
    root = Path(shutil.copytree(trees["json"], tmp_path / "json"))
    path = root / "MuPoTS-3D.json"
    data = json.loads(path.read_text())
    data["annotations"][2]["keypoints_cam"] = data["annotations"][2]["keypoints_cam"][:14]
    path.write_text(json.dumps(data))
    with pytest.raises(DataFormatError, match=r"MuPoTS-3D\.json: field annotations\[2\]\.keypoints_cam has 14 joints"):
        mupots.load_mupots(root, with_images=False)
    path.write_text("{\"images\": [")
    with pytest.raises(DataFormatError, match=r"MuPoTS-3D\.json: .*malformed JSON"):
        mupots.load_mupots(root, with_images=False)


def test_missing_image_names_file(tmp_path, trees):
    root = Path(shutil.copytree(trees["mat"], tmp_path / "mat"))
    victim = root / "MultiPersonTestSet" / "TS1" / "img_000001.jpg"
    victim.unlink()
    with pytest.raises(FileNotFoundError, match=r"img_000001\.jpg: image file missing \(referenced by frame 1 of "):
        mupots.load_mupots(root, image_size=16)


def test_no_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match="annot.mat"):
        mupots.load_mupots(tmp_path)
