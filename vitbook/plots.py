"""Figures the chapters share: the patch grid on a photo, patch sequences, single patches."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib import pyplot as plt
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from .patches import grid_size

__all__ = [
    "draw_patch_grid",
    "draw_similarity_grid",
    "draw_similarity_maps",
    "patch_image",
    "show_patch_sequence",
]


def _numpy(values: np.ndarray | torch.Tensor) -> np.ndarray:
    """A tensor (on any device, with or without grad) or an array, as a NumPy array."""
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    return np.asarray(values)


def _as_hwc(image: np.ndarray | torch.Tensor) -> np.ndarray:
    """An image as an ``(H, W, C)`` array for ``imshow``: accepts ``(H, W, C)`` arrays and ``(1, C, H, W)``/``(C, H, W)`` tensors."""
    if isinstance(image, torch.Tensor):
        image = image[0] if image.ndim == 4 else image
        image = image.permute(1, 2, 0)
    return _numpy(image)


def draw_patch_grid(
    ax: Axes,
    image: np.ndarray | torch.Tensor,
    patch_size: int,
    numbers: bool = True,
    highlight: int | None = None,
    color: str = "white",
    fontsize: float = 6,
) -> Axes:
    """Draw ``image`` with its patch grid, each patch labelled by its raster index (0 at top left)."""
    img = _as_hwc(image)
    h, w = img.shape[:2]
    rows, cols = grid_size((h, w), patch_size)
    ax.imshow(img)
    for r in range(1, rows):
        ax.axhline(r * patch_size - 0.5, color=color, linewidth=0.6)
    for c in range(1, cols):
        ax.axvline(c * patch_size - 0.5, color=color, linewidth=0.6)
    if numbers:
        for index in range(rows * cols):
            r, c = divmod(index, cols)
            ax.text(
                c * patch_size + patch_size / 2 - 0.5,
                r * patch_size + patch_size / 2 - 0.5,
                str(index),
                color=color,
                fontsize=fontsize,
                ha="center",
                va="center",
            )
    if highlight is not None:
        r, c = divmod(highlight, cols)
        ax.add_patch(
            plt.Rectangle(
                (c * patch_size - 0.5, r * patch_size - 0.5),
                patch_size,
                patch_size,
                fill=False,
                edgecolor="red",
                linewidth=2,
            )
        )
    ax.set_xlabel("x (pixels)")
    ax.set_ylabel("y (pixels)")
    return ax


def patch_image(patch_vector: np.ndarray | torch.Tensor, patch_size: int) -> np.ndarray:
    """A flattened channels-last patch ``(P*P*C,)`` back as a ``(P, P, C)`` array for ``imshow``."""
    vec = _numpy(patch_vector)
    channels = vec.size // (patch_size * patch_size)
    return vec.reshape(patch_size, patch_size, channels)


def show_patch_sequence(
    patches: torch.Tensor,
    patch_size: int,
    indices: list[int] | range,
    title: str | None = None,
):
    """Draw the patches ``indices`` of one image's ``(N, P*P*C)`` sequence in a row, labelled by index."""
    indices = list(indices)
    fig, axes = plt.subplots(1, len(indices), figsize=(0.6 * len(indices) + 0.4, 1.3))
    for ax, index in zip(np.atleast_1d(axes), indices):
        ax.imshow(patch_image(patches[index], patch_size).clip(0, 1))
        ax.set_title(str(index), fontsize=7)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def draw_similarity_grid(
    ax: Axes,
    similarities: np.ndarray | torch.Tensor,
    grid: tuple[int, int],
    query: int | None = None,
    title: str | None = None,
    vmin: float = -1.0,
    vmax: float = 1.0,
    cmap: str = "RdBu_r",
):
    """Draw one patch's ``(N,)`` similarities to every patch as a heat map over the ``(rows, cols)`` grid.

    ``query`` (a raster index) is outlined. Returns the image, for ``fig.colorbar``. The default
    colours suit cosine similarities: ``RdBu_r`` from -1 to 1, white at 0.
    """
    values = _numpy(similarities).astype(float)
    rows, cols = grid
    if values.shape != (rows * cols,):
        raise ValueError(
            f"similarities must have shape (N,) = ({rows * cols},) for a {rows}x{cols} grid, got {values.shape}"
        )
    image = ax.imshow(values.reshape(rows, cols), cmap=cmap, vmin=vmin, vmax=vmax)
    if query is not None:
        if not 0 <= query < rows * cols:
            raise ValueError(
                f"query {query} is out of range for a {rows}x{cols} grid: 0 .. {rows * cols - 1}"
            )
        r, c = divmod(query, cols)
        ax.add_patch(
            plt.Rectangle(
                (c - 0.5, r - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=2
            )
        )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("patch column")
    ax.set_ylabel("patch row")
    if title:
        ax.set_title(title, fontsize=9)
    return image


def draw_similarity_maps(
    ax: Axes,
    table: torch.Tensor,
    grid: int | tuple[int, int],
    stride: int | tuple[int, int] = 1,
    title: str | None = None,
    gap: int = 1,
):
    """Draw the ViT paper's Figure 7 (centre) for a position table ``(N, D)`` on a ``(rows, cols)`` grid.

    For every ``stride``-th query row and column, a small ``rows x cols`` map of the cosine
    similarity of the query's vector to every position's vector, placed at the query's spot in
    a mosaic. Returns the image, for ``fig.colorbar`` (``RdBu_r`` from -1 to 1, white at 0).
    An all-zero table (no position embedding) has no directions: its tiles are drawn blank.
    """
    from .embedding import cosine_similarity_matrix
    from .patches import _pair

    rows, cols = _pair(grid, "grid")
    step_r, step_c = _pair(stride, "stride")
    if step_r <= 0 or step_c <= 0:
        raise ValueError(f"stride must be positive, got {stride}")
    values = table.detach().cpu().float()
    if values.ndim == 3 and values.shape[0] == 1:
        values = values[0]
    if values.ndim != 2 or values.shape[0] != rows * cols:
        raise ValueError(
            f"table must have shape (N, D) with N = {rows}x{cols} = {rows * cols}, got {tuple(table.shape)}; "
            "for a ViT's (1, 1 + N, D) pos_embed pass pos_embed[0, 1:] (drop the class token's row)"
        )
    blank = not values.abs().max().item() > 0
    sims = cosine_similarity_matrix(values).numpy()  # (N, N)
    query_rows, query_cols = range(0, rows, step_r), range(0, cols, step_c)
    tile_h, tile_w = rows + gap, cols + gap
    mosaic = np.full(
        (len(query_rows) * tile_h - gap, len(query_cols) * tile_w - gap), np.nan
    )
    for i, qr in enumerate(query_rows):
        for j, qc in enumerate(query_cols):
            tile = sims[qr * cols + qc].reshape(
                rows, cols
            )  # the query's similarity to every position
            mosaic[i * tile_h : i * tile_h + rows, j * tile_w : j * tile_w + cols] = (
                tile
            )
    cmap = plt.get_cmap("RdBu_r").with_extremes(bad="white")
    image = ax.imshow(mosaic, cmap=cmap, vmin=-1, vmax=1, interpolation="nearest")
    if blank:
        for i in range(len(query_rows)):
            for j in range(len(query_cols)):
                corner = (j * tile_w - 0.5, i * tile_h - 0.5)
                ax.add_patch(
                    plt.Rectangle(corner, cols, rows, fill=False, edgecolor="0.7")
                )
        ax.text(
            mosaic.shape[1] / 2 - 0.5,
            mosaic.shape[0] / 2 - 0.5,
            "no position vectors:\nevery position is\nthe same (zero) vector",
            ha="center",
            va="center",
            fontsize=8,
            bbox={"facecolor": "white", "edgecolor": "0.7"},
        )
    fontsize = 7 if max(len(query_rows), len(query_cols)) <= 10 else 5
    ax.set_xticks(
        [j * tile_w + (cols - 1) / 2 for j in range(len(query_cols))], list(query_cols)
    )
    ax.set_yticks(
        [i * tile_h + (rows - 1) / 2 for i in range(len(query_rows))], list(query_rows)
    )
    ax.tick_params(labelsize=fontsize)
    ax.tick_params(length=0)
    ax.set_xlabel("query patch column")
    ax.set_ylabel("query patch row")
    if title:
        ax.set_title(title, fontsize=9)
    return image
