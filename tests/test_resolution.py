"""A trained ViT at another resolution (vitbook.resolution.at_resolution) and at
another patch size (with_patch_size, FlexiViT's PI-resize), checked by the property
each rule promises."""

from __future__ import annotations

import pytest
import torch

import vitbook
from vitbook.model import POSITION_KINDS
from vitbook.resolution import (
    TRANSFER_RULES,
    at_resolution,
    model_config,
    place_on_canvas,
    resize_images,
    resize_matrix,
    resize_patch_kernel,
    with_patch_size,
)


def small_vit(position="learned", **kw):
    torch.manual_seed(0)
    config = dict(
        image_size=16, patch_size=4, num_classes=3, dim=16, depth=2, heads=2, mlp_dim=32
    )
    model = vitbook.ViT(**(config | kw), position=position)
    with torch.no_grad():
        # move every parameter off its start (zero class token, zero biases)
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model.eval()


def test_every_kind_has_a_rule():
    assert set(TRANSFER_RULES) == set(POSITION_KINDS)


@pytest.mark.parametrize("position", POSITION_KINDS)
@pytest.mark.parametrize("pool", ["cls", "mean"])
def test_every_kind_runs_on_a_larger_grid(position, pool):
    model = small_vit(position, pool=pool, registers=1)
    big = at_resolution(model, 24)
    assert big.grid_size == (6, 6)
    assert model_config(big) | {"image_size": 16} == model_config(model)
    with torch.no_grad():
        out = big(torch.rand(2, 3, 24, 24))
    assert out.shape == (2, 3) and torch.isfinite(out).all()


@pytest.mark.parametrize("position", POSITION_KINDS)
def test_the_same_size_gives_the_same_model(position):
    model = small_vit(position)
    images = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(
            at_resolution(model, 16)(images), model(images), atol=1e-6
        )


@pytest.mark.parametrize("position", ["relative-bias", "relative"])
def test_offset_tables_keep_the_offsets_they_learned(position):
    # on the larger grid, two patches at an offset the model saw get the same bias;
    # control: the bias of another offset differs
    model = small_vit(position)
    big = at_resolution(model, 24)
    with torch.no_grad():
        if position == "relative-bias":
            old = model.blocks[0].attn.rel_bias()[:, 1:, 1:].reshape(2, 4, 4, 4, 4)
            new = big.blocks[0].attn.rel_bias()[:, 1:, 1:].reshape(2, 6, 6, 6, 6)
            # offset (+1, +2): (0, 0) -> (1, 2) on the old grid, (3, 2) -> (4, 4) on
            # the new; an unseen offset (+5, 0) takes the nearest seen, (+3, 0)
            assert torch.equal(old[:, 1, 2, 0, 0], new[:, 4, 4, 3, 2])
            assert torch.equal(old[:, 3, 0, 0, 0], new[:, 5, 0, 0, 0])
            assert not torch.equal(old[:, 1, 2, 0, 0], new[:, 4, 3, 3, 2])
        else:
            # raster offsets: row 15 + o of the old table (4 columns), 35 + o of the
            # new one (6 columns)
            old_table = model.blocks[0].attn.rel_attn.table  # 2 * 16 - 1 offsets
            new_table = big.blocks[0].attn.rel_attn.table  # 2 * 36 - 1
            assert new_table.shape[0] == 71
            # the step (0, 0) and the step one row down and one right, (+1, +1): raster
            # offset 5 on the old grid, 7 on the new; and (+1, -2): 2 and 4
            for old_offset, new_offset in [(0, 0), (5, 7), (2, 4), (-5, -7)]:
                assert torch.equal(
                    old_table[15 + old_offset], new_table[35 + new_offset]
                )
            # control: the same raster offset is another step on the new grid
            assert not torch.equal(old_table[15 + 7], new_table[35 + 7])
            # an unseen step, (+5, 0) (raster 30), takes the nearest seen, (+3, 0)
            assert torch.equal(old_table[15 + 12], new_table[35 + 30])


def test_a_learned_table_is_interpolated_and_keeps_the_class_token_row():
    model = small_vit("learned")
    big = at_resolution(model, 32)
    assert big.pos_embed.shape == (1, 1 + 64, 16)
    assert torch.equal(big.pos_embed[:, 0], model.pos_embed[:, 0])
    # the corners of a doubled grid lie near the old corners (interpolation, not a
    # new random table): closer to them than to the far corner
    old = model.pos_embed[0, 1:].reshape(4, 4, 16)
    new = big.pos_embed[0, 1:].reshape(8, 8, 16)
    assert (new[0, 0] - old[0, 0]).norm() < (new[0, 0] - old[3, 3]).norm()


def test_the_canvas_puts_the_garment_in_the_middle():
    images = torch.rand(2, 1, 28, 28)
    canvas = place_on_canvas(images, 44)
    assert canvas.shape == (2, 1, 44, 44)
    assert torch.equal(canvas[..., 8:36, 8:36], images)
    assert canvas.sum() == pytest.approx(images.sum().item(), rel=1e-6)
    with pytest.raises(ValueError, match="even border"):
        place_on_canvas(images, 43)


@pytest.mark.parametrize("old, new", [(4, 8), (4, 6), (4, 2)])
def test_the_resize_matrix_is_the_resize(old, new):
    x = torch.rand(3, 1, old, old, dtype=torch.float64)
    b = resize_matrix(old, new)
    assert b.shape == (new * new, old * old)
    by_matrix = (b @ x.reshape(3, -1).T).T.reshape(3, 1, new, new)
    assert torch.allclose(by_matrix, resize_images(x, new), atol=1e-12)


@pytest.mark.parametrize("channels", [1, 3])
def test_pi_resize_keeps_every_token_when_the_patch_grows(channels):
    # <resize(x), w'> = <x, w> for every patch x: exactly for a larger patch; the
    # bilinear resize of the kernel does not (it is off by about the area ratio)
    torch.manual_seed(0)
    w = torch.randn(5, 4 * 4 * channels)
    x = torch.rand(7, channels, 4, 4)
    flat = lambda t: t.permute(0, 2, 3, 1).reshape(t.shape[0], -1)  # noqa: E731
    tokens = flat(x) @ w.T
    big = resize_images(x, 8)
    gaps = {}
    for method in ("pi", "bilinear", "area"):
        w8 = resize_patch_kernel(w, 4, 8, method)
        assert w8.shape == (5, 8 * 8 * channels)
        gaps[method] = ((flat(big) @ w8.T) - tokens).abs().max() / tokens.abs().max()
    assert gaps["pi"] < 1e-5
    # scaling the bilinear kernel by the area ratio (1/4) removes most of its error,
    # not all of it
    assert 1e-3 < gaps["area"] < 0.5 * gaps["bilinear"]
    assert torch.allclose(
        resize_patch_kernel(w, 4, 8, "area"),
        resize_patch_kernel(w, 4, 8, "bilinear") / 4,
    )


def test_with_patch_size_keeps_the_grid_and_the_position_table():
    model = small_vit("learned", channels=1)
    bigger = with_patch_size(model, 8)
    assert bigger.grid_size == model.grid_size and bigger.image_size == 32
    assert torch.equal(bigger.pos_embed, model.pos_embed)
    images = torch.rand(4, 1, 16, 16)
    # whole-image resizing mixes neighbouring patches at their borders, so the tokens
    # match closely but not exactly; the naive kernel resize is far off
    with torch.no_grad():
        want = model(images)
        pi = with_patch_size(model, 8, "pi")(resize_images(images, 32))
        naive = with_patch_size(model, 8, "bilinear")(resize_images(images, 32))
    assert (pi - want).abs().max() < 0.5 * (naive - want).abs().max()


def test_with_patch_size_refuses_a_conv_stem_and_a_bad_method():
    model = small_vit("learned")
    with pytest.raises(
        ValueError, match="method must be one of 'pi', 'bilinear', 'area'"
    ):
        with_patch_size(model, 8, "nearest")
    stem = vitbook.ConvStem(4, 3, 16)
    other = vitbook.ViT(
        image_size=16,
        patch_size=4,
        dim=16,
        depth=1,
        heads=2,
        mlp_dim=32,
        embedding=stem,
    )
    with pytest.raises(TypeError, match="ConvStem"):
        with_patch_size(other, 8)
