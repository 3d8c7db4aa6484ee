"""Rendering synthetic people into images: one person per crop, or several in one frame.

The pieces: each person's capsules (:mod:`~partnas_lib.data.synth.capsules`), a random scene
per image -- light, a procedural background, sensor noise (:func:`random_scene`) -- and the ray
caster with its shading (:mod:`~partnas_lib.data.synth.raycast`).

* :func:`render_batch` draws one person per square crop, many crops at once (the single-person
  training data);
* :func:`render_people` draws several people into one frame with one primitive list, so the
  z-buffer resolves occlusion between people as it resolves self-occlusion (the multi-person
  scenes).

**Supersampling**: both render at ``supersample`` times the resolution, average each block of
``supersample x supersample`` samples (antialiased edges), and composite over the background.

Determinism.  Random choices come from one numpy generator per image, and the ray caster is
bit-exact however a batch is split, so an image is bit-identical whether it is rendered alone or
inside any batch.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch

from partnas_lib.data.synth.body import Body, hsv_to_rgb
from partnas_lib.data.synth.capsules import BodyFrame, body_frame, build_primitives, unit_vector
from partnas_lib.data.synth.raycast import intersection_constants, pixel_rays, raycast, shade

# --------------------------------------------------------------------------------------------
# Light and backgrounds
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
    return hsv_to_rgb(rng.uniform(), rng.uniform(*sat), rng.uniform(*val))


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
    light = unit_vector(np.array([rng.uniform(-1.0, 1.0), rng.uniform(-1.0, -0.1), rng.uniform(-1.3, -0.3)]))
    ambient = float(rng.uniform(0.3, 0.55))
    light_colour = rng.uniform(0.9, 1.1, 3) * rng.uniform(0.85, 1.15)
    stripe_phase = float(rng.uniform())
    background = random_background(rng, size)
    noise = rng.normal(0.0, rng.uniform(0.0, 0.02), (size, size, 3))
    return Scene(light=light, ambient=ambient, light_colour=light_colour, stripe_phase=stripe_phase,
                 background=background, noise=noise)


# --------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------

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
        bodies: one :class:`~partnas_lib.data.synth.body.Body` per image (thickness, clothes).
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
    # Long because validation, the per-primitive and per-image tables the ray caster reads and
    # the chunked, threaded loop share many arrays; the steps follow one another below.
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
        bodies: one :class:`~partnas_lib.data.synth.body.Body` per person.
        intrinsics: ``(4,)`` fx, fy, cx, cy of the frame camera (px).
        width, height: frame size (px).
        rng: draws light, background and sensor noise (in :func:`random_scene`'s order, on a
            square of side ``max(width, height)`` cropped to the frame), so a frame depends only
            on its inputs.
        supersample: rays per pixel along each axis.
    """
    # Long because it mirrors render_batch for one frame (tables, ray cast, shading) and adds the
    # per-person coverage, person map and depth map that occlusion labels need.
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


__all__ = ["PeopleRender", "Scene", "random_background", "random_scene", "render_batch", "render_people"]
