"""MPII 2D loader (3DMPPE's COCO-style JSON) and mixing 2D with 3D samples."""

from __future__ import annotations

import json
from pathlib import Path

import format_fixtures as ff
import numpy as np
import pytest
import torch

from partnas_lib.data import sample
from partnas_lib.data.batches import make_batch
from partnas_lib.data.datasets import h36m, h36m_facts, mpii
from partnas_lib.io import DataFormatError
from partnas_lib.skeleton import JOINT_NAMES


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return ff.write_mpii_json(tmp_path_factory.mktemp("mpii"))


def test_joint_map_names():
    for h, m in enumerate(mpii.H36M_FROM_MPII):
        if m is None:
            continue
        expected = {"head": "head_top"}.get(JOINT_NAMES[h], JOINT_NAMES[h])
        assert mpii.MPII_JOINT_NAMES[m] == expected
    assert mpii.MISSING_IN_MPII == (7, 9)  # spine, nose


def test_mapping_fills_pelvis_from_hips_and_hides_missing_joints():
    kp = ff.mpii_keypoints(1)  # pelvis and left wrist not annotated
    uv, vis = mpii.mpii_to_h36m(kp)
    np.testing.assert_allclose(uv[0], (kp[2, :2] + kp[3, :2]) / 2)
    assert vis[0] and not vis[7] and not vis[9] and not vis[13]
    assert vis.sum() == 14
    np.testing.assert_allclose(uv[16], kp[10, :2])  # r_wrist


def test_load(root):
    a = mpii.load_mpii(root, image_size=32)
    assert len(a) == ff.MPII_FIXTURE_PEOPLE and not a.has_3d.any()
    assert a.images.shape == (3, 32, 32, 3) and a.images.mean() > 10
    np.testing.assert_array_equal(a.intrinsics[0], [1500, 1500, 320, 240])
    assert not a.joints_3d.any() and a.meta[0]["intrinsics"] == "nominal"
    for i in range(len(a)):
        a.sample(i).validate()
        kp = ff.mpii_keypoints(i)
        np.testing.assert_allclose(a.joints_2d[i, 3], kp[0, :2], atol=1e-4)  # r_ankle


def test_wrong_keypoint_count_and_missing_image(tmp_path):
    root = ff.write_mpii_json(tmp_path / "mpii", with_images=False)
    with pytest.raises(FileNotFoundError, match=r"000000000\.jpg: image file missing \(referenced by images\[0\]"):
        mpii.load_mpii(root)
    path = root / "annotations" / "train.json"
    data = json.loads(path.read_text())
    data["annotations"][1]["keypoints"] = data["annotations"][1]["keypoints"][:-3]
    path.write_text(json.dumps(data))
    with pytest.raises(DataFormatError, match=r"train\.json: field annotations\[1\]\.keypoints has 15 joints"):
        mpii.load_mpii(root, with_images=False)


def test_concat_for_mixed_training(root, tmp_path):
    two_d = mpii.load_mpii(root, image_size=16)
    three_d = h36m.load_h36m(ff.write_h36m_cdf(tmp_path / "c", subjects=(1,), actions=(2,), subactions=(1,),
                                               cameras=(1,), num_frames=6),
                             selection=h36m_facts.H36MSelection((1,), 1, (1,)), image_size=16)
    mixed = sample.concat_arrays(three_d, two_d)
    assert len(mixed) == len(three_d) + len(two_d)
    np.testing.assert_array_equal(mixed.has_3d, [True] * len(three_d) + [False] * len(two_d))
    assert [m["source"] for m in mixed.meta] == ["h36m"] * len(three_d) + ["mpii"] * len(two_d)
    batch = make_batch(mixed, np.array([len(mixed) - 1]), torch.device("cpu"))
    assert batch["image"].shape == (1, 3, 16, 16) and not batch["has_3d"][0]
    with pytest.raises(ValueError, match="same image_size"):
        sample.concat_arrays(two_d, mpii.load_mpii(root, image_size=8, with_images=False))
