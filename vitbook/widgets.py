"""Explorers: a live ipywidgets version for Jupyter and Colab,
and a no-kernel gallery for the HTML book.

Each explorer has one pure ``render(...)`` function that draws a state as a matplotlib
figure. The live widget calls it on every change; ``static_gallery`` calls it for a
handful of states ahead of time and embeds the PNGs with plain HTML radio buttons (no
JavaScript, no kernel), so the same picture appears in both, and nothing in the HTML
book is a dead control. Each pre-rendered state has an alt text, computed from the
state, that says what its picture shows.
"""

from __future__ import annotations

import base64
import html
import io
import numbers
import re
from collections.abc import Callable, Iterable

import torch
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from . import checks
from .embedding import PatchEmbedding, cosine_similarity_matrix
from .patches import _pair, grid_size, patchify
from .plots import BOOK_DPI, draw_patch_grid, draw_similarity_grid, patch_image
from .position import (
    LearnedPositionEmbedding,
    sincos_1d_position_embedding,
    sincos_position_embedding,
)

__all__ = [
    "PatchExplorer",
    "PositionExplorer",
    "SimilarityExplorer",
    "figure_to_png",
    "static_gallery",
]


def figure_to_png(fig: Figure, dpi: int = BOOK_DPI) -> bytes:
    """The PNG bytes of ``fig`` at ``dpi`` (it is then closed,
    so not also shown inline)."""
    checks.instance(fig, "fig", Figure, "a matplotlib Figure")
    dpi = checks.positive_int(dpi, "dpi")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    return buffer.getvalue()


def static_gallery(
    name: str,
    frames: Iterable[tuple[str, Figure, str]],
    dpi: int = BOOK_DPI,
) -> str:
    """HTML that shows one of several pre-rendered figures, chosen with buttons.

    ``name`` makes the element ids unique on a page; ``frames`` are ``(label, figure,
    alt)``: the button's label, the picture, and a sentence saying what the picture
    shows (its alt text, for a reader who cannot see it). Built from radio inputs and
    CSS only, so it needs no JavaScript and no kernel. The caption comes from the cell
    (myst-nb's figure caption), like any figure's.
    """
    checks.instance(name, "name", str, "a str")
    if not re.fullmatch(r"[a-z][a-z0-9-]*", name):
        raise ValueError(
            f"name must be lower-case letters, digits and '-', starting with a letter; "
            f"got {name!r}"
        )
    if isinstance(frames, (str, bytes)) or not isinstance(frames, Iterable):
        raise TypeError(
            f"frames must be a list of (label, figure, alt) tuples, got {frames!r}"
        )
    frames = list(frames)
    if not frames:
        raise ValueError("static_gallery needs at least one frame")
    css, inputs, labels, images = [], [], [], []
    for i, frame in enumerate(frames):
        if not isinstance(frame, (tuple, list)):
            raise TypeError(
                f"frame {i} must be a tuple (label, figure, alt), got {frame!r}"
            )
        if len(frame) != 3 or not str(frame[2]).strip():
            raise ValueError(
                f"frame {i} must be (label, figure, alt) with a non-empty alt text "
                "saying what the picture shows"
            )
        label, figure, alt = frame
        checks.instance(label, f"frame {i}'s label", str, "a str")
        checks.instance(figure, f"frame {i}'s figure", Figure, "a matplotlib Figure")
        data = base64.b64encode(figure_to_png(figure, dpi=dpi)).decode("ascii")
        fid = f"{name}-{i}"
        checked = " checked" if i == 0 else ""
        inputs.append(
            f'<input type="radio" name="{name}" id="{fid}" class="vb-radio"{checked}>'
        )
        labels.append(
            f'<label for="{fid}" class="vb-button">{html.escape(label)}</label>'
        )
        images.append(
            f'<img class="vb-frame vb-frame-{i}" alt="{html.escape(alt)}" '
            f'src="data:image/png;base64,{data}">'
        )
        css.append(
            f"#{fid}:checked ~ .vb-frames .vb-frame-{i} {{display: block;}}\n"
            f"#{fid}:checked ~ .vb-buttons label[for='{fid}'] "
            f"{{background: #1f6feb; color: white;}}"
        )
    gallery = f"#{name}-gallery"
    style = (
        f"<style>\n{gallery} .vb-radio "
        f"{{position: absolute; opacity: 0; pointer-events: none;}}\n"
        f"{gallery} .vb-frame {{display: none; max-width: 100%;}}\n"
        f"{gallery} .vb-button {{display: inline-block; margin: 2px; padding: 2px 8px; "
        f"border: 1px solid #1f6feb; border-radius: 4px; cursor: pointer; "
        f"font-size: 0.85em;}}\n"
        + "\n".join(f"{gallery} {rule}" for rule in css)
        + "\n</style>"
    )
    return (
        f'<div class="vb-gallery" id="{name}-gallery">{style}{"".join(inputs)}'
        f'<div class="vb-buttons">{"".join(labels)}</div>'
        f'<div class="vb-frames">{"".join(images)}</div></div>'
    )


def _states(states, name: str, length: int, example: str) -> list[tuple]:
    """A gallery's states: a non-empty list of tuples of ``length`` values."""
    if isinstance(states, (str, bytes)) or not isinstance(states, Iterable):
        raise TypeError(
            f"{name} must be a list of states such as {example}, got {states!r}"
        )
    states = list(states)
    if not states:
        raise ValueError(f"{name} is empty; give at least one state such as {example}")
    for state in states:
        if not isinstance(state, (tuple, list)) or len(state) != length:
            raise TypeError(
                f"each of {name} must be a tuple of {length} values such as {example}, "
                f"got {state!r}"
            )
    return [tuple(state) for state in states]


def _live(render: Callable[..., Figure], controls: dict, description: str):
    """An ipywidgets box: the ``controls`` above an output area that shows
    ``render(**values)``.

    The box has an ``update()`` method (what a change of any control calls) and a short
    text form, so a notebook's stored output holds no pixels and no widget ids.
    """
    import IPython
    import ipywidgets as widgets

    class LiveExplorer(widgets.VBox):
        def __repr__(self) -> str:
            return f"{description} (a live explorer: it needs a running kernel)"

    out = widgets.Output()

    def update(change=None):
        fig = render(**{key: control.value for key, control in controls.items()})
        # Set the output area's content as widget state rather than `display()` inside
        # `with out:`, which depends on the frontend routing the messages: test runners
        # (nbval) do not, and the figure would leak into the cell's stored output.
        shell = IPython.get_ipython()
        # no IPython shell (plain Python, pytest): nothing to display into
        if shell is not None:
            data, metadata = shell.display_formatter.format(fig)
            out.outputs = (
                {"output_type": "display_data", "data": data, "metadata": metadata},
            )
        plt.close(fig)
        return fig

    for control in controls.values():
        control.observe(update, names="value")
    box = LiveExplorer(
        [widgets.HTML(f"<b>{html.escape(description)}</b>"), *controls.values(), out]
    )
    box.update = update
    box.controls = controls
    update()
    return box


def _one_image(image: torch.Tensor) -> None:
    if image.shape[0] != 1:
        raise ValueError(
            f"image must have shape (1, C, H, W), got {tuple(image.shape)}; pass one "
            "image, e.g. images[:1]"
        )


class PatchExplorer:
    """Explore the patches of a ``(1, C, H, W)`` image: the grid, one patch enlarged,
    its values per channel and its flattened vector."""

    def __init__(
        self, image: torch.Tensor, patch_sizes: Iterable[int] = (8, 14, 16, 28, 32, 56)
    ):
        # one RGB image (1, 3, H, W) in [0, 1]: the panels draw red, green and blue
        checks.images(image, "image", channels=3)
        _one_image(image)
        self.image = image
        if isinstance(patch_sizes, int) or not isinstance(patch_sizes, Iterable):
            raise TypeError(
                f"patch_sizes must be a list of ints such as (8, 16), got "
                f"{patch_sizes!r}"
            )
        self.patch_sizes = [
            checks.positive_int(p, "each of patch_sizes") for p in patch_sizes
        ]
        if not self.patch_sizes:
            raise ValueError("patch_sizes is empty; give at least one, e.g. (16,)")
        for p in self.patch_sizes:
            # raises a clear error if p does not divide the image
            grid_size(tuple(image.shape[-2:]), p)

    def num_patches(self, patch_size: int) -> int:
        rows, cols = grid_size(tuple(self.image.shape[-2:]), patch_size)
        return rows * cols

    def _patch(self, patch_size: int, index: int) -> torch.Tensor:
        n = self.num_patches(checks.positive_int(patch_size, "patch_size"))
        checks.index(index, "patch index", n, f"patch size {patch_size}")
        return patchify(self.image, patch_size)[0, index]  # (P*P*C,)

    def render(self, patch_size: int = 16, index: int = 0) -> Figure:
        """One state: the grid with the patch outlined, the patch enlarged,
        its values."""
        vector = self._patch(patch_size, index)
        n = self.num_patches(patch_size)
        rows, cols = grid_size(tuple(self.image.shape[-2:]), patch_size)
        fig = plt.figure(figsize=(7.4, 3.6), layout="constrained")
        grid = fig.add_gridspec(2, 3, height_ratios=[4, 1])
        ax_img, ax_patch = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])
        ax_hist, ax_strip = fig.add_subplot(grid[0, 2]), fig.add_subplot(grid[1, :])
        draw_patch_grid(ax_img, self.image, patch_size, numbers=False, highlight=index)
        ax_img.set_title(f"P={patch_size}: {rows}x{cols} grid, N={n}", fontsize=9)
        ax_patch.imshow(patch_image(vector, patch_size))
        r, c = divmod(index, cols)
        ax_patch.set_title(
            f"patch {index} (row {r}, col {c})\n{patch_size}x{patch_size}x3",
            fontsize=9,
        )
        ax_patch.set_xlabel("x in patch")
        ax_patch.set_ylabel("y in patch")
        values = vector.numpy()
        channels = values.reshape(-1, 3)
        for k, colour in enumerate(("red", "green", "blue")):
            ax_hist.hist(
                channels[:, k],
                bins=20,
                range=(0, 1),
                color=colour,
                alpha=0.5,
                label=colour,
            )
        ax_hist.set_title("values per channel", fontsize=9)
        ax_hist.set_xlabel("value")
        ax_hist.set_ylabel("count")
        ax_hist.legend(fontsize=8)
        strip = ax_strip.imshow(
            values[None, :], aspect="auto", cmap="viridis", vmin=0, vmax=1
        )
        ax_strip.set_title(
            f"patch {index} flattened: {values.size} values, channels-last "
            "(R, G, B, R, G, B, ...)",
            fontsize=9,
        )
        ax_strip.set_yticks([])
        ax_strip.set_xlabel("position in the flattened vector")
        fig.colorbar(strip, ax=ax_strip, pad=0.01, aspect=5, label="value")
        return fig

    def describe(self, patch_size: int = 16, index: int = 0) -> str:
        """What ``render(patch_size, index)`` shows, in words (its alt text)."""
        vector = self._patch(patch_size, index)
        rows, cols = grid_size(tuple(self.image.shape[-2:]), patch_size)
        r, c = divmod(index, cols)
        means = vector.reshape(-1, 3).mean(dim=0).tolist()
        return (
            f"The photo cut by a {rows} by {cols} grid of {patch_size}-pixel patches, "
            f"patch {index} (row {r}, column {c}) outlined in red; that patch "
            "enlarged; histograms of its red, green and blue values "
            f"(means {means[0]:.2f}, {means[1]:.2f} and {means[2]:.2f}); "
            f"and its {vector.numel()} values as one strip of colour."
        )

    def widget(self):
        """The live explorer for Jupyter and Colab (needs a running kernel)."""
        import ipywidgets as widgets

        size = widgets.Dropdown(
            options=self.patch_sizes,
            value=16 if 16 in self.patch_sizes else self.patch_sizes[0],
            description="patch size P",
        )
        index = widgets.IntSlider(
            value=0, min=0, max=self.num_patches(size.value) - 1, description="patch"
        )

        def clamp(change):
            index.max = self.num_patches(change["new"]) - 1

        size.observe(clamp, names="value")
        return _live(
            self.render,
            {"patch_size": size, "index": index},
            "Choose a patch size and a patch",
        )

    def gallery(self, states: Iterable[tuple[int, int]]) -> str:
        """The no-kernel version: pre-rendered ``(patch_size, index)`` states."""
        states = _states(states, "states", 2, "(16, 0): patch size 16, patch 0")
        frames = [
            (f"P={p}, patch {i}", self.render(p, i), self.describe(p, i))
            for p, i in states
        ]
        return static_gallery("patch-explorer", frames)


#: How ``SimilarityExplorer`` can centre the vectors before it compares them.
CENTERINGS = ("none", "each vector", "mean over patches")


def _centered(vectors: torch.Tensor, center: str) -> torch.Tensor:
    """``(N, D)`` -> ``(N, D)``: subtract each vector's own mean,
    or the mean vector over the N patches."""
    if center == "none":
        return vectors
    # a patch's brightness; for tokens, the centring LayerNorm does
    if center == "each vector":
        return vectors - vectors.mean(dim=-1, keepdim=True)
    # the component all patches of the image share
    if center == "mean over patches":
        return vectors - vectors.mean(dim=0, keepdim=True)
    raise ValueError(f"center must be one of {CENTERINGS}, got {center!r}")


class SimilarityExplorer:
    """Choose a patch of a ``(1, C, H, W)`` image: its cosine similarity to every patch,
    raw and embedded.

    ``embeddings`` maps a name to anything that turns the image into ``(1, N, D)``
    tokens on the same grid: a ``PatchEmbedding``, or a trained model's, e.g.
    ``{"trained": model.patch_embed}`` (wrap it in a function if the model normalises
    its input first). By default: one random ``PatchEmbedding(patch_size, C, 128)``,
    made with seed 0.
    """

    def __init__(
        self,
        image: torch.Tensor,
        embeddings: dict[str, Callable[[torch.Tensor], torch.Tensor]] | None = None,
        patch_size: int = 16,
    ):
        checks.images(image, "image")
        _one_image(image)
        patch_size = checks.positive_int(patch_size, "patch_size")
        if embeddings is not None:
            checks.instance(
                embeddings, "embeddings", dict, "a dict {name: embedding} or None"
            )
            for name, embedding in embeddings.items():
                if not callable(embedding):
                    raise TypeError(
                        f"embeddings[{name!r}] must map the image to tokens (a "
                        f"PatchEmbedding or a function), got {embedding!r}"
                    )
        self.image, self.patch_size = image, patch_size
        self.grid = grid_size(tuple(image.shape[-2:]), patch_size)
        channels = image.shape[1]
        if embeddings is None:
            # seed 0 here, without moving the caller's seed
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                embeddings = {
                    "random PatchEmbedding": PatchEmbedding(patch_size, channels, 128)
                }
        raw = patchify(image, patch_size)[0]  # (N, P*P*C)
        self.spaces = {f"raw pixels ({raw.shape[1]} values)": raw}
        with torch.no_grad():
            for name, embedding in embeddings.items():
                try:
                    tokens = embedding(image)  # (1, N, D)
                except (TypeError, ValueError, RuntimeError) as error:
                    raise ValueError(
                        f"embeddings[{name!r}] fails on the image of shape "
                        f"{tuple(image.shape)}: {error}"
                    ) from error
                if not isinstance(tokens, torch.Tensor):
                    raise TypeError(
                        f"embeddings[{name!r}] must return a torch.Tensor (1, N, D), "
                        f"got {type(tokens).__name__}"
                    )
                if tokens.ndim != 3 or tokens.shape[:2] != (1, raw.shape[0]):
                    raise ValueError(
                        f"embedding {name!r} must map the image to (1, N, D) = "
                        f"(1, {raw.shape[0]}, D) tokens, got {tuple(tokens.shape)}"
                    )
                self.spaces[f"{name} ({tokens.shape[2]} values)"] = (
                    tokens[0].detach().float()
                )

    @property
    def num_patches(self) -> int:
        return self.grid[0] * self.grid[1]

    def similarities(self, index: int, center: str = "none") -> dict[str, torch.Tensor]:
        """Patch ``index``'s cosine similarity to every patch, ``(N,)``, in each space,
        after ``center``."""
        checks.index(
            index, "patch index", self.num_patches, f"{self.num_patches} patches"
        )
        checks.choice(center, "center", CENTERINGS)
        result = {}
        for name, vectors in self.spaces.items():
            centered = _centered(vectors, center)  # (N, D)
            query = centered[index : index + 1]  # (1, D)
            result[name] = cosine_similarity_matrix(query, centered)[0]  # (N,)
        return result

    def render(self, index: int = 0, center: str = "none") -> Figure:
        """One state: the photo with the query patch outlined, then one heat map per
        space, two panels to a row."""
        sims = self.similarities(index, center)
        panels = 1 + len(sims)
        nrows = -(-panels // 2)
        fig, axes = plt.subplots(
            nrows,
            2,
            figsize=(7.2, 3.3 * nrows + 0.3),
            layout="constrained",
            squeeze=False,
        )
        axes = axes.flat
        draw_patch_grid(
            axes[0], self.image, self.patch_size, numbers=False, highlight=index
        )
        r, c = divmod(index, self.grid[1])
        axes[0].set_title(f"query: patch {index} (row {r}, column {c})", fontsize=9)
        others = torch.arange(self.num_patches) != index
        maps = list(axes[1:panels])
        for ax, (name, values) in zip(maps, sims.items()):
            image = draw_similarity_grid(ax, values, self.grid, query=index)
            mean = values[others].mean().item()
            ax.set_title(f"{name}\nmean over the other patches: {mean:.2f}", fontsize=9)
        for ax in axes[panels:]:
            ax.axis("off")
        fig.colorbar(image, ax=maps, shrink=0.8, label="cosine similarity to the query")
        suffix = "" if center == "none" else f", centred: {center}"
        fig.suptitle(
            f"Cosine similarity of patch {index} to every patch{suffix}", fontsize=10
        )
        return fig

    def describe(self, index: int = 0, center: str = "none") -> str:
        """What ``render(index, center)`` shows, in words (its alt text)."""
        sims = self.similarities(index, center)
        r, c = divmod(index, self.grid[1])
        others = torch.arange(self.num_patches) != index
        parts = []
        for name, values in sims.items():
            rest = values.clone()
            rest[index] = -float("inf")
            parts.append(
                f"{name}: mean {values[others].mean().item():.2f}, most similar "
                f"patch {rest.argmax().item()}"
            )
        centring = "" if center == "none" else f", after centring ({center})"
        return (
            f"The photo with patch {index} (row {r}, column {c}) outlined, and its "
            f"cosine similarity to every patch as a heat map over the "
            f"{self.grid[0]} by {self.grid[1]} grid in each space{centring}: "
            + "; ".join(parts)
            + "."
        )

    def widget(self):
        """The live explorer for Jupyter and Colab (needs a running kernel)."""
        import ipywidgets as widgets

        index = widgets.IntSlider(
            value=0, min=0, max=self.num_patches - 1, description="patch"
        )
        center = widgets.Dropdown(
            options=CENTERINGS, value="none", description="centring"
        )
        return _live(
            self.render,
            {"index": index, "center": center},
            "Choose a patch: how similar is every other patch?",
        )

    def gallery(self, states: Iterable[int | tuple[int, str]]) -> str:
        """The no-kernel version: pre-rendered query patches, or ``(index, center)``."""
        example = "3 or (3, 'each vector')"
        if isinstance(states, (str, bytes)) or not isinstance(states, Iterable):
            raise TypeError(
                f"states must be a list such as [{example}], got {states!r}"
            )
        states = [(s, "none") if isinstance(s, numbers.Integral) else s for s in states]
        frames = []
        for index, center in _states(states, "states", 2, example):
            label = f"patch {index}" + (
                "" if center == "none" else f", centred: {center}"
            )
            frames.append(
                (label, self.render(index, center), self.describe(index, center))
            )
        return static_gallery("similarity-explorer", frames)


class PositionExplorer:
    """Choose a grid position: its cosine similarity to every position under each kind
    of position table.

    The kinds: none (all zero), learned at initialisation (N(0, 0.02²), seed ``seed``),
    fixed 1-D sinusoidal and fixed 2-D sine-cosine, each ``(rows·cols, dim)``. ``extra``
    adds named tables ``(N', D')`` on square grids of their own, e.g. a trained ViT's
    ``pos_embed[0, 1:]``; a query is mapped to the same place in the image on a coarser
    or finer grid.
    """

    def __init__(
        self,
        grid: int | tuple[int, int] = 14,
        dim: int = 128,
        extra: dict[str, torch.Tensor] | None = None,
        seed: int = 0,
    ):
        self.grid = _pair(grid, "grid")
        dim = checks.positive_int(dim, "dim")
        seed = checks.nonnegative_int(seed, "seed")
        if extra is not None:
            checks.instance(extra, "extra", dict, "a dict {name: (N, D) table} or None")
        rows, cols = self.grid
        n = rows * cols
        # seed the learned table without moving the caller's seed
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            learned = LearnedPositionEmbedding(n, dim).table[0].detach()
        self.tables: dict[str, tuple[torch.Tensor, tuple[int, int]]] = {
            "none": (torch.zeros(n, dim), self.grid),
            "learned, at init": (learned, self.grid),
            "1-D sinusoidal": (sincos_1d_position_embedding(n, dim), self.grid),
            "2-D sine-cosine": (sincos_position_embedding(self.grid, dim), self.grid),
        }
        for name, table in (extra or {}).items():
            checks.instance(table, f"extra[{name!r}]", torch.Tensor, "a tensor (N, D)")
            checks.finite(table, f"extra[{name!r}]")
            table = table.detach().float()
            if table.ndim == 3 and table.shape[0] == 1:
                table = table[0]
            side = int(round(table.shape[0] ** 0.5)) if table.ndim == 2 else 0
            if table.ndim != 2 or side * side != table.shape[0]:
                raise ValueError(
                    f"extra table {name!r} must have shape (N, D) "
                    "with N a square number of grid positions, "
                    f"got {tuple(table.shape)}; for a ViT's pos_embed "
                    "pass pos_embed[0, 1:] (drop the class token's row)"
                )
            self.tables[name] = (table, (side, side))

    def query_on(self, grid: tuple[int, int], row: int, col: int) -> tuple[int, int]:
        """The position of ``grid`` at the same place in the image as ``(row, col)`` of
        the explorer's grid."""
        grid = _pair(grid, "grid")
        rows, cols = self.grid
        return int((row + 0.5) * grid[0] / rows), int((col + 0.5) * grid[1] / cols)

    def similarities(self, row: int, col: int) -> dict[str, torch.Tensor]:
        """For each table: the query's cosine similarity to every position of its grid,
        ``(N,)``."""
        rows, cols = self.grid
        row = checks.nonnegative_int(row, "row")
        col = checks.nonnegative_int(col, "col")
        if not (row < rows and col < cols):
            raise ValueError(
                f"position ({row}, {col}) is outside the {rows}x{cols} grid: "
                f"rows 0 .. {rows - 1}, columns 0 .. {cols - 1}"
            )
        result = {}
        for name, (table, grid) in self.tables.items():
            r, c = self.query_on(grid, row, col)
            query = table[r * grid[1] + c][None]  # (1, D)
            result[name] = cosine_similarity_matrix(query, table)[0]  # (N,)
        return result

    def render(self, row: int = 0, col: int = 0) -> Figure:
        """The figure for one query position: one similarity map per kind of table."""
        sims = self.similarities(row, col)
        # three maps to a row: readable at the width of a book page
        ncols = min(len(sims), 3)
        nrows = -(-len(sims) // ncols)
        fig, axes = plt.subplots(
            nrows,
            ncols,
            figsize=(2.25 * ncols + 0.6, 2.5 * nrows + 0.4),
            layout="constrained",
            squeeze=False,
        )
        for ax in axes.flat[len(sims) :]:
            ax.axis("off")
        for ax, (name, values) in zip(axes.flat, sims.items()):
            table, grid = self.tables[name]
            r, c = self.query_on(grid, row, col)
            where = f"query ({r}, {c})" + (
                "" if grid == self.grid else f" of its {grid[0]}x{grid[1]} grid"
            )
            image = draw_similarity_grid(
                ax, values, grid, query=r * grid[1] + c, title=f"{name}\n{where}"
            )
            ax.set_xticks(range(0, grid[1], max(1, grid[1] // 4)))
            ax.set_yticks(range(0, grid[0], max(1, grid[0] // 4)))
            ax.tick_params(labelsize=8)
            ax.xaxis.label.set_size(8)
            ax.yaxis.label.set_size(8)
            if not table.abs().max().item() > 0:
                ax.text(
                    (grid[1] - 1) / 2,
                    (grid[0] - 1) / 2,
                    "every position:\nthe same (zero)\nvector",
                    ha="center",
                    va="center",
                    fontsize=8,
                    bbox={"facecolor": "white", "edgecolor": "0.7"},
                )
        colorbar = fig.colorbar(
            image, ax=axes, label="cosine similarity to the query", shrink=0.6
        )
        colorbar.ax.tick_params(labelsize=8)
        fig.suptitle(
            f"position ({row}, {col}): how alike is every other position's vector?",
            fontsize=10,
        )
        return fig

    def describe(self, row: int = 0, col: int = 0) -> str:
        """What ``render(row, col)`` shows, in words (its alt text): for each table, the
        mean similarity of the query to its grid neighbours and to far positions."""
        sims = self.similarities(row, col)
        parts = []
        for name, values in sims.items():
            table, grid = self.tables[name]
            if not table.abs().max().item() > 0:
                parts.append(f"{name}: every position the same zero vector")
                continue
            r, c = self.query_on(grid, row, col)
            rr, cc = torch.meshgrid(
                torch.arange(grid[0]), torch.arange(grid[1]), indexing="ij"
            )
            steps = ((rr - r).abs() + (cc - c).abs()).flatten()  # grid steps away
            near, far = values[steps == 1], values[steps >= 4]
            near_text = f"{near.mean().item():.2f}" if len(near) else "none"
            far_text = f"{far.mean().item():.2f}" if len(far) else "none"
            parts.append(
                f"{name}: {near_text} to the next positions, "
                f"{far_text} at 4 or more steps"
            )
        return (
            f"Maps of the cosine similarity of position ({row}, {col}) to every "
            "position of the grid, one per kind of position table (mean similarity "
            "to neighbours one step away, and to positions four or more steps away): "
            + "; ".join(parts)
            + "."
        )

    def widget(self):
        """The live explorer for Jupyter and Colab (needs a running kernel)."""
        import ipywidgets as widgets

        rows, cols = self.grid
        row = widgets.IntSlider(value=0, min=0, max=rows - 1, description="patch row")
        col = widgets.IntSlider(
            value=0, min=0, max=cols - 1, description="patch column"
        )
        return _live(self.render, {"row": row, "col": col}, "Choose a grid position")

    def gallery(self, states: Iterable[tuple[int, int]]) -> str:
        """The no-kernel version: pre-rendered ``(row, col)`` query positions."""
        states = _states(states, "states", 2, "(3, 4): row 3, column 4")
        frames = [
            (f"row {r}, column {c}", self.render(r, c), self.describe(r, c))
            for r, c in states
        ]
        return static_gallery("position-explorer", frames)
