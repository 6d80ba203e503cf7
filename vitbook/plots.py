"""Figures the chapters share: the book's figure style, the patch grid on a photo, patch
sequences, single patches, filters drawn as patches, similarity maps.

``use_book_style()`` (called once near the top of each chapter) makes every figure a PNG
at ``BOOK_DPI`` and warns when a figure's text would be smaller than ``MIN_FONT_POINTS``
once the HTML book scales the figure to its text column.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from matplotlib import patheffects
from matplotlib import pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure, FigureBase
from matplotlib.legend import Legend
from matplotlib.text import Text
from matplotlib.ticker import MaxNLocator

from . import checks
from .patches import _pair, grid_size

__all__ = [
    "BOOK_DPI",
    "MIN_FONT_POINTS",
    "PAGE_WIDTH_INCHES",
    "FigureLegibilityWarning",
    "draw_filter_mosaic",
    "draw_patch_grid",
    "draw_similarity_grid",
    "draw_similarity_maps",
    "filter_mosaic",
    "neighbour_correlation",
    "patch_image",
    "show_patch_sequence",
    "smallest_text",
    "use_book_style",
]

#: Pixels per inch of every figure the book stores (PNG).
BOOK_DPI = 150
#: The width of the HTML book's text column: 660 CSS pixels in a 1280-pixel-wide window,
#: at 96 CSS pixels to the inch. A wider figure is scaled down to it.
PAGE_WIDTH_INCHES = 660 / 96
#: The smallest text a figure may show at the page width, in points.
MIN_FONT_POINTS = 7.0


class FigureLegibilityWarning(UserWarning):
    """A figure's text would be smaller than ``MIN_FONT_POINTS`` in the HTML book."""


def _drawn_texts(fig: Figure) -> list[Text]:
    """The visible, non-empty text artists a draw of ``fig`` shows: titles, labels,
    the tick labels in view, free text, legends."""
    texts = []
    for legend in fig.findobj(Legend):
        texts += [*legend.get_texts(), legend.get_title()]
    for figure in fig.findobj(FigureBase):
        texts += figure.texts
    for ax in fig.findobj(Axes):
        if not ax.get_visible():
            continue
        texts += [ax.title, ax._left_title, ax._right_title, *ax.texts]
        if not ax.axison:
            continue
        for axis in (ax.xaxis, ax.yaxis):
            if not axis.get_visible():
                continue
            texts.append(axis.label)
            low, high = sorted(axis.get_view_interval())
            margin = 1e-9 * max(1.0, abs(high - low))
            ticks = [*axis.get_major_ticks(), *axis.get_minor_ticks()]
            for tick in ticks:
                if low - margin <= tick.get_loc() <= high + margin:
                    texts += [tick.label1, tick.label2]
    return [t for t in texts if t.get_visible() and t.get_text().strip()]


def smallest_text(fig: Figure, renderer=None) -> tuple[float, str]:
    """The smallest text of ``fig`` as the book shows it: ``(points, text)``.

    A figure wider than the page (its tight bounding box, as the notebook saves it) is
    scaled down to ``PAGE_WIDTH_INCHES``, and its text with it; a narrower one is shown
    at ``BOOK_DPI`` on a 96-dpi page, larger than its nominal size.
    """
    checks.instance(fig, "fig", FigureBase, "a matplotlib Figure")
    renderer = renderer or fig.canvas.get_renderer()
    width = fig.get_tightbbox(renderer).width  # inches
    scale = min(BOOK_DPI / 96, PAGE_WIDTH_INCHES / width) if width > 0 else 1.0
    smallest = (float("inf"), "")
    for text in _drawn_texts(fig):
        size = float(text.get_fontsize() * scale)
        if size < smallest[0]:
            smallest = (size, text.get_text())
    return smallest


def _check_legibility(event) -> None:
    fig = event.canvas.figure
    if getattr(fig, "_vitbook_checked", False):
        return
    fig._vitbook_checked = True
    size, text = smallest_text(fig, event.renderer)
    if size < MIN_FONT_POINTS:
        # reported from here, not from matplotlib's event loop (a path in the output)
        warnings.warn_explicit(
            f"figure text {text[:40]!r} is {size:.1f} pt at the book's page width "
            f"(at least {MIN_FONT_POINTS:g} pt needed): enlarge its font or make the "
            f"figure narrower than {fig.get_size_inches()[0]:.1f} in",
            FigureLegibilityWarning,
            filename="vitbook.plots",
            lineno=0,
        )


def watch_legibility(fig: Figure) -> None:
    """A ``figure.hooks`` entry: check ``fig``'s smallest text
    when it is first drawn."""
    checks.instance(fig, "fig", Figure, "a matplotlib Figure")
    fig.canvas.mpl_connect("draw_event", _check_legibility)


def use_book_style() -> None:
    """Draw figures as the book stores them: PNG at ``BOOK_DPI``, text checked.

    Sets matplotlib's ``figure.dpi`` and adds ``watch_legibility`` to ``figure.hooks``,
    so a figure whose text would be under ``MIN_FONT_POINTS`` at the page width warns
    (a ``FigureLegibilityWarning``) when it is drawn.
    """
    plt.rcParams["figure.dpi"] = BOOK_DPI
    plt.rcParams["savefig.dpi"] = BOOK_DPI
    hook = "vitbook.plots:watch_legibility"
    # figure.hooks is matplotlib 3.7+; an older one draws the same figures, unchecked
    if "figure.hooks" in plt.rcParams and hook not in plt.rcParams["figure.hooks"]:
        plt.rcParams["figure.hooks"] = [*plt.rcParams["figure.hooks"], hook]


def _numpy(values: np.ndarray | torch.Tensor, name: str = "values") -> np.ndarray:
    """A tensor (on any device, with or without grad) or an array, as a NumPy array."""
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    if not isinstance(values, (np.ndarray, list, tuple)):
        raise TypeError(
            f"{name} must be a tensor or an array, got {type(values).__name__}; for "
            "a layer's weights pass layer.weight"
        )
    return np.asarray(values)


def _axes(ax) -> Axes:
    return checks.instance(
        ax, "ax", Axes, "a matplotlib Axes (fig, ax = plt.subplots())"
    )


def _as_hwc(image: np.ndarray | torch.Tensor) -> np.ndarray:
    """An image as an ``(H, W, C)`` array for ``imshow``: accepts ``(H, W, C)`` arrays
    and ``(1, C, H, W)``/``(C, H, W)`` tensors (floats in [0, 1], or uint8)."""
    if isinstance(image, torch.Tensor):
        if image.ndim == 4:
            checks.images(image, "image", needs_float=False)
            if image.shape[0] != 1:
                raise ValueError(
                    f"image must be one image (1, C, H, W), got {tuple(image.shape)}; "
                    "pass images[:1]"
                )
            image = image[0]
        checks.images(image, "image", batch=False, needs_float=False)
        image = image.permute(1, 2, 0)
    else:
        image = _numpy(image, "image")
        if (
            image.ndim not in (2, 3)
            or image.ndim == 3
            and image.shape[-1] not in (1, 3, 4)
        ):
            raise ValueError(
                "an image array must be (H, W) or (H, W, C) with C = 1, 3 or 4, got "
                f"shape {image.shape}; for a (1, C, H, W) tensor pass the tensor itself"
            )
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
    """Draw ``image`` with its patch grid, each patch labelled by its raster index
    (0 at top left)."""
    _axes(ax)
    img = _as_hwc(image)
    h, w = img.shape[:2]
    rows, cols = grid_size((h, w), patch_size)
    if highlight is not None:
        grid = f"a {rows}x{cols} grid"
        highlight = checks.index(highlight, "highlight", rows * cols, grid)
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
                # a dark outline keeps white numbers readable on bright patches
                path_effects=[
                    patheffects.withStroke(linewidth=1.5, foreground="black")
                ],
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
    """A flattened channels-last patch ``(P*P*C,)``
    back as a ``(P, P, C)`` array for ``imshow``."""
    vec = _numpy(patch_vector)
    patch_size = checks.positive_int(patch_size, "patch_size")
    channels = vec.size // (patch_size * patch_size)
    if vec.ndim != 1 or vec.size != channels * patch_size**2 or channels not in (1, 3):
        raise ValueError(
            f"patch_vector must be one flattened patch (P*P*C,) with P = {patch_size} "
            f"and C = 1 or 3, got shape {vec.shape}; pass patchify(images, P)[0, i] "
            "with the P it was cut with"
        )
    return vec.reshape(patch_size, patch_size, channels)


def show_patch_sequence(
    patches: torch.Tensor,
    patch_size: int,
    indices: list[int] | range,
    title: str | None = None,
):
    """Draw the patches ``indices`` of one image's ``(N, P*P*C)`` sequence in a row,
    labelled by index."""
    patches = _numpy(patches, "patches")
    patch_size = checks.positive_int(patch_size, "patch_size")
    if patches.ndim != 2:
        raise ValueError(
            f"patches must be one image's sequence (N, P*P*C), got shape "
            f"{patches.shape}; pass patchify(images, P)[0]"
        )
    if isinstance(indices, (str, bytes)) or not hasattr(indices, "__iter__"):
        raise TypeError(f"indices must be a list or range of ints, got {indices!r}")
    what = f"{len(patches)} patches"
    indices = [checks.index(i, "index", len(patches), what) for i in indices]
    if not indices:
        raise ValueError("indices is empty; give at least one patch index")
    fig, axes = plt.subplots(1, len(indices), figsize=(0.5 * len(indices) + 0.3, 1.25))
    for ax, index in zip(np.atleast_1d(axes), indices):
        ax.imshow(patch_image(patches[index], patch_size).clip(0, 1))
        ax.set_title(str(index), fontsize=8)
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
    """Draw one patch's ``(N,)`` similarities to every patch as a heat map over the
    ``(rows, cols)`` grid.

    ``query`` (a raster index) is outlined. Returns the image, for ``fig.colorbar``. The
    default colours suit cosine similarities: ``RdBu_r`` from -1 to 1, white at 0.
    """
    _axes(ax)
    values = _numpy(similarities, "similarities").astype(float)
    rows, cols = _pair(grid, "grid")
    checks.number(vmin, "vmin")
    if checks.number(vmax, "vmax") <= vmin:
        raise ValueError(f"vmax {vmax} must be above vmin {vmin}")
    if values.shape != (rows * cols,):
        raise ValueError(
            f"similarities must have shape (N,) = ({rows * cols},) "
            f"for a {rows}x{cols} grid, got {values.shape}"
        )
    image = ax.imshow(values.reshape(rows, cols), cmap=cmap, vmin=vmin, vmax=vmax)
    if query is not None:
        query = checks.index(query, "query", rows * cols, f"a {rows}x{cols} grid")
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
    """Draw the ViT paper's Figure 7 (centre)
    for a position table ``(N, D)`` on a ``(rows, cols)`` grid.

    For every ``stride``-th query row and column, a small ``rows x cols`` map of the
    cosine similarity of the query's vector to every position's vector, placed at the
    query's spot in a mosaic. Returns the image, for ``fig.colorbar`` (``RdBu_r`` from
    -1 to 1, white at 0). An all-zero table (no position embedding) has no directions:
    its tiles are drawn blank.
    """
    from .embedding import cosine_similarity_matrix
    from .patches import _pair

    _axes(ax)
    rows, cols = _pair(grid, "grid")
    step_r, step_c = _pair(stride, "stride")
    gap = checks.nonnegative_int(gap, "gap")
    values = torch.as_tensor(_numpy(table, "table")).float()
    checks.finite(values, "table")
    if values.ndim == 3 and values.shape[0] == 1:
        values = values[0]
    if values.ndim != 2 or values.shape[0] != rows * cols:
        raise ValueError(
            f"table must have shape (N, D) with N = {rows}x{cols} = {rows * cols}, "
            f"got {tuple(values.shape)}; for a ViT's (1, 1 + N, D) pos_embed "
            "pass pos_embed[0, 1:] (drop the class token's row)"
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
            # the query's similarity to every position
            tile = sims[qr * cols + qc].reshape(rows, cols)
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
    fontsize = 8 if max(len(query_rows), len(query_cols)) <= 10 else 7
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


def _filters_as_patches(
    filters: np.ndarray | torch.Tensor, patch_size: int
) -> np.ndarray:
    """``(K, P*P*C)`` channels-last filters (rows of ``proj.weight``)
    -> ``(K, P, P, C)``."""
    values = _numpy(filters, "filters").astype(np.float64)
    patch_size = checks.positive_int(patch_size, "patch_size")
    channels = values.shape[-1] // (patch_size * patch_size) if values.ndim else 0
    if (
        values.ndim != 2
        or len(values) == 0
        or values.shape[1] != channels * patch_size**2
        or channels not in (1, 3)
    ):
        raise ValueError(
            f"filters must have shape (K, P*P*C) with K >= 1, P = {patch_size} and "
            f"C = 1 or 3, got {values.shape}; pass proj.weight, one filter per row"
        )
    channels = values.shape[1] // (patch_size * patch_size)
    return values.reshape(len(values), patch_size, patch_size, channels)


def neighbour_correlation(filters: np.ndarray | torch.Tensor, patch_size: int) -> float:
    """How alike neighbouring weights are: the correlation of each weight of each filter
    with its right-hand and its lower neighbour, in every channel.

    ``filters`` is ``(K, P*P*C)``, one channels-last filter per row (``proj.weight``),
    or flattened patches of an image. Independent random weights give about 0; photo
    patches, whose neighbouring pixels are nearly equal, close to 1.
    """
    tiles = _filters_as_patches(filters, patch_size)  # (K, P, P, C)
    if patch_size < 2:
        raise ValueError(
            f"patch_size must be at least 2 for a patch to have neighbours, got "
            f"{patch_size}"
        )
    left = np.concatenate([tiles[:, :, :-1].ravel(), tiles[:, :-1, :].ravel()])
    right = np.concatenate([tiles[:, :, 1:].ravel(), tiles[:, 1:, :].ravel()])
    if left.std() == 0 or right.std() == 0:
        raise ValueError(
            "filters are constant: a correlation needs weights that vary; pass "
            "trained or random filters"
        )
    return float(np.corrcoef(left, right)[0, 1])


def filter_mosaic(
    filters: np.ndarray | torch.Tensor,
    patch_size: int,
    per_row: int = 8,
    gap: int = 1,
) -> np.ndarray:
    """Filters ``(K, P*P*C)`` laid out as one image of ``P x P`` tiles,
    ``per_row`` a row.

    Each tile is divided by its own largest ``|weight|``, so it spans [-1, 1] and its
    pattern shows whatever its scale; gaps are NaN. Returns ``(rows, cols)`` for one
    channel, ``(rows, cols, C)`` for more.
    """
    per_row = checks.positive_int(per_row, "per_row")
    gap = checks.nonnegative_int(gap, "gap")
    tiles = _filters_as_patches(filters, patch_size)  # (K, P, P, C)
    largest = np.abs(tiles).max(axis=(1, 2, 3), keepdims=True)
    tiles = tiles / np.where(largest > 0, largest, 1.0)
    count, channels = len(tiles), tiles.shape[-1]
    rows = -(-count // per_row)
    step = patch_size + gap
    mosaic = np.full(
        (rows * step - gap, min(count, per_row) * step - gap, channels), np.nan
    )
    for k, tile in enumerate(tiles):
        r, c = divmod(k, per_row)
        top, left = r * step, c * step
        mosaic[top : top + patch_size, left : left + patch_size] = tile
    return mosaic[..., 0] if channels == 1 else mosaic


def draw_filter_mosaic(
    ax: Axes,
    filters: np.ndarray | torch.Tensor,
    patch_size: int,
    per_row: int = 8,
    gap: int = 1,
):
    """Draw ``filter_mosaic``: one channel in ``RdBu_r`` (0 white; returns the image for
    ``fig.colorbar``), three channels as colour pictures with 0 at mid-grey."""
    _axes(ax)
    mosaic = filter_mosaic(filters, patch_size, per_row, gap)
    if mosaic.ndim == 2:
        cmap = plt.get_cmap("RdBu_r").with_extremes(bad="white")
        image = ax.imshow(mosaic, cmap=cmap, vmin=-1, vmax=1, interpolation="nearest")
    else:
        # -1 -> black, 0 -> mid-grey, +1 -> full colour; gaps white
        picture = np.nan_to_num(0.5 + 0.5 * mosaic, nan=1.0)
        image = ax.imshow(picture, interpolation="nearest")
    step = patch_size + gap
    count = len(_numpy(filters))
    ax.set_xticks(
        [c * step + (patch_size - 1) / 2 for c in range(min(count, per_row))],
        range(min(count, per_row)),
    )
    # at most 8 row labels, so that they stay legible however many rows there are
    rows = -(-count // per_row)
    every = -(-rows // 8)
    ax.set_yticks(
        [r * step + (patch_size - 1) / 2 for r in range(0, rows, every)],
        range(0, count, per_row * every),
    )
    ax.tick_params(length=0)
    ax.set_xlabel(f"filter k: k % {per_row}")
    ax.set_ylabel("first filter k of the row")
    return image
