"""patchify / unpatchify: shapes, order, round trips, agreement with F.unfold,
and clear errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from vitbook import grid_size, num_patches, patchify, unpatchify


def unfold_to_channels_last(images: torch.Tensor, p: int) -> torch.Tensor:
    """F.unfold's (B, C*P*P, N), channels-first inside a patch,
    reordered to patchify's layout."""
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
        ((3, 224, 224), 16, ValueError, "add the batch axis with images[None]"),
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


def test_sliding_patches_at_stride_p_are_patchify_and_overlap_below_it():
    from vitbook import sliding_patches

    images = torch.rand(2, 3, 32, 48)
    assert torch.equal(sliding_patches(images, 16, 16), patchify(images, 16))
    overlapping = sliding_patches(images, 16, 8)  # (B, 3 * 5, 768)
    assert overlapping.shape == (2, 15, 768)
    # window 1 starts 8 pixels to the right of window 0: the second half of patch 0
    assert torch.equal(
        overlapping[:, 1].reshape(2, 16, 16, 3)[:, :, :8],
        patchify(images, 16)[:, 0].reshape(2, 16, 16, 3)[:, :, 8:],
    )
    with pytest.raises(ValueError, match="stride must be a positive int"):
        sliding_patches(images, 16, 0)


def test_patches_in_box_shares_sum_to_one_and_name_the_covered_patches():
    from vitbook import patches_in_box

    shares = patches_in_box((8, 8, 16, 16), 32, 16)  # a box across all four patches
    assert shares == {0: 0.25, 1: 0.25, 2: 0.25, 3: 0.25}
    assert patches_in_box((0, 16, 16, 16), 32, 16) == {1: 1.0}
    inside = patches_in_box((27, 75, 46, 46), 224, 16)
    assert abs(sum(inside.values()) - 1) < 1e-12
    with pytest.raises(ValueError, match="positive size"):
        patches_in_box((0, 0, 0, 5), 32, 16)
