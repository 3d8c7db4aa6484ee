"""Boxes, image files and crops: the helpers every loader of real images shares.

A real dataset gives a person as joints in a large frame; the network wants a small square
crop around that person.  The steps, in the order a loader applies them:

1. :func:`tight_bbox` -- the smallest box around the 2D joints (when the dataset has no box);
2. :func:`process_bbox` -- 3DMPPE's rule: clip to the image, make it square(ish) around its
   centre and grow it by 25 %, so the whole person fits with some context;
3. :func:`read_rgb` and :func:`crop_square` -- read the frame and cut the box out at the
   network's size (plain bilinear, as 3DMPPE does); :func:`crop_antialiased` averages when a
   much larger box is shrunk (multi-person frames, detector boxes);
4. :class:`SampleCollector` -- gathers the samples of a load and stacks them into
   :class:`~partnas_lib.data.sample.SampleArrays`; :func:`progress_bar` shows long loads.

Used by the Human3.6M, MuPoTS-3D and MPII loaders (:mod:`partnas_lib.data.datasets`), the
synthetic multi-person scenes (:mod:`partnas_lib.data.synth.scenes`) and the multi-person
evaluation.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from partnas_lib.data.sample import SampleArrays
from partnas_lib.io import DataFormatError

#: Crop side (px) the loaders produce unless told otherwise.
DEFAULT_IMAGE_SIZE = 256


def tight_bbox(uv: np.ndarray) -> np.ndarray:
    """``[x, y, w, h]`` of the smallest box around 2D points ``(J, 2)``."""
    lo, hi = uv.min(axis=0), uv.max(axis=0)
    return np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]], dtype=np.float64)


def process_bbox(bbox: Sequence[float], width: int, height: int, aspect: float = 1.0,
                 margin: float = 1.25) -> np.ndarray:
    """3DMPPE's box rule: clip ``[x, y, w, h]`` to the image, extend to ``w / h = aspect``
    around its centre, then grow both sides by ``margin``.  Returns ``[x, y, w, h]`` (px).

    The result may reach outside the image; :func:`crop_square` pads with black there.
    """
    x, y, w, h = (float(v) for v in bbox)
    x1, y1 = max(0.0, x), max(0.0, y)
    x2 = min(width - 1.0, x1 + max(0.0, w - 1.0))
    y2 = min(height - 1.0, y1 + max(0.0, h - 1.0))
    if x2 <= x1 or y2 <= y1:  # box outside the image or degenerate: keep it as given
        x1, y1, x2, y2 = x, y, x + w, y + h
    w, h = x2 - x1, y2 - y1
    if w <= 0 or h <= 0:
        raise ValueError(f"bounding box {list(bbox)} has no area")
    cx, cy = x1 + w / 2.0, y1 + h / 2.0
    if w > aspect * h:
        h = w / aspect
    else:
        w = h * aspect
    w, h = w * margin, h * margin
    return np.array([cx - w / 2.0, cy - h / 2.0, w, h], dtype=np.float64)


def read_rgb(path: Path, where: str) -> np.ndarray:
    """An image file as ``(H, W, 3)`` uint8 RGB; a missing or unreadable file names ``where``
    (the annotation field that points to it)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: image file missing (referenced by {where})")
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as err:
        raise DataFormatError(f"{path}: unreadable image (referenced by {where}): {err}") from None


def crop_square(image: np.ndarray, bbox: Sequence[float], size: int) -> np.ndarray:
    """The ``size x size`` crop of box ``[x, y, w, h]``, bilinear, black outside the image.

    Pixel ``(i, j)`` of the crop has its centre at crop coordinates ``(j + 0.5, i + 0.5)``;
    :func:`partnas_lib.camera.image_to_crop` maps image pixels to the same continuous
    coordinates, so joints and pixels stay aligned.  Like 3DMPPE's ``cv2.warpAffine`` this is
    plain bilinear sampling (no anti-alias pre-filter).
    """
    from scipy import ndimage

    x, y, w, h = (float(v) for v in bbox)
    sx, sy = w / size, h / size
    # source index (pixel centres at integers) of the first crop pixel centre
    r0, c0 = y + 0.5 * sy - 0.5, x + 0.5 * sx - 0.5
    r1, c1 = r0 + (size - 1) * sy, c0 + (size - 1) * sx
    H, W = image.shape[:2]
    top, left = max(int(np.floor(r0)) - 1, 0), max(int(np.floor(c0)) - 1, 0)
    bottom, right = min(int(np.ceil(r1)) + 2, H), min(int(np.ceil(c1)) + 2, W)
    out = np.zeros((size, size, 3), dtype=np.uint8)
    if bottom <= top or right <= left:  # the box misses the image entirely
        return out
    patch = image[top:bottom, left:right].astype(np.float32)
    for ch in range(3):
        sampled = ndimage.affine_transform(
            patch[..., ch], (sy, sx), offset=(r0 - top, c0 - left), output_shape=(size, size),
            order=1, mode="constant", cval=0.0, prefilter=False,
        )
        out[..., ch] = np.clip(np.rint(sampled), 0, 255).astype(np.uint8)
    return out


class SampleCollector:
    """Accumulates samples and stacks them into :class:`SampleArrays`.

    With ``with_images`` each sample that has an ``image_path`` is read and cropped to its box
    now; samples without one (layouts with no images, or ``with_images=False``) get a black
    image and ``meta["has_image"] = False``.
    """

    def __init__(self, image_size: int, with_images: bool):
        if image_size < 8:
            raise ValueError(f"image_size must be at least 8 px, got {image_size}")
        self.image_size = int(image_size)
        self.with_images = with_images
        self._rows: dict[str, list[np.ndarray]] = {k: [] for k in ("j2", "j3", "vis", "intr", "bbox")}
        self._has_3d: list[bool] = []
        self._images: list[np.ndarray | None] = []
        self.meta: list[dict[str, Any]] = []

    def __len__(self) -> int:
        return len(self.meta)

    def add(self, *, joints_2d: np.ndarray, joints_3d: np.ndarray, joints_vis: np.ndarray,
            intrinsics: Sequence[float], bbox: Sequence[float], meta: dict[str, Any],
            image_path: Path | None = None, image_where: str = "", has_3d: bool = True) -> None:
        image = None
        if self.with_images and image_path is not None:
            image = crop_square(read_rgb(image_path, image_where), bbox, self.image_size)
        self._rows["j2"].append(np.asarray(joints_2d, np.float64))
        self._rows["j3"].append(np.asarray(joints_3d, np.float64))
        self._rows["vis"].append(np.asarray(joints_vis, bool))
        self._rows["intr"].append(np.asarray(intrinsics, np.float64))
        self._rows["bbox"].append(np.asarray(bbox, np.float64))
        self._has_3d.append(bool(has_3d))
        self._images.append(image)
        meta = dict(meta)
        meta["has_image"] = image is not None
        meta.setdefault("image_path", str(image_path) if image_path is not None else "")
        self.meta.append(meta)

    def arrays(self, nothing_found: str) -> SampleArrays:
        """Stack everything; ``nothing_found`` is the error message when no sample was added."""
        if not self.meta:
            raise ValueError(nothing_found)
        n, s = len(self.meta), self.image_size
        images = np.zeros((n, s, s, 3), np.uint8)  # untouched pages cost no memory
        for i, im in enumerate(self._images):
            if im is not None:
                images[i] = im
        j3 = np.stack(self._rows["j3"]).astype(np.float32)
        return SampleArrays(
            images=images,
            joints_2d=np.stack(self._rows["j2"]).astype(np.float32),
            joints_3d=j3,
            joints_vis=np.stack(self._rows["vis"]).astype(bool),
            root_depth=j3[:, 0, 2].copy(),
            intrinsics=np.stack(self._rows["intr"]).astype(np.float32),
            bbox=np.stack(self._rows["bbox"]).astype(np.float32),
            has_3d=np.array(self._has_3d, dtype=bool),
            meta=self.meta,
        )


def progress_bar(items: Sequence[Any], enabled: bool, desc: str) -> Iterable[Any]:
    """``items`` wrapped in a tqdm bar when ``enabled`` (long loads show progress, docs/architecture.md)."""
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit="img")


def crop_antialiased(image: np.ndarray, bbox: Sequence[float], size: int, max_factor: int = 4) -> np.ndarray:
    """The ``size x size`` crop of ``bbox`` from ``image``, area-averaged when shrinking.

    The 3DMPPE crop (:func:`crop_square`, plain bilinear) aliases when a
    box much larger than ``size`` is shrunk.  Here the crop is first sampled at ``k`` times the
    resolution (``k = ceil(box side / size)``, at most ``max_factor``) and each ``k x k`` block is
    averaged: block ``(i, j)`` covers exactly crop pixel ``(i, j)``, so joints stay aligned
    (:func:`~partnas_lib.camera.image_to_crop`).  Like the renders the network trains on, edges
    come out antialiased.
    """
    k = int(min(max_factor, max(1, math.ceil(float(max(bbox[2], bbox[3])) / size))))
    fine = crop_square(image, bbox, size * k)
    if k == 1:
        return fine
    blocks = fine.reshape(size, k, size, k, 3).astype(np.float32).mean(axis=(1, 3))
    return np.clip(np.rint(blocks), 0, 255).astype(np.uint8)


__all__ = ["DEFAULT_IMAGE_SIZE", "SampleCollector", "crop_antialiased", "crop_square", "process_bbox",
           "progress_bar", "read_rgb", "tight_bbox"]
