"""A Python MuPoTS-3D scorer that follows the official MATLAB evaluation rule by rule.

MuPoTS-3D (Mehta et al., "Single-shot multi-person 3D pose estimation from monocular RGB",
3DV 2018) ships its scorer as MATLAB: ``mpii_mupots_multiperson_eval.m`` with the helpers
``mpii_multiperson_get_identity_matching.m``, ``mpii_map_to_gt_bone_lengths.m`` and
``mpii_compute_3d_pck.m`` (3DMPPE, Moon et al. ICCV 2019, added an ``is_relative`` switch for
the absolute variant).  docs/method.md Sec. 3 lists what the benchmark reports; this module is the
same computation in numpy, with every rule named:

**The 14 scored joints.**  The script scores MPI-INF-3DHP's 17 joints minus *Pelvis, Spine and
Head* (MuPoTS joints 15, 16, 17 in MATLAB's 1-based order), i.e. the joint groups Head (top),
Neck, Shoulders, Elbows, Wrists, Hips, Knees, Ankles of ``mpii_compute_3d_pck`` (MuPoTS indices
0-13).  In partnas's Human3.6M-17 order that is :data:`EVAL_JOINTS` = head top 10, thorax 8,
shoulders 14/11, elbows 15/12, wrists 16/13, hips 1/4, knees 2/5, ankles 3/6.  Left out: pelvis 0
(the root, always 0 after root alignment), spine 7, and nose 9 (MuPoTS' "Head", the centre of
the head, fills the nose slot; :data:`partnas_lib.data.datasets.mupots_facts.H36M_FROM_MUPOTS`).

**Matching predictions to people** (``mpii_multiperson_get_identity_matching``, threshold 40 px).
Ground-truth people are visited in order; each takes, among the predictions not taken yet, the
one with the most *matching joints* (MuPoTS 1-13: all scored joints except the head top) whose
2D position is within the threshold on both axes (``|du| < 40`` and ``|dv| < 40`` px); a
prediction joint at exactly (0, 0) counts as missing.  A person whose best count is 0 stays
unmatched.  (This is a greedy vote count, not the smallest mean 2D distance; on well-separated
people the two agree.)

**All annotated vs matched people.**  Mode "all" (``EVALUATION_MODE = 0``): an unmatched person
still counts, with every joint missed (the script gives it a pose at 100 000 mm).  Mode "matched"
(``EVALUATION_MODE = 1``): unmatched people are left out.

**Root-relative vs absolute.**  ``_rel``: both poses minus their own pelvis; ``_abs``: camera
coordinates as they are (needs the root depth; docs/method.md Sec. 3).

**Universal skeleton and bone rescaling** (``mpii_map_to_gt_bone_lengths``).  The script
compares with ``univ_annot3`` (the pose retargeted to a height-normalised "universal"
skeleton, root kept in place) and first rescales every predicted bone to that ground truth's
length, walking the tree from the pelvis
(:data:`~partnas_lib.data.datasets.mupots_facts.BONES_SAFE_ORDER`) so each joint moves with its
parent: only joint *directions* (and, for ``_abs``, the root position) are then judged.  Both are
switches here (``use_univ``, ``rescale``); the default is the official setting.

**3DPCK and AUC** (``mpii_compute_3d_pck``).  3DPCK = percentage of scored joints with error
``< 150`` mm; AUC = mean of the 3DPCK over the 31 thresholds 0, 5, ..., 150 mm, in percent.
The comparisons are *strict* as in the MATLAB code, so a perfect prediction scores 3DPCK 100
but AUC 100 x 30/31 = 96.8 (no error is ``< 0``); ``inclusive=True`` uses ``<=`` instead, for
which a perfect prediction scores AUC 100.  Values are computed **per sequence** (over all
scored joints of all counted people of the sequence) and the headline number is the **mean
over sequences** (the "Total" of the MuPoTS tables and of 3DMPPE).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from partnas_lib.data.datasets.mupots_facts import BONES_SAFE_ORDER, H36M_FROM_MUPOTS, rescale_bones
from partnas_lib.skeleton import NUM_JOINTS, ROOT

#: Human3.6M-17 indices of the 14 scored joints, in MuPoTS order (MuPoTS joints 0..13).
EVAL_JOINTS: tuple[int, ...] = tuple(H36M_FROM_MUPOTS.index(m) for m in range(14))
#: Joints used to match predictions to people: MuPoTS 1..13 (the scored joints but the head top).
MATCH_JOINTS: tuple[int, ...] = EVAL_JOINTS[1:]

#: Official values: 3DPCK threshold, AUC thresholds, matching threshold.
PCK_THRESHOLD_MM = 150.0
AUC_THRESHOLDS_MM: tuple[float, ...] = tuple(float(t) for t in range(0, 151, 5))
MATCH_THRESHOLD_PX = 40.0


def match_people(gt_2d: np.ndarray, pred_2d: np.ndarray, threshold_px: float = MATCH_THRESHOLD_PX,
                 joints: Sequence[int] = MATCH_JOINTS) -> np.ndarray:
    """The official identity matching: index of the prediction matched to each GT person, or -1.

    ``gt_2d`` ``(P, 17, 2)`` and ``pred_2d`` ``(Q, 17, 2)`` pixels.  Greedy over the GT people in
    order; see the module docstring for the rule.  Ties go to the lower prediction index
    (MATLAB's ``max`` returns the first maximum).
    """
    gt = np.asarray(gt_2d, dtype=np.float64).reshape(-1, NUM_JOINTS, 2)[:, list(joints)]
    pred = np.asarray(pred_2d, dtype=np.float64).reshape(-1, NUM_JOINTS, 2)[:, list(joints)]
    matching = np.full(len(gt), -1, dtype=int)
    taken = np.zeros(len(pred), dtype=bool)
    pred_visible = ~np.all(pred == 0, axis=-1)                                  # (Q, J)
    for i, person in enumerate(gt):
        close = np.all(np.abs(person[None] - pred) < threshold_px, axis=-1)    # (Q, J)
        score = np.where(taken, 0, (close & pred_visible).sum(axis=-1))
        if len(score) and score.max() > 0:
            matching[i] = int(np.argmax(score))
            taken[matching[i]] = True
    return matching


def joint_errors_14(pred: np.ndarray, gt: np.ndarray, relative: bool, rescale: bool) -> np.ndarray:
    """Per-joint 3D errors ``(..., 14)`` mm of one or more matched people on :data:`EVAL_JOINTS`."""
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if relative:
        pred = pred - pred[..., ROOT:ROOT + 1, :]
        gt = gt - gt[..., ROOT:ROOT + 1, :]
    if rescale:
        pred = rescale_bones(pred, gt)
    return np.linalg.norm(pred - gt, axis=-1)[..., list(EVAL_JOINTS)]


@dataclass
class _Person:
    """One annotated person after matching: its errors (``inf`` when unmatched)."""

    sequence: str
    matched: bool
    err_rel: np.ndarray  # (14,)
    err_abs: np.ndarray  # (14,)


@dataclass
class MuPoTSScorer:
    """Accumulate images, then :meth:`result`.  Defaults are the official settings.

    Attributes:
        threshold_mm: 3DPCK threshold (150).
        thresholds_mm: AUC thresholds (0, 5, ..., 150).
        match_threshold_px: per-axis 2D distance for the identity matching (40 px for
            MuPoTS' cameras, fx about 1500 px; scale it with the focal length for other cameras).
        use_univ: compare with the universal skeleton when an image provides one.
        rescale: rescale predicted bones to the ground truth's lengths first.
        inclusive: ``err <= t`` (up to 1 micrometre) instead of the official strict ``err < t``.
    """

    threshold_mm: float = PCK_THRESHOLD_MM
    thresholds_mm: tuple[float, ...] = AUC_THRESHOLDS_MM
    match_threshold_px: float = MATCH_THRESHOLD_PX
    use_univ: bool = True
    rescale: bool = True
    inclusive: bool = False
    people: list[_Person] = field(default_factory=list)
    matches: list[tuple[Any, np.ndarray]] = field(default_factory=list)

    def add_image(self, sequence: str, gt_2d: np.ndarray, gt_3d: np.ndarray, pred_2d: np.ndarray,
                  pred_3d: np.ndarray, gt_3d_univ: np.ndarray | None = None, image_id: Any = None) -> np.ndarray:
        """Score one image: ``gt_*`` ``(P, 17, ...)`` of its annotated people, ``pred_*``
        ``(Q, 17, ...)`` of its predictions (2D px, 3D camera mm).  Returns the matching
        (prediction index per GT person, -1 if none)."""
        gt_2d = np.asarray(gt_2d, dtype=np.float64).reshape(-1, NUM_JOINTS, 2)
        gt_3d = np.asarray(gt_3d, dtype=np.float64).reshape(-1, NUM_JOINTS, 3)
        pred_2d = np.asarray(pred_2d, dtype=np.float64).reshape(-1, NUM_JOINTS, 2)
        pred_3d = np.asarray(pred_3d, dtype=np.float64).reshape(-1, NUM_JOINTS, 3)
        if len(pred_2d) != len(pred_3d):
            raise ValueError(f"image {image_id}: {len(pred_2d)} 2D predictions but {len(pred_3d)} 3D ones")
        target = gt_3d
        if self.use_univ and gt_3d_univ is not None:
            target = np.asarray(gt_3d_univ, dtype=np.float64).reshape(gt_3d.shape)
        matching = match_people(gt_2d, pred_2d, self.match_threshold_px)
        missed = np.full(len(EVAL_JOINTS), np.inf)
        for k, m in enumerate(matching):
            if m < 0:
                self.people.append(_Person(str(sequence), False, missed, missed))
                continue
            self.people.append(_Person(
                str(sequence), True,
                joint_errors_14(pred_3d[m], target[k], relative=True, rescale=self.rescale),
                joint_errors_14(pred_3d[m], target[k], relative=False, rescale=self.rescale),
            ))
        self.matches.append((image_id, matching))
        return matching

    # ------------------------------------------------------------------------------------------
    def _below(self, err: np.ndarray, t: float) -> np.ndarray:
        # inclusive: a micrometre of slack absorbs the rounding of the bone rescaling
        return err <= t + 1e-3 if self.inclusive else err < t

    def _pck_auc(self, err: np.ndarray) -> tuple[float, float]:
        """3DPCK and AUC (percent) over all entries of ``err`` ``(n, 14)``."""
        if err.size == 0:
            return float("nan"), float("nan")
        pck = 100.0 * float(self._below(err, self.threshold_mm).mean())
        auc = 100.0 * float(np.mean([self._below(err, t).mean() for t in self.thresholds_mm]))
        return pck, auc

    def _block(self, people: list[_Person]) -> dict[str, float]:
        rel = np.array([p.err_rel for p in people]).reshape(-1, len(EVAL_JOINTS))
        ab = np.array([p.err_abs for p in people]).reshape(-1, len(EVAL_JOINTS))
        pck_rel, auc_rel = self._pck_auc(rel)
        pck_abs, auc_abs = self._pck_auc(ab)
        return {"pck3d_rel": pck_rel, "pck3d_abs": pck_abs, "auc_rel": auc_rel, "auc_abs": auc_abs}

    def result(self) -> dict[str, Any]:
        """Per-sequence values and their mean over sequences, for all annotated and for matched
        people.  Top-level ``pck3d_rel``, ``pck3d_abs``, ``auc_rel``, ``auc_abs`` are the
        all-annotated means; ``matched`` holds the same four for matched people.  A sequence
        without any matched person has no "matched" value and is left out of that mean."""
        if not self.people:
            raise ValueError("MuPoTSScorer: no annotated people were added")
        sequences: "OrderedDict[str, list[_Person]]" = OrderedDict()
        for p in self.people:
            sequences.setdefault(p.sequence, []).append(p)
        per_sequence: dict[str, dict[str, Any]] = {}
        for seq, people in sequences.items():
            matched = [p for p in people if p.matched]
            row: dict[str, Any] = {"annotated": len(people), "matched": len(matched), **self._block(people)}
            row.update({f"matched_{k}": v for k, v in self._block(matched).items()})
            per_sequence[seq] = row
        keys = ("pck3d_rel", "pck3d_abs", "auc_rel", "auc_abs")

        def mean_over(prefix: str) -> dict[str, float]:
            out = {}
            for k in keys:
                vals = [r[prefix + k] for r in per_sequence.values() if not np.isnan(r[prefix + k])]
                out[k] = float(np.mean(vals)) if vals else float("nan")
            return out

        num_matched = sum(p.matched for p in self.people)
        return {
            **mean_over(""),
            "matched": mean_over("matched_"),
            "num_sequences": len(per_sequence),
            "num_annotated": len(self.people),
            "num_matched": int(num_matched),
            "recall": num_matched / len(self.people),
            "per_sequence": per_sequence,
            "settings": {
                "joints_h36m": list(EVAL_JOINTS), "threshold_mm": self.threshold_mm,
                "auc_thresholds_mm": [self.thresholds_mm[0], self.thresholds_mm[-1], len(self.thresholds_mm)],
                "match_threshold_px": self.match_threshold_px, "use_univ": self.use_univ,
                "bone_rescaling": self.rescale, "comparison": "<=" if self.inclusive else "<",
                "aggregation": "per sequence, then the mean over sequences",
            },
        }


def score_people(gt_2d: np.ndarray, gt_3d: np.ndarray, gt_image_ids: Sequence[Any], gt_sequences: Sequence[str],
                 pred_2d: np.ndarray, pred_3d: np.ndarray, pred_image_ids: Sequence[Any],
                 gt_3d_univ: np.ndarray | None = None, **settings: Any) -> dict[str, Any]:
    """Score flat per-person arrays: GT people and predictions are grouped into images by their
    image ids (an image with no prediction gets none; predictions of unknown images are an
    error).  ``settings`` go to :class:`MuPoTSScorer`."""
    gt_ids = list(gt_image_ids)
    pred_ids = list(pred_image_ids)
    unknown = set(pred_ids) - set(gt_ids)
    if unknown:
        raise ValueError(f"predictions for image ids with no annotated person: {sorted(unknown, key=str)[:5]}")
    scorer = MuPoTSScorer(**settings)
    by_image: "OrderedDict[Any, list[int]]" = OrderedDict()
    for i, image_id in enumerate(gt_ids):
        by_image.setdefault(image_id, []).append(i)
    preds: dict[Any, list[int]] = {}
    for i, image_id in enumerate(pred_ids):
        preds.setdefault(image_id, []).append(i)
    pred_2d = np.asarray(pred_2d, dtype=np.float64).reshape(-1, NUM_JOINTS, 2)
    pred_3d = np.asarray(pred_3d, dtype=np.float64).reshape(-1, NUM_JOINTS, 3)
    for image_id, rows in by_image.items():
        seqs = {gt_sequences[r] for r in rows}
        if len(seqs) != 1:
            raise ValueError(f"image {image_id}: its people belong to several sequences {sorted(seqs)}")
        q = preds.get(image_id, [])
        scorer.add_image(
            seqs.pop(), np.asarray(gt_2d)[rows], np.asarray(gt_3d)[rows], pred_2d[q], pred_3d[q],
            None if gt_3d_univ is None else np.asarray(gt_3d_univ)[rows], image_id=image_id,
        )
    return scorer.result()


__all__ = [
    "AUC_THRESHOLDS_MM", "BONES_SAFE_ORDER", "EVAL_JOINTS", "MATCH_JOINTS", "MATCH_THRESHOLD_PX", "MuPoTSScorer",
    "PCK_THRESHOLD_MM", "joint_errors_14", "match_people", "rescale_bones", "score_people",
]
