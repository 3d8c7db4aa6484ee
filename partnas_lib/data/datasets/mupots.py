"""MuPoTS-3D loaders: the original ``annot.mat`` release and Moon's preprocessed JSON.

MuPoTS-3D (Mehta et al. 2018) is the multi-person test set of the paper: 20 sequences
``TS1``..``TS20`` (TS1-5 indoor, 2048 x 2048; TS6-20 outdoor, 1920 x 1080), several people per
frame.  Both layouts of ``docs/formats.md`` load into one :class:`~partnas_lib.data.sample.Sample`
*per person*, joints reordered from the MuPoTS (MPI-INF-3DHP test) order into Human3.6M-17
with :data:`~partnas_lib.data.datasets.mupots_facts.H36M_FROM_MUPOTS`.  A multi-person evaluator
regroups people by image with the meta:

``image_id``
    An integer per image, unique within the loaded arrays: Moon's ids in the JSON layout, a
    running index over the loaded frames (sequences in order) in the ``.mat`` layout.
``file_name``
    ``"TS3/img_000042.jpg"``, the same in both layouts: the key to match them.
``sequence`` / ``frame`` / ``person``
    Sequence name, 0-based frame and the person's index within the image.
``is_valid``
    The annotation's ``isValidFrame`` / ``is_valid`` flag (people not annotated in a frame have
    0).  Loaders keep only valid people unless ``valid_only=False``.
``joints_3d_univ``
    (``.mat`` only) the height-normalised "universal" skeleton ``univ_annot3``, Human3.6M-17
    order, for scorers that rescale bones.

The layouts (docs/formats.md), each in its own module:

``"mat"``: the original release, ``MultiPersonTestSet/TS*/annot.mat`` with the frames; it ships
    no intrinsics, so they are estimated per sequence
    (:mod:`~partnas_lib.data.datasets.mupots_mat`).
``"json"``: Moon's ``MuPoTS-3D.json`` with the frames under ``MultiPersonTestSet/``
    (:mod:`~partnas_lib.data.datasets.mupots_json`).

Detector boxes and RootNet roots (``bbox_root_mupots_output.json``) are read by
:func:`load_mupots_detections`.  The facts both layouts share (joint order, bones, sequences)
live in :mod:`~partnas_lib.data.datasets.mupots_facts`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from partnas_lib.data.datasets.mupots_json import load_mupots_json
from partnas_lib.data.datasets.mupots_mat import load_mupots_mat, mat_root
from partnas_lib.data.detections import read_bbox_root
from partnas_lib.data.sample import SampleArrays

LAYOUTS: tuple[str, ...] = ("mat", "json")


def load_mupots_detections(root: str | Path) -> dict[int, list[dict[str, Any]]]:
    """Detector boxes and RootNet roots per ``image_id`` from ``bbox_root_mupots_output.json``
    (searched in ``root/bbox_root/`` then ``root/``): ``{image_id: [{bbox, root_cam, score}]}``."""
    root = Path(root)
    candidates = [root / "bbox_root" / "bbox_root_mupots_output.json", root / "bbox_root_mupots_output.json"]
    path = next((p for p in candidates if p.is_file()), candidates[0])
    return read_bbox_root(path, "MuPoTS-3D detections file", need_root=True)


def detect_mupots_layout(root: str | Path) -> str:
    """``"json"`` if ``root/MuPoTS-3D.json`` exists, else ``"mat"`` if ``annot.mat`` files do."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: MuPoTS-3D root folder not found")
    if (root / "MuPoTS-3D.json").is_file():
        return "json"
    mat_root(root)  # raises a clear error when there is no annot.mat either
    return "mat"


def load_mupots(root: str | Path, layout: str | None = None, **kwargs: Any) -> SampleArrays:
    """Load MuPoTS-3D from ``root`` in either layout (detected when ``layout`` is None);
    ``kwargs``: ``sequences``, ``image_size``, ``with_images``, ``valid_only``, ``progress``."""
    layout = layout or detect_mupots_layout(root)
    if layout == "mat":
        return load_mupots_mat(root, **kwargs)
    if layout == "json":
        return load_mupots_json(root, **kwargs)
    raise ValueError(f"unknown MuPoTS-3D layout {layout!r}; expected one of {LAYOUTS}")


__all__ = ["LAYOUTS", "detect_mupots_layout", "load_mupots", "load_mupots_detections"]
