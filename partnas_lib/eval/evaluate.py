"""Evaluation on the held-out test split: MPJPE, PA-MPJPE, per part, per joint and per action.

Protocol (the 3DMPPE one, docs/method.md Sec. 3): ground-truth crop box and ground-truth root
depth; the network gives each joint's image position and its depth relative to the root; these
are back-projected with the camera intrinsics to camera-space millimetres; errors are measured
after aligning the pelvis, averaged over all test samples and all 17 joints (the pelvis counts,
with zero error).  Next to the model we report the *mean-pose baseline*: always predicting
the training split's mean root-relative pose -- a model that has learned nothing scores this.
Per-action errors come in the order of the Human3.6M tables (:mod:`partnas_lib.eval.actions`).
"""

from __future__ import annotations

import numpy as np
import torch

from partnas_lib.config import Config
from partnas_lib.data.batches import iterate_batches
from partnas_lib.data.sample import SampleArrays
from partnas_lib.eval.actions import per_action_means
from partnas_lib.eval.metrics import joint_errors, pa_joint_errors, summarize
from partnas_lib.models.fuse import fuse_conv_bn
from partnas_lib.models.heads import PartPoseNet
from partnas_lib.skeleton import flip_permutation, get_grouping


@torch.no_grad()
def predict_coords(model: PartPoseNet, arrays: SampleArrays, batch_size: int, device: torch.device,
                   flip_test: bool = True) -> np.ndarray:
    """``(N, 17, 3)`` voxel coordinates; with ``flip_test`` averaged with the mirrored image's.
    Runs an inference copy with BatchNorm folded into the convolutions (:func:`fuse_conv_bn`)."""
    model = fuse_conv_bn(model)
    width = model.geometry.size
    perm = flip_permutation()
    out = []
    for batch in iterate_batches(arrays, np.arange(len(arrays)), batch_size, device, drop_last=False):
        coords = model.predict(batch["image"])
        if flip_test:
            flipped = model.predict(batch["image"].flip(-1))[:, perm]
            flipped[..., 0] = width - 1 - flipped[..., 0]
            coords = (coords + flipped) / 2
        out.append(coords.float().cpu().numpy())
    return np.concatenate(out)


def predict_camera_mm(model: PartPoseNet, arrays: SampleArrays, batch_size: int, device: torch.device,
                      flip_test: bool = True) -> np.ndarray:
    """``(N, 17, 3)`` camera-space mm using the ground-truth root depth (3DMPPE protocol)."""
    coords = predict_coords(model, arrays, batch_size, device, flip_test)
    return model.geometry.decode(coords, arrays.bbox, arrays.intrinsics, arrays.root_depth)


def mean_pose_baseline(train: SampleArrays, test: SampleArrays) -> float:
    """MPJPE of always predicting the training split's mean root-relative pose."""
    mean_pose = train.root_relative_3d().mean(axis=0)
    return float(joint_errors(np.broadcast_to(mean_pose, test.joints_3d.shape), test.joints_3d).mean())


def evaluate_model(cfg: Config, model: PartPoseNet, test: SampleArrays, train: SampleArrays,
                   device: torch.device) -> tuple[dict, np.ndarray]:
    """Metrics dict (see the run directory's ``metrics.json``) and the predictions in mm."""
    pred = predict_camera_mm(model, test, cfg.eval.batch_size, device, cfg.eval.flip_test)
    metrics = summarize(pred, test.joints_3d.astype(np.float64), get_grouping(cfg.model.parts))
    metrics["mean_pose_mpjpe"] = mean_pose_baseline(train, test)
    metrics["num_test_samples"] = len(test)
    gt = test.joints_3d.astype(np.float64)
    metrics["per_action_mpjpe"] = per_action_means(joint_errors(pred, gt).mean(axis=1), test.meta)
    metrics["per_action_pa_mpjpe"] = per_action_means(pa_joint_errors(pred, gt).mean(axis=1), test.meta)
    return metrics, pred
