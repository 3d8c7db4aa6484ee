"""``partnas rootnet train`` and ``partnas evaluate --dataset synthetic-multi|mupots`` end to end.

The pose network here has random weights (training one is the business of other tests), so
the tests either check the plumbing or replace the network's read-out with an oracle that
returns the ground truth's voxel coordinates: then every other stage -- loaders, boxes, crops,
roots, decoding, matching, scoring -- must turn it into perfect scores."""

from __future__ import annotations

import json
from pathlib import Path

import format_fixtures as ff
import numpy as np
import pytest
from conftest import tiny_cfg

from partnas_lib.cli import main
from partnas_lib.config import Config
from partnas_lib.data.datasets.mupots import load_mupots
from partnas_lib.eval import multi_frame, multi_person
from partnas_lib.models.build import build_model, random_genotype
from partnas_lib.models.rootnet import k_prior
from partnas_lib.train.checkpoint import save_checkpoint
from partnas_lib.train.rootnet import load_rootnet

KEYS = ("pck3d_rel", "pck3d_abs", "auc_rel", "root_error_mm", "mean_depth_root_error_mm")


@pytest.fixture
def run(tmp_path, cache_dir) -> Path:
    """A run directory with a (random-weight) part-aware network, as retrain leaves it."""
    cfg = tiny_cfg(cache_dir)
    cfg.data.num_test, cfg.data.num_train, cfg.data.num_val = 30, 48, 12
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    cfg.save(out / "config.json")
    genotype = random_genotype(cfg)
    model = build_model(cfg, genotype)
    save_checkpoint(out / "checkpoints" / "model.pt", {"model": model.state_dict(), "genotype": genotype.to_json(),
                                                       "config": cfg.to_dict()})
    return out


def _oracle(monkeypatch, truth):
    """Make the pose network return the ground truth: ``truth(arrays)`` gives (2D, 3D, box) per row."""
    def predict_coords(model, arrays, batch_size, device, flip_test=True):
        j2, j3, box = truth(arrays)
        return model.geometry.encode(j2, j3, box).numpy().astype(np.float64)

    monkeypatch.setattr(multi_person, "predict_coords", predict_coords)


@pytest.mark.slow
def test_rootnet_train_then_evaluate_synthetic_scenes(run, capsys):
    assert main(["evaluate", "--out", str(run), "--dataset", "synthetic-multi", "--no-progress"]) == 0
    first = json.loads((run / "metrics_multi.json").read_text())
    for k in KEYS:
        assert np.isfinite(first[k]), k
    assert first["root_source"].startswith("k prior") and first["boxes"] == "ground truth"
    assert first["num_people"] >= 40 and len(first["per_sequence"]) == 20
    assert 0 <= first["num_matched"] <= first["num_people"]
    assert first["root_error_mm"] == pytest.approx(first["k_prior_root_error_mm"])
    assert 0 <= first["pck3d_abs"] <= 100 and 0 <= first["gt_root"]["pck3d_abs"] <= 100
    assert "S20" in capsys.readouterr().out  # the per-sequence table

    assert main(["rootnet", "train", "--out", str(run), "--set", "retrain.epochs=1", "--no-progress"]) == 0
    assert (run / "checkpoints" / "rootnet.pt").is_file()
    rn = json.loads((run / "rootnet_metrics.json").read_text())
    assert rn["train_samples"] >= 48 and set(rn["val"]) >= {"root_error_mm", "k_prior_root_error_mm"}
    assert main(["evaluate", "--out", str(run), "--dataset", "synthetic-multi", "--no-progress"]) == 0
    second = json.loads((run / "metrics_multi.json").read_text())
    assert second["root_source"].startswith("RootNet") and second["mean_depth_source"] == "RootNet training set mean"
    assert second["mean_depth_mm"] == pytest.approx(rn["train_mean_depth_mm"])
    model, ckpt = load_rootnet(run)
    assert ckpt["data"] == "synthetic-multi"


def test_oracle_poses_on_synthetic_scenes_score_perfectly_root_relative(run, monkeypatch):
    _oracle(monkeypatch, lambda a: (a.joints_2d, a.joints_3d, a.bbox))
    cfg = Config.load(run / "config.json")
    m = multi_person.evaluate_multi(cfg, run, "synthetic-multi")
    # with the true root depth, perfect image positions and relative depths are perfect poses
    assert m["gt_root"]["pck3d_rel"] == 100.0 and m["gt_root"]["pck3d_abs"] == 100.0
    assert m["gt_root"]["auc_rel"] == pytest.approx(100 * 30 / 31)  # the official strict comparison
    # with the bare k prior the absolute poses are off, and even root-relative ones are distorted
    # (X, Y are back-projected with the wrong depth), though far less
    assert m["pck3d_abs"] < 50.0 < m["pck3d_rel"] <= 100.0
    people = multi_person.load_people(cfg, "synthetic-multi")
    np.testing.assert_allclose(m["root_error_mm"], np.abs(k_prior(people.bbox, people.intrinsics)
                                                          - people.root_depth).mean(), rtol=1e-5)


def test_mupots_fixture_with_detections_end_to_end(tmp_path, run, monkeypatch):
    """MuPoTS-3D (Moon's JSON layout, frames on disk) with the fixture's bbox_root file: boxes and
    roots from the file, crops from the frames, oracle poses -> perfect absolute scores."""
    root = ff.write_mupots_json(tmp_path / "mupots")
    gt = load_mupots(root, with_images=False)

    def truth(arrays):
        rows = []
        for box, meta in zip(arrays.bbox, arrays.meta):  # the annotated person whose box it is
            same = [i for i, m in enumerate(gt.meta) if m["image_id"] == meta["image_id"]]
            rows.append(min(same, key=lambda i: np.abs(gt.bbox[i] - box).sum()))
        return gt.joints_2d[rows], gt.joints_3d[rows], arrays.bbox

    _oracle(monkeypatch, truth)
    bbox_root = root / "bbox_root" / "bbox_root_mupots_output.json"
    argv = ["evaluate", "--out", str(run), "--dataset", "mupots", "--root", str(root), "--bbox-root", str(bbox_root)]
    assert main(argv) == 0
    m = json.loads((run / "metrics_multi.json").read_text())
    assert m["num_people"] == len(gt) == 7 and m["num_predictions"] == 8  # one detection is not annotated
    assert m["root_source"].startswith("root_cam of") and m["boxes"].startswith("detections from")
    assert m["pck3d_rel"] == 100.0 and m["pck3d_abs"] == 100.0 and m["num_matched"] == 7
    assert m["root_error_mm"] == pytest.approx(0.0, abs=1e-3)
    assert list(m["per_sequence"]) == ["TS1", "TS6"]
    # ground-truth boxes, crops cut from the frames on disk, roots from the bare k prior
    m = multi_person.evaluate_multi(Config.load(run / "config.json"), run, "mupots", root=root)
    assert m["boxes"] == "ground truth" and m["root_source"].startswith("k prior")
    assert m["gt_root"]["pck3d_rel"] == 100.0 and m["gt_root"]["pck3d_abs"] == 100.0
    people = multi_person.load_people(Config.load(run / "config.json"), "mupots", root)
    assert all(im.std() > 1 for im in people.images)  # real crops, not black placeholders


def test_errors_are_named(run, tmp_path):
    cfg = Config.load(run / "config.json")
    with pytest.raises(ValueError, match="needs --root"):
        multi_person.evaluate_multi(cfg, run, "mupots")
    with pytest.raises(FileNotFoundError, match="rootnet train"):
        multi_person.evaluate_multi(cfg, run, "synthetic-multi", rootnet=tmp_path / "nowhere")
    with pytest.raises(ValueError, match="unknown multi-person dataset"):
        multi_person.evaluate_multi(cfg, run, "h36m")


def test_notebook_helpers_give_people_in_camera_space(run):
    cfg = Config.load(run / "config.json")
    frame = multi_frame.load_test_frame(cfg, sequence=1, frame=0)
    gt = multi_frame.scene_people(frame)
    n = len(frame.people)
    assert gt["joints_cam"].shape == (n, 17, 3) and gt["bbox"].shape == (n, 4)
    np.testing.assert_allclose(gt["root_depth"], gt["joints_cam"][:, 0, 2])
    out = multi_frame.predict_frame(cfg, run, frame)
    assert out["pred_cam"].shape == out["pred_cam_gt_root"].shape == (n, 17, 3)
    assert out["root_source"].startswith("k prior")
    np.testing.assert_allclose(out["pred_root_depth"], out["k_prior"])
    # the two predictions differ only by the root depth added to every joint's relative depth
    shift = out["pred_cam_gt_root"][..., 2] - out["pred_cam"][..., 2]
    np.testing.assert_allclose(shift, np.repeat((gt["root_depth"] - out["pred_root_depth"])[:, None], 17, 1), atol=1e-2)
    # the frame is the one the evaluation scores: same image id, same people
    people = multi_person.load_people(cfg, "synthetic-multi")
    rows = [i for i, m in enumerate(people.meta) if m["image_id"] == frame.image_id]
    np.testing.assert_allclose(people.joints_3d[rows], gt["joints_cam"], atol=1e-3)


def test_cli_errors_are_clean(run, capsys):
    assert main(["evaluate", "--out", str(run), "--dataset", "mupots"]) == 2
    assert "needs --root" in capsys.readouterr().err
    assert main(["evaluate", "--out", str(run), "--dataset", "synthetic-multi", "--rootnet", str(run / "none")]) == 2
    assert "partnas rootnet train" in capsys.readouterr().err
