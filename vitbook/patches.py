"""Cutting images into patches and putting them back together.

The book's convention, the ViT paper's: an image ``(B, C, H, W)`` becomes a sequence of
``N = (H/P)·(W/P)`` patches in raster order (left to right, then top to bottom), and
each ``(P, P, C)`` patch is flattened row by row in **channels-last** order, so the
first ``C`` values of a patch vector are the colour of its top-left pixel.
"""

from __future__ import annotations

import torch

from . import checks

__all__ = [
    "grid_size",
    "num_patches",
    "patches_in_box",
    "patchify",
    "sliding_patches",
    "unpatchify",
]


def _check_patch_size(patch_size: int) -> int:
    return checks.positive_int(patch_size, "patch_size")


def _pair(size: int | tuple[int, int], name: str) -> tuple[int, int]:
    """A size ``S`` or ``(height, width)`` as a pair of positive ints."""
    if isinstance(size, torch.Size):
        size = tuple(size)
    if isinstance(size, (tuple, list)):
        if len(size) != 2:
            raise TypeError(
                f"{name} must be an int or a pair (height, width) of ints, got "
                f"{size!r} ({len(size)} values)"
            )
        return (
            checks.positive_int(size[0], f"{name}[0]"),
            checks.positive_int(size[1], f"{name}[1]"),
        )
    try:
        side = checks.positive_int(size, name)
    except TypeError:
        raise TypeError(
            f"{name} must be an int or a pair (height, width) of ints, got {size!r}"
        ) from None
    return side, side


def grid_size(image_size: int | tuple[int, int], patch_size: int) -> tuple[int, int]:
    """The patch grid ``(H/P, W/P)`` of an image of ``image_size`` = ``(H, W)``
    (or ``H`` = ``W``)."""
    height, width = _pair(image_size, "image_size")
    p = _check_patch_size(patch_size)
    for name, side in (("height", height), ("width", width)):
        if side % p:
            lower, upper = side - side % p, side - side % p + p
            raise ValueError(
                f"image {name} {side} is not a multiple of patch size {p}; "
                f"crop to {lower}, pad to {upper}, or resize to a multiple of {p}"
            )
    return height // p, width // p


def num_patches(image_size: int | tuple[int, int], patch_size: int) -> int:
    """The number of patches ``N = (H/P)·(W/P)``."""
    rows, cols = grid_size(image_size, patch_size)
    return rows * cols


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Cut images into flattened patches: ``(B, C, H, W)`` -> ``(B, N, P*P*C)``.

    Patches come in raster order; inside a patch the values are channels-last,
    row by row.
    """
    # any dtype (patches of a uint8 photo are fine), channels first
    checks.images(images, needs_float=False, expect="any")
    b, c, h, w = images.shape
    rows, cols = grid_size((h, w), patch_size)
    p = patch_size
    x = images.reshape(b, c, rows, p, cols, p)  # (B, C, H/P, P, W/P, P)
    x = x.permute(0, 2, 4, 3, 5, 1)  # (B, H/P, W/P, P, P, C)
    return x.reshape(b, rows * cols, p * p * c)  # (B, N, P*P*C)


def unpatchify(
    patches: torch.Tensor, patch_size: int, image_size: int | tuple[int, int]
) -> torch.Tensor:
    """Put flattened patches back into images: ``(B, N, P*P*C)`` -> ``(B, C, H, W)``.

    The exact inverse of :func:`patchify`; ``image_size`` is ``(H, W)``
    (or ``H`` = ``W``).
    """
    if not isinstance(patches, torch.Tensor):
        raise TypeError(
            "patches must be a torch.Tensor of shape (B, N, P*P*C), "
            f"got {type(patches).__name__}"
        )
    if patches.ndim != 3:
        raise ValueError(
            f"patches must have shape (B, N, P*P*C), got {tuple(patches.shape)}"
        )
    rows, cols = grid_size(image_size, patch_size)
    b, n, length = patches.shape
    p = patch_size
    if n != rows * cols:
        raise ValueError(
            f"got {n} patches, but a {rows * p}x{cols * p} image with patch size {p} "
            f"has {rows}x{cols} = {rows * cols}; check image_size and patch_size"
        )
    if length % (p * p):
        raise ValueError(
            f"patch vectors of length {length} do not divide into "
            f"{p}x{p} = {p * p} pixels of whole channels; check patch_size (got {p})"
        )
    c = length // (p * p)
    x = patches.reshape(b, rows, cols, p, p, c)  # (B, H/P, W/P, P, P, C)
    x = x.permute(0, 5, 1, 3, 2, 4)  # (B, C, H/P, P, W/P, P)
    return x.reshape(b, c, rows * p, cols * p)  # (B, C, H, W)


def sliding_patches(images: torch.Tensor, patch_size: int, stride: int) -> torch.Tensor:
    """Every ``P x P`` window at ``stride``, flattened like ``patchify``'s patches:
    ``(B, C, H, W)`` -> ``(B, M, P*P*C)``, channels-last, in raster order.

    At ``stride == patch_size`` these are exactly ``patchify``'s patches; a smaller
    stride gives overlapping windows (more samples of the same kind of patch).
    """
    checks.images(images, needs_float=False, expect="any")
    p = _check_patch_size(patch_size)
    stride = checks.positive_int(stride, "stride")
    b, c, h, w = images.shape
    if p > min(h, w):
        raise ValueError(
            f"patch_size {p} is larger than the {h}x{w} images: no window fits; "
            f"choose a patch size up to {min(h, w)}"
        )
    windows = images.unfold(2, p, stride).unfold(3, p, stride)  # (B, C, r, c, P, P)
    windows = windows.permute(0, 2, 3, 4, 5, 1)  # (B, r, c, P, P, C)
    return windows.reshape(b, -1, p * p * c)


def patches_in_box(
    box: tuple[int, int, int, int],
    image_size: int | tuple[int, int],
    patch_size: int,
) -> dict[int, float]:
    """The patches a box overlaps: ``{index: share of the box's area in that patch}``.

    ``box`` is ``(top, left, height, width)`` in pixels (e.g. from ``face_box``); the
    indices are raster indices of the ``(H/P, W/P)`` grid, in raster order, and the
    shares sum to 1 for a box inside the image.
    """
    if not isinstance(box, (tuple, list)) or len(box) != 4:
        raise TypeError(
            f"box must be (top, left, height, width), four ints, got {box!r}; "
            "vitbook.face_box(photo) returns one"
        )
    names = ("top", "left", "height", "width")
    top, left, height, width = (
        checks.int_at_least(v, f"box {n}", None) for v, n in zip(box, names)
    )
    if height <= 0 or width <= 0:
        raise ValueError(
            f"box (top, left, height, width) must have a positive size, got {box}"
        )
    rows, cols = grid_size(image_size, patch_size)
    p = patch_size
    if top >= rows * p or left >= cols * p or top + height <= 0 or left + width <= 0:
        raise ValueError(
            f"box {tuple(box)} lies outside the {rows * p}x{cols * p} image; boxes are "
            "(top, left, height, width) in pixels of that image"
        )
    shares = {}
    for r in range(rows):
        for c in range(cols):
            dy = min(top + height, (r + 1) * p) - max(top, r * p)
            dx = min(left + width, (c + 1) * p) - max(left, c * p)
            if dy > 0 and dx > 0:
                shares[r * cols + c] = dy * dx / (height * width)
    return shares
