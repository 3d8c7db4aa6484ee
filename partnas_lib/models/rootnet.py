"""RootNet: each person's absolute root depth from its crop, its box and the camera.

The pose network is *root-relative*: it predicts every joint's image position and its depth
relative to the pelvis, never how far the person is.  For absolute 3D poses of several people
(MuPoTS-3D's ``_abs`` metrics; docs/method.md Sec. 3) 3DMPPE adds RootNet (Moon et al., "Camera
Distance-aware Top-down Approach for 3D Multi-person Pose Estimation from a Single RGB Image",
ICCV 2019), built on one observation:

**The distance prior k.**  A person of real-world area ``A_real`` at depth ``Z`` covers about
``A_img = fx fy A_real / Z^2`` pixels (pinhole projection of an area).  Solving for Z gives

    k = sqrt(fx * fy * A_real / A_img)                                  (3DMPPE Eq. 1)

with ``A_img`` the area of the person's (3DMPPE-processed) box in pixels and ``A_real`` fixed to
2000 mm x 2000 mm (:data:`A_REAL_MM2`: the box around a standing adult plus margin).  k needs no
learning and is already a fair guess of ``Z`` -- but it is wrong whenever the box is not
"a standing adult": a crouching or sitting person has a small box (k too far), a person with
arms stretched out or cut by the image border a large one.

**The correction gamma.**  RootNet looks at the crop and predicts a factor ``gamma`` so that
``Z = gamma * k`` (3DMPPE Eq. 2): from the image it can tell crouching from standing, a child
from an adult, a tight box from a loose one.  3DMPPE uses a ResNet-50 and a 1x1 convolution
after global pooling; partnas uses the pose network's trunk
(:class:`~partnas_lib.models.backbone.ResNetTrunk` at the preset's depth and width), global
average pooling and one linear layer.  Project decision: the layer predicts ``log gamma``
(zero-initialised), so ``gamma = exp(.) > 0`` always and an untrained RootNet *is* the k prior.
Trained with an L1 loss on ``Z`` (as 3DMPPE).  Because ``k`` carries the scale, the network only
has to learn a dimensionless factor that is the same for a crop of a near or a far person, and
it works with any camera: intrinsics enter only through ``k``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from partnas_lib.models.backbone import ResNetTrunk

#: The real-world area the prior assumes for every person's box: 2000 mm x 2000 mm (3DMPPE).
A_REAL_MM2 = 2000.0 * 2000.0


def k_prior(bbox: np.ndarray, intrinsics: np.ndarray, area_real_mm2: float = A_REAL_MM2) -> np.ndarray:
    """The 3DMPPE distance prior ``k = sqrt(fx fy A_real / (w h))`` in mm for boxes ``(..., 4)``
    ``[x, y, w, h]`` (px) and intrinsics ``(..., 4)`` ``[fx, fy, cx, cy]``."""
    bbox = np.asarray(bbox, dtype=np.float64)
    intr = np.asarray(intrinsics, dtype=np.float64)
    area = bbox[..., 2] * bbox[..., 3]
    if np.any(area <= 0):
        raise ValueError("k_prior: every box needs a positive area")
    return np.sqrt(intr[..., 0] * intr[..., 1] * area_real_mm2 / area)


class RootNet(nn.Module):
    """``Z = gamma(crop) * k``: a ResNet trunk, global average pooling, a linear ``log gamma``.

    ``forward(images, k)`` takes float images ``(B, 3, S, S)`` in [0, 1] (as the pose network)
    and the prior ``k`` ``(B,)`` mm, and returns the root depth ``(B,)`` mm.
    """

    def __init__(self, trunk: ResNetTrunk):
        super().__init__()
        self.trunk = trunk
        self.head = nn.Linear(trunk.out_channels, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def log_gamma(self, images: torch.Tensor) -> torch.Tensor:
        feat = self.trunk(images)[-1].mean(dim=(2, 3))
        return self.head(feat).squeeze(-1)

    def gamma(self, images: torch.Tensor) -> torch.Tensor:
        """The learned correction factor ``(B,)`` (1 = trust the prior)."""
        return torch.exp(self.log_gamma(images))

    def forward(self, images: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        return self.gamma(images) * k


def rootnet_loss(pred_mm: torch.Tensor, target_mm: torch.Tensor) -> torch.Tensor:
    """L1 loss on the root depth, in metres (3DMPPE trains RootNet with L1 on Z)."""
    return (pred_mm - target_mm).abs().mean() / 1000.0


@torch.no_grad()
def predict_root_depth(model: RootNet, images: np.ndarray, bbox: np.ndarray, intrinsics: np.ndarray,
                       batch_size: int = 64, device: torch.device | str = "cpu", flip_test: bool = True) -> np.ndarray:
    """Root depths ``(N,)`` mm of uint8 crops ``(N, S, S, 3)`` with their boxes and intrinsics.

    With ``flip_test`` gamma is averaged (in log space) with the mirrored crop's: a mirrored
    person is exactly as far away.
    """
    model.eval()
    device = torch.device(device)
    k = k_prior(bbox, intrinsics)
    out = np.empty(len(images), dtype=np.float64)
    for lo in range(0, len(images), batch_size):
        x = torch.from_numpy(np.ascontiguousarray(images[lo:lo + batch_size])).to(device)
        x = x.permute(0, 3, 1, 2).float().div_(255.0)
        log_g = model.log_gamma(x)
        if flip_test:
            log_g = (log_g + model.log_gamma(x.flip(-1))) / 2
        out[lo:lo + len(x)] = np.exp(log_g.double().cpu().numpy()) * k[lo:lo + len(x)]
    return out


__all__ = ["A_REAL_MM2", "RootNet", "k_prior", "predict_root_depth", "rootnet_loss"]
