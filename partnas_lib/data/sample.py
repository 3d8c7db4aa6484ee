"""The one record every data source yields: a :class:`Sample`, and its stacked form.

A ``Sample`` is one person in one image (docs/architecture.md): the image crop, the 2D joints in the
*original* image (px), the 3D joints in camera space (mm), the root depth, the intrinsics of
the original camera, the square crop box, and meta.  Nothing downstream knows whether a
sample came from the synthetic renderer, Human3.6M or MuPoTS-3D.

For training, samples are stacked into :class:`SampleArrays` (numpy arrays with a leading
sample axis; :mod:`partnas_lib.data.batches` slices them into tensor batches), and sample sets
of several sources are stacked with :func:`concat_arrays` (e.g. Human3.6M 3D + MPII 2D).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from partnas_lib.skeleton import NUM_JOINTS


@dataclass
class Sample:
    """One person in one image.

    Attributes:
        image: ``(S, S, 3)`` uint8 RGB crop of ``bbox`` resized to ``S x S``.
        joints_2d: ``(17, 2)`` pixels in the original image.
        joints_3d: ``(17, 3)`` camera-space millimetres (X right, Y down, Z forward).
        joints_vis: ``(17,)`` bool, joint annotated / visible.
        root_depth: camera-space Z of the pelvis, mm.
        intrinsics: ``(4,)`` fx, fy, cx, cy of the original camera (px).
        bbox: ``(4,)`` x, y, w, h of the crop in the original image (px).
        has_3d: False for 2D-only samples (e.g. MPII), whose depth loss is masked.
        meta: subject, action, frame, camera, source ...
    """

    image: np.ndarray
    joints_2d: np.ndarray
    joints_3d: np.ndarray
    joints_vis: np.ndarray
    root_depth: float
    intrinsics: np.ndarray
    bbox: np.ndarray
    has_3d: bool = True
    meta: dict[str, Any] = field(default_factory=dict)

    def validate(self, where: str = "sample") -> None:
        """Raise a ``ValueError`` naming the field whose shape is wrong."""
        expect = {
            "joints_2d": (NUM_JOINTS, 2),
            "joints_3d": (NUM_JOINTS, 3),
            "joints_vis": (NUM_JOINTS,),
            "intrinsics": (4,),
            "bbox": (4,),
        }
        for name, shape in expect.items():
            got = np.shape(getattr(self, name))
            if got != shape:
                raise ValueError(f"{where}: field {name!r} has shape {got}, expected {shape}")
        if self.image.ndim != 3 or self.image.shape[2] != 3 or self.image.dtype != np.uint8:
            raise ValueError(
                f"{where}: field 'image' must be (S, S, 3) uint8, got {self.image.shape} {self.image.dtype}"
            )


@dataclass
class SampleArrays:
    """Many samples stacked along axis 0 (same fields as :class:`Sample`, plus ``meta`` list)."""

    images: np.ndarray  # (N, S, S, 3) uint8
    joints_2d: np.ndarray  # (N, 17, 2) float32
    joints_3d: np.ndarray  # (N, 17, 3) float32
    joints_vis: np.ndarray  # (N, 17) bool
    root_depth: np.ndarray  # (N,) float32
    intrinsics: np.ndarray  # (N, 4) float32
    bbox: np.ndarray  # (N, 4) float32
    has_3d: np.ndarray  # (N,) bool
    meta: list[dict[str, Any]]

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_size(self) -> int:
        return int(self.images.shape[1])

    def validate(self, where: str = "arrays") -> None:
        """Raise a ``ValueError`` naming ``where`` and the first array whose shape or type is wrong."""
        n = len(self.images)
        expect = {
            "joints_2d": (n, NUM_JOINTS, 2), "joints_3d": (n, NUM_JOINTS, 3), "joints_vis": (n, NUM_JOINTS),
            "root_depth": (n,), "intrinsics": (n, 4), "bbox": (n, 4), "has_3d": (n,),
        }
        img = np.asarray(self.images)
        if img.ndim != 4 or img.shape[3] != 3 or img.shape[1] != img.shape[2] or img.dtype != np.uint8:
            raise ValueError(f"{where}: array 'images' has shape {img.shape} {img.dtype}, "
                             "expected (N, S, S, 3) uint8")
        for name, shape in expect.items():
            got = np.shape(getattr(self, name))
            if got != shape:
                raise ValueError(f"{where}: array {name!r} has shape {got}, expected {shape} "
                                 f"(N = {n} images, {NUM_JOINTS} joints)")
        if len(self.meta) != n:
            raise ValueError(f"{where}: {len(self.meta)} meta records for {n} images")

    @classmethod
    def from_samples(cls, samples: Sequence[Sample]) -> "SampleArrays":
        if not samples:
            raise ValueError("cannot stack an empty list of samples")
        return cls(
            images=np.stack([s.image for s in samples]).astype(np.uint8),
            joints_2d=np.stack([s.joints_2d for s in samples]).astype(np.float32),
            joints_3d=np.stack([s.joints_3d for s in samples]).astype(np.float32),
            joints_vis=np.stack([s.joints_vis for s in samples]).astype(bool),
            root_depth=np.array([s.root_depth for s in samples], dtype=np.float32),
            intrinsics=np.stack([s.intrinsics for s in samples]).astype(np.float32),
            bbox=np.stack([s.bbox for s in samples]).astype(np.float32),
            has_3d=np.array([s.has_3d for s in samples], dtype=bool),
            meta=[dict(s.meta) for s in samples],
        )

    def sample(self, i: int) -> Sample:
        return Sample(
            image=self.images[i], joints_2d=self.joints_2d[i], joints_3d=self.joints_3d[i],
            joints_vis=self.joints_vis[i], root_depth=float(self.root_depth[i]),
            intrinsics=self.intrinsics[i], bbox=self.bbox[i], has_3d=bool(self.has_3d[i]),
            meta=self.meta[i],
        )

    def subset(self, index: np.ndarray | Sequence[int] | slice) -> "SampleArrays":
        idx = np.arange(len(self))[index]
        return SampleArrays(
            images=self.images[idx], joints_2d=self.joints_2d[idx], joints_3d=self.joints_3d[idx],
            joints_vis=self.joints_vis[idx], root_depth=self.root_depth[idx],
            intrinsics=self.intrinsics[idx], bbox=self.bbox[idx], has_3d=self.has_3d[idx],
            meta=[self.meta[i] for i in idx],
        )

    def root_relative_3d(self) -> np.ndarray:
        """``(N, 17, 3)`` joints minus the pelvis, mm."""
        return self.joints_3d - self.joints_3d[:, :1]


def concat_arrays(a: SampleArrays, b: SampleArrays, *more: SampleArrays) -> SampleArrays:
    """Stack sample sets along axis 0, e.g. Human3.6M (3D) + MPII (2D) for mixed training.

    All inputs must share the crop size.  ``has_3d`` travels with each sample, so the training
    loop keeps masking the depth loss of the 2D-only ones.
    """
    parts = (a, b, *more)
    sizes = {p.images.shape[1:] for p in parts}
    if len(sizes) != 1:
        raise ValueError(f"cannot concatenate samples with different image shapes {sorted(sizes)}; "
                         "load every dataset with the same image_size")
    cat = lambda name: np.concatenate([getattr(p, name) for p in parts])  # noqa: E731
    return SampleArrays(
        images=cat("images"), joints_2d=cat("joints_2d"), joints_3d=cat("joints_3d"),
        joints_vis=cat("joints_vis"), root_depth=cat("root_depth"), intrinsics=cat("intrinsics"),
        bbox=cat("bbox"), has_3d=cat("has_3d"), meta=[dict(m) for p in parts for m in p.meta],
    )
