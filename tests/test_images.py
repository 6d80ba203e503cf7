"""The book's photos load offline, at the running example's size, as the right types."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vitbook import PHOTOS, center_crop, load_photo, load_raw_photo, to_tensor


@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_every_photo_loads_as_224_rgb_uint8(name):
    raw = load_raw_photo(name)
    assert raw.dtype == np.uint8 and raw.ndim == 3 and raw.shape[2] == 3
    photo = load_photo(name)
    assert photo.shape == (224, 224, 3) and photo.dtype == np.uint8


def test_center_crop_takes_the_middle_square():
    image = np.arange(4 * 6).reshape(4, 6, 1)
    crop = center_crop(image)
    assert crop.shape == (4, 4, 1)
    assert crop[0, 0, 0] == image[0, 1, 0]


def test_to_tensor_layout_and_range():
    photo = load_photo("astronaut")
    x = to_tensor(photo)
    assert x.shape == (1, 3, 224, 224) and x.dtype == torch.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert x[0, :, 10, 20].mul(255).round().tolist() == photo[10, 20].tolist()


def test_errors():
    with pytest.raises(ValueError, match="unknown photo 'moon'"):
        load_raw_photo("moon")
    with pytest.raises(ValueError, match="uint8"):
        to_tensor(np.zeros((4, 4, 3), dtype=np.float32))
