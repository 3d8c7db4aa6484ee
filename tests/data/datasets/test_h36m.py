"""Human3.6M loaders on fixture trees in the three real layouts (see tests/format_fixtures.py)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import format_fixtures as ff
import numpy as np
import pytest
from cli_helpers import run_cli
from conftest import REPO

from partnas_lib.camera import H36M_INTRINSICS
from partnas_lib.data.datasets import h36m, h36m_3dmppe, h36m_facts
from partnas_lib.data.datasets.h36m_facts import H36MSelection
from partnas_lib.io import DataFormatError, PickleConsentError

ALL_FRAMES = H36MSelection(subjects=ff.H36M_SUBJECTS, frame_step=1, cameras=ff.H36M_CAMERAS)


def _key(meta: dict) -> tuple:
    return meta["subject"], meta["action_idx"], meta["subaction_idx"], meta["cam_idx"], meta["frame"]


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("h36m")
    return {
        "3dmppe": ff.write_h36m_3dmppe(base / "a", detector_boxes=True),
        "i2l": ff.write_h36m_3dmppe(base / "a_i2l", convention="i2l", with_images=False),
        "videopose3d": ff.write_h36m_videopose3d(base / "b"),
        "cdf": ff.write_h36m_cdf(base / "c"),
    }


@pytest.fixture()
def copy_of(trees, tmp_path):
    """A private copy of one fixture tree, for tests that break files."""
    def make(name: str) -> Path:
        return Path(shutil.copytree(trees[name], tmp_path / name))
    return make


def test_all_layouts_load_the_same_samples(trees):
    a = h36m.load_h36m(trees["3dmppe"], selection=ALL_FRAMES, image_size=32)
    i2l = h36m.load_h36m(trees["i2l"], selection=ALL_FRAMES, image_size=32, with_images=False)
    b = h36m.load_h36m(trees["videopose3d"], selection=ALL_FRAMES, image_size=32, allow_pickle=True)
    c = h36m.load_h36m(trees["cdf"], selection=ALL_FRAMES, image_size=32)
    assert len(a) == len(i2l) == len(ff.H36M_SUBJECTS) * len(ff.H36M_CAMERAS) * len(ff.H36M_IMAGE_FRAMES)
    assert len(b) == len(c) == (len(ff.H36M_SUBJECTS) * len(ff.H36M_ACTIONS) * len(ff.H36M_SUBACTIONS)
                                * len(ff.H36M_CAMERAS) * ff.H36M_NUM_FRAMES)
    ib = {_key(m): i for i, m in enumerate(b.meta)}
    ic = {_key(m): i for i, m in enumerate(c.meta)}
    assert set(ib) == set(ic)
    rows_a = list(range(len(a)))
    rows_b = [ib[_key(m)] for m in a.meta]
    rows_c = [ic[_key(m)] for m in a.meta]
    for other, rows in ((i2l, rows_a), (b, rows_b), (c, rows_c)):
        np.testing.assert_allclose(other.joints_3d[rows], a.joints_3d, atol=1e-3, rtol=0)
        np.testing.assert_allclose(other.intrinsics[rows], a.intrinsics, atol=1e-4, rtol=0)
        np.testing.assert_allclose(other.root_depth[rows], a.root_depth, atol=1e-3, rtol=0)
    # 2D: VideoPose3D and CDF both carry the release's (distorted) 2D joints
    order_c = [ic[k] for k in ib]
    np.testing.assert_allclose(c.joints_2d[order_c], b.joints_2d[list(ib.values())], atol=1e-3, rtol=0)
    # layout 1 has no 2D annotation: its 2D joints are the pinhole projection of its 3D joints
    proj = h36m_3dmppe.pinhole(b.joints_3d[rows_b].astype(np.float64), b.intrinsics[rows_b, None, :2],
                     b.intrinsics[rows_b, None, 2:])
    np.testing.assert_allclose(a.joints_2d, proj, atol=1e-3, rtol=0)
    # ... which differs from the distorted 2D by lens distortion only (docs/formats.md: <= ~2.5 px here)
    assert np.abs(a.joints_2d - b.joints_2d[rows_b]).max() < 6.0


def test_samples_are_valid_records_with_meta(trees):
    a = h36m.load_h36m(trees["3dmppe"], selection=ALL_FRAMES, image_size=32)
    for i in range(len(a)):
        a.sample(i).validate(f"sample {i}")
    m = a.meta[0]
    assert m["source"] == "h36m" and m["layout"] == "3dmppe" and m["subject"] == "S1"
    assert m["action"] == "Directions" and m["camera"] == "54138969" and m["has_image"] is True
    assert m["camera_convention"] == "3dmppe"
    assert np.all(a.root_depth > 4000) and np.all(a.root_depth < 6000)
    assert a.images.shape == (len(a), 32, 32, 3) and a.images.mean() > 20  # real pixels, not black


def test_layouts_without_images_have_black_images(trees):
    b = h36m.load_h36m(trees["videopose3d"], selection=H36MSelection((1,), 64, (1,)), image_size=16,
                       allow_pickle=True)
    assert b.images.shape == (len(b), 16, 16, 3) and not b.images.any()
    assert all(m["has_image"] is False for m in b.meta)
    assert {m["recording"] for m in b.meta} == {"Directions", "Directions 1", "TakingPhoto", "TakingPhoto 1"}


def test_convention_detected_per_release(trees):
    i2l = h36m.load_h36m(trees["i2l"], selection=H36MSelection((1,), 64), with_images=False)
    assert {m["camera_convention"] for m in i2l.meta} == {"i2l"}
    report = h36m_3dmppe.h36m_3dmppe_conventions(trees["i2l"], (1, 9))
    assert report["S1"]["convention"] == "i2l" and report["S1"]["error"] is None
    assert report["S9"]["fits"]["1"]["i2l"]["depth_fraction"] == 1.0


def test_cdf_world_poses_with_packaged_calibration(tmp_path, trees):
    c_world = ff.write_h36m_cdf(tmp_path / "c_world", subjects=(9,), actions=(2,), subactions=(1,), mono=False)
    sel = H36MSelection((9,), 5, ff.H36M_CAMERAS, actions=(2,), subactions=(1,))
    got = h36m.load_h36m(c_world, selection=sel)
    ref = h36m.load_h36m(trees["cdf"], selection=sel)
    np.testing.assert_allclose(got.joints_3d, ref.joints_3d, atol=1e-3, rtol=0)


def test_selection_frame_step_cameras_and_named_splits(trees):
    sel = H36MSelection(subjects=(9,), frame_step=64, cameras=(2,))
    b = h36m.load_h36m(trees["videopose3d"], selection=sel, allow_pickle=True)
    assert {m["frame"] for m in b.meta} == {0, 64}
    assert {m["cam_idx"] for m in b.meta} == {2} and {m["subject"] for m in b.meta} == {"S9"}
    assert h36m_facts.H36M_SPLITS["test_s9_s11_every64"].subjects == (9, 11)
    assert h36m_facts.H36M_SPLITS["train_s1_s5_s6_s7_s8_every5"].frame_step == 5
    assert not H36MSelection((11,), 1).keeps(11, 2, 2, 1, 0)  # the corrupt video
    assert H36MSelection((11,), 1, skip_corrupt=False).keeps(11, 2, 2, 1, 0)
    with pytest.raises(ValueError, match="unknown Human3.6M split"):
        h36m.load_h36m(trees["cdf"], selection="protocol_2")


def test_recording_names_map_to_actions_and_subactions():
    index = h36m_facts.index_recordings(["Directions 1", "Directions", "TakingPhoto", "WalkingDog 1", "WalkDog"])
    assert index == {"Directions": (2, 1), "Directions 1": (2, 2), "TakingPhoto": (12, 1),
                     "WalkDog": (15, 1), "WalkingDog 1": (15, 2)}
    with pytest.raises(DataFormatError, match="Dancing"):
        h36m_facts.action_of_recording("Dancing 1", "somewhere")


def test_packaged_calibration_matches_formats_md():
    shared = REPO.parent / "shared" / "data" / "h36m_cameras.json"
    if shared.is_file():
        assert json.loads(shared.read_text()) == json.loads(h36m_facts.CALIBRATION_PATH.read_text())
    for cam_idx, cid in enumerate(h36m_facts.CAMERA_IDS, start=1):
        cam = h36m_facts.h36m_camera("S1", cam_idx)
        np.testing.assert_allclose(cam.f, H36M_INTRINSICS[cid]["f"], atol=1e-2)
        np.testing.assert_allclose(cam.c, H36M_INTRINSICS[cid]["c"], atol=1e-2)
        assert cam.size == H36M_INTRINSICS[cid]["size"] and cam.name == cid


def test_detector_boxes(trees):
    gt = h36m.load_h36m(trees["3dmppe"], selection=H36MSelection((1,), 64, (1,)), with_images=False)
    det = h36m.load_h36m(trees["3dmppe"], selection=H36MSelection((1,), 64, (1,)), with_images=False,
                         detector_boxes=True)
    assert np.all(det.bbox[:, 2] > gt.bbox[:, 2])  # the fixture's detector boxes are larger
    np.testing.assert_array_equal(det.joints_3d, gt.joints_3d)


def test_wrong_camera_convention_is_refused(tmp_path):
    root = ff.write_h36m_3dmppe(tmp_path / "wrong", convention="transposed_R", with_images=False)
    with pytest.raises(DataFormatError) as err:
        h36m.load_h36m(root, selection=ALL_FRAMES, with_images=False)
    msg = str(err.value)
    assert "Human36M_subject1_camera.json" in msg and "'R'" in msg and "'t'" in msg and "neither" in msg


def test_requested_convention_is_verified(trees):
    with pytest.raises(DataFormatError, match=r"Human36M_subject1_camera\.json: camera_convention='i2l'"):
        h36m.load_h36m(trees["3dmppe"], selection=ALL_FRAMES, with_images=False, camera_convention="i2l")


def test_wrong_joint_count_names_file_and_field(copy_of):
    root = copy_of("i2l")
    path = root / "annotations" / "Human36M_subject1_joint_3d.json"
    joints = json.loads(path.read_text())
    joints["2"]["1"]["5"] = joints["2"]["1"]["5"][:16]
    path.write_text(json.dumps(joints))
    with pytest.raises(DataFormatError) as err:
        h36m.load_h36m(root, selection=ALL_FRAMES, with_images=False)
    assert str(path) in str(err.value) and "['2']['1']['5']" in str(err.value) and "16 joints" in str(err.value)


def test_missing_image_names_file_and_field(copy_of):
    root = copy_of("3dmppe")
    victim = root / "images" / ff.h36m_image_name(9, 2, 1, 2, 5)
    victim.unlink()
    with pytest.raises(FileNotFoundError) as err:
        h36m.load_h36m(root, selection=ALL_FRAMES, image_size=16)
    msg = str(err.value)
    assert str(victim) in msg and ".file_name" in msg and "Human36M_subject9_data.json" in msg


def test_malformed_json_names_file(copy_of):
    root = copy_of("i2l")
    path = root / "annotations" / "Human36M_subject9_data.json"
    path.write_text(path.read_text()[:-40])
    malformed = r"Human36M_subject9_data\.json: annotation file is malformed JSON at line 1"
    with pytest.raises(DataFormatError, match=malformed):
        h36m.load_h36m(root, selection=ALL_FRAMES, with_images=False)


def test_missing_key_names_file_and_field(copy_of):
    root = copy_of("i2l")
    path = root / "annotations" / "Human36M_subject1_data.json"
    data = json.loads(path.read_text())
    del data["images"][3]["cam_idx"]
    path.write_text(json.dumps(data))
    with pytest.raises(DataFormatError, match=r"subject1_data\.json: images\[3\] has no field 'cam_idx'"):
        h36m.load_h36m(root, selection=ALL_FRAMES, with_images=False)


def test_missing_subject_file(trees):
    with pytest.raises(FileNotFoundError, match=r"Human36M_subject5_data\.json: annotation file not found"):
        h36m.load_h36m(trees["i2l"], selection=H36MSelection((5,)), with_images=False)


def test_pickle_needs_consent(trees):
    with pytest.raises(PickleConsentError) as err:
        h36m.load_h36m(trees["videopose3d"], selection=ALL_FRAMES)
    msg = str(err.value)
    assert "data_3d_h36m.npz" in msg and "'positions_3d'" in msg and "allow_pickle=True" in msg
    assert "execute" in msg


def test_videopose3d_wrong_joint_count(tmp_path, trees):
    root = Path(shutil.copytree(trees["videopose3d"], tmp_path / "b"))
    z = np.load(root / "data_2d_h36m_gt.npz", allow_pickle=True)
    poses = z["positions_2d"].item()
    poses["S1"]["Directions"][0] = poses["S1"]["Directions"][0][:, :16]
    np.savez(root / "data_2d_h36m_gt.npz", positions_2d=poses, metadata=z["metadata"].item())
    with pytest.raises(DataFormatError, match=r"data_2d_h36m_gt\.npz: field positions_2d\['S1'\]\['Directions'\]\[0\] "
                                              r"has 16 joints"):
        h36m.load_h36m(root, selection=ALL_FRAMES, allow_pickle=True)


def test_cdf_wrong_joint_count(copy_of):
    root = copy_of("cdf")
    path = root / "S9" / "MyPoseFeatures" / "D3_Positions_mono" / "Directions.54138969.cdf"
    ff.write_cdf_pose(path, np.zeros((5, 31 * 3)))
    with pytest.raises(DataFormatError, match=r"Directions\.54138969\.cdf: variable 'Pose' has shape .*\(31 joints\)"):
        h36m.load_h36m(root, selection=ALL_FRAMES)


def test_unknown_layout_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no Human3.6M layout found"):
        h36m.load_h36m(tmp_path)


def _prepare_module():
    spec = importlib.util.spec_from_file_location("prepare_h36m", REPO / "data_scripts" / "prepare_h36m.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_prepare_writes_layout_1_from_cdf(tmp_path, trees):
    prep = _prepare_module()
    out = tmp_path / "Human36M"
    summary = prep.run(trees["cdf"], out, subjects=[1, 9], steps=[5, 64], cameras=[1, 2], images=False, progress=False)
    assert len(summary["annotations"]) == 6
    sel = H36MSelection((1, 9), 5, (1, 2))
    got = h36m.load_h36m(out, selection=sel, with_images=False)
    ref = h36m.load_h36m(trees["cdf"], selection=sel)
    assert {m["camera_convention"] for m in got.meta} == {"3dmppe"}
    assert [_key(m) for m in got.meta] == [_key(m) for m in ref.meta]
    np.testing.assert_allclose(got.joints_3d, ref.joints_3d, atol=1e-3, rtol=0)
    frames = {m["frame"] for m in got.meta}
    assert frames == set(range(0, ff.H36M_NUM_FRAMES, 5))
    data = json.loads((out / "annotations" / "Human36M_subject1_data.json").read_text())
    assert 64 in {im["frame_idx"] for im in data["images"]}  # kept for the every-64th test step
    # resumable: a second run keeps the existing files
    again = prep.run(trees["cdf"], out, subjects=[1, 9], steps=[5, 64], cameras=[1, 2], images=False, progress=False)
    assert again["annotations"] == []


def test_prepare_lists_missing_inputs(tmp_path):
    prep = _prepare_module()
    src = ff.write_h36m_cdf(tmp_path / "src", subjects=(1,), actions=(2,), subactions=(1,), cameras=(1,),
                            num_frames=3, videos=True)
    video = src / "S1" / "Videos" / "Directions.54138969.mp4"
    video.unlink()
    with pytest.raises(FileNotFoundError) as err:
        prep.run(src, tmp_path / "out", subjects=[1, 5], steps=[1], cameras=[1], progress=False)
    assert str(video) in str(err.value) and str(src / "S5" / "MyPoseFeatures" / "D3_Positions") in str(err.value)
    assert prep.main(["--src", str(src), "--out", str(tmp_path / "o"), "--subjects", "1", "--cameras", "1",
                      "--no-progress"]) == 2


def test_prepare_extracts_frames(tmp_path):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    prep = _prepare_module()
    video = tmp_path / "clip.mp4"
    writer = imageio_ffmpeg.write_frames(str(video), (32, 32), fps=50, quality=10, macro_block_size=16)
    writer.send(None)
    for i in range(8):
        writer.send(np.full((32, 32, 3), 25 * i, np.uint8).tobytes())
    writer.close()
    wanted = {1: tmp_path / "f1.jpg", 6: tmp_path / "f6.jpg"}
    assert prep.extract_frames(video, wanted) == [1, 6]
    from PIL import Image

    levels = [np.asarray(Image.open(p)).mean() for p in wanted.values()]
    assert abs(levels[0] - 25) < 8 and abs(levels[1] - 150) < 8
    job = prep.VideoJob(video, [1, 6], [wanted[1], wanted[6]])
    assert job.pending() == {}  # resumable: nothing left to do


def test_user_npz_with_wrong_joint_count(tmp_path, capsys):
    root = ff.write_h36m_videopose3d(tmp_path / "vp3d")
    z = np.load(root / "data_2d_h36m_gt.npz", allow_pickle=True)
    poses = z["positions_2d"].item()
    poses["S1"]["Directions"][0] = poses["S1"]["Directions"][0][:, :16]
    np.savez(root / "data_2d_h36m_gt.npz", positions_2d=poses, metadata=z["metadata"].item())
    code, err = run_cli(["data", "check", "--dataset", "h36m", "--root", str(root), "--allow-pickle"], capsys)
    assert code == 2
    assert "data_2d_h36m_gt.npz: field positions_2d['S1']['Directions'][0] has 16 joints" in err
