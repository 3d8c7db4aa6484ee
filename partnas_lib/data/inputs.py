"""Your own pictures: image files, folders and videos, their person boxes, and the crops the network sees.

``partnas predict`` (:mod:`partnas_lib.eval.predict`) takes whatever a user has -- photos, a
folder of frames, a video -- and must hand the network the same kind of crop it was trained
on.  The steps, in order:

1. :func:`list_inputs` -- expand folders (their images and videos, sorted by file name, not
   recursive) and check that every path exists and is an image or a video;
2. :func:`iter_frames` -- decode an image with PIL, or a video frame by frame with
   ``imageio-ffmpeg`` (an optional dependency: ``pip install 'partnas[video]'``), as
   ``(H, W, 3)`` uint8 RGB;
3. the **person box** ``[x, y, w, h]`` in pixels of the frame (docs/formats.md,
   "Conventions"): one box for every frame (``--bbox``, :func:`parse_box`), a box per file
   (``--boxes FILE.json``, :func:`read_boxes`), or none;
4. :func:`crop_box_for` -- the square box the crop is cut from.  A person box goes through
   3DMPPE's rule (:func:`~partnas_lib.data.images.process_bbox`: clip, make square, grow by
   25 %) exactly like the boxes of every dataset and detector file.  Without a box, the
   **whole frame** is taken as the crop itself: a square of its longer side around its
   centre, black where it pads, and no extra margin -- the frame is assumed to be framed on
   the person already, as the training crops are (the person's longer side about 80 % of the
   frame);
5. :func:`~partnas_lib.data.images.crop_antialiased` -- the ``S x S`` crop, area-averaged when
   a large box shrinks (as for detector boxes in the multi-person evaluation); a crop whose
   box is exactly ``S`` pixels is copied pixel for pixel.

Bad input stops early with an error that names the file (docs/architecture.md, "Errors"): a
missing path, an empty folder, an unreadable image or video, a box file that is not
``{"image file name": [x, y, w, h], ...}``, a box outside its image.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from partnas_lib.data.images import crop_antialiased, process_bbox, progress_bar, read_rgb
from partnas_lib.io import DataFormatError, as_array, read_json

#: File endings read as images (PIL) and as videos (imageio-ffmpeg), case-insensitive.
IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
VIDEO_SUFFIXES: tuple[str, ...] = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
#: How far (px) a person box may reach past the image border before it is refused.
BOX_TOLERANCE_PX = 1.0
#: What the box and the crop are called when no box is given.
WHOLE_FRAME = "whole frame"


@dataclass
class FrameCrop:
    """One frame of one input, cut to the network's crop.

    ``box`` is the person box (the whole frame when none was given), ``box_source`` where it
    came from (``"--bbox"``, the box file, or ``"whole frame"``), ``crop_box`` the square box
    the ``crop`` was cut from (px of the frame), ``thumbnail`` the frame shrunk for pictures
    (None past the first few frames).
    """

    source: str
    frame: int
    image_wh: tuple[int, int]
    box: np.ndarray
    box_source: str
    crop_box: np.ndarray
    crop: np.ndarray
    thumbnail: np.ndarray | None = None


# --------------------------------------------------------------------------------------------
# boxes


def parse_box(text: str, where: str = "--bbox") -> np.ndarray:
    """``"x,y,w,h"`` (pixels) -> ``[x, y, w, h]``; ``where`` names the option in errors."""
    parts = [p for p in str(text).replace(" ", "").split(",") if p != ""]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"{where} {text!r}: expected four numbers x,y,w,h (pixels)") from None
    if len(values) != 4:
        raise ValueError(f"{where} {text!r}: expected four numbers x,y,w,h (pixels), got {len(values)}")
    return _checked_box(values, where)


def _checked_box(values: Sequence[float], where: str) -> np.ndarray:
    box = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(box)):
        raise ValueError(f"{where}: box {box.tolist()} has NaN or infinite values")
    if box[2] <= 0 or box[3] <= 0:
        raise ValueError(f"{where}: box {box.tolist()} needs a positive width and height "
                         "(boxes are x, y, width, height -- not x1, y1, x2, y2)")
    return box


def read_boxes(path: str | Path) -> dict[str, np.ndarray]:
    """A ``--boxes`` file: a JSON object ``{"image file name": [x, y, w, h], ...}`` (pixels).

    Keys are file names (``frame_001.png``) or paths as given on the command line; for a video
    ``"clip.mp4"`` boxes every frame and ``"clip.mp4#17"`` frame 17 alone (frames count from 0).
    """
    path = Path(path)
    data = read_json(path, "box file")
    if not isinstance(data, dict):
        raise DataFormatError(f"{path}: box file must be a JSON object {{\"image file name\": [x, y, w, h], ...}}, "
                              f"got a {type(data).__name__}")
    if not data:
        raise DataFormatError(f"{path}: box file has no boxes")
    out = {}
    for key, value in data.items():
        box = as_array(value, (4,), path, f"[{key!r}] (expected [x, y, w, h])")
        out[str(key)] = _checked_box(box, f"{path}: field [{key!r}]")
    return out


def box_from_file(boxes: dict[str, np.ndarray], boxes_file: str | Path, source: str, frame: int | None) -> np.ndarray:
    """The box of ``source`` (frame ``frame`` of a video) in a :func:`read_boxes` mapping."""
    path = Path(source)
    keys = [str(source), path.name]
    if frame is not None:
        keys = [f"{k}#{frame}" for k in keys] + keys
    for key in keys:
        if key in boxes:
            return boxes[key]
    raise DataFormatError(f"{boxes_file}: no box for {source} (keys are image file names, e.g. {path.name!r}"
                          + (f" or {path.name + '#' + str(frame)!r}" if frame is not None else "") + ")")


def check_box_inside(box: np.ndarray, width: int, height: int, where: str) -> None:
    """Refuse a person box that reaches past the image by more than :data:`BOX_TOLERANCE_PX`:
    it is almost always a box of another image, or ``x1, y1, x2, y2`` read as ``x, y, w, h``."""
    x, y, w, h = (float(v) for v in box)
    t = BOX_TOLERANCE_PX
    if x < -t or y < -t or x + w > width + t or y + h > height + t:
        raise ValueError(f"{where}: box [x, y, w, h] = {[round(v, 2) for v in (x, y, w, h)]} lies outside the "
                         f"{width} x {height} image (boxes are x, y, width, height in pixels of the image)")


def whole_frame_box(width: int, height: int) -> np.ndarray:
    """The square crop box of a frame used as is: its longer side, centred (the short side pads)."""
    side = float(max(width, height))
    return np.array([(width - side) / 2.0, (height - side) / 2.0, side, side])


def crop_box_for(box: np.ndarray | None, width: int, height: int) -> np.ndarray:
    """The square box a crop is cut from: 3DMPPE's rule for a person box, the frame itself otherwise."""
    if box is None:
        return whole_frame_box(width, height)
    return process_bbox(box, width, height)


# --------------------------------------------------------------------------------------------
# files, folders, videos


def is_video(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def list_inputs(paths: Sequence[str | Path]) -> list[Path]:
    """Every image and video to read: files as given, folders expanded (sorted by name)."""
    if not paths:
        raise ValueError("no input: give image files, folders or videos")
    known = IMAGE_SUFFIXES + VIDEO_SUFFIXES
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            members = sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in known)
            if not members:
                raise ValueError(f"{p}: folder has no images or videos (looked for {', '.join(known)})")
            out += members
        elif p.is_file():
            if p.suffix.lower() not in known:
                raise ValueError(f"{p}: not an image or a video (expected one of {', '.join(known)})")
            out.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such file or folder")
    return out


def iter_frames(path: str | Path) -> Iterator[tuple[int, np.ndarray]]:
    """``(frame index, (H, W, 3) uint8 RGB)`` of an image (one frame, index 0) or a video."""
    path = Path(path)
    if is_video(path):
        yield from _video_frames(path)
    else:
        yield 0, read_rgb(path, "partnas predict")


def _video_frames(path: Path) -> Iterator[tuple[int, np.ndarray]]:
    try:
        import imageio_ffmpeg  # optional dependency (the 'video' extra): only videos need it
    except ImportError:
        raise RuntimeError(f"{path}: reading videos needs imageio-ffmpeg; pip install 'partnas[video]'") from None
    reader = imageio_ffmpeg.read_frames(str(path))
    count = 0
    try:
        meta = next(reader)
        width, height = (int(v) for v in meta["size"])
        for raw in reader:
            yield count, np.frombuffer(raw, np.uint8).reshape(height, width, 3)
            count += 1
    except (OSError, RuntimeError, StopIteration, KeyError, ValueError) as err:
        raise DataFormatError(f"{path}: unreadable video ({_first_line(err)})") from None
    finally:
        reader.close()
    if count == 0:
        raise DataFormatError(f"{path}: video has no frames")


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def thumbnail(image: np.ndarray, max_side: int) -> np.ndarray:
    """``image`` shrunk (antialiased) so that its longer side is at most ``max_side`` px."""
    from PIL import Image

    h, w = image.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1:
        return image
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))


def read_crops(paths: Sequence[str | Path], image_size: int, bbox: np.ndarray | None = None,
               boxes: dict[str, np.ndarray] | None = None, boxes_file: str | Path = "--boxes",
               thumbnails: int = 0, thumbnail_px: int = 320, progress: bool = False) -> list[FrameCrop]:
    """Every frame of ``paths`` (:func:`list_inputs`) as a :class:`FrameCrop` of ``image_size``.

    The box of a frame is ``bbox`` if given, else its entry in ``boxes`` (read from
    ``boxes_file``), else the whole frame.  Frames are cropped as they are read, so a long video
    never sits in memory; the first ``thumbnails`` frames keep a copy at most ``thumbnail_px``
    wide or high.
    """
    if bbox is not None and boxes is not None:
        raise ValueError("give one person box for every frame (--bbox) or a box file (--boxes), not both")
    out: list[FrameCrop] = []
    for path in progress_bar(list_inputs(paths), progress, "reading"):
        video = is_video(path)
        for index, image in iter_frames(path):
            height, width = image.shape[:2]
            where = f"{path}" + (f" frame {index}" if video else "")
            if bbox is not None:
                box, source = bbox, "--bbox"
            elif boxes is not None:
                box, source = box_from_file(boxes, boxes_file, str(path), index if video else None), str(boxes_file)
            else:
                box, source = None, WHOLE_FRAME
            if box is not None:
                check_box_inside(box, width, height, where)
            crop_box = crop_box_for(box, width, height)
            out.append(FrameCrop(
                source=str(path), frame=index, image_wh=(width, height),
                box=np.array([0.0, 0.0, width, height]) if box is None else np.asarray(box, np.float64),
                box_source=source, crop_box=crop_box, crop=crop_antialiased(image, crop_box, image_size),
                thumbnail=thumbnail(image, thumbnail_px) if len(out) < thumbnails else None,
            ))
    return out


__all__ = ["BOX_TOLERANCE_PX", "FrameCrop", "IMAGE_SUFFIXES", "VIDEO_SUFFIXES", "WHOLE_FRAME", "box_from_file",
           "check_box_inside", "crop_box_for", "is_video", "iter_frames", "list_inputs", "parse_box", "read_boxes",
           "read_crops", "thumbnail", "whole_frame_box"]
