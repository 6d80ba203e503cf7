"""Figures the chapters share: the patch grid on a photo, patch sequences, single patches."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib import pyplot as plt
from matplotlib.axes import Axes

from .patches import grid_size

__all__ = ["draw_patch_grid", "patch_image", "show_patch_sequence"]


def _as_hwc(image: np.ndarray | torch.Tensor) -> np.ndarray:
    """An image as an ``(H, W, C)`` array for ``imshow``: accepts ``(H, W, C)`` arrays and ``(1, C, H, W)``/``(C, H, W)`` tensors."""
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu()
        if image.ndim == 4:
            image = image[0]
        image = image.permute(1, 2, 0).numpy()
    return np.asarray(image)


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
    vec = np.asarray(patch_vector.detach().cpu() if isinstance(patch_vector, torch.Tensor) else patch_vector)
    channels = vec.size // (patch_size * patch_size)
    return vec.reshape(patch_size, patch_size, channels)


def show_patch_sequence(
    patches: torch.Tensor, patch_size: int, indices: list[int] | range, title: str | None = None
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
