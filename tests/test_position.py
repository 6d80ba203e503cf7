"""Position tables: the fixed sine-cosine tables, the learned table,
and resizing a table to a new grid."""

from __future__ import annotations

import math
import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import vitbook
from vitbook import (
    LearnedPositionEmbedding,
    resize_position_embedding,
    sincos_1d_position_embedding,
    sincos_position_embedding,
)

# --- the fixed 2-D sine-cosine table --------------------------------------------------


@pytest.mark.parametrize(
    "grid, dim, rows",
    [(14, 128, 196), ((14, 14), 768, 196), ((4, 6), 8, 24), (1, 4, 1)],
)
def test_2d_table_shape_and_dtype(grid, dim, rows):
    table = sincos_position_embedding(grid, dim)
    assert table.shape == (rows, dim)
    assert table.dtype == torch.float32


def test_2d_table_values_lie_in_minus_one_to_one():
    table = sincos_position_embedding((14, 14), 128)
    assert table.min() >= -1 and table.max() <= 1
    assert torch.isfinite(table).all()


@pytest.mark.parametrize("grid", [(14, 14), (3, 7), (8, 2)])
def test_2d_table_first_half_depends_only_on_the_row_second_half_only_on_the_column(
    grid,
):
    h, w = grid
    dim = 32
    # raster order: (row, column, D)
    table = sincos_position_embedding(grid, dim).reshape(h, w, dim)
    row_half, col_half = table[..., : dim // 2], table[..., dim // 2 :]
    # same along each row
    assert torch.equal(row_half, row_half[:, :1].expand_as(row_half))
    # same down each column
    assert torch.equal(col_half, col_half[:1].expand_as(col_half))
    if h > 1:
        assert not torch.equal(row_half[0], row_half[1])  # ... and the row does matter
    if w > 1:
        assert not torch.equal(col_half[:, 0], col_half[:, 1])


def test_2d_table_position_zero_is_sin_zero_cos_one():
    dim = 16
    first = sincos_position_embedding(5, dim)[0]
    quarter = dim // 4
    expected = torch.cat(
        [
            torch.zeros(quarter),
            torch.ones(quarter),
            torch.zeros(quarter),
            torch.ones(quarter),
        ]
    )
    assert torch.equal(first, expected)


def test_2d_table_matches_the_formula():
    h, w, dim, temperature = 3, 5, 12, 10000.0
    table = sincos_position_embedding((h, w), dim)
    quarter = dim // 4
    for index in range(h * w):
        row, col = divmod(index, w)  # raster order: left to right, then top to bottom
        for k in range(quarter):
            omega = 1.0 / temperature ** (k / quarter)
            values = [
                math.sin(row * omega),
                math.cos(row * omega),
                math.sin(col * omega),
                math.cos(col * omega),
            ]
            got = [table[index, part * quarter + k].item() for part in range(4)]
            assert got == pytest.approx(values, abs=1e-6)


def test_2d_table_halves_are_blocked_forms_of_the_1d_table():
    """The row half is the 1-D table of dimension D/2 for the row index,
    its sines and cosines in blocks."""
    h, w, dim = 6, 4, 32
    table = sincos_position_embedding((h, w), dim).reshape(h, w, dim)
    # interleaved: sin, cos, sin, cos, ...
    one_d = sincos_1d_position_embedding(max(h, w), dim // 2)
    # (positions, D/2): all sines, then all cosines
    blocked = torch.cat([one_d[:, 0::2], one_d[:, 1::2]], dim=1)
    assert torch.allclose(table[:, 0, : dim // 2], blocked[:h], atol=1e-6)
    assert torch.allclose(table[0, :, dim // 2 :], blocked[:w], atol=1e-6)


def test_2d_table_sin_cos_pairs_lie_on_the_unit_circle():
    table = sincos_position_embedding((7, 9), 64)
    q = 16
    assert torch.allclose(
        table[:, :q] ** 2 + table[:, q : 2 * q] ** 2, torch.ones(63, q), atol=1e-6
    )
    assert torch.allclose(
        table[:, 2 * q : 3 * q] ** 2 + table[:, 3 * q :] ** 2,
        torch.ones(63, q),
        atol=1e-6,
    )


def test_2d_table_gives_every_position_a_different_vector():
    table = sincos_position_embedding((14, 14), 128)
    distances = torch.cdist(table, table) + torch.eye(196) * 1e9
    assert distances.min() > 0.1


@pytest.mark.parametrize("dim", [130, 6, 2, 127])
def test_2d_table_dim_not_a_multiple_of_four_names_the_value(dim):
    with pytest.raises(ValueError, match=rf"multiple of 4.*got {dim}\b"):
        sincos_position_embedding(14, dim)


@pytest.mark.parametrize("dim", [0, -4])
def test_2d_table_dim_must_be_positive(dim):
    with pytest.raises(ValueError, match=rf"positive.*got {dim}\b"):
        sincos_position_embedding(14, dim)


@pytest.mark.parametrize("grid", [14.0, (14, 14, 1), "14", None])
def test_2d_table_grid_size_type_errors(grid):
    with pytest.raises(TypeError, match="grid_size"):
        sincos_position_embedding(grid, 128)


# --- the fixed 1-D sinusoidal table ("Attention Is All You Need") ---------------------


def test_1d_table_shape_range_and_position_zero():
    table = sincos_1d_position_embedding(196, 128)
    assert table.shape == (196, 128) and table.dtype == torch.float32
    assert table.min() >= -1 and table.max() <= 1
    assert table[0].tolist() == [0.0, 1.0] * 64  # sin(0) = 0, cos(0) = 1, interleaved


def test_1d_table_matches_attention_is_all_you_need():
    """PE(pos, 2i) = sin(pos / 10000^(2i/d)),
    PE(pos, 2i+1) = cos(pos / 10000^(2i/d))."""
    n, d = 50, 16
    table = sincos_1d_position_embedding(n, d)
    for pos in (0, 1, 7, 49):
        for i in range(d // 2):
            angle = pos / 10000 ** (2 * i / d)
            assert table[pos, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
            assert table[pos, 2 * i + 1].item() == pytest.approx(
                math.cos(angle), abs=1e-6
            )


@settings(max_examples=30, deadline=None)
@given(i=st.integers(0, 40), j=st.integers(0, 40), shift=st.integers(0, 40))
def test_1d_table_dot_products_depend_only_on_the_offset(i, j, shift):
    """sum_k sin(a)sin(b) + cos(a)cos(b) = sum_k cos(a - b):
    a function of i - j alone."""
    table = sincos_1d_position_embedding(100, 32).double()
    assert table[i] @ table[j] == pytest.approx(
        (table[i + shift] @ table[j + shift]).item(), abs=1e-4
    )


@pytest.mark.parametrize("dim", [7, 0, -2])
def test_1d_table_dim_errors_name_the_value(dim):
    with pytest.raises(ValueError, match=rf"got {dim}\b"):
        sincos_1d_position_embedding(10, dim)


def test_1d_table_needs_positions():
    with pytest.raises(ValueError, match="num_positions must be a positive int, got 0"):
        sincos_1d_position_embedding(0, 8)


# --- the learned table ----------------------------------------------------------------


def test_learned_table_shape_and_init_statistics():
    torch.manual_seed(0)
    pos = LearnedPositionEmbedding(197, 768)
    assert isinstance(pos.table, torch.nn.Parameter) and pos.table.requires_grad
    assert pos.table.shape == (1, 197, 768)
    # N(0, 0.02^2), as the original ViT code initialises it;
    # 151,296 samples pin the std down closely
    assert abs(pos.table.std().item() - 0.02) < 0.0005
    assert abs(pos.table.mean().item()) < 0.0005


def test_learned_table_adds_to_every_image_of_the_batch_and_learns():
    torch.manual_seed(0)
    pos = LearnedPositionEmbedding(5, 8)
    tokens = torch.randn(3, 5, 8)  # (B, N, D)
    out = pos(tokens)
    assert out.shape == (3, 5, 8)
    assert torch.allclose(out - tokens, pos.table.expand(3, -1, -1))
    out.sum().backward()
    # one from each image
    assert torch.equal(pos.table.grad, torch.full((1, 5, 8), 3.0))


def test_learned_table_rejects_tokens_of_another_shape():
    pos = LearnedPositionEmbedding(197, 128)
    with pytest.raises(
        ValueError, match=re.escape("(2, 196, 128)") + ".*" + re.escape("(197, 128)")
    ):
        pos(torch.zeros(2, 196, 128))


# --- resizing a table to a new grid (the paper's Section 3.2) -------------------------


def linear_table(h: int, w: int) -> torch.Tensor:
    """A smooth (1, h*w, 3) table: linear functions of the cell centre
    ((row + 0.5)/h, (col + 0.5)/w)."""
    y, x = torch.meshgrid(
        (torch.arange(h) + 0.5) / h, (torch.arange(w) + 0.5) / w, indexing="ij"
    )
    return torch.stack([y, x, 2 * y - 3 * x + 1], dim=-1).reshape(1, h * w, 3)


def with_prefix(grid: torch.Tensor, prefix: int = 1) -> torch.Tensor:
    torch.manual_seed(1)
    return torch.cat([torch.randn(1, prefix, grid.shape[-1]), grid], dim=1)


def test_resize_same_grid_returns_an_equal_table():
    torch.manual_seed(0)
    table = torch.randn(1, 197, 16)
    out = resize_position_embedding(table, 14)
    assert torch.equal(out, table)
    out[0, 0, 0] = 99.0  # a copy: editing it leaves the original alone
    assert table[0, 0, 0] != 99.0


@pytest.mark.parametrize(
    "new, rows",
    [
        (20, 1 + 400),
        ((24, 24), 1 + 576),
        ((7, 7), 1 + 49),
        ((12, 20), 1 + 240),
        ((20, 12), 1 + 240),
    ],
)
def test_resize_shapes_square_and_non_square(new, rows):
    torch.manual_seed(0)
    out = resize_position_embedding(torch.randn(1, 197, 16), new)
    assert out.shape == (1, rows, 16)


@pytest.mark.parametrize("prefix", [0, 1, 2])
def test_resize_leaves_the_prefix_slots_untouched(prefix):
    table = with_prefix(linear_table(14, 14), prefix)
    out = resize_position_embedding(table, (20, 10), num_prefix_tokens=prefix)
    assert out.shape == (1, prefix + 200, 3)
    assert torch.equal(out[:, :prefix], table[:, :prefix])


def test_resize_from_a_non_square_grid():
    table = with_prefix(linear_table(6, 10))
    out = resize_position_embedding(table, (12, 5), old_grid_size=(6, 10))
    assert out.shape == (1, 1 + 60, 3)
    assert torch.equal(out[:, :1], table[:, :1])


@pytest.mark.parametrize(
    "old, new",
    [
        ((14, 14), (20, 20)),
        ((14, 14), (7, 7)),
        ((14, 14), (24, 16)),
        ((6, 10), (12, 5)),
    ],
)
def test_resize_keeps_a_smooth_table_close_to_its_analytic_values(old, new):
    """Interpolation by location in the image:
    the new cell centres read the same smooth function."""
    out = resize_position_embedding(
        with_prefix(linear_table(*old)), new, old_grid_size=old
    )
    expected = linear_table(*new)
    # the largest change of the table between neighbouring old cells
    step = 3 / min(old)
    error = (out[:, 1:] - expected).abs()
    assert error.max() < 0.5 * step
    assert error.mean() < 0.1 * step


def test_bilinear_resize_reproduces_a_linear_table_exactly_away_from_the_border():
    old, new = (14, 14), (21, 28)
    out = resize_position_embedding(
        with_prefix(linear_table(*old)), new, mode="bilinear"
    )
    error = (out[:, 1:] - linear_table(*new)).abs().reshape(*new, 3)
    # new cells whose centre falls inside the old cell centres
    # (no clamping at the border)
    assert error[2:-2, 2:-2].max() < 1e-5


def test_resized_table_fits_a_vit_at_the_higher_resolution():
    torch.manual_seed(0)
    small = vitbook.ViT(
        image_size=32, patch_size=8, num_classes=3, dim=16, depth=1, heads=2, mlp_dim=32
    )
    big = vitbook.ViT(
        image_size=48, patch_size=8, num_classes=3, dim=16, depth=1, heads=2, mlp_dim=32
    )
    state = small.state_dict()
    # 4x4 -> 6x6
    state["pos_embed"] = resize_position_embedding(state["pos_embed"], big.grid_size)
    big.load_state_dict(state)
    assert big.pos_embed.shape == (1, 1 + 36, 16)
    assert big(torch.rand(2, 3, 48, 48)).shape == (2, 3)
    # the class token's slot
    assert torch.equal(big.pos_embed[:, 0], small.pos_embed[:, 0])


@pytest.mark.parametrize(
    "shape, kwargs, words",
    [
        ((197, 16), {}, "(1, prefix + h*w, D), got (197, 16)"),
        ((2, 197, 16), {}, "got (2, 197, 16)"),
        ((1, 197, 16), {"num_prefix_tokens": 197}, "num_prefix_tokens=197"),
        (
            (1, 197, 16),
            {"num_prefix_tokens": -1},
            "num_prefix_tokens must be an int >= 0, got -1",
        ),
        ((1, 196, 16), {}, "195 grid positions are not a square grid"),
        (
            (1, 61, 16),
            {"old_grid_size": (6, 9)},
            "old_grid_size 6x9 = 54 does not match 60",
        ),
    ],
)
def test_resize_errors_name_the_values(shape, kwargs, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        resize_position_embedding(torch.zeros(shape), 20, **kwargs)


# --- the reference implementations' resize conventions --------------------------------


@pytest.mark.parametrize("new", [24, 7, (20, 10)])
def test_the_jax_convention_is_scipy_zoom_of_order_1(new):
    """vit_jax/checkpoint.py resizes with scipy.ndimage.zoom(order=1)."""
    ndimage = pytest.importorskip("scipy.ndimage")
    torch.manual_seed(0)
    table = torch.randn(1, 1 + 14 * 14, 8)
    out = resize_position_embedding(table, new, convention="jax")
    h, w = (new, new) if isinstance(new, int) else new
    grid = table[0, 1:].reshape(14, 14, 8).double().numpy()
    zoomed = ndimage.zoom(grid, (h / 14, w / 14, 1), order=1)
    assert zoomed.shape == (h, w, 8)
    assert abs(out[0, 1:].reshape(h, w, 8).double().numpy() - zoomed).max() < 1e-5


def test_corner_aligned_conventions_keep_the_corner_cells():
    torch.manual_seed(0)
    table = torch.randn(1, 1 + 14 * 14, 4)
    grid = table[0, 1:].reshape(14, 14, 4)
    for convention in ("jax", "torchvision"):
        out = resize_position_embedding(table, 24, convention=convention)
        new = out[0, 1:].reshape(24, 24, 4)
        for (i, j), (k, m) in [
            ((0, 0), (0, 0)),
            ((13, 13), (23, 23)),
            ((0, 13), (0, 23)),
        ]:
            torch.testing.assert_close(new[k, m], grid[i, j])
    centred = resize_position_embedding(table, 24, convention="transformers")
    assert not torch.allclose(centred[0, 1], table[0, 1])


def test_antialiasing_changes_a_shrink_more_than_a_growth():
    """timm's antialiased bicubic against plain bicubic: on a noisy table, shrinking
    14 -> 7 averages over several old cells, growing 14 -> 24 does not."""
    torch.manual_seed(0)
    table = torch.randn(1, 1 + 14 * 14, 8)

    def gap(new):
        a = resize_position_embedding(table, new, convention="timm")
        b = resize_position_embedding(table, new, convention="transformers")
        return (a - b)[0, 1:].abs().mean().item()

    assert gap(7) > 1.5 * gap(24)
    shrunk = resize_position_embedding(table, 7, convention="timm")[0, 1:]
    plain = resize_position_embedding(table, 7, convention="transformers")[0, 1:]
    assert shrunk.std() < plain.std()  # averaging smooths the noise


def test_resize_rejects_an_unknown_convention():
    with pytest.raises(ValueError, match="convention must be one of .* got 'scipy'"):
        resize_position_embedding(torch.zeros(1, 197, 4), 20, convention="scipy")
