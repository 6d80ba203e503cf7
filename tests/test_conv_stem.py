"""The convolutional stem: shapes, errors, grid alignment with PatchEmbedding,
parameter counts."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

import vitbook
from vitbook import ConvStem, PatchEmbedding, ViT


def stem_parameters(c_in: int, channels: list[int], dim: int) -> int:
    """3x3 convs without bias, BatchNorm (weight and bias),
    then a 1x1 conv with bias."""
    total, previous = 0, c_in
    for c in channels:
        total += 9 * previous * c + 2 * c
        previous = c
    return total + previous * dim + dim


@pytest.mark.parametrize(
    "patch_size, in_channels, image, tokens",
    [
        (16, 3, (1, 3, 224, 224), (1, 196, 128)),
        (4, 1, (2, 1, 28, 28), (2, 49, 128)),
        (2, 3, (1, 3, 8, 6), (1, 12, 128)),
        (32, 3, (1, 3, 64, 96), (1, 6, 128)),
    ],
)
def test_shapes_match_patch_embedding(patch_size, in_channels, image, tokens):
    torch.manual_seed(0)
    stem = ConvStem(patch_size, in_channels, 128).eval()
    patchify = PatchEmbedding(patch_size, in_channels, 128)
    x = torch.rand(image)
    assert stem(x).shape == tokens == patchify(x).shape


def test_default_channels_double_up_to_dim():
    assert ConvStem(16, 3, 128).channels == (16, 32, 64, 128)
    assert ConvStem(4, 1, 128).channels == (64, 128)
    assert ConvStem(2, 3, 96).channels == (96,)
    assert ConvStem(16, 3, 4).channels == (1, 1, 2, 4)  # never below one channel
    assert ConvStem(4, 1, 128, channels=[101, 128]).channels == (101, 128)


def test_layers_are_the_papers():
    stem = ConvStem(16, 3, 128)
    assert len(stem.stages) == 4
    for stage in stem.stages:
        conv, norm, act = stage
        assert isinstance(conv, nn.Conv2d) and conv.bias is None
        assert conv.kernel_size == (3, 3) and conv.stride == (2, 2)
        assert conv.padding == (1, 1)
        assert isinstance(norm, nn.BatchNorm2d) and isinstance(act, nn.ReLU)
    assert stem.proj.kernel_size == (1, 1) and stem.proj.out_channels == 128


@pytest.mark.parametrize(
    "patch_size, in_channels, dim, channels",
    [
        (16, 3, 128, None),
        (4, 1, 128, None),
        (4, 1, 128, (101, 128)),
        (8, 3, 64, (8, 8, 8)),
    ],
)
def test_parameter_counts(patch_size, in_channels, dim, channels):
    stem = ConvStem(patch_size, in_channels, dim, channels=channels)
    expected = stem_parameters(in_channels, list(stem.channels), dim)
    assert sum(p.numel() for p in stem.parameters()) == expected
    if channels is None and patch_size == 16:
        assert expected == 114_192  # P=16, C=3, D=128: widths 16, 32, 64, 128


@pytest.mark.parametrize("patch_size", [1, 3, 6, 12, 24])
def test_patch_size_must_be_a_power_of_two(patch_size):
    with pytest.raises(
        ValueError,
        match=re.escape(
            "power of two >= 2 (one stride-2 convolution per halving), "
            f"got {patch_size}"
        ),
    ):
        ConvStem(patch_size)


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"patch_size": 16.0}, TypeError, "patch_size must be an int"),
        ({"patch_size": 0}, ValueError, "positive"),
        ({"in_channels": 0}, ValueError, "in_channels must be a positive int, got 0"),
        ({"dim": -1}, ValueError, "dim must be a positive int, got -1"),
        ({"channels": (8, 16)}, ValueError, "4 positive ints"),
        (
            {"channels": (8, 16, 0, 32)},
            ValueError,
            "channels[2] must be a positive int, got 0",
        ),
    ],
)
def test_constructor_errors_name_the_values(kwargs, error, words):
    with pytest.raises(error, match=re.escape(words)):
        ConvStem(**kwargs)


def test_forward_errors_name_the_values():
    stem = ConvStem(16, 3, 32)
    with pytest.raises(
        ValueError, match="height 225 is not a multiple of patch size 16"
    ):
        stem(torch.rand(1, 3, 225, 224))
    with pytest.raises(
        ValueError, match="width 100 is not a multiple of patch size 16"
    ):
        stem(torch.rand(1, 3, 224, 100))
    with pytest.raises(
        ValueError,
        match=re.escape(
            "images must have 3 channels in (B, C, H, W), got shape (1, 1, 32, 32)"
        ),
    ):
        stem(torch.rand(1, 1, 32, 32))
    with pytest.raises(ValueError, match=re.escape("(B, C, H, W), got (3, 32, 32)")):
        stem(torch.rand(3, 32, 32))


def changed_tokens(stem: nn.Module, image: torch.Tensor, y: int, x: int) -> set[int]:
    """The token indices whose output changes when pixel (y, x) of ``image`` changes."""
    with torch.no_grad():
        before = stem(image)
        bumped = image.clone()
        # a bump large enough to pass every ReLU, small enough not to look 0-255
        bumped[:, :, y, x] += 5.0
        after = stem(bumped)
    change = (after - before).abs().amax(dim=(0, 2))  # (N,)
    return set(torch.nonzero(change > 1e-6).flatten().tolist())


def changed_tokens_many(
    stem: nn.Module, image: torch.Tensor, pixels: list[tuple[int, int]]
) -> list[set[int]]:
    """``changed_tokens`` for many pixels at once: one batch, one bumped pixel per
    image (the stem is in eval mode, so the images do not affect each other)."""
    with torch.no_grad():
        before = stem(image)  # (1, N, D)
        bumped = image.repeat(len(pixels), 1, 1, 1)
        for k, (y, x) in enumerate(pixels):
            bumped[k, :, y, x] += 5.0
        change = (stem(bumped) - before).abs().amax(dim=2)  # (len(pixels), N)
    return [set(torch.nonzero(row > 1e-6).flatten().tolist()) for row in change]


@pytest.mark.parametrize("patch_size", [4, 16])
def test_token_i_sits_on_cell_divmod_i_cols(patch_size):
    """A pixel at the top-left corner of a cell reaches exactly that cell's token,
    as in patchify."""
    torch.manual_seed(0)
    p = patch_size
    stem = ConvStem(p, 3, 16).eval()
    patchify = PatchEmbedding(p, 3, 16)
    rows, cols = 3, 5  # a non-square grid checks the raster order
    image = torch.rand(1, 3, rows * p, cols * p)
    for i in range(rows * cols):
        r, c = divmod(i, cols)
        assert changed_tokens(stem, image, r * p, c * p) == {i}
        assert changed_tokens(patchify, image, r * p, c * p) == {i}


@pytest.mark.parametrize("patch_size", [4, 16])
def test_receptive_field_reaches_past_the_cell(patch_size):
    """Token (r, c) sees its cell and P-1 pixels above and to the left:
    a (2P-1)-pixel window."""
    torch.manual_seed(0)
    p = patch_size
    stem = ConvStem(p, 3, 16).eval()
    patchify = PatchEmbedding(p, 3, 16)
    rows, cols = 3, 4
    image = torch.rand(1, 3, rows * p, cols * p)
    r, c = 1, 2
    # the bottom-right pixel of cell (1, 2)
    # also reaches the cells below and to the right
    y, x = r * p + p - 1, c * p + p - 1
    expected = {
        r * cols + c,
        r * cols + c + 1,
        (r + 1) * cols + c,
        (r + 1) * cols + c + 1,
    }
    assert changed_tokens(stem, image, y, x) == expected
    assert changed_tokens(patchify, image, y, x) == {r * cols + c}
    # the bottom-left pixel of the cell reaches the cell below, not the one to the right
    assert changed_tokens(stem, image, y, c * p) == {r * cols + c, (r + 1) * cols + c}
    # every pixel of the image reaches at most the four tokens the window rule predicts
    pixels = [(yy, xx) for yy in range(rows * p) for xx in range(0, cols * p, 3)]
    for (yy, xx), seen in zip(pixels, changed_tokens_many(stem, image, pixels)):
        rr = {yy // p} | ({yy // p + 1} if yy % p and yy // p + 1 < rows else set())
        cc = {xx // p} | ({xx // p + 1} if xx % p and xx // p + 1 < cols else set())
        assert seen <= {a * cols + b for a in rr for b in cc}, (yy, xx)


SMALL_VIT = dict(
    image_size=28,
    patch_size=4,
    num_classes=10,
    dim=32,
    depth=1,
    heads=2,
    mlp_dim=64,
    channels=1,
)


def test_vit_takes_a_conv_stem_as_its_embedding():
    torch.manual_seed(0)
    stem = ConvStem(4, 1, 32, channels=(16, 32))
    model = ViT(**SMALL_VIT, embedding=stem).eval()
    assert model.patch_embed is stem
    images = torch.rand(3, 1, 28, 28)
    assert model.tokens(images).shape == (3, 1 + 49, 32)
    assert model(images).shape == (3, 10)
    plain = ViT(**SMALL_VIT)
    difference = sum(p.numel() for p in model.parameters()) - sum(
        p.numel() for p in plain.parameters()
    )
    assert difference == stem_parameters(1, [16, 32], 32) - (16 * 32 + 32)
    # the stem sees the normalised image:
    # the ViT subtracts its mean and divides by its std
    with torch.no_grad():
        expected = stem((images - 0.5) / 0.5)
        cls_and_pos = model.cls_token.expand(3, -1, -1), model.pos_embed
        tokens = torch.cat([cls_and_pos[0], expected], dim=1) + cls_and_pos[1]
    torch.testing.assert_close(model.tokens(images), tokens)


def test_a_conv_stem_vit_trains_a_step():
    torch.manual_seed(0)
    model = ViT(
        image_size=8,
        patch_size=4,
        num_classes=2,
        dim=16,
        depth=1,
        heads=2,
        mlp_dim=32,
        channels=1,
        embedding=ConvStem(4, 1, 16),
    )
    images, labels = torch.rand(16, 1, 8, 8), torch.randint(0, 2, (16,))
    before = [p.detach().clone() for p in model.patch_embed.parameters()]
    vitbook.train_classifier(
        model,
        images,
        labels,
        vitbook.TrainConfig(steps=2, batch_size=8, warmup_steps=1),
    )
    after = list(model.patch_embed.parameters())
    assert all(not torch.equal(a, b) for a, b in zip(before, after))
    # train_classifier leaves it in eval mode (BatchNorm's running stats)
    assert not model.training
