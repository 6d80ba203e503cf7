"""patchify / unpatchify: shapes, order, round trips, agreement with F.unfold, and clear errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from vitbook import grid_size, num_patches, patchify, unpatchify


def unfold_to_channels_last(images: torch.Tensor, p: int) -> torch.Tensor:
    """F.unfold's (B, C*P*P, N), channels-first inside a patch, reordered to patchify's layout."""
    b, c = images.shape[:2]
    cols = F.unfold(images, kernel_size=p, stride=p)  # (B, C*P*P, N)
    n = cols.shape[-1]
    x = cols.transpose(1, 2).reshape(b, n, c, p * p)  # (B, N, C, P*P)
    return x.transpose(2, 3).reshape(b, n, p * p * c)  # (B, N, P*P*C)


def test_running_example_shapes():
    images = torch.rand(1, 3, 224, 224)
    assert patchify(images, 16).shape == (1, 196, 768)
    assert grid_size(224, 16) == (14, 14)
    assert num_patches(224, 16) == 196


def test_raster_order_and_channels_last():
    images = torch.arange(2 * 3 * 4 * 6, dtype=torch.float32).reshape(2, 3, 4, 6)
    patches = patchify(images, 2)  # grid 2 x 3
    assert patches.shape == (2, 6, 12)
    # patch 1 is row 0, column 1; its first three values are the RGB of pixel (y=0, x=2)
    assert patches[0, 1, :3].tolist() == images[0, :, 0, 2].tolist()
    # patch 3 is row 1, column 0; its values 3..5 are the RGB of pixel (y=2, x=1)
    assert patches[1, 3, 3:6].tolist() == images[1, :, 2, 1].tolist()


def test_non_square_image():
    images = torch.rand(1, 3, 224, 160)
    patches = patchify(images, 16)
    assert patches.shape == (1, 140, 768)
    assert torch.equal(unpatchify(patches, 16, (224, 160)), images)


@settings(max_examples=60, deadline=None)
@given(
    b=st.integers(1, 3),
    c=st.integers(1, 4),
    p=st.integers(1, 6),
    rows=st.integers(1, 5),
    cols=st.integers(1, 5),
)
def test_round_trip_and_unfold_agreement(b, c, p, rows, cols):
    images = torch.randn(b, c, rows * p, cols * p)
    patches = patchify(images, p)
    assert patches.shape == (b, rows * cols, p * p * c)
    assert torch.equal(unpatchify(patches, p, (rows * p, cols * p)), images)
    assert torch.equal(patches, unfold_to_channels_last(images, p))


@pytest.mark.parametrize(
    "shape, p, error, words",
    [
        ((3, 224, 224), 16, ValueError, "unsqueeze(0)"),
        (
            (1, 3, 225, 225),
            16,
            ValueError,
            "height 225 is not a multiple of patch size 16",
        ),
        ((1, 3, 224, 230), 16, ValueError, "width 230"),
        ((1, 3, 224, 224), 0, ValueError, "positive"),
        ((1, 3, 224, 224), -4, ValueError, "positive"),
    ],
)
def test_patchify_errors_name_the_values(shape, p, error, words):
    with pytest.raises(error, match=__import__("re").escape(words)):
        patchify(torch.zeros(shape), p)


def test_patchify_type_errors():
    with pytest.raises(TypeError, match="torch.Tensor"):
        patchify([[0.0]], 16)
    with pytest.raises(TypeError, match="patch_size must be an int"):
        patchify(torch.zeros(1, 3, 32, 32), 16.0)


def test_unpatchify_errors():
    with pytest.raises(ValueError, match="do not divide into 16x16 = 256"):
        unpatchify(torch.zeros(1, 196, 700), 16, 224)
    with pytest.raises(ValueError, match="got 195 patches"):
        unpatchify(torch.zeros(1, 195, 768), 16, 224)
    with pytest.raises(ValueError, match=r"shape \(B, N, P\*P\*C\)"):
        unpatchify(torch.zeros(196, 768), 16, 224)
