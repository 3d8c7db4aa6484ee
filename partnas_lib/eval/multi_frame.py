"""One multi-person frame, ground truth and predicted, for notebooks and pictures.

:func:`load_test_frame` renders a frame of the synthetic multi-person *test* split (the scenes
``partnas evaluate --dataset synthetic-multi`` scores), :func:`scene_people` lists its people in
camera space and :func:`predict_frame` runs the run's pose network and RootNet on them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from partnas_lib.config import Config
from partnas_lib.data.sample import SampleArrays
from partnas_lib.data.synth.scene_splits import frame_samples, load_frame, split_layout
from partnas_lib.data.synth.scenes import FRAME_WIDTH, MultiPersonFrame
from partnas_lib.eval.evaluate import predict_coords
from partnas_lib.eval.multi_person import decode_people, load_pose_model
from partnas_lib.models.rootnet import k_prior, predict_root_depth
from partnas_lib.train.device import resolve_device
from partnas_lib.train.rootnet import load_rootnet, rootnet_path


def scene_people(frame: MultiPersonFrame) -> dict[str, Any]:
    """The people of a rendered frame placed in camera space (ground truth), ready to plot:
    ``joints_cam`` ``(N, 17, 3)`` mm (X right, Y down, Z forward), ``joints_2d`` ``(N, 17, 2)``,
    ``bbox`` ``(N, 4)``, ``root_depth`` ``(N,)``, ``joints_vis`` ``(N, 17)``, ``actions``, plus the
    frame's ``image``, ``intrinsics`` and ``size``."""
    p = frame.people
    return {
        "joints_cam": np.stack([x.joints_cam for x in p]), "joints_2d": np.stack([x.joints_2d for x in p]),
        "bbox": np.stack([x.bbox for x in p]), "root_depth": np.array([x.root_depth for x in p]),
        "joints_vis": np.stack([x.joints_vis for x in p]), "actions": [x.action for x in p],
        "image": frame.image, "intrinsics": frame.intrinsics, "size": frame.size,
    }


def predict_frame(cfg: Config, out: str | Path, frame: MultiPersonFrame, rootnet: str | Path | None = None,
                  device: str | None = None) -> dict[str, Any]:
    """Ground truth and predictions for every person of ``frame`` (ground-truth boxes):
    :func:`scene_people`'s fields plus ``pred_cam`` ``(N, 17, 3)`` (absolute, with the root depth
    of RootNet from ``rootnet`` or ``OUT``, else the k prior), ``pred_cam_gt_root`` (the same
    pose with the true root depth), ``pred_root_depth``, ``k_prior`` and ``root_source``."""
    dev = resolve_device(device or cfg.device)
    model = load_pose_model(cfg, out, dev)
    arrays = SampleArrays.from_samples(frame_samples(frame, cfg.data.image_size))
    location = rootnet if rootnet is not None else (out if rootnet_path(out).is_file() else None)
    if location is not None:
        net, _ = load_rootnet(location, dev)
        roots = predict_root_depth(net, arrays.images, arrays.bbox, arrays.intrinsics, device=dev)
        source = f"RootNet {rootnet_path(location)}"
    else:
        roots, source = k_prior(arrays.bbox, arrays.intrinsics), "k prior (gamma = 1)"
    coords = predict_coords(model, arrays, cfg.eval.batch_size, dev, cfg.eval.flip_test)
    pred_2d, pred_3d = decode_people(model, coords, arrays.bbox, arrays.intrinsics, roots)
    _, oracle = decode_people(model, coords, arrays.bbox, arrays.intrinsics, arrays.root_depth)
    return {**scene_people(frame), "pred_cam": pred_3d, "pred_cam_gt_root": oracle, "pred_2d": pred_2d,
            "pred_root_depth": roots, "k_prior": k_prior(arrays.bbox, arrays.intrinsics), "root_source": source,
            "crops": arrays.images}


def load_test_frame(cfg: Config, sequence: int = 0, frame: int = 0) -> MultiPersonFrame:
    """Frame ``frame`` of sequence ``sequence`` of the synthetic multi-person *test* split of
    ``cfg`` (the same scenes ``evaluate --dataset synthetic-multi`` scores, same image ids)."""
    _, frames = split_layout("test", cfg.data.num_test)
    return load_frame("test", sequence, frame, cfg.data.seed, FRAME_WIDTH, cfg.data.supersample,
                      frames_per_sequence=frames)
