"""The batched ray caster: which capsule each pixel sees first, and how it is shaded.

* One **ray per (super)sample pixel** through the camera: the pixel with column ``i`` and row
  ``j`` looks along ``((i + 0.5 - cx) / fx, (j + 0.5 - cy) / fy, 1)`` (pixel ``i`` covers
  ``[i, i + 1)``, the convention of :func:`partnas_lib.camera.crop_intrinsics`).
* **Nearest hit wins** (a z-buffer): for every pixel we keep the primitive with the smallest ray
  parameter ``t``, which gives correct self-occlusion for free (and occlusion between people
  when several share one primitive list).
* **Lambert shading** ``albedo * (ambient + (1 - ambient) * max(0, n . l))`` from the surface
  normal ``n`` and a random light direction ``l``; per-primitive albedo from the subject's
  clothes with optional shirt stripes and hair (:func:`shade`).

Speed.  Everything per pixel is done by torch on whole batches; there is no Python loop over
pixels.  Testing every ray against every primitive would waste most of the work (a forearm
covers a few percent of the image), so rays are grouped into square **tiles** and each tile is
only tested against the primitives whose screen-space footprint can reach it (a conservative
bound, see :func:`_tile_overlaps`).  The result equals the brute-force one exactly (a test
checks this against :func:`raycast_dense`).

Determinism.  Every per-pixel quantity is computed with ``+ - * /``, ``sqrt``, ``min`` and
``floor`` only, which IEEE arithmetic rounds identically however torch vectorises or splits a
batch.  Hence an image is bit-identical whether it is rendered alone or inside any batch.
"""

from __future__ import annotations

import numpy as np
import torch

TILE = 16  # tile side in supersampled pixels


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


def _dot(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Dot product over the last axis (size 3), written out so it rounds identically everywhere."""
    return x[..., 0] * y[..., 0] + x[..., 1] * y[..., 1] + x[..., 2] * y[..., 2]


def shade(intr: torch.Tensor, t: torch.Tensor, prim: torch.Tensor, attrs: torch.Tensor,
          per_image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Colour ``(B, H, W, 3)`` (black on the background) and hit mask ``(B, H, W)``.

    Only pixels that hit the body are shaded: they are gathered into a flat list, each with
    its primitive's attributes and its image's lighting, shaded, and scattered back.

    ``attrs`` ``(B, P, 17)`` holds per primitive: a (3), u (3), length, radius, colour0 (3),
    colour1 (3), split, striped, head; ``per_image`` ``(B, 22)`` holds the light direction (3),
    ambient, light colour (3), torso up (3), head up (3), head forward (3), hair colour (3),
    stripe period, stripe strength, stripe phase (both built by
    :func:`~partnas_lib.data.synth.render.render_batch`).  With several people in one image
    (:func:`~partnas_lib.data.synth.render.render_people`) the body-dependent columns differ per
    person, so ``per_image`` may also be given per
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


__all__ = ["TILE", "capsule_hit_t", "intersection_constants", "pixel_rays", "raycast", "raycast_dense", "shade"]
