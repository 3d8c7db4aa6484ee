"""Volumetric heatmaps and their soft-argmax read-out (integral regression).

Each joint gets a ``D x H x W`` volume: H, W span the image crop at the head's output stride,
D spans ``cube_mm`` of depth centred on the root (Pavlakos et al. 2017; Sun et al. "Integral
human pose regression" 2018; Moon et al. 3DMPPE 2019).  Soft-argmax turns a volume into
coordinates differentiably: ``softmax`` over all voxels gives a probability ``p``, and the joint
is its expectation ``sum_v p(v) * (x_v, y_v, z_v)`` (Sun et al., Eq. 3).  Unlike a hard argmax
it is sub-voxel accurate and lets an L1 loss on coordinates train the volumes end to end.

Coordinate conventions used everywhere in partnas:
* crop pixels are continuous with pixel ``i`` covering ``[i, i + 1)``;
* heatmap cell ``x`` covers crop pixels ``[x s, (x + 1) s)`` for stride ``s``, so a crop pixel
  ``u`` sits at ``x = u / s - 0.5``;
* depth bin ``z`` of ``D`` covers root-relative depth ``((z + 0.5) / D * 2 - 1) * cube / 2``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from partnas_lib.camera import backproject_pinhole, crop_to_image


def soft_argmax_3d(volumes: torch.Tensor) -> torch.Tensor:
    """``(B, J, D, H, W)`` logits -> ``(B, J, 3)`` expected ``(x, y, z)`` in voxel units."""
    b, j, d, h, w = volumes.shape
    prob = F.softmax(volumes.reshape(b, j, -1).float(), dim=-1).reshape(b, j, d, h, w)
    xs = torch.arange(w, dtype=prob.dtype, device=prob.device)
    ys = torch.arange(h, dtype=prob.dtype, device=prob.device)
    zs = torch.arange(d, dtype=prob.dtype, device=prob.device)
    x = (prob.sum(dim=(2, 3)) * xs).sum(-1)
    y = (prob.sum(dim=(2, 4)) * ys).sum(-1)
    z = (prob.sum(dim=(3, 4)) * zs).sum(-1)
    return torch.stack([x, y, z], dim=-1)


@dataclass(frozen=True)
class VolumeGeometry:
    """How volume voxels map to crop pixels and root-relative depth."""

    image_size: int
    stride: int
    depth_bins: int
    cube_mm: float

    @property
    def size(self) -> int:
        return self.image_size // self.stride

    # targets ------------------------------------------------------------------------------
    def encode(self, joints_2d: np.ndarray | torch.Tensor, joints_3d, bbox) -> torch.Tensor:
        """Ground truth -> ``(B, J, 3)`` voxel coordinates (the regression target)."""
        j2 = torch.as_tensor(joints_2d, dtype=torch.float32)
        j3 = torch.as_tensor(joints_3d, dtype=torch.float32)
        bb = torch.as_tensor(bbox, dtype=torch.float32)
        uv = (j2 - bb[:, None, :2]) * (self.image_size / bb[:, None, 2:])
        xy = uv / self.stride - 0.5
        dz = j3[..., 2] - j3[:, :1, 2]
        z = (dz / (self.cube_mm / 2) + 1) / 2 * self.depth_bins - 0.5
        return torch.cat([xy, z[..., None]], dim=-1)

    # decoding -----------------------------------------------------------------------------
    def decode(self, coords: np.ndarray, bbox: np.ndarray, intrinsics: np.ndarray,
               root_depth: np.ndarray) -> np.ndarray:
        """Voxel coordinates -> ``(B, J, 3)`` camera-space mm.

        The image position comes from the heatmap; the absolute depth is the root depth (given:
        ground truth here, RootNet for multi-person) plus the predicted relative depth; then the
        pinhole back-projection gives X, Y (3DMPPE's evaluation).
        """
        coords = np.asarray(coords, dtype=np.float64)
        uv_crop = (coords[..., :2] + 0.5) * self.stride
        uv = crop_to_image(uv_crop, bbox, self.image_size)
        dz = ((coords[..., 2] + 0.5) / self.depth_bins * 2 - 1) * (self.cube_mm / 2)
        depth = np.asarray(root_depth, dtype=np.float64)[:, None] + dz
        return backproject_pinhole(uv, depth, intrinsics)

def integral_l1_loss(pred: torch.Tensor, target: torch.Tensor, vis: torch.Tensor, has_3d: torch.Tensor) -> torch.Tensor:
    """L1 on (x, y, z) voxel coordinates; z is masked for 2D-only samples (docs/method.md Sec. 2)."""
    weight = vis[..., None].float().expand_as(pred).clone()
    weight[..., 2] *= has_3d[:, None].float()
    return (weight * (pred - target).abs()).sum() / weight.sum().clamp_min(1.0)
