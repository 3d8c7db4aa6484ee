"""Training augmentations of 3DMPPE (Moon et al. 2019), applied to a batch consistently.

Every augmentation changes the image *and* the regression target together, so a joint's target
still points at the joint in the augmented image:

* scale and in-plane rotation about the crop centre: an affine warp of the image
  (``grid_sample``) and the same similarity on the target's (x, y); the root-relative depth z
  is unchanged (3DMPPE's rule: zooming or rolling the crop does not move a joint in depth);
* horizontal flip: mirrored image, ``x' = W - 1 - x`` in voxel units, and the left/right joints
  swapped (``skeleton.FLIP_PAIRS``);
* colour: each RGB channel multiplied by a factor in ``[1 - c, 1 + c]``;
* synthetic occlusion: a random rectangle of noise pasted over the crop, so the network learns
  to infer joints it cannot see.

Joints pushed outside the volume by scale/rotation lose their visibility flag (their loss is
masked), as in 3DMPPE.  All randomness comes from one ``torch.Generator``, so a run (and a
resumed run) is reproducible.  Under ``torchrun`` (``shard=(rank, world)``) every process draws
the random numbers of the whole global batch and keeps those of its samples (positions
``rank::world``, as :func:`partnas_lib.train.distributed.shard_order` shards the batch), so the
processes together augment exactly as one process would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from partnas_lib.config import RetrainConfig
from partnas_lib.skeleton import flip_permutation


@dataclass(frozen=True)
class AugmentConfig:
    """Strengths; 0 / False switches an augmentation off.  3DMPPE values: scale 0.25,
    rotation 30 deg (applied to 60 % of samples), colour 0.2, flip and occlusion on."""

    flip: bool = True
    scale: float = 0.25
    rotation_deg: float = 30.0
    rotation_prob: float = 0.6
    color: float = 0.2
    occlusion_prob: float = 0.5

    @classmethod
    def from_retrain(cls, r: RetrainConfig) -> "AugmentConfig":
        """The augmentations a retraining config asks for (``retrain.*_augment``)."""
        return cls(flip=r.flip_augment, scale=r.scale_augment, rotation_deg=r.rotation_augment,
                   color=r.color_augment, occlusion_prob=r.occlusion_augment)


def augment_batch(images: torch.Tensor, target: torch.Tensor, vis: torch.Tensor, heatmap_width: int,
                  generator: torch.Generator, cfg: AugmentConfig = AugmentConfig(),
                  shard: tuple[int, int] = (0, 1)) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Augment ``images`` ``(B, 3, S, S)`` in [0, 1], ``target`` ``(B, J, 3)`` voxel coordinates
    and ``vis`` ``(B, J)``; returns new tensors (the inputs are not modified).

    ``shard=(rank, world)``: this batch is process ``rank``'s share of a global batch of
    ``world * B`` samples; random numbers are drawn for the global batch and sliced."""
    # Long because the augmentations must share one random stream in a fixed order (and the
    # same affine for image and target); splitting them would hide that order.
    b = len(images)
    device = images.device
    rank, world = shard

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(b * world, *shape, generator=generator)[rank::world] if world > 1 else \
            torch.rand(b, *shape, generator=generator)

    def _uniform(n: int, lo: float, hi: float, g: torch.Generator) -> torch.Tensor:
        return lo + (hi - lo) * rand()
    images, target, vis = images.clone(), target.clone(), vis.clone()
    w = heatmap_width

    if cfg.scale > 0 or cfg.rotation_deg > 0:
        scale = _uniform(b, 1 - cfg.scale, 1 + cfg.scale, generator)
        angle = _uniform(b, -cfg.rotation_deg, cfg.rotation_deg, generator)
        angle = torch.where(rand() < cfg.rotation_prob, angle, torch.zeros_like(angle))
        rad = angle * math.pi / 180
        cos, sin = torch.cos(rad), torch.sin(rad)
        # forward map in normalised coords: n_out = scale * R(angle) n_in
        fwd = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2) * scale[:, None, None]
        inv = torch.linalg.inv(fwd)
        theta = torch.cat([inv, torch.zeros(b, 2, 1)], dim=2).to(device=device, dtype=images.dtype)
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        images = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        xy = (target[..., :2] + 0.5) / w * 2 - 1  # voxel -> normalised [-1, 1]
        xy = torch.einsum("bij,bkj->bki", fwd, xy)
        target[..., :2] = (xy + 1) / 2 * w - 0.5
        inside = ((target[..., :2] >= 0) & (target[..., :2] <= w - 1)).all(-1)
        vis = vis & inside

    if cfg.flip:
        flip = rand() < 0.5
        if flip.any():
            perm = flip_permutation()
            images[flip.to(device)] = images[flip.to(device)].flip(-1)
            flipped = target[flip][:, perm]
            flipped[..., 0] = w - 1 - flipped[..., 0]
            target[flip] = flipped
            vis[flip] = vis[flip][:, perm]

    if cfg.color > 0:
        lo, hi = 1 - cfg.color, 1 + cfg.color
        factors = (lo + (hi - lo) * rand(3)).view(b, 3, 1, 1).to(device, images.dtype)
        images = (images * factors).clamp_(0, 1)

    if cfg.occlusion_prob > 0:
        s = images.shape[-1]
        occlude = rand() < cfg.occlusion_prob
        area = _uniform(b, 0.02, 0.2, generator) * s * s
        aspect = _uniform(b, 0.3, 1 / 0.3, generator)
        hw = torch.stack([(area * aspect).sqrt(), (area / aspect).sqrt()], -1).clamp(1, s - 1)
        corner = rand(2) * (s - hw)
        noise = rand(*images.shape[1:]).to(device, images.dtype)
        for i in torch.nonzero(occlude).flatten().tolist():
            x0, y0 = int(corner[i, 0]), int(corner[i, 1])
            x1, y1 = x0 + int(hw[i, 0]), y0 + int(hw[i, 1])
            images[i, :, y0:y1, x0:x1] = noise[i, :, y0:y1, x0:x1]
    return images, target, vis
