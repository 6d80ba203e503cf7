"""PatchEmbedding and its convolution form: shapes, agreement of the two forms,
round trips, errors."""

from __future__ import annotations

import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from vitbook import PatchEmbedding, conv_to_linear, linear_to_conv, patchify


def conv_tokens(conv: nn.Conv2d, images: torch.Tensor) -> torch.Tensor:
    """The conv form's output ``(B, D, H/P, W/P)``
    as tokens ``(B, N, D)`` in raster order."""
    return conv(images).flatten(2).transpose(1, 2)


def test_running_example_shapes_and_parameter_count():
    torch.manual_seed(0)
    embedding = PatchEmbedding()  # P=16, C=3, D=128
    assert embedding.proj.weight.shape == (128, 768)  # nn.Linear stores (out, in)
    assert embedding.proj.bias.shape == (128,)
    assert sum(p.numel() for p in embedding.parameters()) == 768 * 128 + 128 == 98_432
    tokens = embedding(torch.rand(2, 3, 224, 224))
    assert tokens.shape == (2, 196, 128)
    conv = linear_to_conv(embedding)
    assert (conv.in_channels, conv.out_channels) == (3, 128)
    assert (
        conv.kernel_size == (16, 16)
        and conv.stride == (16, 16)
        and conv.padding == (0, 0)
    )
    assert conv(torch.rand(2, 3, 224, 224)).shape == (2, 128, 14, 14)


def test_forward_is_patchify_then_x_w_transpose_plus_b():
    torch.manual_seed(1)
    embedding = PatchEmbedding(patch_size=4, in_channels=3, dim=8)
    images = torch.rand(2, 3, 8, 12)
    w, b = embedding.proj.weight, embedding.proj.bias  # (D, P*P*C), (D,)
    expected = patchify(images, 4) @ w.T + b  # (B, N, D)
    assert torch.allclose(embedding(images), expected, atol=1e-6)


def test_the_same_weights_for_every_patch():
    """Weight sharing: a patch's token depends only on that patch,
    not on where it is."""
    torch.manual_seed(2)
    embedding = PatchEmbedding(patch_size=4, in_channels=2, dim=5)
    patch = torch.rand(1, 2, 4, 4)
    images = patch.repeat(1, 1, 3, 2)  # the same patch on a 3x2 grid
    tokens = embedding(images)  # (1, 6, 5)
    assert torch.allclose(tokens, tokens[:, :1].expand_as(tokens), atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(
    p=st.integers(1, 8),
    c=st.integers(1, 4),
    d=st.integers(1, 16),
    rows=st.integers(1, 4),
    cols=st.integers(1, 4),
    b=st.integers(1, 2),
    seed=st.integers(0, 2**16),
)
def test_linear_and_conv_forms_agree(p, c, d, rows, cols, b, seed):
    torch.manual_seed(seed)
    embedding = PatchEmbedding(patch_size=p, in_channels=c, dim=d)
    images = torch.randn(b, c, rows * p, cols * p)
    conv = linear_to_conv(embedding)
    assert conv.weight.shape == (d, c, p, p)
    expected = embedding(images)  # (B, N, D)
    assert expected.shape == (b, rows * cols, d)
    assert torch.allclose(conv_tokens(conv, images), expected, atol=1e-5, rtol=1e-5)


@settings(max_examples=40, deadline=None)
@given(
    p=st.integers(1, 8),
    c=st.integers(1, 4),
    d=st.integers(1, 16),
    bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_conv_to_linear_agrees_with_the_conv(p, c, d, bias, seed):
    torch.manual_seed(seed)
    conv = nn.Conv2d(c, d, kernel_size=p, stride=p, bias=bias)
    images = torch.randn(2, c, 3 * p, 2 * p)
    embedding = conv_to_linear(conv)
    assert (embedding.patch_size, embedding.in_channels, embedding.dim) == (p, c, d)
    assert torch.allclose(
        embedding(images), conv_tokens(conv, images), atol=1e-5, rtol=1e-5
    )
    if not bias:
        assert torch.equal(embedding.proj.bias, torch.zeros(d))


@pytest.mark.parametrize("p, c, d", [(16, 3, 128), (32, 3, 128), (4, 1, 7), (2, 5, 3)])
def test_round_trips_are_exact(p, c, d):
    torch.manual_seed(3)
    embedding = PatchEmbedding(patch_size=p, in_channels=c, dim=d)
    back = conv_to_linear(linear_to_conv(embedding))
    assert torch.equal(back.proj.weight, embedding.proj.weight)
    assert torch.equal(back.proj.bias, embedding.proj.bias)
    conv = nn.Conv2d(c, d, kernel_size=p, stride=p)
    again = linear_to_conv(conv_to_linear(conv))
    assert torch.equal(again.weight, conv.weight) and torch.equal(again.bias, conv.bias)


def test_channels_last_order_matters():
    """Copying the Linear weight into the conv by a plain reshape
    gives a different function."""
    torch.manual_seed(4)
    embedding = PatchEmbedding(patch_size=4, in_channels=3, dim=6)
    conv = nn.Conv2d(3, 6, kernel_size=4, stride=4)
    with torch.no_grad():
        # wrong: ignores channels-last
        conv.weight.copy_(embedding.proj.weight.reshape(6, 3, 4, 4))
        conv.bias.copy_(embedding.proj.bias)
    images = torch.rand(1, 3, 8, 8)
    assert not torch.allclose(conv_tokens(conv, images), embedding(images), atol=1e-3)
    # a patch's first three values are the R, G, B of its top-left pixel
    assert torch.equal(
        linear_to_conv(embedding).weight[:, :, 0, 0], embedding.proj.weight[:, :3]
    )


def test_conversions_keep_dtype():
    embedding = PatchEmbedding(patch_size=2, in_channels=3, dim=4).double()
    conv = linear_to_conv(embedding)
    assert conv.weight.dtype == torch.float64
    assert conv_to_linear(conv).proj.weight.dtype == torch.float64


@pytest.mark.parametrize(
    "conv, words",
    [
        (nn.Conv2d(3, 8, kernel_size=4, stride=2), "stride=(2, 2)"),
        (nn.Conv2d(3, 8, kernel_size=4, stride=4, padding=1), "padding=(1, 1)"),
        (nn.Conv2d(3, 8, kernel_size=(4, 2), stride=(4, 2)), "kernel_size=(4, 2)"),
        (nn.Conv2d(3, 8, kernel_size=4, stride=4, dilation=2), "dilation 1"),
        (nn.Conv2d(4, 8, kernel_size=4, stride=4, groups=2), "groups 1"),
    ],
)
def test_conv_to_linear_rejects_a_conv_that_does_not_patchify(conv, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        conv_to_linear(conv)


def test_conv_to_linear_accepts_valid_padding():
    conv = nn.Conv2d(3, 8, kernel_size=4, stride=4, padding="valid")
    assert conv_to_linear(conv).proj.weight.shape == (8, 48)


def test_type_errors():
    with pytest.raises(TypeError, match="nn.Conv2d, got Conv1d"):
        conv_to_linear(nn.Conv1d(3, 8, kernel_size=4, stride=4))
    with pytest.raises(TypeError, match="PatchEmbedding, got Linear"):
        linear_to_conv(nn.Linear(768, 128))


def test_wrong_channel_count_and_bad_shapes():
    embedding = PatchEmbedding(patch_size=16, in_channels=3, dim=128)
    with pytest.raises(
        ValueError,
        match=re.escape(
            "images must have 3 channels in (B, C, H, W), got shape (1, 1, 224, 224)"
        ),
    ):
        embedding(torch.rand(1, 1, 224, 224))
    with pytest.raises(
        ValueError, match=re.escape("add the batch axis with images[None]")
    ):
        embedding(torch.rand(3, 224, 224))
    with pytest.raises(
        ValueError, match="height 225 is not a multiple of patch size 16"
    ):
        embedding(torch.rand(1, 3, 225, 224))


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"patch_size": 0}, ValueError, "positive"),
        ({"patch_size": 16.0}, TypeError, "patch_size must be an int"),
        ({"in_channels": 0}, ValueError, "in_channels must be a positive int, got 0"),
        ({"dim": -1}, ValueError, "dim must be a positive int, got -1"),
    ],
)
def test_constructor_errors_name_the_values(kwargs, error, words):
    with pytest.raises(error, match=re.escape(words)):
        PatchEmbedding(**kwargs)
