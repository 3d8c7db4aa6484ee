"""Pinhole cameras with optional lens distortion, and a rig that imitates Human3.6M's.

Conventions (docs/architecture.md): millimetres in 3D, pixels in 2D; camera space has X right, Y down and
Z forward (depth).  A world point ``X_w`` maps to camera space as ``X_c = R (X_w - C)`` where
``C`` is the camera centre in world coordinates (the 3DMPPE convention), then to pixels as
``u = fx X/Z + cx``, ``v = fy Y/Z + cy`` after the Brown-Conrady distortion that Human3.6M
calibrations use (radial k1, k2, k3 and tangential p1, p2).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Human3.6M's four cameras (docs/formats.md): id -> (f, c, k, p, (width, height)).
H36M_INTRINSICS: dict[str, dict] = {
    "54138969": dict(f=(1145.049, 1143.781), c=(512.542, 515.451),
                     k=(-0.20709, 0.24778, -0.00308), p=(-0.00142, -0.00098), size=(1000, 1002)),
    "55011271": dict(f=(1149.676, 1147.592), c=(508.849, 508.065),
                     k=(-0.19421, 0.24041, 0.00682), p=(-0.00274, -0.00162), size=(1000, 1000)),
    "58860488": dict(f=(1149.141, 1148.799), c=(519.816, 501.403),
                     k=(-0.20834, 0.25549, -0.00246), p=(-0.00076, 0.00148), size=(1000, 1000)),
    "60457274": dict(f=(1145.511, 1144.774), c=(514.968, 501.882),
                     k=(-0.19838, 0.21832, -0.00895), p=(-0.00181, -0.00059), size=(1000, 1002)),
}


@dataclass
class Camera:
    """A calibrated camera: intrinsics ``f``, ``c``, distortion ``k``, ``p``; extrinsics R, C.

    ``R`` rotates world axes into camera axes and ``C`` is the camera centre in world mm, so
    ``X_cam = R (X_world - C)``.
    """

    f: np.ndarray
    c: np.ndarray
    R: np.ndarray = field(default_factory=lambda: np.eye(3))
    C: np.ndarray = field(default_factory=lambda: np.zeros(3))
    k: np.ndarray = field(default_factory=lambda: np.zeros(3))
    p: np.ndarray = field(default_factory=lambda: np.zeros(2))
    size: tuple[int, int] = (1000, 1000)
    name: str = ""

    def __post_init__(self) -> None:
        self.f = np.asarray(self.f, dtype=np.float64).reshape(2)
        self.c = np.asarray(self.c, dtype=np.float64).reshape(2)
        self.R = np.asarray(self.R, dtype=np.float64).reshape(3, 3)
        self.C = np.asarray(self.C, dtype=np.float64).reshape(3)
        self.k = np.asarray(self.k, dtype=np.float64).reshape(3)
        self.p = np.asarray(self.p, dtype=np.float64).reshape(2)

    @property
    def intrinsics(self) -> np.ndarray:
        """``(fx, fy, cx, cy)``."""
        return np.concatenate([self.f, self.c])

    @property
    def has_distortion(self) -> bool:
        return bool(np.any(self.k != 0) or np.any(self.p != 0))

    # world <-> camera ---------------------------------------------------------------------
    def world_to_camera(self, X: np.ndarray) -> np.ndarray:
        """World points ``(..., 3)`` mm to camera space ``(..., 3)`` mm."""
        return (np.asarray(X, dtype=np.float64) - self.C) @ self.R.T

    def camera_to_world(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float64) @ self.R + self.C

    # camera <-> pixel ---------------------------------------------------------------------
    def distort(self, xy: np.ndarray) -> np.ndarray:
        """Apply radial + tangential distortion to normalised image coordinates ``(..., 2)``."""
        if not self.has_distortion:
            return xy
        x, y = xy[..., 0], xy[..., 1]
        r2 = x * x + y * y
        radial = 1 + self.k[0] * r2 + self.k[1] * r2**2 + self.k[2] * r2**3
        p1, p2 = self.p
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        return np.stack([xd, yd], axis=-1)

    def undistort(self, xy_d: np.ndarray, iterations: int = 20) -> np.ndarray:
        """Invert :meth:`distort` by fixed-point iteration (converges for H36M's mild lenses)."""
        if not self.has_distortion:
            return xy_d
        xy = xy_d.copy()
        for _ in range(iterations):
            xy = xy + (xy_d - self.distort(xy))
        return xy

    def project(self, X_cam: np.ndarray) -> np.ndarray:
        """Camera-space points ``(..., 3)`` to pixels ``(..., 2)``."""
        X_cam = np.asarray(X_cam, dtype=np.float64)
        z = X_cam[..., 2:3]
        if np.any(z <= 0):
            raise ValueError("cannot project points at or behind the camera (Z <= 0)")
        return self.distort(X_cam[..., :2] / z) * self.f + self.c

    def pixel_to_ray(self, uv: np.ndarray) -> np.ndarray:
        """Pixels ``(..., 2)`` to camera-space ray directions ``(..., 3)`` with Z = 1."""
        xy = self.undistort((np.asarray(uv, dtype=np.float64) - self.c) / self.f)
        return np.concatenate([xy, np.ones_like(xy[..., :1])], axis=-1)

    def backproject(self, uv: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """Pixels and their camera-space depths Z (mm) to camera-space points."""
        return self.pixel_to_ray(uv) * np.asarray(depth, dtype=np.float64)[..., None]


def backproject_pinhole(uv: np.ndarray, depth: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """Undistorted back-projection with per-sample intrinsics ``(..., 4) = fx, fy, cx, cy``.

    ``uv`` is ``(..., J, 2)``, ``depth`` is ``(..., J)``; the result is ``(..., J, 3)`` mm.
    This is how 3DMPPE turns (u, v, Z) read out of a heatmap into camera-space joints.
    """
    intrinsics = np.asarray(intrinsics, dtype=np.float64)[..., None, :]
    x = (uv[..., 0] - intrinsics[..., 2]) / intrinsics[..., 0] * depth
    y = (uv[..., 1] - intrinsics[..., 3]) / intrinsics[..., 1] * depth
    return np.stack([x, y, depth], axis=-1)


def look_at(centre: np.ndarray, target: np.ndarray, up: np.ndarray = np.array([0, 0, 1.0])) -> np.ndarray:
    """Rotation ``R`` of a camera at ``centre`` looking at ``target`` (world Z up).

    Camera rows are (right, down, forward) expressed in world coordinates.
    """
    forward = np.asarray(target, float) - np.asarray(centre, float)
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, up)
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    return np.stack([right, down, forward])


def h36m_like_rig(rng: np.random.Generator | None = None, distortion: bool = False) -> list[Camera]:
    """Four cameras placed like Human3.6M's (docs/formats.md): one near each corner of the room.

    Cameras stand 4-5.4 m from the capture-volume centre at 1.5-1.6 m height and look at a
    point about 1 m above the floor centre; intrinsics are the real H36M values.  World
    coordinates are in mm with Z up and the floor at Z = 0.  With ``rng`` the distances,
    heights and azimuths are jittered, giving a new plausible rig per draw.
    """
    rng = rng or np.random.default_rng(0)
    cams = []
    for i, (name, intr) in enumerate(H36M_INTRINSICS.items()):
        azimuth = np.deg2rad(45 + 90 * i + rng.uniform(-10, 10))
        dist = rng.uniform(4000, 5400)
        height = rng.uniform(1500, 1600)
        centre = np.array([dist * np.cos(azimuth), dist * np.sin(azimuth), height])
        target = np.array([0.0, 0.0, rng.uniform(900, 1100)])
        cams.append(Camera(
            f=intr["f"], c=intr["c"], R=look_at(centre, target), C=centre,
            k=intr["k"] if distortion else (0, 0, 0), p=intr["p"] if distortion else (0, 0),
            size=intr["size"], name=name,
        ))
    return cams


def square_bbox(uv: np.ndarray, margin: float = 1.25, aspect: float = 1.0) -> np.ndarray:
    """The 3DMPPE crop box around 2D points: tight box, grown by ``margin``, fixed aspect.

    Returns ``[x, y, w, h]`` (pixels) with ``w / h == aspect``.
    """
    lo, hi = uv.min(axis=0), uv.max(axis=0)
    w, h = hi - lo
    cx, cy = (lo + hi) / 2
    if w > aspect * h:
        h = w / aspect
    else:
        w = h * aspect
    w, h = w * margin, h * margin
    return np.array([cx - w / 2, cy - h / 2, w, h])


def crop_intrinsics(intrinsics: np.ndarray, bbox: np.ndarray, out_size: int) -> np.ndarray:
    """Intrinsics of the virtual camera that sees exactly ``bbox`` resized to ``out_size`` px."""
    fx, fy, cx, cy = np.asarray(intrinsics, float)
    x, y, w, h = np.asarray(bbox, float)
    sx, sy = out_size / w, out_size / h
    return np.array([fx * sx, fy * sy, (cx - x) * sx, (cy - y) * sy])


def image_to_crop(uv: np.ndarray, bbox: np.ndarray, out_size: int) -> np.ndarray:
    """Pixels of the original image to pixels of the ``out_size`` crop of ``bbox``."""
    bbox = np.asarray(bbox, float)
    return (uv - bbox[..., None, :2]) * (out_size / bbox[..., None, 2:])


def crop_to_image(uv: np.ndarray, bbox: np.ndarray, out_size: int) -> np.ndarray:
    """Inverse of :func:`image_to_crop`."""
    bbox = np.asarray(bbox, float)
    return uv * (bbox[..., None, 2:] / out_size) + bbox[..., None, :2]
