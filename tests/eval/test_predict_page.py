"""``predictions.html`` (``partnas_lib/eval/predict_page.py``): self-contained, offline, capped in size,
one 2D and one 3D figure per frame stored as JSON for the slider."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

go = pytest.importorskip("plotly.graph_objects")

from partnas_lib.eval.predict import Prediction  # noqa: E402
from partnas_lib.eval.predict_page import THUMBNAIL_PX, image_figure, page_html, skeleton_figure, write_page  # noqa: E402
from partnas_lib.skeleton import NUM_JOINTS  # noqa: E402


def _prediction(n: int, thumbnails: int, source: str = "frames/a.png") -> Prediction:
    rng = np.random.default_rng(0)
    rel = rng.normal(0, 300, (n, NUM_JOINTS, 3))
    rel[:, 0] = 0
    return Prediction(
        sources=[source] * n, frames=np.arange(n), image_wh=np.tile([640, 480], (n, 1)),
        boxes=np.tile([200.0, 100.0, 150.0, 300.0], (n, 1)), box_sources=["--bbox"] * n,
        crop_boxes=np.tile([87.5, 62.5, 375.0, 375.0], (n, 1)), intrinsics=np.tile([733.0, 733.0, 320, 240], (n, 1)),
        joints_2d=rng.uniform(100, 400, (n, NUM_JOINTS, 2)), joints_rel_mm=rel, joints_abs_mm=None,
        root_depth_mm=np.full(n, 4500.0), root_source="k_prior", root_text="k prior <gamma = 1>",
        camera_text="assumed", run="runs/x", flip_test=True, crops=np.zeros((n, 16, 16, 3), np.uint8),
        thumbnails=[np.full((240, THUMBNAIL_PX, 3), 128, np.uint8)] * thumbnails,
    )


def _payload(text: str) -> list:
    m = re.search(r'<script type="application/json" id="partnas-frames">(.*?)</script>', text, re.S)
    assert m is not None
    return json.loads(m.group(1))


def test_page_is_offline_and_holds_every_frame_up_to_the_cap(tmp_path):
    pred = _prediction(5, thumbnails=3, source="videos/<b>clip.mp4")
    pred.box_sources = ["boxes</script>.json"] * 5
    path = write_page(pred, tmp_path / "predictions.html", max_frames=4)
    text = path.read_text()
    assert all("src=" not in tag for tag in re.findall(r"<script[^>]*>", text))  # no CDN
    assert "The page shows the first 4 of 5 frames" in text
    assert "k prior &lt;gamma = 1&gt;" in text  # facts are escaped
    payload = _payload(text)  # a "</script>" in a file name does not end the JSON early
    assert len(payload) == 4
    assert payload[2]["label"] == "3/5: <b>clip.mp4, frame 2"
    assert "boxes&lt;/script&gt;.json" in payload[0]["image"]["layout"]["title"]["text"]
    # plotly.js once (~4.8 MB) plus a few kB per frame
    assert len(text) < 5_200_000
    assert len(_payload(page_html(_prediction(1, 1)))) == 1


def test_figures_show_the_frame_or_the_crop(tmp_path):
    pred = _prediction(2, thumbnails=1)
    image = image_figure(pred, 0)
    go.Figure(image)  # plotly's own validation: every attribute name and value is known to plotly.js
    (picture,) = image["layout"]["images"]
    assert picture["source"].startswith("data:image/jpeg;base64,")
    assert (picture["sizex"], picture["sizey"]) == (640, 480)
    names = [t["name"] for t in image["data"]]
    assert names[:2] == ["crop box", "person box"] and "left_arm" in names
    assert image["layout"]["yaxis"]["range"][0] > image["layout"]["yaxis"]["range"][1]  # image rows go down
    (crop,) = image_figure(pred, 1)["layout"]["images"]  # no thumbnail kept: the crop
    assert (crop["x"], crop["sizex"]) == (87.5, 375.0)
    skeleton = skeleton_figure(pred, 0)
    go.Figure(skeleton)
    xs = [v for t in skeleton["data"] for v in t["x"]]
    assert len(skeleton["data"]) == 5 and sum(v is None for v in xs) == 16  # 16 bones over 5 parts
    # camera Y (down) is drawn as up: display z = -Y
    zs = [v for t in skeleton["data"] for v in t["z"] if v is not None]
    assert min(zs) == pytest.approx(-pred.joints_rel_mm[0, :, 1].max())
