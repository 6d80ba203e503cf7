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
    with pytest.raises(ValueError, match="name must be one of 'astronaut'.*'moon'"):
        load_raw_photo("moon")
    with pytest.raises(TypeError, match="uint8"):
        to_tensor(np.zeros((4, 4, 3), dtype=np.float32))


def test_face_box_finds_the_astronauts_face_and_refuses_a_blank_photo():
    from vitbook import face_box, patches_in_box

    top, left, height, width = face_box(load_photo("astronaut"))
    # the face lies in the upper middle of the photo, a fifth of its width across
    assert 10 < top < 60 and 60 < left < 100 and 35 < height < 60 and width == height
    assert set(patches_in_box((top, left, height, width), 224, 56)) == {1, 2, 5, 6}
    with pytest.raises(ValueError, match="no face found"):
        face_box(np.full((224, 224, 3), 128, dtype=np.uint8))
    with pytest.raises(TypeError, match="NumPy array.*got a torch.Tensor"):
        face_box(to_tensor(load_photo("astronaut")))


def test_chessboard_windows_split_a_photo_into_disjoint_train_and_test_windows():
    from vitbook import chessboard_windows, photo_crops

    image = torch.arange(112 * 112, dtype=torch.float32).reshape(1, 1, 112, 112)
    train = chessboard_windows(image, True, block=56, size=16, stride=8)
    test = chessboard_windows(image, False, block=56, size=16, stride=8)
    # two 56x56 blocks of each colour, 6 x 6 windows in each
    assert train.shape == test.shape == (2 * 36, 1, 16, 16)
    # no pixel (each value is its own index) appears in both sets
    assert not set(train.flatten().tolist()) & set(test.flatten().tolist())
    x, y = photo_crops({"a": image, "b": image + 1}, True, block=56, size=16)
    assert x.shape == (144, 1, 16, 16) and y.tolist() == [0] * 72 + [1] * 72
