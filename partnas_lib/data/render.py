"""A small batched ray caster that draws synthetic people as shaded 3D solids.

The synthetic data must make a network *read a body*: a silhouette with limbs that occlude each
other, shading that shows which way a surface faces, clothes that tell the torso from the legs,
a face that tells front from back.  Drawing dots or colour-coded joints would let a network cheat.
So each person is built from simple solids and ray cast, the way a physically based renderer
works, just with very simple shapes:

* **Capsules** (a cylinder with two hemispherical caps: all points within radius ``r`` of a
  segment ``a -> b``), one per bone, plus a few fat capsules for the torso and a short one for
  the head.  A sphere is a capsule whose segment has length 0 (hands, nose).
* One **ray per (super)sample pixel** through the crop camera: the pixel with column ``i`` and
  row ``j`` looks along ``((i + 0.5 - cx) / fx, (j + 0.5 - cy) / fy, 1)`` (pixel ``i`` covers
  ``[i, i + 1)``, the convention of :func:`partnas_lib.camera.crop_intrinsics`).
* **Nearest hit wins** (a z-buffer): for every pixel we keep the primitive with the smallest ray
  parameter ``t``, which gives correct self-occlusion for free.
* **Lambert shading** ``albedo * (ambient + (1 - ambient) * max(0, n . l))`` from the surface
  normal ``n`` and a random light direction ``l``; per-primitive albedo from the subject's
  clothes (shirt, trousers, skin, shoes, hair) with optional shirt stripes.
* **Supersampling**: render at ``supersample`` times the resolution, average each block of
  ``supersample x supersample`` samples (antialiased edges), composite over a procedural
  background.

Speed.  Everything per pixel is done by torch on whole batches; there is no Python loop over
pixels.  Testing every ray against every primitive would waste most of the work (a forearm
covers a few percent of the image), so rays are grouped into square **tiles** and each tile is
only tested against the primitives whose screen-space footprint can reach it (a conservative
bound, see :func:`_tile_overlaps`).  The result equals the brute-force one exactly (a test
checks this against :func:`raycast_dense`).

Determinism.  Every per-pixel quantity is computed with ``+ - * /``, ``sqrt``, ``min`` and
``floor`` only, which IEEE arithmetic rounds identically however torch vectorises or splits a
batch; random choices come from one numpy generator per image.  Hence an image is bit-identical
whether it is rendered alone or inside any batch.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch

from partnas_lib.data.poses import Body, _hsv_to_rgb

# Joint indices (Human3.6M-17), named for readability.
PELVIS, R_HIP, R_KNEE, R_ANKLE, L_HIP, L_KNEE, L_ANKLE = 0, 1, 2, 3, 4, 5, 6
SPINE, THORAX, NOSE, HEAD = 7, 8, 9, 10
L_SHOULDER, L_ELBOW, L_WRIST, R_SHOULDER, R_ELBOW, R_WRIST = 11, 12, 13, 14, 15, 16

#: Names of the primitives in the order :func:`build_primitives` emits them.
PRIMITIVE_NAMES: tuple[str, ...] = (
    "waist", "chest", "shoulders", "l_flank", "r_flank", "hips",
    "r_thigh", "l_thigh", "r_shin", "l_shin", "r_foot", "l_foot",
    "l_upper_arm", "r_upper_arm", "l_forearm", "r_forearm", "l_hand", "r_hand",
    "neck", "head", "nose",
)
NUM_PRIMITIVES = len(PRIMITIVE_NAMES)
TILE = 16  # tile side in supersampled pixels


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.sqrt(v @ v)), 1e-9)


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross product of two 3-vectors (``np.cross`` is slow for single vectors)."""
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


# --------------------------------------------------------------------------------------------
# Scene description: a person as capsules
# --------------------------------------------------------------------------------------------

@dataclass
class Primitives:
    """Capsules of one image (numpy, camera space mm).  ``P`` rows, one per primitive.

    ``a``, ``b``: segment end points ``(P, 3)``; ``radius`` ``(P,)``.  A capsule is coloured
    ``colour0`` where the closest point on its segment lies before ``split`` (a fraction of the
    length from ``a``) and ``colour1`` after, which draws sleeves, shorts and bare skin.
    ``striped`` marks shirt parts that carry the body's stripes; ``head`` marks the head,
    which gets hair on top and at the back and skin on the face.
    """

    a: np.ndarray
    b: np.ndarray
    radius: np.ndarray
    colour0: np.ndarray
    colour1: np.ndarray
    split: np.ndarray
    striped: np.ndarray
    head: np.ndarray


@dataclass
class BodyFrame:
    """Directions (camera space, unit) derived from the joints, used for feet, head and shading."""

    up: np.ndarray        # pelvis -> thorax
    left: np.ndarray      # right hip -> left hip
    head_up: np.ndarray   # thorax -> head top
    head_fwd: np.ndarray  # where the face points


def body_frame(joints: np.ndarray) -> BodyFrame:
    """Torso and head directions from 17 camera-space joints."""
    up = _unit(joints[THORAX] - joints[PELVIS])
    left = _unit(joints[L_HIP] - joints[R_HIP])
    head_up = _unit(joints[HEAD] - joints[THORAX])
    to_nose = joints[NOSE] - joints[THORAX]
    fwd = to_nose - np.dot(to_nose, head_up) * head_up
    if fwd @ fwd < 1e-12:  # degenerate: fall back to the torso's forward
        fwd = _cross(left, up)
    return BodyFrame(up=up, left=left, head_up=head_up, head_fwd=_unit(fwd))


def build_primitives(joints: np.ndarray, body: Body) -> Primitives:
    """The capsules that make up ``body`` posed at ``joints`` (``(17, 3)`` camera mm).

    Torso: fat capsules pelvis-spine ("waist") and spine-thorax ("chest"), shoulder-to-shoulder,
    hip-to-hip and two flanks from each hip to its shoulder, so the trunk is wider than deep.
    Limbs: one capsule per bone.  Feet point forward, perpendicular to the shin.  The head is a
    short vertical capsule above the neck with a small nose sphere on the face.
    """
    J = np.asarray(joints, dtype=np.float64)
    f = body_frame(J)
    skin, shirt, trousers, shoes = body.skin, body.shirt, body.trousers, body.shoes
    rows: list[tuple] = []  # (a, b, radius, colour0, colour1, split, striped, head)

    def add(a, b, r, c0, c1=None, split=1.0, striped=0.0, head=0.0):
        rows.append((a, b, r, c0, c0 if c1 is None else c1, split, striped, head))

    # Torso.  The chest capsule stops short of the thorax so its cap does not swallow the neck.
    chest_top = J[THORAX] - f.up * 0.55 * body.r_chest
    stripes = 1.0 if body.stripe_strength > 0 else 0.0
    # The waist capsule starts above the pelvis so the shirt does not cover the crotch.
    add(J[PELVIS] + f.up * 0.7 * body.r_waist, J[SPINE], body.r_waist, shirt, striped=stripes)
    add(J[SPINE], chest_top, body.r_chest, shirt, striped=stripes)
    add(J[L_SHOULDER], J[R_SHOULDER], 1.15 * body.r_upper_arm, shirt, striped=stripes)
    for hip, shoulder in ((L_HIP, L_SHOULDER), (R_HIP, R_SHOULDER)):
        top = J[THORAX] + 0.6 * (J[shoulder] - J[THORAX]) - f.up * 0.35 * body.r_chest
        bottom = J[PELVIS] + 0.7 * (J[hip] - J[PELVIS]) + f.up * 0.5 * body.r_waist
        add(bottom, top, 0.62 * body.r_waist, shirt, striped=stripes)
    add(J[R_HIP] + f.up * 0.3 * body.r_thigh, J[L_HIP] + f.up * 0.3 * body.r_thigh, 1.2 * body.r_thigh, trousers)

    # Legs.  Shorts end 60 % down the thigh; below that the legs are bare.
    for hip, knee in ((R_HIP, R_KNEE), (L_HIP, L_KNEE)):
        add(J[hip], J[knee], body.r_thigh, trousers, skin if body.shorts else trousers,
            split=0.6 if body.shorts else 1.0)
    for knee, ankle in ((R_KNEE, R_ANKLE), (L_KNEE, L_ANKLE)):
        add(J[knee], J[ankle], body.r_shin, skin if body.shorts else trousers)
    for knee, ankle in ((R_KNEE, R_ANKLE), (L_KNEE, L_ANKLE)):
        shin = _unit(J[ankle] - J[knee])
        forward = _unit(_cross(shin, f.left))  # perpendicular to the shin, towards the toes
        heel = J[ankle] + shin * 0.5 * body.r_foot - forward * 0.15 * body.foot_length
        toe = heel + forward * body.foot_length + shin * 0.2 * body.r_foot
        add(heel, toe, body.r_foot, shoes)

    # Arms: long sleeves reach 88 % down the forearm, short sleeves 45 % down the upper arm.
    for shoulder, elbow in ((L_SHOULDER, L_ELBOW), (R_SHOULDER, R_ELBOW)):
        add(J[shoulder], J[elbow], body.r_upper_arm, shirt, shirt if body.long_sleeves else skin,
            split=1.0 if body.long_sleeves else 0.45, striped=stripes)
    for elbow, wrist in ((L_ELBOW, L_WRIST), (R_ELBOW, R_WRIST)):
        if body.long_sleeves:
            add(J[elbow], J[wrist], body.r_forearm, shirt, skin, split=0.88)
        else:
            add(J[elbow], J[wrist], body.r_forearm, skin)
    for elbow, wrist in ((L_ELBOW, L_WRIST), (R_ELBOW, R_WRIST)):
        centre = J[wrist] + _unit(J[wrist] - J[elbow]) * 0.7 * body.r_hand
        add(centre, centre, body.r_hand, skin)

    # Neck and head: the skull sits on the thorax -> head-top line, its top at the head joint.
    r_head = body.r_head
    head_low = J[HEAD] - f.head_up * 1.25 * r_head - f.head_fwd * 0.1 * r_head
    head_high = J[HEAD] - f.head_up * 0.95 * r_head - f.head_fwd * 0.1 * r_head
    add(J[THORAX] - f.up * 0.2 * body.r_neck, head_low, body.r_neck, skin)
    add(head_low, head_high, 0.92 * r_head, skin, head=1.0)
    nose = head_low + f.head_fwd * 0.92 * r_head - f.head_up * 0.05 * r_head
    add(nose, nose, 0.2 * r_head, skin)
    assert len(rows) == NUM_PRIMITIVES

    col = lambda i: np.array([r[i] for r in rows], dtype=np.float64)  # noqa: E731
    return Primitives(
        a=np.stack([r[0] for r in rows]).astype(np.float64),
        b=np.stack([r[1] for r in rows]).astype(np.float64),
        radius=col(2),
        colour0=np.stack([np.asarray(r[3], float) for r in rows]),
        colour1=np.stack([np.asarray(r[4], float) for r in rows]),
        split=col(5), striped=col(6), head=col(7),
    )


# --------------------------------------------------------------------------------------------
# Ray casting
# --------------------------------------------------------------------------------------------

def intersection_constants(a: np.ndarray, b: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Per-capsule constants ``(..., 11)`` for :func:`capsule_hit_t`, computed in float64.

    With the ray ``x(t) = t d`` from the camera centre (``|d| = 1``), a capsule with axis
    ``a + s u`` (``0 <= s <= L``) and radius ``r`` is hit where

    * the cap sphere at ``a``: ``t^2 - 2 t (d.a) + (|a|^2 - r^2) = 0``  (constant ``ca``),
    * the cap sphere at ``b``: the same with ``b``                       (constant ``cb``),
    * the cylinder: ``|t d_perp - a_perp|^2 = r^2`` where ``perp`` removes the ``u`` component
      (constant ``cperp = |a_perp|^2 - r^2``), valid where the axial coordinate
      ``s = t (d.u) - a.u`` lies in ``[0, L]``.

    Precomputing ``|a|^2 - r^2`` etc. in float64 avoids float32 cancellation (points are
    metres away while radii are centimetres).
    """
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    r = np.asarray(radius, np.float64)
    axis = b - a
    length = np.linalg.norm(axis, axis=-1)
    u = np.where(length[..., None] > 1e-9, axis / np.maximum(length, 1e-9)[..., None], np.array([1.0, 0, 0]))
    au = (a * u).sum(-1)
    a_perp = a - au[..., None] * u
    return np.concatenate([
        a, u, length[..., None], au[..., None],
        ((a * a).sum(-1) - r * r)[..., None],
        ((b * b).sum(-1) - r * r)[..., None],
        ((a_perp * a_perp).sum(-1) - r * r)[..., None],
    ], axis=-1)


def capsule_hit_t(dx: torch.Tensor, dy: torch.Tensor, dz: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Ray parameter of the first hit (``inf`` on a miss) of unit rays ``d`` and capsules ``k``.

    ``dx, dy, dz`` are the ray direction components and ``k`` the constants of
    :func:`intersection_constants` split along the last axis; everything broadcasts.  The capsule
    is the union of its two cap spheres and its finite cylinder, so its first hit is the
    smallest of the three (each one solved as a quadratic ``t = B - sqrt(B^2 - C)``).
    """
    ax, ay, az, ux, uy, uz, length, au, ca, cb, cperp = k.unbind(-1)
    inf = torch.tensor(float("inf"), dtype=dx.dtype)
    d_u = dx * ux + dy * uy + dz * uz          # d . u
    d_a = dx * ax + dy * ay + dz * az          # d . a
    d_b = d_a + length * d_u                   # d . b
    # Sphere at a.
    disc = d_a * d_a - ca
    t = torch.where(disc >= 0, d_a - torch.sqrt(disc.clamp_min(0)), inf)
    # Sphere at b.
    disc = d_b * d_b - cb
    t = torch.minimum(t, torch.where(disc >= 0, d_b - torch.sqrt(disc.clamp_min(0)), inf))
    # Cylinder: A t^2 - 2 B t + C = 0 with A = 1 - (d.u)^2, B = d.a_perp.
    A = 1.0 - d_u * d_u
    B = d_a - au * d_u
    disc = B * B - A * cperp
    ok = (disc >= 0) & (A > 1e-9)
    t_cyl = (B - torch.sqrt(disc.clamp_min(0))) / A.clamp_min(1e-9)
    s = t_cyl * d_u - au
    ok = ok & (s >= 0) & (s <= length)
    return torch.minimum(t, torch.where(ok, t_cyl, inf))


def pixel_rays(intr: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Unit ray directions ``(B, H, W)`` x 3 for per-image intrinsics ``intr`` ``(B, 4)``."""
    fx, fy, cx, cy = (intr[:, i].view(-1, 1, 1) for i in range(4))
    cols = torch.arange(width, dtype=intr.dtype).view(1, 1, -1) + 0.5
    rows = torch.arange(height, dtype=intr.dtype).view(1, -1, 1) + 0.5
    x = ((cols - cx) / fx).expand(-1, height, -1)
    y = ((rows - cy) / fy).expand(-1, -1, width)
    norm = torch.sqrt(x * x + y * y + 1.0)
    return x / norm, y / norm, 1.0 / norm


def raycast_dense(intr: torch.Tensor, consts: torch.Tensor, height: int,
                  width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference ray caster: every pixel against every capsule.

    Returns the nearest ``t`` ``(B, H, W)`` (``inf`` = background) and the index of the
    primitive hit (``-1`` = background).  Simple and slow; :func:`raycast` is the fast path.
    """
    dx, dy, dz = (d.unsqueeze(-1) for d in pixel_rays(intr, height, width))
    t = capsule_hit_t(dx, dy, dz, consts[:, None, None])  # (B, H, W, P)
    t_min, idx = t.min(dim=-1)
    return t_min, torch.where(torch.isfinite(t_min), idx, torch.full_like(idx, -1))


def _tile_overlaps(intr: torch.Tensor, consts: torch.Tensor, radius: torch.Tensor,
                   tiles_y: int, tiles_x: int, tile: int) -> torch.Tensor:
    """Which (image, tile, primitive) triples can produce a hit: ``(B, T, P)`` bool.

    A capsule projects inside the 2D "screen capsule" around its projected segment with radius
    ``f r (1 + tan) / (z_min - r)`` px, where ``z_min`` is the nearer end's depth and ``tan`` the
    larger off-axis slope ``|xy| / z`` of the two ends (a point at offset ``<= r`` from the
    segment moves at most that far on screen).  A tile may be hit if its centre is within that
    radius plus half the tile diagonal of the projected segment.  Capsules too close to the
    camera for the bound simply overlap every tile.
    """
    fx, fy, cx, cy = (intr[:, i].view(-1, 1) for i in range(4))
    a = consts[..., 0:3]
    b = a + consts[..., 3:6] * consts[..., 6:7]
    za, zb = a[..., 2], b[..., 2]
    z_min = torch.minimum(za, zb)
    safe = z_min - radius > 10.0
    za_s, zb_s = za.clamp_min(1e-3), zb.clamp_min(1e-3)
    pa = torch.stack([fx * a[..., 0] / za_s + cx, fy * a[..., 1] / za_s + cy], -1)  # (B, P, 2)
    pb = torch.stack([fx * b[..., 0] / zb_s + cx, fy * b[..., 1] / zb_s + cy], -1)
    slope = torch.maximum(a[..., :2].norm(dim=-1) / za_s, b[..., :2].norm(dim=-1) / zb_s)
    r_px = torch.maximum(fx, fy) * radius * (1 + slope) / (z_min - radius).clamp_min(1e-3)

    ty, tx = torch.meshgrid(torch.arange(tiles_y), torch.arange(tiles_x), indexing="ij")
    centres = torch.stack([tx.reshape(-1), ty.reshape(-1)], -1).to(intr.dtype) * tile + tile / 2
    c = centres.view(1, -1, 1, 2)                                           # (1, T, 1, 2)
    seg = (pb - pa).unsqueeze(1)                                            # (B, 1, P, 2)
    rel = c - pa.unsqueeze(1)
    s = ((rel * seg).sum(-1) / (seg * seg).sum(-1).clamp_min(1e-9)).clamp(0, 1)
    dist = (rel - s.unsqueeze(-1) * seg).norm(dim=-1)                       # (B, T, P)
    reach = r_px.unsqueeze(1) + tile * 0.7072 + 1.0
    return (dist <= reach) | ~safe.unsqueeze(1)


def raycast(intr: torch.Tensor, consts: torch.Tensor, radius: torch.Tensor, height: int, width: int,
            tile: int = TILE, max_elements: int = 1 << 19) -> tuple[torch.Tensor, torch.Tensor]:
    """Tiled ray caster; same result as :func:`raycast_dense`, much less work.

    1. Cut the (padded) image into ``tile x tile`` tiles and find, per tile, the capsules that
       can reach it (:func:`_tile_overlaps`): a list of (image, tile, primitive) triples.
    2. Intersect each triple's ``tile^2`` rays with its one capsule, in chunks of at most
       ``max_elements`` ray-capsule pairs to bound memory.
    3. Per pixel keep the smallest ``t`` (a scatter-min over the triples of a tile) and then
       the lowest primitive index that attains it (a second scatter-min), exactly the rule of
       ``torch.min`` in the dense version.
    """
    B, P = consts.shape[:2]
    ty, tx = -(-height // tile), -(-width // tile)
    T, n = ty * tx, tile * tile
    rays = pixel_rays(intr, ty * tile, tx * tile)
    # (B, H, W) -> (B, T, n): pixels of one tile become contiguous.
    rays = [r.reshape(B, ty, tile, tx, tile).permute(0, 1, 3, 2, 4).reshape(B, T, n) for r in rays]

    bi, ti, pi = _tile_overlaps(intr, consts, radius, ty, tx, tile).nonzero(as_tuple=True)
    flat_tile = bi * T + ti
    t_min = torch.full((B * T, n), float("inf"), dtype=consts.dtype)
    hits: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    step = max(1, max_elements // n)
    for lo in range(0, len(bi), step):
        sl = slice(lo, lo + step)
        b_, t_, p_ = bi[sl], ti[sl], pi[sl]
        dx, dy, dz = (r[b_, t_] for r in rays)                      # (K, n)
        t = capsule_hit_t(dx, dy, dz, consts[b_, p_].unsqueeze(1))  # (K, n)
        index = flat_tile[sl].unsqueeze(1).expand(-1, n)
        t_min.scatter_reduce_(0, index, t, reduce="amin")
        hits.append((t, index, p_))
    prim = torch.full((B * T, n), P, dtype=torch.long)
    for t, index, p_ in hits:
        won = (t == t_min.gather(0, index)) & torch.isfinite(t)
        winner = torch.where(won, p_.unsqueeze(1).expand(-1, n), P)
        prim.scatter_reduce_(0, index, winner, reduce="amin")
    prim = torch.where(prim == P, torch.full_like(prim, -1), prim)

    def untile(x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(B, ty, tx, tile, tile).permute(0, 1, 3, 2, 4).reshape(B, ty * tile, tx * tile)
        return x[:, :height, :width]

    return untile(t_min), untile(prim)


# --------------------------------------------------------------------------------------------
# Shading and backgrounds
# --------------------------------------------------------------------------------------------

@dataclass
class Scene:
    """Per-image random choices that are not part of the body: light and background."""

    light: np.ndarray       # (3,) unit vector towards the light, camera space
    ambient: float
    light_colour: np.ndarray  # (3,)
    stripe_phase: float
    background: np.ndarray  # (S, S, 3) float in [0, 1]
    noise: np.ndarray       # (S, S, 3) float, added after compositing


def _random_colour(rng: np.random.Generator, sat: tuple[float, float] = (0.05, 0.7),
                   val: tuple[float, float] = (0.15, 0.95)) -> np.ndarray:
    return _hsv_to_rgb(rng.uniform(), rng.uniform(*sat), rng.uniform(*val))


def _upsample_bilinear(grid: np.ndarray, size: int) -> np.ndarray:
    """Bilinearly stretch a small ``(g, g, C)`` grid over ``(size, size, C)`` pixels."""
    g = grid.shape[0]
    pos = (np.arange(size) + 0.5) / size * (g - 1)
    i0 = np.clip(np.floor(pos).astype(int), 0, g - 2)
    w = (pos - i0)[:, None]
    rows = grid[i0] * (1 - w)[..., None] + grid[i0 + 1] * w[..., None]        # (size, g, C)
    return rows[:, i0] * (1 - w.T)[..., None] + rows[:, i0 + 1] * w.T[..., None]


def random_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A varied procedural backdrop ``(size, size, 3)`` in [0, 1].

    A two-colour gradient in a random direction, low-frequency colour noise, sometimes a floor
    (a horizon with plank or tile lines below it), and a few random rectangles and ellipses as
    clutter.  Everything is vectorised over pixels.
    """
    ys, xs = np.meshgrid((np.arange(size) + 0.5) / size, (np.arange(size) + 0.5) / size, indexing="ij")
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * (xs - 0.5) + np.sin(angle) * (ys - 0.5) + 0.5
    c0, c1 = _random_colour(rng), _random_colour(rng)
    img = c0 * (1 - ramp[..., None]) + c1 * ramp[..., None]
    g = int(rng.integers(3, 7))
    img = img + _upsample_bilinear(rng.normal(0, rng.uniform(0.02, 0.12), (g, g, 3)), size)

    if rng.uniform() < 0.6:  # floor
        horizon = rng.uniform(0.35, 0.8)
        floor = _random_colour(rng, val=(0.2, 0.8))
        depth = np.clip((ys - horizon) / (1 - horizon + 1e-6), 0, 1)  # 0 at horizon, 1 at bottom
        pattern = rng.uniform()
        if pattern < 0.4:  # planks converging to a vanishing point
            vx = rng.uniform(0.2, 0.8)
            u = (xs - vx) / np.maximum(depth, 1e-3) * rng.uniform(3, 8)
            lines = (np.abs(u - np.round(u)) < 0.06).astype(np.float64)
        elif pattern < 0.7:  # tiles
            u = xs * rng.uniform(4, 10)
            v = 1.0 / np.maximum(depth, 0.05) * rng.uniform(0.5, 1.5)
            lines = ((np.abs(u - np.round(u)) < 0.05) | (np.abs(v - np.round(v)) < 0.08)).astype(np.float64)
        else:
            lines = np.zeros_like(xs)
        shade = (0.75 + 0.35 * depth) * (1 - 0.25 * lines)
        mask = (ys > horizon)[..., None]
        img = np.where(mask, floor * shade[..., None], img)

    for _ in range(int(rng.integers(0, 7))):  # clutter
        cx, cy = rng.uniform(-0.1, 1.1, 2)
        hw, hh = rng.uniform(0.03, 0.3, 2)
        if rng.uniform() < 0.5:
            mask = (np.abs(xs - cx) < hw) & (np.abs(ys - cy) < hh)
        else:
            mask = ((xs - cx) / hw) ** 2 + ((ys - cy) / hh) ** 2 < 1
        alpha = rng.uniform(0.5, 1.0)
        colour = _random_colour(rng)
        img = np.where(mask[..., None], alpha * colour + (1 - alpha) * img, img)
    return np.clip(img, 0, 1)


def random_scene(rng: np.random.Generator, size: int) -> Scene:
    """Draw light, background and sensor noise for one image (in this fixed order)."""
    light = _unit(np.array([rng.uniform(-1.0, 1.0), rng.uniform(-1.0, -0.1), rng.uniform(-1.3, -0.3)]))
    ambient = float(rng.uniform(0.3, 0.55))
    light_colour = rng.uniform(0.9, 1.1, 3) * rng.uniform(0.85, 1.15)
    stripe_phase = float(rng.uniform())
    background = random_background(rng, size)
    noise = rng.normal(0.0, rng.uniform(0.0, 0.02), (size, size, 3))
    return Scene(light=light, ambient=ambient, light_colour=light_colour, stripe_phase=stripe_phase,
                 background=background, noise=noise)


def _dot(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Dot product over the last axis (size 3), written out so it rounds identically everywhere."""
    return x[..., 0] * y[..., 0] + x[..., 1] * y[..., 1] + x[..., 2] * y[..., 2]


def shade(intr: torch.Tensor, t: torch.Tensor, prim: torch.Tensor, attrs: torch.Tensor,
          per_image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Colour ``(B, H, W, 3)`` (black on the background) and hit mask ``(B, H, W)``.

    Only pixels that hit the body are shaded: they are gathered into a flat list, each with
    its primitive's attributes and its image's lighting, shaded, and scattered back.

    ``attrs`` ``(B, P, 17)`` holds per primitive: a (3), u (3), length, radius, colour0 (3),
    colour1 (3), split, striped, head (see :func:`render_batch`); ``per_image`` ``(B, 22)``
    holds the light direction (3), ambient, light colour (3), torso up (3), head up (3), head
    forward (3), hair colour (3), stripe period, stripe strength, stripe phase
    (see :func:`_per_image_table`).  With several people in one image (:func:`render_people`)
    the body-dependent columns differ per person, so ``per_image`` may also be given per
    primitive, ``(B, P, 22)``: each hit then reads the row of the primitive it hit.
    """
    B, H, W = t.shape
    hit = prim >= 0
    bi, yi, xi = hit.nonzero(as_tuple=True)                                  # hit pixels
    g = attrs[bi, prim[bi, yi, xi]]                                          # (M, 17)
    # (M, 22): the hit image's row, or the hit primitive's row when given per primitive.
    e = per_image[bi, prim[bi, yi, xi]] if per_image.dim() == 3 else per_image[bi]
    dx, dy, dz = (d[bi, yi, xi] for d in pixel_rays(intr, H, W))
    tt = t[bi, yi, xi]
    p = torch.stack([dx * tt, dy * tt, dz * tt], -1)                        # hit points, mm

    # Normal: from the closest point on the capsule's axis to the hit point.
    a, u, length = g[:, 0:3], g[:, 3:6], g[:, 6]
    q = p - a
    s = torch.minimum(torch.maximum(_dot(q, u), torch.zeros(())), length)  # axial coordinate
    normal = q - s.unsqueeze(-1) * u
    normal = normal / torch.sqrt(_dot(normal, normal)).clamp_min(1e-6).unsqueeze(-1)

    light, ambient, light_colour = e[:, 0:3], e[:, 3], e[:, 4:7]
    torso_up, head_up, head_fwd, hair = e[:, 7:10], e[:, 10:13], e[:, 13:16], e[:, 16:19]
    period, strength, phase = e[:, 19], e[:, 20], e[:, 21]

    first = s < g[:, 14] * length                                           # before the split?
    albedo = torch.where(first.unsqueeze(-1), g[:, 8:11], g[:, 11:14])
    # Horizontal shirt stripes: a smoothed square wave of the height along the torso axis.
    w = _dot(p, torso_up) / period + phase
    w = w - torch.floor(w)
    tri = torch.abs(2.0 * w - 1.0)
    m = ((tri - 0.45) / 0.1).clamp(0, 1)
    m = m * m * (3.0 - 2.0 * m)
    stripe = 1.0 - strength * m * g[:, 15] * first.to(m.dtype)
    albedo = albedo * stripe.unsqueeze(-1)
    # Hair on top and at the back of the head, skin on the face.
    is_hair = (g[:, 16] > 0.5) & ((_dot(normal, head_fwd) < -0.2) | (_dot(normal, head_up) > 0.45))
    albedo = torch.where(is_hair.unsqueeze(-1), hair, albedo)

    lambert = _dot(normal, light).clamp_min(0)
    colour = albedo * (ambient + (1.0 - ambient) * lambert).unsqueeze(-1) * light_colour
    image = torch.zeros((B, H, W, 3), dtype=colour.dtype)
    image[bi, yi, xi] = colour
    return image, hit.to(colour.dtype)


def _block_mean(x: torch.Tensor, k: int) -> torch.Tensor:
    """Average ``k x k`` blocks of ``(B, kH, kW, ...)``; written as fixed-order sums."""
    acc = torch.zeros_like(x[:, 0::k, 0::k])
    for i in range(k):
        for j in range(k):
            acc = acc + x[:, i::k, j::k]
    return acc / float(k * k)


def _per_image_table(bodies: Sequence[Body], frames: Sequence[BodyFrame], scenes: Sequence[Scene]) -> np.ndarray:
    rows = []
    for body, f, sc in zip(bodies, frames, scenes):
        rows.append(np.concatenate([
            sc.light, [sc.ambient], sc.light_colour, f.up, f.head_up, f.head_fwd, body.hair,
            [body.stripe_period, body.stripe_strength, sc.stripe_phase],
        ]))
    return np.stack(rows)


def render_batch(joints_cam: np.ndarray, crop_intr: np.ndarray, bodies: list[Body], image_size: int,
                 rngs: list[np.random.Generator], supersample: int = 2, *,
                 return_coverage: bool = False, images_per_chunk: int = 16,
                 num_workers: int | None = None) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Render one person per image: ``(B, S, S, 3)`` uint8.

    Args:
        joints_cam: ``(B, 17, 3)`` camera-space joints, mm (all in front of the camera).
        crop_intr: ``(B, 4)`` fx, fy, cx, cy of the *crop* camera (``camera.crop_intrinsics``).
        bodies: one :class:`~partnas_lib.data.poses.Body` per image (thickness, clothes).
        image_size: output side ``S`` in pixels.
        rngs: one numpy generator per image; light, background and noise are drawn from it, so
            an image depends only on its own inputs, never on the rest of the batch.
        supersample: rays per pixel along each axis (2 -> 4 rays per pixel) for antialiasing.
        return_coverage: also return the ``(B, S, S)`` fraction of each pixel covered by the
            body (1 inside, 0 on the background).
        images_per_chunk: images ray cast together (memory vs. overhead; results unchanged).
        num_workers: threads that render chunks in parallel (default: ``torch.get_num_threads()``);
            the images do not depend on it.
    """
    joints_cam = np.asarray(joints_cam, dtype=np.float64)
    crop_intr = np.asarray(crop_intr, dtype=np.float64)
    B = len(joints_cam)
    if not (len(crop_intr) == len(bodies) == len(rngs) == B):
        raise ValueError(f"render_batch: got {B} poses, {len(crop_intr)} intrinsics, "
                         f"{len(bodies)} bodies and {len(rngs)} rngs; expected equal counts")
    if joints_cam.shape[1:] != (17, 3):
        raise ValueError(f"render_batch: joints_cam has shape {joints_cam.shape}, expected (B, 17, 3)")
    if np.any(joints_cam[..., 2] <= 0):
        raise ValueError("render_batch: every joint must be in front of the camera (Z > 0)")
    k = int(supersample)
    if k < 1:
        raise ValueError(f"render_batch: supersample must be >= 1, got {supersample}")
    if B == 0:
        empty = np.zeros((0, image_size, image_size, 3), np.uint8)
        return (empty, np.zeros((0, image_size, image_size), np.float32)) if return_coverage else empty

    prims = [build_primitives(j, b) for j, b in zip(joints_cam, bodies)]
    frames = [body_frame(j) for j in joints_cam]
    scenes = [random_scene(rng, image_size) for rng in rngs]
    consts = np.stack([intersection_constants(p.a, p.b, p.radius) for p in prims])
    attrs = np.concatenate([
        consts[..., 0:7],
        np.stack([p.radius for p in prims])[..., None],
        np.stack([p.colour0 for p in prims]), np.stack([p.colour1 for p in prims]),
        np.stack([p.split for p in prims])[..., None],
        np.stack([p.striped for p in prims])[..., None],
        np.stack([p.head for p in prims])[..., None],
    ], axis=-1)
    per_image = _per_image_table(bodies, frames, scenes)

    to_t = lambda x: torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))  # noqa: E731
    consts_t, attrs_t, per_image_t = to_t(consts), to_t(attrs), to_t(per_image)
    radius_t = to_t(np.stack([p.radius for p in prims]))
    intr_t = to_t(crop_intr * np.array([k, k, k, k]))
    background = to_t(np.stack([s.background for s in scenes]))
    noise = to_t(np.stack([s.noise for s in scenes]))

    out = np.empty((B, image_size, image_size, 3), np.uint8)
    cover = np.empty((B, image_size, image_size), np.float32)
    side = image_size * k

    def render_chunk(lo: int) -> None:
        sl = slice(lo, lo + images_per_chunk)
        with torch.no_grad():
            t, prim = raycast(intr_t[sl], consts_t[sl], radius_t[sl], side, side)
            colour, mask = shade(intr_t[sl], t, prim, attrs_t[sl], per_image_t[sl])
            colour, alpha = _block_mean(colour, k), _block_mean(mask, k)
            img = colour + (1.0 - alpha).unsqueeze(-1) * background[sl] + noise[sl]
            out[sl] = torch.round(img.clamp(0, 1) * 255.0).to(torch.uint8).numpy()
            cover[sl] = alpha.numpy()

    # Parallelism: one single-threaded torch worker per core, each on its own chunk of images.
    # (Torch's intra-op threads synchronise after every operation, and when the CPU is shared
    # with other busy processes those barriers stall; independent chunks never wait for each
    # other.)
    chunks = list(range(0, B, images_per_chunk))
    workers = min(len(chunks), max(1, torch.get_num_threads() if num_workers is None else num_workers))
    with _torch_threads(1):
        if workers == 1:
            for lo in chunks:
                render_chunk(lo)
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(render_chunk, chunks))
    return (out, cover) if return_coverage else out


@dataclass
class PeopleRender:
    """A frame with several people (:func:`render_people`).

    ``image``: ``(H, W, 3)`` uint8.  ``coverage``: ``(N, H, W)`` float, the fraction of each
    pixel's rays that hit person ``n`` first (people hidden behind another person get none
    there).  ``person_map``: ``(H, W)`` int, the person covering most of each pixel, ``-1``
    where the background covers most of it.  ``depth``: ``(H, W)`` float, the camera-space Z
    (mm) of the nearest surface seen in each pixel (``inf`` where no ray hits anyone).
    """

    image: np.ndarray
    coverage: np.ndarray
    person_map: np.ndarray
    depth: np.ndarray


def render_people(joints_cam: Sequence[np.ndarray], bodies: Sequence[Body], intrinsics: np.ndarray,
                  width: int, height: int, rng: np.random.Generator, supersample: int = 2) -> PeopleRender:
    """Ray cast several people into one ``width x height`` frame seen by one pinhole camera.

    Where :func:`render_batch` draws one person per (square) crop, this draws a whole scene:
    the capsules of every person go into *one* primitive list, so the z-buffer rule "nearest
    hit wins" resolves occlusion between people exactly as it resolves self-occlusion -- a
    nearer person hides a farther one whatever order they are listed in.  Shading is the same
    Lambert model with one light per frame; the body-dependent shading inputs (torso and head
    directions, hair, stripes) are given per primitive (see :func:`shade`).

    Args:
        joints_cam: one ``(17, 3)`` camera-space joint array (mm, Z > 0) per person.
        bodies: one :class:`~partnas_lib.data.poses.Body` per person.
        intrinsics: ``(4,)`` fx, fy, cx, cy of the frame camera (px).
        width, height: frame size (px).
        rng: draws light, background and sensor noise (in :func:`random_scene`'s order, on a
            square of side ``max(width, height)`` cropped to the frame), so a frame depends only
            on its inputs.
        supersample: rays per pixel along each axis.
    """
    n = len(joints_cam)
    if n != len(bodies) or n == 0:
        raise ValueError(f"render_people: got {n} poses and {len(bodies)} bodies; expected equal, non-zero counts")
    joints = np.stack([np.asarray(j, dtype=np.float64) for j in joints_cam])
    if joints.shape[1:] != (17, 3):
        raise ValueError(f"render_people: joints have shape {joints.shape[1:]}, expected (17, 3) per person")
    if np.any(joints[..., 2] <= 0):
        raise ValueError("render_people: every joint must be in front of the camera (Z > 0)")
    k = int(supersample)
    if k < 1 or width < 1 or height < 1:
        raise ValueError(f"render_people: need supersample >= 1 and a positive frame size, got "
                         f"{supersample}, {width} x {height}")

    prims = [build_primitives(j, b) for j, b in zip(joints, bodies)]
    frames = [body_frame(j) for j in joints]
    scene = random_scene(rng, max(width, height))
    consts = np.concatenate([intersection_constants(p.a, p.b, p.radius) for p in prims])  # (N P, 11)
    radius = np.concatenate([p.radius for p in prims])
    attrs = np.concatenate([
        consts[:, 0:7], radius[:, None],
        np.concatenate([p.colour0 for p in prims]), np.concatenate([p.colour1 for p in prims]),
        np.concatenate([p.split for p in prims])[:, None],
        np.concatenate([p.striped for p in prims])[:, None],
        np.concatenate([p.head for p in prims])[:, None],
    ], axis=-1)
    per_person = _per_image_table(bodies, frames, [scene] * n)                        # (N, 22)
    per_prim = np.repeat(per_person, [len(p.radius) for p in prims], axis=0)          # (N P, 22)
    owner = torch.from_numpy(np.repeat(np.arange(n), [len(p.radius) for p in prims]))

    to_t = lambda x: torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None]  # noqa: E731
    intr_t = to_t(np.asarray(intrinsics, np.float64) * k)
    # One frame is small work: single-threaded torch avoids intra-op barriers stalling on a
    # shared CPU (see render_batch); callers parallelise over frames instead.
    with torch.no_grad(), _torch_threads(1):
        t, prim = raycast(intr_t, to_t(consts), to_t(radius), height * k, width * k)
        colour, mask = shade(intr_t, t, prim, to_t(attrs), to_t(per_prim))
        who = torch.where(prim >= 0, owner[prim.clamp_min(0)], torch.full_like(prim, -1))
        cover = torch.stack([_block_mean((who == i).to(colour.dtype), k)[0] for i in range(n)])
        colour, alpha = _block_mean(colour, k)[0], _block_mean(mask, k)[0]
        z = t * pixel_rays(intr_t, height * k, width * k)[2]          # ray parameter -> camera Z
        depth = z[0].reshape(height, k, width, k).amin(dim=(1, 3))   # nearest surface per pixel
    background = torch.from_numpy(scene.background[:height, :width].astype(np.float32))
    noise = torch.from_numpy(scene.noise[:height, :width].astype(np.float32))
    img = colour + (1.0 - alpha).unsqueeze(-1) * background + noise
    image = torch.round(img.clamp(0, 1) * 255.0).to(torch.uint8).numpy()
    coverage = cover.numpy()
    with_bg = np.concatenate([(1.0 - alpha.numpy())[None], coverage])
    person_map = with_bg.argmax(axis=0) - 1
    return PeopleRender(image=image, coverage=coverage, person_map=person_map, depth=depth.numpy())


@contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """Temporarily set torch's intra-op thread count."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


__all__ = [
    "NUM_PRIMITIVES", "PRIMITIVE_NAMES", "BodyFrame", "PeopleRender", "Primitives", "Scene", "body_frame",
    "build_primitives", "capsule_hit_t", "intersection_constants", "pixel_rays", "random_background",
    "random_scene", "raycast", "raycast_dense", "render_batch", "render_people", "shade",
]
