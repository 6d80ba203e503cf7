"""Explorers: a live ipywidgets version for Jupyter and Colab, and a no-kernel gallery for the HTML book.

Each explorer has one pure ``render(...)`` function that draws a state as a matplotlib
figure. The live widget calls it on every change; ``static_gallery`` calls it for a handful
of states ahead of time and embeds the PNGs with plain HTML radio buttons (no JavaScript,
no kernel), so the same picture appears in both, and nothing in the HTML book is a dead control.
"""

from __future__ import annotations

import base64
import html
import io
import re
from collections.abc import Callable, Iterable

import torch
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from .patches import grid_size, patchify
from .plots import draw_patch_grid, patch_image

__all__ = [
    "PatchExplorer",
    "figure_to_jpeg",
    "static_gallery",
]


def figure_to_jpeg(fig: Figure, dpi: int = 80, quality: int = 85) -> bytes:
    """The JPEG bytes of ``fig`` (which is then closed, so it is not also shown inline).

    JPEG keeps the embedded galleries small: a photo-heavy frame is a third of its PNG size.
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="jpeg", dpi=dpi, pil_kwargs={"quality": quality})
    plt.close(fig)
    return buffer.getvalue()


def static_gallery(
    name: str,
    frames: Iterable[tuple[str, Figure]],
    caption: str = "",
    dpi: int = 80,
) -> str:
    """HTML that shows one of several pre-rendered figures, chosen with buttons; works with no kernel.

    ``name`` makes the element ids unique on a page; ``frames`` are ``(label, figure)`` pairs.
    Built from radio inputs and CSS only, so it needs no JavaScript and no kernel.
    """
    if not re.fullmatch(r"[a-z][a-z0-9-]*", name):
        raise ValueError(
            f"name must be lower-case letters, digits and '-', starting with a letter; got {name!r}"
        )
    frames = list(frames)
    if not frames:
        raise ValueError("static_gallery needs at least one frame")
    css, inputs, labels, images = [], [], [], []
    for i, (label, frame) in enumerate(frames):
        data = base64.b64encode(figure_to_jpeg(frame, dpi=dpi)).decode("ascii")
        fid = f"{name}-{i}"
        checked = " checked" if i == 0 else ""
        inputs.append(f'<input type="radio" name="{name}" id="{fid}" class="vb-radio"{checked}>')
        labels.append(f'<label for="{fid}" class="vb-button">{html.escape(label)}</label>')
        images.append(
            f'<img class="vb-frame vb-frame-{i}" alt="{html.escape(caption or name)}: {html.escape(label)}" '
            f'src="data:image/jpeg;base64,{data}">'
        )
        css.append(
            f"#{fid}:checked ~ .vb-frames .vb-frame-{i} {{display: block;}}\n"
            f"#{fid}:checked ~ .vb-buttons label[for='{fid}'] {{background: #1f6feb; color: white;}}"
        )
    style = (
        f"<style>\n#{name}-gallery .vb-radio {{position: absolute; opacity: 0; pointer-events: none;}}\n"
        f"#{name}-gallery .vb-frame {{display: none; max-width: 100%;}}\n"
        f"#{name}-gallery .vb-button {{display: inline-block; margin: 2px; padding: 2px 8px; "
        f"border: 1px solid #1f6feb; border-radius: 4px; cursor: pointer; font-size: 0.85em;}}\n"
        + "\n".join(f"#{name}-gallery {rule}" for rule in css)
        + "\n</style>"
    )
    caption_html = f'<div class="vb-caption">{html.escape(caption)}</div>' if caption else ""
    return (
        f'<div class="vb-gallery" id="{name}-gallery">{style}{"".join(inputs)}'
        f'<div class="vb-buttons">{"".join(labels)}</div>'
        f'<div class="vb-frames">{"".join(images)}</div>{caption_html}</div>'
    )


def _live(render: Callable[..., Figure], controls: dict, description: str):
    """An ipywidgets box: the ``controls`` above an output area that shows ``render(**values)``.

    The box has an ``update()`` method (what a change of any control calls) and a short text
    form, so a notebook's stored output holds no pixels and no widget ids.
    """
    import ipywidgets as widgets
    from IPython.display import display

    class LiveExplorer(widgets.VBox):
        def __repr__(self) -> str:
            return f"{description} (a live explorer: it needs a running kernel)"

    out = widgets.Output()

    def update(change=None):
        fig = render(**{key: control.value for key, control in controls.items()})
        out.clear_output(wait=True)
        with out:
            display(fig)
        plt.close(fig)
        return fig

    for control in controls.values():
        control.observe(update, names="value")
    box = LiveExplorer([widgets.HTML(f"<b>{html.escape(description)}</b>"), *controls.values(), out])
    box.update = update
    box.controls = controls
    update()
    return box


class PatchExplorer:
    """Explore the patches of a ``(1, C, H, W)`` image: the grid, one patch enlarged, its flattened values."""

    def __init__(self, image: torch.Tensor, patch_sizes: Iterable[int] = (8, 14, 16, 28, 32, 56)):
        if image.ndim != 4 or image.shape[0] != 1:
            raise ValueError(f"image must have shape (1, C, H, W), got {tuple(image.shape)}")
        self.image = image
        self.patch_sizes = [int(p) for p in patch_sizes]
        for p in self.patch_sizes:
            grid_size(tuple(image.shape[-2:]), p)  # raises a clear error if p does not divide

    def num_patches(self, patch_size: int) -> int:
        rows, cols = grid_size(tuple(self.image.shape[-2:]), patch_size)
        return rows * cols

    def render(self, patch_size: int = 16, index: int = 0) -> Figure:
        """The figure for one state: grid with the patch outlined, the patch enlarged, its values."""
        n = self.num_patches(patch_size)
        if not 0 <= index < n:
            raise ValueError(f"patch index {index} is out of range for patch size {patch_size}: 0 .. {n - 1}")
        vector = patchify(self.image, patch_size)[0, index]  # (P*P*C,)
        fig = plt.figure(figsize=(9, 3.6), layout="constrained")
        grid = fig.add_gridspec(2, 3, height_ratios=[5, 1])
        ax_img, ax_patch = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])
        ax_hist, ax_strip = fig.add_subplot(grid[0, 2]), fig.add_subplot(grid[1, :])
        rows, cols = grid_size(tuple(self.image.shape[-2:]), patch_size)
        draw_patch_grid(ax_img, self.image, patch_size, numbers=False, highlight=index)
        ax_img.set_title(f"P={patch_size}: {rows}x{cols} grid, N={n}", fontsize=9)
        ax_patch.imshow(patch_image(vector, patch_size))
        r, c = divmod(index, cols)
        ax_patch.set_title(f"patch {index} (row {r}, column {c}), {patch_size}x{patch_size}x3", fontsize=9)
        ax_patch.set_xlabel("x in patch")
        ax_patch.set_ylabel("y in patch")
        values = vector.numpy()
        channels = values.reshape(-1, 3)
        for k, colour in enumerate(("red", "green", "blue")):
            ax_hist.hist(channels[:, k], bins=20, range=(0, 1), color=colour, alpha=0.5, label=colour)
        ax_hist.set_title("value histogram per channel", fontsize=9)
        ax_hist.set_xlabel("value")
        ax_hist.set_ylabel("count")
        ax_hist.legend(fontsize=7)
        strip = ax_strip.imshow(values[None, :], aspect="auto", cmap="viridis", vmin=0, vmax=1)
        ax_strip.set_yticks([])
        ax_strip.set_xlabel(
            f"position in the flattened vector (0 .. {values.size - 1}, channels-last: R, G, B, R, G, B, ...)"
        )
        fig.colorbar(strip, ax=ax_strip, pad=0.01, aspect=5, label="value")
        return fig

    def widget(self):
        """The live explorer for Jupyter and Colab (needs a running kernel)."""
        import ipywidgets as widgets

        size = widgets.Dropdown(
            options=self.patch_sizes,
            value=16 if 16 in self.patch_sizes else self.patch_sizes[0],
            description="patch size P",
        )
        index = widgets.IntSlider(value=0, min=0, max=self.num_patches(size.value) - 1, description="patch")

        def clamp(change):
            index.max = self.num_patches(change["new"]) - 1

        size.observe(clamp, names="value")
        return _live(self.render, {"patch_size": size, "index": index}, "Choose a patch size and a patch")

    def gallery(self, states: Iterable[tuple[int, int]]) -> str:
        """The no-kernel version: pre-rendered ``(patch_size, index)`` states behind buttons."""
        frames = [(f"P={p}, patch {i}", self.render(p, i)) for p, i in states]
        return static_gallery("patch-explorer", frames, caption="Patch explorer")
