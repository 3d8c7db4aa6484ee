"""``partnas predict`` (``partnas_lib/eval/predict.py``): poses of images on disk.

The fast tests use a run with random weights (they check the plumbing: files written, shapes,
root depths, absolute joints only with a RootNet and a camera, errors).  The slow test trains a
smoke run and a RootNet, writes the run's own test split to PNG files, and checks that
``partnas predict`` recovers their known 3D poses as well as the run's evaluation did.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import run_cli
from conftest import tiny_cfg
from PIL import Image

from partnas_lib.camera import crop_intrinsics
from partnas_lib.cli import main
from partnas_lib.config import Config
from partnas_lib.data.splits import load_split
from partnas_lib.eval.metrics import joint_errors
from partnas_lib.eval.predict import DEFAULT_FOCAL_FACTOR, frame_intrinsics, parse_intrinsics, predict_inputs
from partnas_lib.models.build import build_model, build_rootnet, random_genotype
from partnas_lib.models.rootnet import k_prior
from partnas_lib.train.checkpoint import save_checkpoint


@pytest.fixture
def run(tmp_path, cache_dir) -> Path:
    """A run directory with a random-weight part-aware network, as retraining leaves it."""
    cfg = tiny_cfg(cache_dir)
    cfg.device = "cpu"
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    cfg.save(out / "config.json")
    genotype = random_genotype(cfg)
    save_checkpoint(out / "checkpoints" / "model.pt", {"model": build_model(cfg, genotype).state_dict(),
                                                       "genotype": genotype.to_json(), "config": cfg.to_dict()})
    return out


def _rootnet(run: Path, where: Path) -> Path:
    cfg = Config.load(run / "config.json")
    save_checkpoint(where / "checkpoints" / "rootnet.pt", {"model": build_rootnet(cfg).state_dict(),
                                                           "config": cfg.to_dict(), "data": "synthetic",
                                                           "train_mean_depth_mm": 5000.0, "metrics": {}})
    return where


def _images(folder: Path, n: int = 3, size: tuple[int, int] = (80, 60)) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        paths.append(folder / f"img_{i}.png")
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(paths[-1])
    return paths


def _offline(html_text: str) -> None:
    tags = re.findall(r"<script[^>]*>", html_text)
    assert tags and not any("src=" in t for t in tags), tags  # nothing loaded from a CDN
    assert "Plotly.react" in html_text and len(html_text) > 3_000_000  # plotly.js itself is inline


def test_intrinsics_and_default_camera():
    np.testing.assert_array_equal(parse_intrinsics("1500, 1500,960,540"), [1500, 1500, 960, 540])
    for bad in ("1,2,3", "0,1,2,3", "a,b,c,d"):
        with pytest.raises(ValueError, match="--intrinsics"):
            parse_intrinsics(bad)
    np.testing.assert_allclose(frame_intrinsics(640, 480), [DEFAULT_FOCAL_FACTOR * 640] * 2 + [320, 240])
    np.testing.assert_allclose(frame_intrinsics(640, 480, focal=900), [900, 900, 320, 240])


def test_predict_writes_json_npz_and_an_offline_page(run, tmp_path, capsys):
    _images(tmp_path / "in")
    out = tmp_path / "out"
    code, err = run_cli(["predict", "--run", str(run), str(tmp_path / "in"), "--out", str(out), "--no-progress"],
                        capsys)
    assert code == 0, err
    data = json.loads((out / "predictions.json").read_text())
    assert data["num_frames"] == 3 and len(data["joint_names"]) == 17 and data["absolute_joints"] is False
    frames = data["frames"]
    assert [Path(f["source"]).name for f in frames] == ["img_0.png", "img_1.png", "img_2.png"]
    for f in frames:
        rel = np.array(f["joints_root_relative_mm"])
        assert rel.shape == (17, 3) and np.all(rel[0] == 0) and np.all(np.isfinite(rel))
        assert f["joints_abs_mm"] is None and f["root_depth_source"] == "k_prior" and f["box_source"] == "whole frame"
        assert np.array(f["joints_2d_px"]).shape == (17, 2) and f["image_size"] == [80, 60]
        np.testing.assert_allclose(f["crop_box"], [0, -10, 80, 80])
        # no RootNet: the root depth is the 3DMPPE prior of the crop box and the assumed camera
        np.testing.assert_allclose(f["root_depth_mm"], k_prior(np.array(f["crop_box"]), np.array(f["intrinsics"])))
    with np.load(out / "predictions.npz") as z:
        assert z["joints_root_relative_mm"].shape == (3, 17, 3) and np.isnan(z["joints_abs_mm"]).all()
        assert list(z["frame"]) == [0, 0, 0]
    _offline((out / "predictions.html").read_text())


def test_absolute_joints_need_a_rootnet_and_a_camera(run, tmp_path):
    (image,) = _images(tmp_path / "in", n=1)
    rootnet = _rootnet(run, tmp_path / "rn")
    no_camera = predict_inputs(run, [image], rootnet=rootnet, bbox="20,10,30,45")
    assert no_camera.root_source == "rootnet" and no_camera.joints_abs_mm is None
    given = predict_inputs(run, [image], rootnet=rootnet, bbox="20,10,30,45", intrinsics="100,100,40,30")
    abs_mm = given.joints_abs_mm
    assert abs_mm is not None
    np.testing.assert_allclose(abs_mm - abs_mm[:, :1], given.joints_rel_mm)
    # an untrained RootNet is the k prior; pelvis depth + its own relative depth = the root joint's Z
    np.testing.assert_allclose(given.root_depth_mm, k_prior(given.crop_boxes, given.intrinsics), rtol=1e-5)
    assert given.box_sources == ["--bbox"] and np.allclose(given.boxes[0], [20, 10, 30, 45])
    focal = predict_inputs(run, [image], rootnet=rootnet, focal=100.0)
    assert focal.joints_abs_mm is not None and "--focal 100" in focal.camera_text
    # without RootNet, no absolute joints even with a camera
    assert predict_inputs(run, [image], intrinsics="100,100,40,30").joints_abs_mm is None


def test_the_runs_own_rootnet_is_found(run, tmp_path):
    (image,) = _images(tmp_path / "in", n=1)
    _rootnet(run, run)
    pred = predict_inputs(run, [image], focal=100.0)
    assert pred.root_source == "rootnet" and str(run / "checkpoints" / "rootnet.pt") in pred.root_text


def test_bad_input_fails_cleanly(run, tmp_path, capsys):
    _images(tmp_path / "in", n=1)
    good = str(tmp_path / "in")
    empty = tmp_path / "empty"
    empty.mkdir()
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({"other.png": [0, 0, 10, 10]}))
    cases = [
        (["--run", str(tmp_path / "nowhere"), good], "nowhere: no such run directory"),
        (["--run", str(tmp_path / "in"), good], "config.json does not exist"),
        (["--run", str(run), str(empty)], f"{empty}: folder has no images or videos"),
        (["--run", str(run), str(broken)], f"{broken}: unreadable image"),
        (["--run", str(run), str(tmp_path / "missing.png")], "missing.png: no such file or folder"),
        (["--run", str(run), good, "--bbox", "70,50,30,30"], "lies outside the 80 x 60 image"),
        (["--run", str(run), good, "--bbox", "1,2,3"], "--bbox '1,2,3': expected four numbers"),
        (["--run", str(run), good, "--boxes", str(boxes)], f"{boxes}: no box for"),
        (["--run", str(run), good, "--rootnet", str(tmp_path / "nort")], "partnas rootnet train"),
        (["--run", str(run), good, "--focal", "-3"], "--focal -3.0: expected a positive"),
    ]
    for args, message in cases:
        out = tmp_path / "out"
        code, err = run_cli(["predict", *args, "--out", str(out), "--no-progress"], capsys)
        assert code == 2, (args, err)
        assert message in err and err.startswith("partnas: error:") and err.count("\n") == 1, (message, err)
        assert not out.exists()
    code, _ = run_cli(["predict", "--run", str(run), good, "--out", str(tmp_path / "o"), "--bbox", "0,0,5,5",
                       "--boxes", str(boxes)], capsys)
    assert code == 2  # argparse: not both


# --------------------------------------------------------------------------------------------
# end to end: a trained run on its own test images


@pytest.fixture(scope="module")
def trained(tmp_path_factory, cache_dir) -> tuple[Path, Path]:
    """A smoke run (random cells: no search, the network still learns) and a RootNet trained on
    the same single-person crops, in a directory of its own."""
    root = tmp_path_factory.mktemp("predict")
    run, rootnet = root / "run", root / "rootnet"
    one = ["--no-progress", "--threads", "1"]  # one heavy job, one thread: the tests may share the cores
    assert main(["reproduce", "--preset", "smoke", "--model", "random", "--out", str(run), *one]) == 0
    assert main(["rootnet", "train", "--config", str(run / "config.json"), "--out", str(rootnet),
                 "--crops", "synthetic", *one]) == 0
    return run, rootnet


def _person_box_for(crop_box: np.ndarray) -> list[float]:
    """The tight person box that 3DMPPE's rule (``process_bbox``: side - 1, then x 1.25) turns
    back into ``crop_box`` -- what a detector would report for the person in it."""
    x, y, side, _ = crop_box
    w = side / 1.25 + 1.0
    return [x + side / 2 - (w - 1) / 2, y + side / 2 - (w - 1) / 2, w, w]


@pytest.mark.slow
def test_predict_recovers_the_test_poses_of_a_trained_run(trained, tmp_path, capsys):
    run, rootnet = trained
    metrics = json.loads((run / "metrics.json").read_text())
    cfg = Config.load(run / "config.json")
    test = load_split(cfg, "test")  # the samples metrics.json was measured on
    s = cfg.data.image_size
    crops_dir, frames_dir = tmp_path / "crops", tmp_path / "frames"
    crops_dir.mkdir()
    frames_dir.mkdir()
    boxes, intrinsics = {}, []
    rng = np.random.default_rng(0)
    for i, image in enumerate(test.images):
        name = f"test_{i:04d}.png"
        Image.fromarray(image).save(crops_dir / name)
        # the crop inside a larger frame, at a random place: the person box must find it again
        ox, oy = (int(v) for v in rng.integers(0, 40, 2))
        frame = np.full((s + 48, s + 64, 3), 90, np.uint8)
        frame[oy:oy + s, ox:ox + s] = image
        Image.fromarray(frame).save(frames_dir / name)
        boxes[name] = _person_box_for(np.array([ox, oy, s, s], float))
        fx, fy, cx, cy = crop_intrinsics(test.intrinsics[i], test.bbox[i], s)  # the camera of the crop
        intrinsics.append([fx, fy, cx + ox, cy + oy])
    (tmp_path / "boxes.json").write_text(json.dumps(boxes))
    gt = test.joints_3d.astype(np.float64)
    gt = gt - gt[:, :1]

    def mpjpe(out: Path) -> float:
        data = json.loads((out / "predictions.json").read_text())
        assert len(data["frames"]) == len(test)
        rel = np.array([f["joints_root_relative_mm"] for f in data["frames"]])
        assert rel.shape == (len(test), 17, 3)
        return float(joint_errors(rel, gt).mean())

    # 1. frames with their person boxes (--boxes), the RootNet, an unknown camera
    out = tmp_path / "out_boxes"
    code, err = run_cli(["predict", "--run", str(run), str(frames_dir), "--boxes", str(tmp_path / "boxes.json"),
                         "--rootnet", str(rootnet), "--out", str(out), "--no-progress"], capsys)
    assert code == 0, err
    with_boxes = mpjpe(out)
    _offline((out / "predictions.html").read_text())
    # 2. the crops themselves: the whole frame is the crop
    out = tmp_path / "out_crops"
    assert main(["predict", "--run", str(run), str(crops_dir), "--rootnet", str(rootnet), "--out", str(out),
                 "--no-progress"]) == 0
    whole = mpjpe(out)
    print(f"\nMPJPE: metrics.json {metrics['mpjpe']:.1f} mm (ground-truth root depth) | predict with --boxes "
          f"{with_boxes:.1f} mm | predict on the crops {whole:.1f} mm (RootNet root depths, assumed camera)")
    assert with_boxes <= 1.10 * metrics["mpjpe"]
    assert whole <= 1.10 * metrics["mpjpe"]
    # 3. one frame with its true camera: absolute joints, at RootNet's depth.  An upright person,
    # the case RootNet's prior is made for (a crouching one fools a smoke RootNet easily).
    i = next(i for i, m in enumerate(test.meta) if m["action"] in ("standing", "walking"))
    out = tmp_path / "out_one"
    fx, fy, cx, cy = intrinsics[i]
    assert main(["predict", "--run", str(run), str(frames_dir / f"test_{i:04d}.png"),
                 "--boxes", str(tmp_path / "boxes.json"), "--rootnet", str(rootnet),
                 "--intrinsics", f"{fx},{fy},{cx},{cy}", "--out", str(out), "--no-progress"]) == 0
    (frame,) = json.loads((out / "predictions.json").read_text())["frames"]
    abs_mm = np.array(frame["joints_abs_mm"])
    assert abs_mm.shape == (17, 3) and frame["root_depth_source"] == "rootnet"
    assert abs(abs_mm[0, 2] - frame["root_depth_mm"]) < 1e-3 * frame["root_depth_mm"]
    # RootNet's depth is within 25 % of the truth (a smoke RootNet; its validation error is ~10 %)
    assert abs(frame["root_depth_mm"] - test.root_depth[i]) < 0.25 * test.root_depth[i]
