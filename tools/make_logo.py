"""Draw the book's logo and favicon from the running example:
``python tools/make_logo.py``.

The logo is the astronaut photo of book/01_images_as_tensors.ipynb cut into a 4x4 grid
of patches (the book's first step), followed by the row of tokens the patches become
(its last). The favicon is the grid alone. Both are written to ``_static/``, which
``_config.yml`` points at."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
from matplotlib import pyplot as plt  # noqa: E402

import vitbook  # noqa: E402

STATIC = Path(__file__).resolve().parent.parent / "_static"
GRID = 4  # patches per side: few enough to read at logo size


def draw_patches(ax, photo: np.ndarray, grid: int = GRID, gap: float = 0.08) -> None:
    """The photo as ``grid`` x ``grid`` patches,
    each drawn apart from its neighbours."""
    size = photo.shape[0] // grid
    for row in range(grid):
        for col in range(grid):
            patch = photo[row * size : (row + 1) * size, col * size : (col + 1) * size]
            x0, y0 = col * (1 + gap), (grid - 1 - row) * (1 + gap)
            ax.imshow(patch, extent=(x0, x0 + 1, y0, y0 + 1))


def draw_tokens(ax, photo: np.ndarray, x0: float, grid: int = GRID) -> None:
    """One thin bar per patch, coloured by that patch's mean colour:
    the token sequence."""
    size = photo.shape[0] // grid
    colours = photo.reshape(grid, size, grid, size, 3).mean(axis=(1, 3)).reshape(-1, 3)
    height = grid * 1.08 - 0.08
    width = 0.28
    for i, colour in enumerate(colours / 255.0):
        y = height - (i + 1) * height / len(colours)
        ax.add_patch(
            plt.Rectangle(
                (x0, y + 0.02), width * 3, height / len(colours) - 0.04, color=colour
            )
        )


def main() -> None:
    photo = vitbook.load_photo("astronaut", size=224)
    STATIC.mkdir(exist_ok=True)

    fig, ax = plt.subplots(figsize=(4, 2.2), dpi=150)
    draw_patches(ax, photo)
    ax.annotate(
        "",
        xy=(5.9, 2.1),
        xytext=(4.6, 2.1),
        arrowprops={"arrowstyle": "-|>", "lw": 3, "color": "#1f6feb"},
    )
    draw_tokens(ax, photo, x0=6.1)
    ax.set_xlim(-0.1, 7.1)
    ax.set_ylim(-0.1, 4.3)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.savefig(STATIC / "logo.png", transparent=True, bbox_inches="tight")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(1, 1), dpi=64)
    draw_patches(ax, photo, grid=2, gap=0.12)
    ax.set_xlim(0, 2.12)
    ax.set_ylim(0, 2.12)
    ax.axis("off")
    fig.subplots_adjust(0, 0, 1, 1)
    fig.savefig(STATIC / "favicon.png", transparent=True)
    plt.close(fig)
    print(f"wrote {STATIC / 'logo.png'} and {STATIC / 'favicon.png'}")


if __name__ == "__main__":
    main()
