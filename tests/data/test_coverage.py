"""Pose coverage: the canonical frame, exact nearest-pose search, the procedural pose sampler."""

from __future__ import annotations

import numpy as np
import pytest

from partnas_lib.data.coverage import TOTAL_BONE_MM, canonical_poses, nearest_poses, procedural_poses
from partnas_lib.data.synth.body import rot_z
from partnas_lib.skeleton import BONES


@pytest.fixture(scope="module")
def poses() -> np.ndarray:
    return procedural_poses(40, seed=3)[0]


def test_canonical_frame_removes_position_and_heading(poses):
    canon = canonical_poses(poses)
    assert np.allclose(canon[:, 0], 0.0)
    hips = canon[:, 4] - canon[:, 1]
    assert np.allclose(hips[:, 0], 0.0, atol=1e-9) and np.all(hips[:, 1] > 0)  # right -> left hip along +Y
    moved = poses @ rot_z(123.0).T + np.array([500.0, -250.0, 40.0])
    assert np.allclose(canonical_poses(moved), canon, atol=1e-9)
    assert np.allclose(canon[..., 2], poses[..., 2] - poses[:, :1, 2])  # heights are kept


def test_normalised_scale_ignores_skeleton_size(poses):
    canon = canonical_poses(poses, normalize_scale=True)
    total = sum(np.linalg.norm(canon[:, a] - canon[:, b], axis=-1) for a, b in BONES)
    assert np.allclose(total, TOTAL_BONE_MM)
    assert np.allclose(canonical_poses(0.8 * poses, normalize_scale=True), canon)
    with pytest.raises(ValueError, match=r"\(N, 17, 3\)"):
        canonical_poses(poses[:, :16])


def test_nearest_pose_search_is_exact(poses):
    canon = canonical_poses(poses)
    query = canon[:5]
    shifted = canon[5:] + np.array([0.0, 0.0, 1000.0])  # far away
    reference = np.concatenate([shifted, query + np.array([3.0, 4.0, 0.0])])  # 5 mm from each query
    index, errors = nearest_poses(query, reference, chunk=2)
    assert list(index) == list(range(len(shifted), len(shifted) + 5))
    assert errors.shape == (5, 17) and np.allclose(errors, 5.0)
    # brute force agrees on a random pair of sets
    idx, err = nearest_poses(canon[:10], canon[10:])
    brute = np.linalg.norm(canon[:10, None] - canon[None, 10:], axis=-1).mean(-1)
    assert list(idx) == list(brute.argmin(1)) and np.allclose(err.mean(1), brute.min(1))
    with pytest.raises(ValueError, match="no reference"):
        nearest_poses(query, canon[:0])


def test_procedural_poses_are_seeded():
    a, actions = procedural_poses(5, seed=1)
    b, _ = procedural_poses(5, seed=1)
    assert a.shape == (5, 17, 3) and len(actions) == 5 and np.array_equal(a, b)
