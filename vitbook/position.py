"""Position embeddings: the tables added to the patch tokens so that attention can tell
where a patch was.

Three kinds, all ``(num_positions, D)`` tables added to the ``(B, N, D)`` tokens:

* learned (the original ViT): a trainable table, initialised N(0, 0.02²);
* fixed 1-D sinusoidal ("Attention Is All You Need"):
  position ``i`` of the raster order;
* fixed 2-D sine-cosine ("Better plain ViT baselines", MAE): row and column separately.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from . import checks
from .patches import _pair

__all__ = [
    "AxialRoPE",
    "ConvPositionEncoding",
    "FactorisedPositionEmbedding",
    "LearnedPositionEmbedding",
    "RESIZE_CONVENTIONS",
    "RelativeAttention",
    "RelativePositionBias",
    "resize_position_embedding",
    "sincos_1d_position_embedding",
    "sincos_position_embedding",
]


def _frequencies(count: int, temperature: float) -> torch.Tensor:
    """``count`` angular frequencies ``1 / temperature**(k / count)``,
    ``k = 0 .. count-1``."""
    return 1.0 / temperature ** (torch.arange(count, dtype=torch.float64) / count)


def sincos_1d_position_embedding(
    num_positions: int, dim: int, temperature: float = 10000.0
) -> torch.Tensor:
    """The fixed 1-D table of "Attention Is All You Need": ``(num_positions, dim)``.

    Column ``2k`` holds ``sin(i·ω_k)`` and column ``2k+1`` holds ``cos(i·ω_k)`` for
    position ``i``, with ``ω_k = 1 / temperature**(2k / dim)``.
    """
    num_positions = checks.positive_int(num_positions, "num_positions")
    dim = checks.positive_int(dim, "dim")
    temperature = checks.positive_number(temperature, "temperature")
    if dim % 2:
        raise ValueError(
            f"dim must be a positive multiple of 2 for sin/cos pairs, got {dim}"
        )
    positions = torch.arange(num_positions, dtype=torch.float64)[:, None]  # (N, 1)
    angles = positions * _frequencies(dim // 2, temperature)  # (N, D/2)
    table = torch.stack([angles.sin(), angles.cos()], dim=-1)  # (N, D/2, 2)
    return table.reshape(num_positions, dim).float()


def sincos_position_embedding(
    grid_size: int | tuple[int, int], dim: int, temperature: float = 10000.0
) -> torch.Tensor:
    """The fixed 2-D sine-cosine table:
    ``(h·w, dim)`` for a grid of ``h`` rows and ``w`` columns.

    A quarter of the dimensions each:
    ``[sin(row·ω), cos(row·ω), sin(col·ω), cos(col·ω)]`` with
    ``ω_k = 1 / temperature**(k / (dim/4))``; positions in raster order. MAE and
    big_vision put the column (x) half first (big_vision also spaces ``ω`` by
    ``k / (dim/4 - 1)``); the order of the dimensions makes no difference to the model.
    """
    h, w = _pair(grid_size, "grid_size")
    dim = checks.positive_int(dim, "dim")
    temperature = checks.positive_number(temperature, "temperature")
    if dim % 4:
        raise ValueError(
            "dim must be a positive multiple of 4 (sin and cos of row and of column), "
            f"got {dim}; try {max(4, dim - dim % 4)} or {dim - dim % 4 + 4}"
        )
    omega = _frequencies(dim // 4, temperature)  # (D/4,)
    rows, cols = torch.meshgrid(
        torch.arange(h, dtype=torch.float64),
        torch.arange(w, dtype=torch.float64),
        indexing="ij",
    )
    row_angles = rows.reshape(-1, 1) * omega  # (h·w, D/4)
    col_angles = cols.reshape(-1, 1) * omega  # (h·w, D/4)
    sin_cos = [row_angles.sin(), row_angles.cos(), col_angles.sin(), col_angles.cos()]
    table = torch.cat(sin_cos, dim=1)  # (h·w, D)
    return table.float()


class LearnedPositionEmbedding(nn.Module):
    """A trainable ``(1, num_positions, D)`` table, initialised N(0, 0.02²) as in the
    ViT code; adds to ``(B, N, D)``."""

    def __init__(self, num_positions: int, dim: int, std: float = 0.02):
        super().__init__()
        num_positions = checks.positive_int(num_positions, "num_positions")
        dim = checks.positive_int(dim, "dim")
        std = checks.positive_number(std, "std")
        self.table = nn.Parameter(torch.randn(1, num_positions, dim) * std)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        checks.instance(tokens, "tokens", torch.Tensor, "a torch.Tensor (B, N, D)")
        if tokens.shape[-2:] != self.table.shape[-2:]:
            raise ValueError(
                f"tokens of shape {tuple(tokens.shape)} do not match the table's "
                f"(N, D) = {tuple(self.table.shape[-2:])}"
            )
        return tokens + self.table


#: How each reference implementation resizes a learned table for a new grid: the
#: ``F.interpolate`` mode, ``align_corners`` and ``antialias`` it uses (see
#: ``resize_position_embedding``).
RESIZE_CONVENTIONS = {
    # vit_jax/checkpoint.py: scipy.ndimage.zoom(order=1), which maps the first and last
    # cell centres onto each other: bilinear with the corners aligned
    "jax": ("bilinear", True, False),
    # torchvision/models/vision_transformer.py, interpolate_embeddings
    "torchvision": ("bicubic", True, False),
    # timm/layers/pos_embed.py, resample_abs_pos_embed (its defaults)
    "timm": ("bicubic", False, True),
    # transformers/models/vit/modeling_vit.py, ViTEmbeddings.interpolate_pos_encoding
    "transformers": ("bicubic", False, False),
}


#: The ``F.interpolate`` modes a 2-D table can be resized with.
INTERPOLATION_MODES = ("nearest", "nearest-exact", "bilinear", "bicubic", "area")


def resize_position_embedding(
    pos_embed: torch.Tensor,
    new_grid_size: int | tuple[int, int],
    num_prefix_tokens: int = 1,
    old_grid_size: int | tuple[int, int] | None = None,
    mode: str | None = None,
    convention: str = "timm",
) -> torch.Tensor:
    """Resize a ``(1, prefix + h·w, D)`` table to a new grid by 2-D interpolation
    (ViT paper, Section 3.2).

    ``convention`` picks the interpolation of one reference implementation
    (``RESIZE_CONVENTIONS``): ``"jax"`` (the paper's code: bilinear, corners aligned),
    ``"torchvision"`` (bicubic, corners aligned), ``"timm"`` (bicubic with
    antialiasing, which matters when the grid shrinks) or ``"transformers"`` (bicubic).
    ``mode`` (an ``F.interpolate`` mode) overrides the convention's mode, with cell
    centres mapped to cell centres. The ``num_prefix_tokens`` leading slots (the class
    token) are kept as they are. A square old grid is inferred; give ``old_grid_size``
    for a non-square one. Returns ``(1, prefix + h'·w', D)``. Whatever the convention,
    the resized table is a starting point: the paper fine-tunes at the new resolution.
    """
    checks.choice(convention, "convention", sorted(RESIZE_CONVENTIONS))
    checks.instance(pos_embed, "pos_embed", torch.Tensor, "a torch.Tensor (1, T, D)")
    if not pos_embed.is_floating_point():
        raise TypeError(
            f"pos_embed must be a float table, got dtype {pos_embed.dtype}; "
            "use .float()"
        )
    num_prefix_tokens = checks.nonnegative_int(num_prefix_tokens, "num_prefix_tokens")
    if mode is not None:
        checks.choice(mode, "mode", INTERPOLATION_MODES)
    if mode is None:
        mode, align_corners, antialias = RESIZE_CONVENTIONS[convention]
    else:
        align_corners, antialias = False, False
    if pos_embed.ndim != 3 or pos_embed.shape[0] != 1:
        raise ValueError(
            "pos_embed must have shape (1, prefix + h*w, D), "
            f"got {tuple(pos_embed.shape)}"
        )
    if not 0 <= num_prefix_tokens < pos_embed.shape[1]:
        raise ValueError(
            f"num_prefix_tokens={num_prefix_tokens} leaves no grid in a table of "
            f"{pos_embed.shape[1]} positions"
        )
    prefix, grid = pos_embed[:, :num_prefix_tokens], pos_embed[:, num_prefix_tokens:]
    n, dim = grid.shape[1], grid.shape[2]
    if old_grid_size is None:
        side = math.isqrt(n)
        if side * side != n:
            raise ValueError(
                f"{n} grid positions are not a square grid; pass old_grid_size=(h, w) "
                f"(and check num_prefix_tokens={num_prefix_tokens})"
            )
        old_h, old_w = side, side
    else:
        old_h, old_w = _pair(old_grid_size, "old_grid_size")
        if old_h * old_w != n:
            raise ValueError(
                f"old_grid_size {old_h}x{old_w} = {old_h * old_w} "
                f"does not match {n} positions"
            )
    new_h, new_w = _pair(new_grid_size, "new_grid_size")
    if (new_h, new_w) == (old_h, old_w):
        return pos_embed.clone()
    image = grid.reshape(1, old_h, old_w, dim).permute(0, 3, 1, 2)  # (1, D, h, w)
    corners = align_corners if mode in ("bilinear", "bicubic") else None
    image = F.interpolate(
        image,
        size=(new_h, new_w),
        mode=mode,
        align_corners=corners,
        antialias=antialias,
    )
    grid = image.permute(0, 2, 3, 1).reshape(1, new_h * new_w, dim)  # (1, h'·w', D)
    return torch.cat([prefix, grid], dim=1)


class FactorisedPositionEmbedding(nn.Module):
    """The ViT paper's learned 2-D table (Appendix D.4): a row table ``(rows, D/2)``
    and a column table ``(cols, D/2)``, both N(0, 0.02²); the patch in row r, column c
    gets ``[rows[r], cols[c]]``. ``forward(prefix)`` returns the ``(1, prefix + N, D)``
    table, raster order, with zero rows for ``prefix`` leading tokens (a class token
    gets no position, as with vitbook's fixed tables)."""

    def __init__(self, grid_size: int | tuple[int, int], dim: int, std: float = 0.02):
        super().__init__()
        dim = checks.positive_int(dim, "dim")
        std = checks.positive_number(std, "std")
        if dim % 2:
            raise ValueError(f"dim must be even (half rows, half columns), got {dim}")
        self.grid_size = _pair(grid_size, "grid_size")
        rows, cols = self.grid_size
        self.rows = nn.Parameter(torch.randn(rows, dim // 2) * std)
        self.cols = nn.Parameter(torch.randn(cols, dim // 2) * std)

    def forward(self, prefix: int = 0) -> torch.Tensor:
        prefix = checks.nonnegative_int(prefix, "prefix")
        rows, cols = self.grid_size
        # (rows, cols, D/2) each, then concatenated: (rows * cols, D)
        r = self.rows[:, None].expand(rows, cols, -1)
        c = self.cols[None].expand(rows, cols, -1)
        table = torch.cat([r, c], dim=-1).reshape(rows * cols, -1)
        start = table.new_zeros(prefix, table.shape[1])
        return torch.cat([start, table])[None]


class AxialRoPE(nn.Module):
    """2-D rotary position embedding, axial (Heo et al., 2024): rotates q and k of
    shape ``(B, heads, prefix + N, head_dim)`` after their projections. The first half
    of each head's channels turns with the patch's row, the second half with its column,
    pair by pair, at frequencies ``theta ** (-i / (head_dim / 4))``. The ``prefix``
    leading tokens (a class token) are not rotated. Then ``q_i · k_j`` depends on the
    two patches' positions only through their offset."""

    def __init__(
        self,
        grid_size: int | tuple[int, int],
        head_dim: int,
        prefix: int = 0,
        theta: float = 100.0,
    ):
        super().__init__()
        head_dim = checks.positive_int(head_dim, "head_dim")
        prefix = checks.nonnegative_int(prefix, "prefix")
        theta = checks.positive_number(theta, "theta")
        if head_dim % 4:
            raise ValueError(
                f"head_dim must be a multiple of 4 (pairs for rows and for columns), "
                f"got {head_dim}; choose dim and heads so that dim / heads is one"
            )
        rows, cols = _pair(grid_size, "grid_size")
        quarter = head_dim // 4
        omega = theta ** (-torch.arange(quarter, dtype=torch.float64) / quarter)
        r, c = torch.meshgrid(
            torch.arange(rows, dtype=torch.float64),
            torch.arange(cols, dtype=torch.float64),
            indexing="ij",
        )
        # (N, head_dim / 2): one angle per channel pair, rows then columns
        angles = torch.cat([r.reshape(-1, 1) * omega, c.reshape(-1, 1) * omega], dim=1)
        angles = torch.cat([angles.new_zeros(prefix, 2 * quarter), angles])
        self.register_buffer("cos", angles.cos().float(), persistent=False)
        self.register_buffer("sin", angles.sin().float(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (B, h, T, head_dim) -> pairs (B, h, T, head_dim / 2, 2)
        pairs = x.reshape(*x.shape[:-1], -1, 2)
        a, b = pairs[..., 0], pairs[..., 1]
        cos, sin = self.cos, self.sin  # (T, head_dim / 2)
        rotated = torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1)
        return rotated.reshape(x.shape)


class RelativePositionBias(nn.Module):
    """A learned 2-D relative position bias, as in Swin: one scalar per head and per
    2-D offset ``(dr, dc)`` between two patches, ``table`` of shape
    ``((2·rows − 1)·(2·cols − 1), heads)``, N(0, 0.02²). ``forward()`` returns the
    ``(heads, prefix + N, prefix + N)`` bias added to the attention logits before the
    softmax; rows and columns of the ``prefix`` leading tokens (a class token) get 0."""

    def __init__(self, grid_size: int | tuple[int, int], heads: int, prefix: int = 0):
        super().__init__()
        rows, cols = _pair(grid_size, "grid_size")
        heads = checks.positive_int(heads, "heads")
        self.prefix = checks.nonnegative_int(prefix, "prefix")
        self.table = nn.Parameter(
            torch.randn((2 * rows - 1) * (2 * cols - 1), heads) * 0.02
        )
        r = torch.arange(rows).repeat_interleave(cols)
        c = torch.arange(cols).repeat(rows)
        dr = r[:, None] - r[None, :] + rows - 1  # (N, N), 0 .. 2·rows − 2
        dc = c[:, None] - c[None, :] + cols - 1
        self.register_buffer("index", dr * (2 * cols - 1) + dc, persistent=False)

    def forward(self) -> torch.Tensor:
        p = self.prefix
        bias = self.table[self.index].permute(2, 0, 1)  # (heads, N, N)
        return F.pad(bias, (p, 0, p, 0))  # (heads, prefix + N, prefix + N)


class RelativeAttention(nn.Module):
    """The ViT paper's relative position embedding (Appendix D.4), "1-dimensional
    Relative Attention": one learned embedding of ``head_dim`` per 1-D offset
    ``p_q - p_k`` between two patches in raster order (``2N - 1`` offsets, the table
    shared by the heads, N(0, 0.02²)). ``forward(q)`` runs the "extra attention" of the
    queries ``(B, heads, prefix + N, head_dim)`` against those embeddings as keys
    and returns its logits ``q_i · r_(i-j) / sqrt(head_dim)``, ``(B, heads, T, T)``,
    to add to the content logits before the softmax; rows and columns of the
    ``prefix`` leading tokens get 0. (The paper does not say whether the offset
    embeddings are shared by the heads or how the logits are scaled; sharing, as in
    Shaw et al. 2018, and the content logits' scale are our choice.)"""

    def __init__(self, num_patches: int, head_dim: int, prefix: int = 0):
        super().__init__()
        num_patches = checks.positive_int(num_patches, "num_patches")
        head_dim = checks.positive_int(head_dim, "head_dim")
        self.prefix = checks.nonnegative_int(prefix, "prefix")
        self.table = nn.Parameter(torch.randn(2 * num_patches - 1, head_dim) * 0.02)
        i = torch.arange(num_patches)
        # offset p_q - p_k, shifted to 0 .. 2N - 2: (N, N)
        self.register_buffer(
            "index", i[:, None] - i[None, :] + num_patches - 1, persistent=False
        )

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        p = self.prefix
        patches = q[..., p:, :]  # (B, h, N, hd)
        # every query against every offset embedding: (B, h, N, 2N - 1) ...
        by_offset = patches @ self.table.T / q.shape[-1] ** 0.5
        # ... then, for key j, the logit of the offset i - j: (B, h, N, N)
        index = self.index.expand(*by_offset.shape[:-1], -1)
        logits = by_offset.gather(-1, index)
        return F.pad(logits, (p, 0, p, 0))  # (B, h, T, T)


class ConvPositionEncoding(nn.Module):
    """A conditional position encoding (Chu et al., "position encoding generator"):
    a depthwise ``kernel_size`` x ``kernel_size`` convolution with zero padding over the
    grid of patch tokens, added to them, ``x + DWConv(x)``: ``(B, prefix + N, D)`` ->
    the same shape. The ``prefix`` leading tokens (class token, registers) pass
    unchanged. The encoding comes from each token's neighbourhood, and the zero padding
    tells a border token from an inner one; it works on a grid of any size."""

    def __init__(
        self,
        grid_size: int | tuple[int, int],
        dim: int,
        prefix: int = 0,
        kernel_size: int = 3,
    ):
        super().__init__()
        dim = checks.positive_int(dim, "dim")
        prefix = checks.nonnegative_int(prefix, "prefix")
        kernel_size = checks.positive_int(kernel_size, "kernel_size")
        if kernel_size % 2 == 0:
            raise ValueError(
                f"kernel_size must be a positive odd number, got {kernel_size}"
            )
        self.grid_size = _pair(grid_size, "grid_size")
        self.prefix = prefix
        self.conv = nn.Conv2d(
            dim, dim, kernel_size, padding=kernel_size // 2, groups=dim
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        rows, cols = self.grid_size
        p = self.prefix
        if t != p + rows * cols:
            raise ValueError(
                f"expected {p} + {rows}x{cols} tokens, got {t}: build the encoding "
                "for the model's grid"
            )
        lead, patches = x[:, :p], x[:, p:]
        grid = patches.transpose(1, 2).reshape(b, d, rows, cols)  # (B, D, rows, cols)
        patches = patches + self.conv(grid).flatten(2).transpose(1, 2)  # (B, N, D)
        return torch.cat([lead, patches], dim=1)
