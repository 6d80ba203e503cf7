"""Shared figures: the grid of position-similarity maps (the ViT paper's Figure 7, centre)."""

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
    assert mosaic.shape == (
        7 * 15 - 1,
        7 * 15 - 1,
    )  # 7x7 tiles of 14x14, one blank line between
    sims = vitbook.cosine_similarity_matrix(table)  # (N, N)
    for i, j in [(0, 0), (3, 5), (6, 6)]:
        query = (2 * i) * 14 + 2 * j
        tile = mosaic[i * 15 : i * 15 + 14, j * 15 : j * 15 + 14]
        np.testing.assert_allclose(tile, sims[query].reshape(14, 14).numpy(), atol=1e-6)
        assert tile[2 * i, 2 * j] == pytest.approx(
            1.0, abs=1e-6
        )  # the query is most like itself
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
    image = draw_similarity_maps(
        axes[0], model.pos_embed[:, 1:], 4
    )  # (1, N, D) is fine too
    assert image.get_array().shape == (4 * 5 - 1, 4 * 5 - 1)
    image = draw_similarity_maps(
        axes[1], vitbook.sincos_position_embedding((2, 6), 8), (2, 6), stride=(1, 3)
    )
    assert image.get_array().shape == (
        2 * 3 - 1,
        2 * 7 - 1,
    )  # 2 query rows, 2 query columns
    plt.close(fig)


def test_similarity_maps_errors_and_the_empty_table():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match=r"pos_embed\[0, 1:\]"):
        draw_similarity_maps(
            ax, torch.zeros(1, 17, 8), 4
        )  # the class token's row left in
    with pytest.raises(ValueError, match="stride must be positive"):
        draw_similarity_maps(ax, torch.ones(16, 8), 4, stride=0)
    draw_similarity_maps(
        ax, torch.zeros(16, 8), 4
    )  # no position embedding: blank, and says so
    assert any("zero" in text.get_text() for text in ax.texts)
    plt.close(fig)
