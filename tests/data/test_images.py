"""Boxes and crops (data.images): the 3DMPPE box, the pixel convention, antialiased crops."""

from __future__ import annotations

import numpy as np

from partnas_lib.data import images
from partnas_lib.data.images import crop_square


def test_process_bbox_is_square_and_grown():
    box = images.process_bbox([100, 200, 50, 200], 1000, 1000)
    # 3DMPPE: x2 = x1 + w - 1, so the box is 49 x 199 px; widened to 199 x 199, then x 1.25
    np.testing.assert_allclose(box[2:], [199 * 1.25, 199 * 1.25])
    np.testing.assert_allclose(box[:2] + box[2:] / 2, [100 + 49 / 2, 200 + 199 / 2])


def test_crop_square_pixel_convention():
    ramp = np.tile(np.arange(200, dtype=np.uint8)[None, :, None], (100, 1, 3))  # value = column
    same = images.crop_square(ramp, [0, 0, 200, 100], 100)
    assert same.shape == (100, 100, 3)
    # crop pixel j has its centre at image x = (j + 0.5) * 2, i.e. column index 2j + 0.5
    np.testing.assert_allclose(same[50, 10:90, 0], 2 * np.arange(10, 90) + 0.5, atol=0.51)
    outside = images.crop_square(ramp, [-100, -100, 50, 50], 8)
    assert not outside.any()


def test_antialiased_crop_is_aligned_with_the_pixel_convention():
    cols = np.tile(np.arange(200, dtype=np.uint8)[None, :, None], (200, 1, 3))
    box = np.array([20.0, 30.0, 128.0, 128.0])  # 4 image pixels per crop pixel
    crop = images.crop_antialiased(cols, box, 32)
    centres = box[0] + (np.arange(32) + 0.5) * 4.0 - 0.5  # value of a pixel = its column index
    np.testing.assert_allclose(crop[5, :, 0], centres, atol=0.51)
    np.testing.assert_array_equal(images.crop_antialiased(cols, [20, 30, 32, 32], 32),
                                  crop_square(cols, [20, 30, 32, 32], 32))
