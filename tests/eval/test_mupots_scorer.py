"""The MuPoTS-3D scorer on hand-built cases with known answers, and end to end on the fixture."""

from __future__ import annotations

import format_fixtures as ff
import numpy as np
import pytest

from partnas_lib.data.datasets import mupots
from partnas_lib.eval import mupots_scorer as ms
from partnas_lib.skeleton import NUM_JOINTS

OFFICIAL_PERFECT_AUC = 100.0 * 30 / 31  # strict "<": no error is below the 0 mm threshold


def person(x: float = 0.0, z: float = 4000.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A camera-space person (``(17, 3)`` mm) and its 2D joints (f = 1000, c = 500)."""
    rng = np.random.default_rng(seed)
    body = ff.STANDING_BODY + rng.normal(0, 20, (NUM_JOINTS, 3))
    X = body @ np.array([[0, 1.0, 0], [0, 0, -1.0], [-1.0, 0, 0]]).T + [x, 0.0, z]
    return X, X[:, :2] / X[:, 2:] * 1000.0 + 500.0


def score(gt3, gt2, pred3, pred2, sequences=None, **kw):
    n, q = len(gt3), len(pred3)
    return ms.score_people(gt2, gt3, [0] * n, sequences or ["A"] * n, pred2, pred3, [0] * q, **kw)


def test_the_14_joints_are_mupots_minus_pelvis_spine_head():
    assert len(ms.EVAL_JOINTS) == 14
    assert set(ms.EVAL_JOINTS) == set(range(NUM_JOINTS)) - {0, 7, 9}  # pelvis, spine, nose ("head")
    assert ms.EVAL_JOINTS[0] == 10 and 10 not in ms.MATCH_JOINTS  # head top is scored, not matched
    # the bone tree reaches every joint from the pelvis, parents first
    placed = {0}
    for j, p in ms.BONES_SAFE_ORDER:
        assert p in placed
        placed.add(j)
    assert placed == set(range(NUM_JOINTS))


def test_perfect_predictions_score_100_and_official_auc():
    (a3, a2), (b3, b2) = person(-800, seed=1), person(800, 5000, seed=2)
    gt3, gt2 = np.stack([a3, b3]), np.stack([a2, b2])
    r = score(gt3, gt2, gt3[::-1], gt2[::-1])  # predictions in the other order
    for block in (r, r["matched"]):
        assert block["pck3d_rel"] == 100.0 and block["pck3d_abs"] == 100.0
        assert block["auc_rel"] == pytest.approx(OFFICIAL_PERFECT_AUC)
        assert block["auc_abs"] == pytest.approx(OFFICIAL_PERFECT_AUC)
    assert r["num_matched"] == 2 and r["recall"] == 1.0
    inclusive = score(gt3, gt2, gt3, gt2, inclusive=True)
    assert inclusive["auc_rel"] == 100.0 and inclusive["auc_abs"] == 100.0 and inclusive["pck3d_abs"] == 100.0


def test_known_offsets_give_hand_computed_values():
    X, uv = person()
    # A 200 mm wrist error: 13 of 14 joints correct; they count at 30 of the 31 AUC thresholds.
    pred = X.copy()
    pred[16, 0] += 200.0
    r = score(X[None], uv[None], pred[None], uv[None], rescale=False)
    assert r["pck3d_rel"] == pytest.approx(100 * 13 / 14)
    assert r["auc_rel"] == pytest.approx(100 * 13 / 14 * 30 / 31)
    # The whole person 102 mm too far: root-relative perfect; absolute 102 mm on every joint, which
    # passes 150 mm and the 10 AUC thresholds 105..150 mm.
    r = score(X[None], uv[None], (X + [0, 0, 102.0])[None], uv[None], rescale=False)
    assert r["pck3d_rel"] == 100.0 and r["pck3d_abs"] == 100.0
    assert r["auc_abs"] == pytest.approx(100 * 10 / 31)
    # 160 mm too far: misses 150 mm; the scaled pose still has the ground truth's directions.
    r = score(X[None], uv[None], (X + [0, 0, 160.0])[None], uv[None])
    assert r["pck3d_abs"] == 0.0 and r["auc_abs"] == 0.0 and r["pck3d_rel"] == 100.0


def test_unmatched_person_is_all_missed_in_all_and_left_out_in_matched():
    (a3, a2), (b3, b2) = person(-900, seed=3), person(900, 5500, seed=4)
    gt3, gt2 = np.stack([a3, b3]), np.stack([a2, b2])
    r = score(gt3, gt2, a3[None], a2[None])  # nobody predicted person b
    assert r["num_annotated"] == 2 and r["num_matched"] == 1 and r["recall"] == 0.5
    assert r["pck3d_rel"] == 50.0 and r["pck3d_abs"] == 50.0
    assert r["auc_rel"] == pytest.approx(50 * 30 / 31)
    assert r["matched"]["pck3d_rel"] == 100.0 and r["matched"]["pck3d_abs"] == 100.0


def test_values_are_means_over_sequences_not_over_people():
    people = [person(x, 4500, seed=s) for s, x in enumerate((-1000, 0, 1000))]
    gt3 = np.stack([p[0] for p in people])
    gt2 = np.stack([p[1] for p in people])
    pred3 = gt3.copy()
    pred3[2] += [0, 0, 300.0]  # third person: absolute error 300 mm on every joint
    ids, seqs = [0, 1, 1], ["A", "B", "B"]
    r = ms.score_people(gt2, gt3, ids, seqs, gt2, pred3, ids, rescale=False)
    assert r["per_sequence"]["A"]["pck3d_abs"] == 100.0 and r["per_sequence"]["B"]["pck3d_abs"] == 50.0
    assert r["pck3d_abs"] == pytest.approx(75.0)  # (100 + 50) / 2, not 2/3 of the people
    assert r["per_sequence"]["B"]["annotated"] == 2


def test_matching_follows_the_official_vote_count():
    (_, a2), (_, b2) = person(-900, seed=5), person(900, 5000, seed=6)
    gt2 = np.stack([a2, b2])
    np.testing.assert_array_equal(ms.match_people(gt2, np.stack([b2, a2])), [1, 0])
    # 50 px away on every joint: outside the 40 px window, nobody matches
    np.testing.assert_array_equal(ms.match_people(gt2, gt2 + 50.0), [-1, -1])
    # 30 px away on one axis only: still inside
    np.testing.assert_array_equal(ms.match_people(gt2, gt2 + [30.0, 0.0]), [0, 1])
    # an all-zero 2D pose is "not detected"
    np.testing.assert_array_equal(ms.match_people(gt2[:1], np.zeros((1, NUM_JOINTS, 2))), [-1])
    # one prediction can serve one person only: the first person in order takes it
    np.testing.assert_array_equal(ms.match_people(np.stack([a2, a2 + 5.0]), a2[None]), [0, -1])
    # the person with more joints in the window wins the vote
    near = a2.copy()
    near[list(ms.MATCH_JOINTS[:5])] += 100.0
    np.testing.assert_array_equal(ms.match_people(a2[None], np.stack([near, a2 + 10.0])), [1])
    # no predictions at all
    assert list(ms.match_people(gt2, np.zeros((0, NUM_JOINTS, 2)))) == [-1, -1]


def test_bone_rescaling_restores_the_ground_truth_lengths():
    X, uv = person(seed=7)
    root = X[0]
    big = root + 1.2 * (X - root)  # every bone 20 % too long, same directions
    np.testing.assert_allclose(ms.rescale_bones(big, X), X, atol=1e-9)
    r = score(X[None], uv[None], big[None], uv[None], inclusive=True)
    assert r["pck3d_rel"] == 100.0 and r["auc_rel"] == pytest.approx(100.0)
    plain = ms.joint_errors_14(big, X, relative=True, rescale=False)
    np.testing.assert_allclose(plain, 0.2 * np.linalg.norm(X - root, axis=-1)[list(ms.EVAL_JOINTS)])


def test_universal_skeleton_is_the_target_when_given():
    X, uv = person(seed=8)
    univ = X[0] + 0.9 * (X - X[0])
    r_univ = score(X[None], uv[None], univ[None], uv[None], gt_3d_univ=univ[None], rescale=False)
    assert r_univ["pck3d_rel"] == 100.0
    r_off = score(X[None], uv[None], univ[None], uv[None], gt_3d_univ=univ[None], rescale=False, use_univ=False)
    assert r_off["auc_rel"] < r_univ["auc_rel"]


def test_bad_input_is_named():
    X, uv = person()
    with pytest.raises(ValueError, match="no annotated person"):
        ms.score_people(uv[None], X[None], [0], ["A"], uv[None], X[None], [7])
    with pytest.raises(ValueError, match="no annotated people"):
        ms.MuPoTSScorer().result()


@pytest.mark.parametrize("layout", ["mat", "json"])
def test_mupots_fixture_end_to_end_perfect_predictions(tmp_path, layout):
    writer = ff.write_mupots_mat if layout == "mat" else ff.write_mupots_json
    root = writer(tmp_path / layout, with_images=False)
    people = mupots.load_mupots(root, with_images=False)
    ids = [m["image_id"] for m in people.meta]
    seqs = [m["sequence"] for m in people.meta]
    univ = np.array([m["joints_3d_univ"] for m in people.meta]) if layout == "mat" else None
    # perfect predictions: the annotated 2D joints, and the 3D pose the scorer compares with
    pred3 = univ if univ is not None else people.joints_3d
    pred2 = people.joints_2d
    r = ms.score_people(people.joints_2d, people.joints_3d, ids, seqs, pred2, pred3, ids, gt_3d_univ=univ)
    assert r["num_sequences"] == 2 and r["num_annotated"] == len(people) == 7  # one TS6 person not annotated
    assert r["pck3d_rel"] == 100.0 and r["pck3d_abs"] == 100.0
    assert r["matched"]["pck3d_rel"] == 100.0
    assert r["auc_rel"] == pytest.approx(OFFICIAL_PERFECT_AUC)
    # dropping every prediction of one TS1 frame: those people count as missed in "all" only
    keep = [i for i, m in enumerate(people.meta) if not (m["sequence"] == "TS1" and m["frame"] == 0)]
    r = ms.score_people(people.joints_2d, people.joints_3d, ids, seqs, pred2[keep], pred3[keep],
                        [ids[i] for i in keep], gt_3d_univ=univ)
    assert r["per_sequence"]["TS1"]["pck3d_rel"] == 50.0 and r["per_sequence"]["TS6"]["pck3d_rel"] == 100.0
    assert r["pck3d_rel"] == 75.0 and r["matched"]["pck3d_rel"] == 100.0
