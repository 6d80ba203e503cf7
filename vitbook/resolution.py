"""A trained ViT at another resolution or patch size, without fine-tuning.

``at_resolution(model, image_size)`` rebuilds a model for a larger (or smaller) grid of
the same patches and carries every weight over; what each position kind needs for the
new grid is in ``TRANSFER_RULES``: an absolute table is interpolated, a table indexed by
offset keeps its offsets (the offsets it never saw take the nearest one it did), a
function of the coordinates is evaluated at the new ones, and a convolution or no
position needs nothing. ``with_patch_size(model, patch_size)`` keeps the grid and
resizes the patch-embedding kernel instead (FlexiViT, Beyer et al. 2023): by the
pseudo-inverse of the resize (``method="pi"``), or, as the controls, by resizing the
kernel like an image (``method="bilinear"``) or the same scaled by the area ratio
(``method="area"``).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from . import checks
from .embedding import PatchEmbedding
from .model import ViT
from .position import RESIZE_CONVENTIONS, resize_position_embedding

__all__ = [
    "TRANSFER_RULES",
    "at_resolution",
    "model_config",
    "place_on_canvas",
    "resize_images",
    "resize_matrix",
    "resize_patch_kernel",
    "with_patch_size",
]

#: What ``at_resolution`` does for each position kind on a new grid.
TRANSFER_RULES = {
    "learned": "interpolate the table (bicubic, timm's convention)",
    "learned-sincos2d": "interpolate the table (bicubic, timm's convention)",
    "learned-2d": "interpolate the row and the column table (linear)",
    "sincos1d": "recompute the 1-D table for the new raster order",
    "sincos2d": "recompute the 2-D table for the new grid",
    "rope2d": "nothing: rotate by the new coordinates",
    "relative-bias": "keep each offset's bias; unseen offsets take the nearest seen",
    "relative": (
        "read each raster offset as a row and column step and keep that step's "
        "embedding; unseen steps take the nearest seen"
    ),
    "cpe": "nothing: the convolution runs on any grid",
    "none": "nothing",
}


def model_config(model: ViT) -> dict:
    """The keyword arguments that build a ``ViT`` of ``model``'s shape (the patch
    embedding aside: ``at_resolution`` copies it)."""
    if not isinstance(model, ViT):
        raise TypeError(f"model must be a vitbook.ViT, got {type(model).__name__}")
    attn = model.blocks[0].attn
    return {
        "image_size": model.image_size,
        "patch_size": model.patch_size,
        "num_classes": model.head.out_features,
        "dim": model.norm.normalized_shape[0],
        "depth": len(model.blocks),
        "heads": attn.heads,
        "mlp_dim": model.blocks[0].mlp.fc1.out_features,
        "channels": model.channels,
        "position": model.position,
        "pool": model.pool,
        "mean": model.mean.flatten().tolist(),
        "std": model.std.flatten().tolist(),
        "representation_size": model.representation_size,
        "registers": 0 if model.registers is None else model.registers.shape[1],
    }


def _clamped_offsets(old: int, new: int) -> torch.Tensor:
    # for each offset -(new-1) .. new-1, the index of the nearest of -(old-1) .. old-1
    offsets = torch.arange(-(new - 1), new)
    return offsets.clamp(-(old - 1), old - 1) + old - 1


def _adapt_state(model: ViT, new: ViT, convention: str) -> dict:
    state = model.state_dict()
    kind, class_tokens = model.position, 1 if model.cls_token is not None else 0
    (rows, cols), (new_rows, new_cols) = model.grid_size, new.grid_size
    if kind in ("learned", "learned-sincos2d"):
        state["pos_embed"] = resize_position_embedding(
            state["pos_embed"],
            new.grid_size,
            class_tokens,
            old_grid_size=model.grid_size,
            convention=convention,
        )
    elif "pos_embed" in state:
        # a fixed table (sin-cos, or zeros for the kinds without one): the new grid's
        state["pos_embed"] = new.pos_embed.clone()
    if kind == "learned-2d":
        for name, size in (("rows", new_rows), ("cols", new_cols)):
            key = f"pos_embed_2d.{name}"
            table = state[key].T[None]  # (1, D/2, old)
            state[key] = F.interpolate(table, size=size, mode="linear")[0].T
    for i in range(len(model.blocks)):
        key = f"blocks.{i}.attn.rel_bias.table"
        if key in state:
            heads = state[key].shape[1]
            table = state[key].reshape(2 * rows - 1, 2 * cols - 1, heads)
            r = _clamped_offsets(rows, new_rows)
            c = _clamped_offsets(cols, new_cols)
            state[key] = table[r][:, c].reshape(-1, heads)
        key = f"blocks.{i}.attn.rel_attn.table"
        if key in state:
            state[key] = state[key][_raster_offsets(model.grid_size, new.grid_size)]
    return state


def _raster_offsets(old: tuple[int, int], new: tuple[int, int]) -> torch.Tensor:
    # A raster offset means a different 2-D step on a grid of another width (+7 is one
    # row down on a 7x7 grid, seven columns right on 11x11). For each new raster offset
    # o, read it as the step (dr, dc) with o = dr * new_cols + dc and |dc| at most half
    # the width, take the nearest step the old grid has, and return the old table's
    # index of that step: (2 * new_rows * new_cols - 1,). The identity on the same grid.
    (rows, cols), (new_rows, new_cols) = old, new
    n = new_rows * new_cols
    offsets = torch.arange(-(n - 1), n)
    dr = torch.div(offsets + new_cols // 2, new_cols, rounding_mode="floor")
    dc = offsets - dr * new_cols
    # past the last row the only step there is has the longer column part
    beyond = dr.abs() > new_rows - 1
    dc = torch.where(beyond, dc + dr.sign() * new_cols, dc)
    dr = torch.where(beyond, dr - dr.sign(), dr)
    dr, dc = dr.clamp(-(rows - 1), rows - 1), dc.clamp(-(cols - 1), cols - 1)
    return dr * cols + dc + rows * cols - 1


def at_resolution(model: ViT, image_size: int, convention: str = "timm") -> ViT:
    """``model`` rebuilt for ``image_size`` x ``image_size`` images with the same
    patch size (a larger or smaller grid), every weight carried over as
    ``TRANSFER_RULES`` says; ``convention`` picks how an absolute table is interpolated
    (``vitbook.RESIZE_CONVENTIONS``). No fine-tuning: the paper fine-tunes after
    resizing (Section 3.2); this measures what the encoding gives before it."""
    config = model_config(model)
    image_size = checks.int_at_least(image_size, "image_size", model.patch_size)
    checks.choice(convention, "convention", sorted(RESIZE_CONVENTIONS))
    config["image_size"] = image_size
    new = ViT(**config, embedding=copy.deepcopy(model.patch_embed))
    new.load_state_dict(_adapt_state(model, new, convention))
    return new.eval()


def resize_images(images: torch.Tensor, size: int) -> torch.Tensor:
    """``(B, C, H, W)`` -> ``(B, C, size, size)``, bilinear, antialiased when it
    shrinks (the resize ``resize_matrix`` writes as a matrix)."""
    checks.images(images, expect="any")
    size = checks.positive_int(size, "size")
    return F.interpolate(
        images,
        size=(size, size),
        mode="bilinear",
        align_corners=False,
        antialias=size < images.shape[-1],
    )


def place_on_canvas(images: torch.Tensor, size: int) -> torch.Tensor:
    """``(B, C, H, W)`` -> ``(B, C, size, size)``: each image centred on a zero
    (black) canvas, as Fashion-MNIST's garments sit on black."""
    checks.images(images, expect="any")
    size = checks.positive_int(size, "size")
    h, w = images.shape[-2:]
    if size < max(h, w) or (size - h) % 2 or (size - w) % 2:
        raise ValueError(
            f"size {size} must be at least the image's {h}x{w} and leave an even "
            "border on each axis"
        )
    top, left = (size - h) // 2, (size - w) // 2
    return F.pad(images, (left, size - w - left, top, size - h - top))


def resize_matrix(old: int, new: int) -> torch.Tensor:
    """The resize of a ``old`` x ``old`` patch to ``new`` x ``new`` (``resize_images``:
    bilinear, antialiased when it shrinks) as a matrix ``B``, ``(new², old²)``:
    ``resize(x).flatten() == B @ x.flatten()``."""
    old, new = checks.positive_int(old, "old"), checks.positive_int(new, "new")
    basis = torch.eye(old * old, dtype=torch.float64).reshape(-1, 1, old, old)
    return resize_images(basis, new).reshape(old * old, new * new).T


def resize_patch_kernel(
    weight: torch.Tensor, patch_size: int, new_patch_size: int, method: str = "pi"
) -> torch.Tensor:
    """Resize a ``PatchEmbedding`` weight ``(D, P*P*C)`` (patches flattened
    channels-last) to ``(D, P'*P'*C)``.

    ``method="pi"`` (FlexiViT's PI-resize): the kernel ``w'`` that solves
    ``B^T w' = w`` with least norm, ``w' = pinv(B^T) w`` for the resize matrix ``B``,
    so that ``<resize(x), w'> = <x, w>`` for every patch ``x`` when the patch grows
    (exactly) and as nearly as least squares allows when it shrinks.
    ``method="bilinear"``: the kernel resized like an image, the naive control.
    ``method="area"``: the same, times the area ratio ``(P / P')²``, so that the
    kernel adds up about as much as before (the fair control).
    """
    checks.choice(method, "method", ("pi", "bilinear", "area"))
    checks.instance(weight, "weight", torch.Tensor, "a torch.Tensor (D, P*P*C)")
    p = checks.positive_int(patch_size, "patch_size")
    q = checks.positive_int(new_patch_size, "new_patch_size")
    if weight.ndim != 2:
        raise ValueError(
            f"weight must have shape (D, P*P*C), got {tuple(weight.shape)}; pass "
            "patch_embed.proj.weight"
        )
    d, flat = weight.shape
    if flat % (p * p):
        raise ValueError(
            f"weight's {flat} inputs are not a multiple of patch_size² = {p * p}"
        )
    c = flat // (p * p)
    # (D, P, P, C) -> (D * C, P * P): one kernel per output and channel
    kernels = weight.reshape(d, p, p, c).permute(0, 3, 1, 2).reshape(d * c, p * p)
    if method == "pi":
        b = resize_matrix(p, q)  # (Q², P²)
        new = kernels.double() @ torch.linalg.pinv(b)  # (D * C, Q²) = (pinv(B^T) w)^T
    else:
        new = resize_images(kernels.double().reshape(d * c, 1, p, p), q)
        if method == "area":
            new = new * (p / q) ** 2
    # back to (D, Q * Q * C), channels last
    new = new.reshape(d, c, q, q).permute(0, 2, 3, 1).reshape(d, q * q * c)
    return new.to(weight.dtype)


def with_patch_size(model: ViT, patch_size: int, method: str = "pi") -> ViT:
    """``model`` with its patch-embedding kernel resized to ``patch_size``
    (``resize_patch_kernel``) for images of ``grid * patch_size`` pixels: the same grid
    of tokens, so the position table and the blocks are kept as they are."""
    checks.instance(model, "model", ViT, "a vitbook.ViT")
    if not isinstance(model.patch_embed, PatchEmbedding):
        raise TypeError(
            "with_patch_size resizes a vitbook.PatchEmbedding kernel; this model's "
            f"patch embedding is {type(model.patch_embed).__name__}"
        )
    config = model_config(model)
    patch_size = checks.positive_int(patch_size, "patch_size")
    checks.choice(method, "method", ("pi", "bilinear", "area"))
    rows, cols = model.grid_size
    config["patch_size"] = patch_size
    config["image_size"] = rows * patch_size
    new = ViT(**config)
    state = model.state_dict()
    state["patch_embed.proj.weight"] = resize_patch_kernel(
        state["patch_embed.proj.weight"], model.patch_size, patch_size, method
    )
    new.load_state_dict(state)
    return new.eval()
