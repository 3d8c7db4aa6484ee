"""The protocol card of ``metrics.json``: what exactly was measured, read off the data used.

A number means little without its protocol: which dataset, which subjects, every how many
frames, which cameras, how many samples, which metric, averaged how (docs/method.md Sec. 3).
:func:`protocol_card` writes these down from the test and training samples the evaluation
actually used (their ``meta``), not from what the config hoped for, so a capped or
mis-configured split shows on the card.
"""

from __future__ import annotations

from typing import Any

from partnas_lib.config import Config
from partnas_lib.data.datasets.h36m_facts import H36M_SPLITS
from partnas_lib.data.protocols import PROTOCOLS, h36m_subsets
from partnas_lib.data.sample import SampleArrays
from partnas_lib.data.synth.synthetic import RENDER_VERSION

METRICS = ("mpjpe = mean per-joint position error after aligning the pelvis (root); "
           "pa_mpjpe = the same after a per-sample similarity Procrustes alignment (scale, rotation, translation)")
AGGREGATION = ("mean over all test samples and all 17 joints (pelvis included, zero error after root alignment); "
               "per_action_* average the samples of each action; per_part_* the joints of each part except "
               "the pelvis (root), whose error is zero by construction")


def protocol_card(cfg: Config, test: SampleArrays | None = None, train: SampleArrays | None = None) -> dict[str, Any]:
    """The card for an evaluation of ``cfg`` on ``test`` after training on ``train`` (without
    the arrays, only what the config says)."""
    card: dict[str, Any] = {"dataset": cfg.data.dataset}
    if cfg.data.dataset == "h36m":
        card.update(_h36m(cfg, test, train))
    else:
        card["pose_source"] = cfg.data.pose_source
        card["render_version"] = RENDER_VERSION  # which generator drew and rendered the people
        n = len(test) if test is not None else cfg.data.num_test
        card["test_split"] = f"{n} synthetic samples rendered from a seed disjoint from training"
        if train is not None:
            card["train_split"] = f"{len(train)} synthetic samples"
    card.update({
        "box": "ground truth",
        "root_depth": "ground truth (3DMPPE protocol); metrics are root-relative",
        "metrics": METRICS,
        "aggregation": AGGREGATION,
        "flip_test": cfg.eval.flip_test,
        "image_size": cfg.data.image_size,
    })
    return card


def _h36m(cfg: Config, test: SampleArrays | None, train: SampleArrays | None) -> dict[str, Any]:
    d = cfg.data
    train_subset, test_subset = h36m_subsets(d)
    out: dict[str, Any] = {"data_root": d.root}
    if d.protocol:
        p = PROTOCOLS[d.protocol]
        out.update({"protocol": p.name, "reported_metric": p.metric, "also_called": p.also_called})
    else:
        out["protocol"] = "none (data.train_subset / data.test_subset as given)"
    out["test_split"] = _split(test, test_subset, d.num_test, "data.num_test")
    if train is not None:
        out["train_split"] = _split(train, train_subset, d.num_train, "data.num_train")
        out["train_split"]["held_out_for_validation"] = d.num_val
    return out


def _split(arrays: SampleArrays | None, subset: str, cap: int, cap_field: str) -> dict[str, Any]:
    """Subjects, cameras, actions and sample counts of ``arrays``; frame step of ``subset``."""
    sel = H36M_SPLITS.get(subset)
    out: dict[str, Any] = {"subset": subset}
    if sel is not None:
        out["frame_step"] = sel.frame_step
        out["frames"] = f"frame_idx % {sel.frame_step} == 0 of the 50 Hz videos"
    out["cap"] = "none: every frame of the subset" if cap == 0 else f"{cap_field} = {cap}, evenly spread"
    if arrays is None:
        return out
    h36m = [m for m in arrays.meta if m.get("source") == "h36m"]
    out["subjects"] = sorted({str(m["subject"]) for m in h36m}, key=lambda s: int(s[1:]))
    out["cameras"] = sorted({int(m["cam_idx"]) for m in h36m})
    out["actions"] = len({m["action"] for m in h36m})
    out["samples"] = len(arrays)
    others = len(arrays) - len(h36m)
    if others:
        out["other_samples"] = f"{others} (e.g. MPII 2D, depth loss masked)"
    return out


__all__ = ["AGGREGATION", "METRICS", "protocol_card"]
