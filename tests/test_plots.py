"""Shared figures: the grid of position-similarity maps
(the ViT paper's Figure 7, centre)."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

from matplotlib import pyplot as plt  # noqa: E402

import vitbook  # noqa: E402
from vitbook.plots import draw_similarity_maps  # noqa: E402


def test_similarity_maps_tile_each_query_map_at_its_place():
    table = vitbook.sincos_position_embedding(14, 128)  # (N, D) = (196, 128)
    fig, ax = plt.subplots()
    image = draw_similarity_maps(ax, table, 14, stride=2)
    mosaic = np.ma.filled(image.get_array(), np.nan)
    # 7x7 tiles of 14x14, one blank line between
    assert mosaic.shape == (7 * 15 - 1, 7 * 15 - 1)
    sims = vitbook.cosine_similarity_matrix(table)  # (N, N)
    for i, j in [(0, 0), (3, 5), (6, 6)]:
        query = (2 * i) * 14 + 2 * j
        tile = mosaic[i * 15 : i * 15 + 14, j * 15 : j * 15 + 14]
        np.testing.assert_allclose(tile, sims[query].reshape(14, 14).numpy(), atol=1e-6)
        # the query is most like itself
        assert tile[2 * i, 2 * j] == pytest.approx(1.0, abs=1e-6)
    assert np.isnan(mosaic[14]).all() and np.isnan(mosaic[:, 14]).all()  # the gaps
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        str(c) for c in range(0, 14, 2)
    ]
    assert image.get_clim() == (-1, 1)
    plt.close(fig)


def test_similarity_maps_accept_a_vit_table_and_non_square_grids():
    torch.manual_seed(0)
    model = vitbook.ViT(
        image_size=32, patch_size=8, num_classes=2, dim=16, depth=1, heads=2, mlp_dim=32
    )
    fig, axes = plt.subplots(1, 2)
    # (1, N, D) is fine too
    image = draw_similarity_maps(axes[0], model.pos_embed[:, 1:], 4)
    assert image.get_array().shape == (4 * 5 - 1, 4 * 5 - 1)
    image = draw_similarity_maps(
        axes[1], vitbook.sincos_position_embedding((2, 6), 8), (2, 6), stride=(1, 3)
    )
    # 2 query rows, 2 query columns
    assert image.get_array().shape == (2 * 3 - 1, 2 * 7 - 1)
    plt.close(fig)


def test_similarity_maps_errors_and_the_empty_table():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match=r"pos_embed\[0, 1:\]"):
        # the class token's row left in
        draw_similarity_maps(ax, torch.zeros(1, 17, 8), 4)
    with pytest.raises(ValueError, match="stride must be a positive int, got 0"):
        draw_similarity_maps(ax, torch.ones(16, 8), 4, stride=0)
    # no position embedding: blank, and says so
    draw_similarity_maps(ax, torch.zeros(16, 8), 4)
    assert any("zero" in text.get_text() for text in ax.texts)
    plt.close(fig)


# --- the book's figure style and the filter helpers -----------------------------------


def test_smallest_text_scales_wide_figures_down_to_the_page():
    from vitbook.plots import PAGE_WIDTH_INCHES, smallest_text

    wide, ax = plt.subplots(figsize=(2 * PAGE_WIDTH_INCHES, 2))
    ax.set_title("ten points", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    wide.canvas.draw()
    size, text = smallest_text(wide)
    # the notebook saves the tight box (the axes and its title), which the page shrinks
    saved = wide.get_tightbbox(wide.canvas.get_renderer()).width
    assert text == "ten points" and size == pytest.approx(
        10 * PAGE_WIDTH_INCHES / saved
    )
    assert size < 7
    narrow, ax = plt.subplots(figsize=(3, 2))
    ax.set_title("ten points", fontsize=10)
    narrow.canvas.draw()
    # shown at 150 dpi on a 96-dpi page: larger than nominal
    assert smallest_text(narrow)[0] >= 10
    plt.close("all")


def test_use_book_style_warns_about_text_too_small_for_the_page():
    from vitbook.plots import BOOK_DPI, FigureLegibilityWarning, use_book_style

    saved = dict(plt.rcParams)
    try:
        use_book_style()
        assert plt.rcParams["figure.dpi"] == BOOK_DPI
        fig, ax = plt.subplots(figsize=(12, 3))
        ax.text(0.5, 0.5, "fine print", fontsize=6)
        with pytest.warns(
            FigureLegibilityWarning, match="'fine print' is [1-6][.][0-9] pt"
        ):
            fig.canvas.draw()
        fine, ax = plt.subplots(figsize=(6, 3))
        ax.set_title("readable", fontsize=9)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("error", FigureLegibilityWarning)
            fine.canvas.draw()
    finally:
        plt.rcParams.update(saved)
        plt.close("all")


def test_neighbour_correlation_tells_noise_from_photo_patches():
    from vitbook.plots import neighbour_correlation

    noise = torch.randn(128, 768, generator=torch.Generator().manual_seed(0))
    assert abs(neighbour_correlation(noise, 16)) < 0.02
    photo = vitbook.patchify(vitbook.to_tensor(vitbook.load_photo()), 16)[0]
    assert neighbour_correlation(photo, 16) > 0.9
    # a filter smooth along rows and columns: every neighbour pair is equal
    ramp = torch.arange(16.0).reshape(4, 4)
    smooth = (ramp + ramp.T).reshape(1, 16).repeat(3, 1) + torch.arange(3.0)[:, None]
    assert neighbour_correlation(smooth, 4) > 0.9
    with pytest.raises(ValueError, match=r"\(K, P\*P\*C\) with K >= 1, P = 16"):
        neighbour_correlation(torch.zeros(3, 100), 16)


def test_filter_mosaic_places_each_filter_scaled_to_its_own_range():
    from vitbook.plots import draw_filter_mosaic, filter_mosaic

    filters = torch.zeros(10, 16)
    filters[3, 5] = -4.0  # filter 3, row 1, column 1 of its 4x4 tile
    filters[3, 0] = 2.0
    mosaic = filter_mosaic(filters, 4, per_row=4, gap=1)
    assert mosaic.shape == (3 * 5 - 1, 4 * 5 - 1)
    tile = mosaic[0:4, 15:19]  # filter 3: first row of tiles, fourth place
    assert tile[1, 1] == -1.0 and tile[0, 0] == 0.5
    assert np.isnan(mosaic[4]).all()  # the gap between the rows of tiles
    colour = filter_mosaic(torch.randn(3, 4 * 4 * 3), 4)
    assert colour.shape == (4, 3 * 5 - 1, 3) and np.nanmax(np.abs(colour)) == 1.0
    fig, ax = plt.subplots()
    draw_filter_mosaic(ax, torch.randn(128, 768), 16, per_row=16)
    assert len(ax.get_xticks()) == 16 and len(ax.get_yticks()) == 8
    plt.close(fig)


def test_filter_mosaic_labels_at_most_eight_rows():
    from vitbook.plots import draw_filter_mosaic

    fig, ax = plt.subplots()
    # 128 filters, 8 a row: 16 rows, every second one labelled
    draw_filter_mosaic(ax, torch.randn(128, 16), 4, per_row=8)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [str(k) for k in range(0, 128, 16)]
    plt.close(fig)
