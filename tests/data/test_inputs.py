"""Your own pictures as network crops (``partnas_lib/data/inputs.py``): folders, images, videos, person
boxes and box files, and the errors that name the file."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from PIL import Image

from partnas_lib.data.images import crop_antialiased, process_bbox
from partnas_lib.data.inputs import (
    WHOLE_FRAME,
    box_from_file,
    crop_box_for,
    list_inputs,
    parse_box,
    read_boxes,
    read_crops,
    whole_frame_box,
)
from partnas_lib.io import DataFormatError


def _png(path, w=40, h=30, seed=0):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    Image.fromarray(image).save(path)
    return image


def test_parse_box():
    np.testing.assert_array_equal(parse_box("10,20.5, 30,40"), [10, 20.5, 30, 40])
    for bad, message in [("1,2,3", "four numbers"), ("a,b,c,d", "four numbers"), ("0,0,10,-5", "positive width"),
                         ("0,0,nan,5", "NaN")]:
        with pytest.raises(ValueError, match=message) as err:
            parse_box(bad)
        assert "--bbox" in str(err.value)


def test_read_boxes_and_its_errors(tmp_path):
    good = tmp_path / "boxes.json"
    good.write_text(json.dumps({"a.png": [1, 2, 3, 4], "clip.mp4#2": [0, 0, 5, 5]}))
    boxes = read_boxes(good)
    np.testing.assert_array_equal(box_from_file(boxes, good, "some/folder/a.png", None), [1, 2, 3, 4])
    np.testing.assert_array_equal(box_from_file(boxes, good, "clip.mp4", 2), [0, 0, 5, 5])
    with pytest.raises(DataFormatError, match="no box for .*b.png"):
        box_from_file(boxes, good, "b.png", None)
    cases = {
        "malformed.json": ("{", "malformed JSON"),
        "list.json": (json.dumps([[1, 2, 3, 4]]), "must be a JSON object"),
        "short.json": (json.dumps({"a.png": [1, 2, 3]}), "'a.png'"),
        "empty.json": ("{}", "no boxes"),
        "flat.json": (json.dumps({"a.png": [1, 2, 0, 4]}), "positive width"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(ValueError, match=message) as err:
            read_boxes(path)
        assert str(path) in str(err.value)
    with pytest.raises(FileNotFoundError, match="nowhere.json"):
        read_boxes(tmp_path / "nowhere.json")


def test_list_inputs_expands_folders_by_name_and_names_bad_paths(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for name in ["b.png", "a.jpg", "c.PNG"]:
        _png(folder / name)
    (folder / "boxes.json").write_text("{}")  # not an image: skipped
    (folder / "sub").mkdir()  # not recursive
    assert [p.name for p in list_inputs([folder])] == ["a.jpg", "b.png", "c.PNG"]
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="folder has no images or videos") as err:
        list_inputs([empty])
    assert str(empty) in str(err.value)
    with pytest.raises(FileNotFoundError, match="missing.png"):
        list_inputs([tmp_path / "missing.png"])
    with pytest.raises(ValueError, match="not an image or a video"):
        list_inputs([empty / "notes.txt"])


def test_unreadable_image_is_named(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png at all")
    with pytest.raises(DataFormatError, match="unreadable image") as err:
        read_crops([bad], 16)
    assert str(bad) in str(err.value)


def test_box_outside_the_image_is_refused(tmp_path):
    path = tmp_path / "a.png"
    _png(path, 40, 30)
    for box in ([30, 5, 20, 10], [-5, 0, 10, 10], [10, 10, 25, 25]):  # the last: x2, y2 read as w, h
        with pytest.raises(ValueError, match="lies outside the 40 x 30 image") as err:
            read_crops([path], 16, bbox=np.array(box, float))
        assert str(path) in str(err.value)
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({"a.png": [100, 100, 10, 10]}))
    with pytest.raises(ValueError, match="outside"):
        read_crops([path], 16, boxes=read_boxes(boxes), boxes_file=boxes)


def test_whole_frame_is_the_crop_and_a_person_box_follows_the_dataset_rule(tmp_path):
    square = _png(tmp_path / "square.png", 16, 16, seed=1)
    (crop,) = read_crops([tmp_path / "square.png"], 16, thumbnails=1, thumbnail_px=8)
    assert crop.box_source == WHOLE_FRAME and crop.image_wh == (16, 16)
    np.testing.assert_array_equal(crop.crop, square)  # an S x S frame is copied pixel for pixel
    assert crop.thumbnail is not None and crop.thumbnail.shape == (8, 8, 3)
    np.testing.assert_allclose(whole_frame_box(40, 30), [0, -5, 40, 40])  # longer side, centred
    box = np.array([10.0, 5.0, 12.0, 20.0])
    np.testing.assert_allclose(crop_box_for(box, 40, 30), process_bbox(box, 40, 30))
    image = _png(tmp_path / "wide.png", 40, 30, seed=2)
    (c,) = read_crops([tmp_path / "wide.png"], 16, bbox=box)
    assert c.box_source == "--bbox" and c.thumbnail is None
    np.testing.assert_array_equal(c.crop, crop_antialiased(image, process_bbox(box, 40, 30), 16))


def _video(path, frames=4, size=(48, 32)):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    writer = imageio_ffmpeg.write_frames(str(path), size, fps=10, quality=8, macro_block_size=16)
    writer.send(None)
    for i in range(frames):
        writer.send(np.full((size[1], size[0], 3), 40 * i, np.uint8).tobytes())
    writer.close()


def test_video_frames_and_per_frame_boxes(tmp_path):
    video = tmp_path / "clip.mp4"
    _video(video)
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({"clip.mp4": [4, 4, 20, 20], "clip.mp4#2": [10, 6, 24, 20]}))
    crops = read_crops([video], 16, boxes=read_boxes(boxes), boxes_file=boxes)
    assert [c.frame for c in crops] == [0, 1, 2, 3] and {c.image_wh for c in crops} == {(48, 32)}
    np.testing.assert_array_equal(crops[2].box, [10, 6, 24, 20])
    np.testing.assert_array_equal(crops[3].box, [4, 4, 20, 20])
    levels = [float(c.crop[6:10, 6:10].mean()) for c in crops]
    assert levels == sorted(levels) and abs(levels[-1] - 120) < 10
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"hello")
    with pytest.raises(DataFormatError, match="unreadable video") as err:
        read_crops([broken], 16)
    assert str(broken) in str(err.value)


def test_video_without_imageio_ffmpeg_says_what_to_install(tmp_path, monkeypatch):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00")
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # makes the import fail
    with pytest.raises(RuntimeError, match=r"pip install 'partnas\[video\]'") as err:
        read_crops([video], 16)
    assert str(video) in str(err.value)


def test_bbox_and_boxes_together_are_refused(tmp_path):
    _png(tmp_path / "a.png")
    with pytest.raises(ValueError, match="not both"):
        read_crops([tmp_path / "a.png"], 16, bbox=np.array([0, 0, 5, 5.0]), boxes={"a.png": np.zeros(4)})
