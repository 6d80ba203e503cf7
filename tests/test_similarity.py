"""Cosine similarity matrices and their heat map: agreement with torch, invariances,
zero vectors, errors."""

from __future__ import annotations

import matplotlib
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

matplotlib.use("Agg")
from matplotlib import pyplot as plt  # noqa: E402

from vitbook import cosine_similarity_matrix  # noqa: E402
from vitbook.plots import draw_similarity_grid  # noqa: E402


def test_matches_torch_pairwise_cosine_similarity():
    torch.manual_seed(0)
    x, y = torch.randn(5, 7), torch.randn(3, 7)
    expected = F.cosine_similarity(x[:, None, :], y[None, :, :], dim=-1)  # (5, 3)
    assert cosine_similarity_matrix(x, y).shape == (5, 3)
    assert torch.allclose(cosine_similarity_matrix(x, y), expected, atol=1e-6)
    square = cosine_similarity_matrix(x)  # y defaults to x
    assert torch.allclose(square, square.T, atol=1e-6)
    assert torch.allclose(square.diagonal(), torch.ones(5), atol=1e-6)


def test_batch_axes_are_kept():
    torch.manual_seed(1)
    x = torch.randn(2, 4, 6, 8)  # (..., N, D)
    sims = cosine_similarity_matrix(x)
    assert sims.shape == (2, 4, 6, 6)
    assert torch.allclose(sims[1, 2], cosine_similarity_matrix(x[1, 2]), atol=1e-6)


def test_a_zero_vector_has_similarity_zero_not_nan():
    # an all-black patch is the zero vector
    x = torch.tensor([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]])
    sims = cosine_similarity_matrix(x)
    assert not sims.isnan().any()
    assert torch.equal(sims[0], torch.zeros(2)) and sims[1, 1].item() == pytest.approx(
        1.0
    )


@settings(max_examples=25, deadline=None)
@given(
    scale=st.floats(min_value=1e-2, max_value=1e2),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_invariant_to_positive_scaling_and_flips_sign_with_negation(scale, seed):
    torch.manual_seed(seed)
    x, y = torch.randn(4, 16), torch.randn(3, 16)
    base = cosine_similarity_matrix(x, y)
    assert torch.allclose(cosine_similarity_matrix(scale * x, y), base, atol=1e-5)
    assert torch.allclose(cosine_similarity_matrix(x, -y), -base, atol=1e-6)
    assert (base.abs() <= 1 + 1e-6).all()


def test_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"same length D, got 4 and 5"):
        cosine_similarity_matrix(torch.randn(3, 4), torch.randn(3, 5))
    with pytest.raises(ValueError, match=r"\(\.\.\., N, D\)"):
        cosine_similarity_matrix(torch.randn(4))


def test_draw_similarity_grid_draws_the_grid_and_outlines_the_query():
    fig, ax = plt.subplots()
    values = torch.linspace(-1, 1, 12)
    image = draw_similarity_grid(ax, values, (3, 4), query=6, title="query 6")
    assert image.get_array().shape == (3, 4)
    # raster order: row 1, column 2
    assert image.get_array()[1, 2] == pytest.approx(values[6].item())
    assert image.get_clim() == (-1.0, 1.0) and image.get_cmap().name == "RdBu_r"
    # the outlined query cell
    assert len(ax.patches) == 1 and ax.patches[0].get_xy() == (1.5, 0.5)
    assert ax.get_title() == "query 6"
    with pytest.raises(ValueError, match=r"shape \(N,\) = \(12,\) for a 3x4 grid"):
        draw_similarity_grid(ax, torch.zeros(10), (3, 4))
    with pytest.raises(
        ValueError, match=r"query 12 is out of range for a 3x4 grid: 0 .. 11"
    ):
        draw_similarity_grid(ax, values, (3, 4), query=12)
    plt.close(fig)
