"""The transformer encoder and the whole Vision Transformer,
built from the book's pieces."""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import nn

from . import checks
from .embedding import PatchEmbedding
from .patches import grid_size as _grid_size
from .position import (
    AxialRoPE,
    ConvPositionEncoding,
    FactorisedPositionEmbedding,
    RelativeAttention,
    RelativePositionBias,
    sincos_1d_position_embedding,
    sincos_position_embedding,
)

__all__ = [
    "MLP",
    "EncoderBlock",
    "MultiHeadSelfAttention",
    "ViT",
    "POSITION_KINDS",
    "LAYER_NORM_EPS",
    "parameter_table",
    "mean_attention_distance",
    "count_flops",
    "flops_by_part",
    "count_parameters",
]

#: The kinds of position embedding ``ViT`` can be built with: a learned table started
#: from N(0, 0.02²) (the paper's) or from the 2-D sine-cosine values
#: (``"learned-sincos2d"``, the control that separates "learned" from "starts with
#: structure"), the two fixed tables, or none.
#: ``"learned-2d"`` is the paper's factorised 2-D table (a row and a column table of D/2
#: each); ``"rope2d"`` adds no table and rotates q and k in every block instead;
#: ``"relative-bias"`` adds no table and gives every block a learned bias per head and
#: 2-D offset on its attention logits (Swin's relative position bias); ``"relative"``
#: is the paper's relative attention (Appendix D.4: an embedding per 1-D offset, used as
#: keys of an extra attention whose logits are added); ``"cpe"`` adds no table and
#: puts a depthwise 3x3 convolution over the token grid after the first block (Chu et
#: al.'s conditional position encoding).
POSITION_KINDS = (
    "learned",
    "learned-sincos2d",
    "learned-2d",
    "sincos1d",
    "sincos2d",
    "rope2d",
    "relative-bias",
    "relative",
    "cpe",
    "none",
)

#: LayerNorm's epsilon in every norm of ``ViT``: 1e-6, as in the official JAX code
#: (flax's default), torchvision and timm; PyTorch's own default is 1e-5.
LAYER_NORM_EPS = 1e-6


def _check_tokens(x, dim: int, where: str) -> None:
    """Tokens ``(B, N, dim)`` for ``where``."""
    checks.instance(x, "x", torch.Tensor, f"a torch.Tensor of tokens (B, N, {dim})")
    if not x.is_floating_point():
        raise TypeError(f"{where} takes float tokens, got dtype {x.dtype}")
    if x.ndim != 3 or x.shape[-1] != dim:
        hint = "; a single sequence? use x[None]" if x.ndim == 2 else ""
        raise ValueError(
            f"{where} takes tokens (B, N, D) with D = {dim}, got shape "
            f"{tuple(x.shape)}{hint}"
        )


class MultiHeadSelfAttention(nn.Module):
    """Multi-head self-attention: ``(B, N, D)`` -> ``(B, N, D)``,
    scores ``q·k / sqrt(D/heads)``."""

    def __init__(
        self,
        dim: int,
        heads: int,
        rope: nn.Module | None = None,
        rel_bias: nn.Module | None = None,
        rel_attn: nn.Module | None = None,
    ):
        super().__init__()
        dim, heads = (
            checks.positive_int(dim, "dim"),
            checks.positive_int(heads, "heads"),
        )
        if dim % heads:
            raise ValueError(
                f"dim {dim} is not divisible by heads {heads}; "
                "choose heads that divide dim"
            )
        self.dim, self.heads = dim, heads
        self.qkv = nn.Linear(dim, 3 * dim)  # W_Q, W_K, W_V stacked
        self.proj = nn.Linear(dim, dim)
        # a rotary position embedding applied to q and k (position="rope2d"), or none
        self.rope = rope
        # a learned bias on the logits per head and offset (position="relative-bias")
        self.rel_bias = rel_bias
        # the logits of the queries against offset embeddings (position="relative")
        self.rel_attn = rel_attn

    def split_heads(
        self, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(B, N, D)`` -> q, k, v, each ``(B, heads, N, D/heads)``."""
        _check_tokens(x, self.dim, "MultiHeadSelfAttention")
        b, n, d = x.shape
        # (B, N, 3D) -> (B, N, 3, h, D/h)
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, h, N, D/h)
        if self.rope is not None:
            q, k = self.rope(q), self.rope(k)
        return q, k, v

    def position_bias(self, q: torch.Tensor) -> torch.Tensor | None:
        """What relative position adds to the logits: ``(heads, N, N)`` for
        ``rel_bias`` (the same for every image), ``(B, heads, N, N)`` for ``rel_attn``
        (it depends on the queries ``q``), or None."""
        if self.rel_bias is not None:
            return self.rel_bias()
        if self.rel_attn is not None:
            return self.rel_attn(q)
        return None

    def attention_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The logits every head's softmax sees, ``q·k / sqrt(D/heads)`` plus what a
        relative position kind adds: ``(B, heads, N, N)``."""
        q, k, _ = self.split_heads(x)
        scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5  # (B, h, N, N)
        bias = self.position_bias(q)
        if bias is not None:
            scores = scores + bias
        return scores

    def attention_weights(self, x: torch.Tensor) -> torch.Tensor:
        """The softmax attention matrix of every head: ``(B, heads, N, N)``."""
        return self.attention_logits(x).softmax(dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_tokens(x, self.dim, "MultiHeadSelfAttention")
        b, n, d = x.shape
        q, k, v = self.split_heads(x)
        bias = self.position_bias(q)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)  # (B, h, N, D/h)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))  # (B, N, D)


class MLP(nn.Module):
    """The block's feed-forward part: ``(B, N, D)`` -> ``(B, N, mlp_dim)`` -> GELU ->
    ``(B, N, D)``."""

    def __init__(self, dim: int, mlp_dim: int):
        super().__init__()
        dim = checks.positive_int(dim, "dim")
        mlp_dim = checks.positive_int(mlp_dim, "mlp_dim")
        self.fc1 = nn.Linear(dim, mlp_dim)
        self.fc2 = nn.Linear(mlp_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_tokens(x, self.fc1.in_features, "MLP")
        return self.fc2(F.gelu(self.fc1(x)))


class EncoderBlock(nn.Module):
    """A pre-norm transformer block: ``x + MSA(LN(x))``, then ``x + MLP(LN(x))``;
    ``(B, N, D)`` -> ``(B, N, D)``."""

    def __init__(
        self,
        dim: int,
        heads: int,
        mlp_dim: int,
        rope: nn.Module | None = None,
        rel_bias: nn.Module | None = None,
        rel_attn: nn.Module | None = None,
    ):
        super().__init__()
        self.dim = dim = checks.positive_int(dim, "dim")
        self.norm1 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.attn = MultiHeadSelfAttention(dim, heads, rope, rel_bias, rel_attn)
        self.norm2 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.mlp = MLP(dim, mlp_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_tokens(x, self.dim, "EncoderBlock")
        # each residual adds f(x) to x, so f(x) must have x's shape (B, N, D)
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def _square_side(image_size) -> int:
    """ViT's ``image_size``: one side ``S`` of square images (a pair must be equal)."""
    if isinstance(image_size, (tuple, list)) and len(image_size) == 2:
        height, width = (checks.positive_int(s, "image_size") for s in image_size)
        if height != width:
            raise ValueError(
                f"image_size must be one side S of square images, got {image_size!r} "
                f"(height {height}, width {width}); crop or resize the images to a "
                "square, e.g. vitbook.center_crop"
            )
        return height
    return checks.positive_int(image_size, "image_size")


def _per_channel(value, name: str, channels: int, positive: bool) -> torch.Tensor:
    """``mean`` or ``std``: one number, or one per channel, finite (``std`` > 0)."""
    if isinstance(value, torch.Tensor):
        values = value.detach().flatten().tolist()
    elif isinstance(value, (tuple, list)):
        values = list(value)
    else:
        values = [value]
    if len(values) not in (1, channels):
        raise ValueError(
            f"{name} must be one number or one per channel ({channels}), got "
            f"{len(values)} values: {value!r}"
        )
    check = checks.positive_number if positive else checks.number
    values = [check(v, name) for v in values]
    return torch.tensor(values, dtype=torch.float32)


def _check_embedding(
    embedding: nn.Module, channels: int, image_size: int, num_patches: int, dim: int
) -> None:
    """An ``embedding`` given to ``ViT`` must map ``(B, C, S, S)`` images to
    ``(B, N, dim)`` tokens on the model's grid: checked at construction, on one blank
    image (in eval mode, so that BatchNorm statistics do not move)."""
    name = type(embedding).__name__
    own = getattr(embedding, "dim", None)
    if isinstance(own, int) and own != dim:
        raise ValueError(
            f"embedding {name} makes tokens of width {own}, but the ViT has "
            f"dim={dim}; build the embedding with dim={dim}"
        )
    parameter = next(embedding.parameters(), None)
    device = parameter.device if parameter is not None else None
    dtype = parameter.dtype if parameter is not None else None
    probe = torch.zeros(1, channels, image_size, image_size, device=device, dtype=dtype)
    was_training = embedding.training
    embedding.eval()
    try:
        with torch.no_grad():
            tokens = embedding(probe)
    except Exception as error:
        raise ValueError(
            f"embedding {name} fails on images of shape (1, {channels}, "
            f"{image_size}, {image_size}), the ViT's: {error}"
        ) from error
    finally:
        embedding.train(was_training)
    want = (1, num_patches, dim)
    if not isinstance(tokens, torch.Tensor) or tuple(tokens.shape) != want:
        got = tuple(tokens.shape) if isinstance(tokens, torch.Tensor) else tokens
        raise ValueError(
            f"embedding {name} maps (1, {channels}, {image_size}, {image_size}) "
            f"images to {got}, but the ViT needs (1, N, dim) = {want} tokens: the "
            "embedding's patch size must give the ViT's grid and its width the "
            "ViT's dim"
        )


class ViT(nn.Module):
    """A Vision Transformer: ``(B, channels, S, S)`` float images in [0, 1] ->
    ``(B, num_classes)`` logits.

    Every argument is checked when the model is built (a non-square ``image_size``, or
    an ``embedding`` whose grid or width does not fit, is a ``ValueError`` there), and
    the images at every call: integer images are a ``TypeError``, channels-last or
    wrongly sized ones a ``ValueError``, images far outside [0, 1] an
    ``InputRangeWarning``, and in training a NaN a ``ValueError``.

    Patch embedding -> class token (token 0) -> position table ``pos_embed``
    ``(1, 1 + N, dim)`` -> ``depth`` encoder blocks -> LayerNorm -> linear head on the
    class token. With ``pool="mean"`` there is no class token at all (the paper's
    global-average-pooling variant, as in big_vision): ``pos_embed`` is ``(1, N, dim)``
    and the head reads the mean of the N patch outputs. ``embedding`` swaps in another
    patch embedding that maps images to ``(B, N, dim)`` on the same grid;
    ``representation_size`` puts a pre-logits layer (Linear + tanh) before the head.
    ``registers`` adds that many learned tokens after the class token (Darcet et al.):
    they get no position, attend and are attended to like any token, and are dropped
    at the output; ``num_prefix_tokens`` counts the class token and the registers.
    """

    def __init__(
        self,
        image_size: int = 224,
        patch_size: int = 16,
        num_classes: int = 1000,
        dim: int = 128,
        depth: int = 6,
        heads: int = 4,
        mlp_dim: int = 256,
        channels: int = 3,
        position: str = "learned",
        pool: str = "cls",
        mean: float | tuple[float, ...] = 0.5,
        std: float | tuple[float, ...] = 0.5,
        embedding: nn.Module | None = None,
        representation_size: int | None = None,
        registers: int = 0,
    ):
        super().__init__()
        image_size = _square_side(image_size)
        patch_size = checks.positive_int(patch_size, "patch_size")
        num_classes = checks.positive_int(num_classes, "num_classes")
        dim = checks.positive_int(dim, "dim")
        depth = checks.positive_int(depth, "depth")
        heads = checks.positive_int(heads, "heads")
        mlp_dim = checks.positive_int(mlp_dim, "mlp_dim")
        channels = checks.positive_int(channels, "channels")
        checks.choice(position, "position", POSITION_KINDS)
        checks.choice(pool, "pool", ("cls", "mean"))
        registers = checks.nonnegative_int(registers, "registers")
        if representation_size is not None:
            representation_size = checks.positive_int(
                representation_size, "representation_size"
            )
        mean = _per_channel(mean, "mean", channels, positive=False)
        std = _per_channel(std, "std", channels, positive=True)
        if embedding is not None:
            checks.instance(embedding, "embedding", nn.Module, "an nn.Module or None")
        self.image_size, self.patch_size, self.channels = (
            image_size,
            patch_size,
            channels,
        )
        self.position, self.pool = position, pool
        self.grid_size = _grid_size(image_size, patch_size)
        num_patches = self.grid_size[0] * self.grid_size[1]
        self.num_patches = num_patches
        self.register_buffer("mean", mean.reshape(1, -1, 1, 1))
        self.register_buffer("std", std.reshape(1, -1, 1, 1))
        if embedding is not None:
            _check_embedding(embedding, channels, image_size, num_patches, dim)
        self.patch_embed = (
            embedding
            if embedding is not None
            else PatchEmbedding(patch_size, channels, dim)
        )
        # the class token, slot 0 of the sequence; none with mean pooling
        class_tokens = 1 if pool == "cls" else 0
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim)) if pool == "cls" else None
        # the position table covers the class token and the patches, not the registers
        slots = class_tokens + num_patches
        if position == "learned":
            self.pos_embed = nn.Parameter(torch.randn(1, slots, dim) * 0.02)
        elif position == "learned-sincos2d":
            start = torch.zeros(slots, dim)  # a class token's row starts at zero
            start[class_tokens:] = sincos_position_embedding(self.grid_size, dim)
            self.pos_embed = nn.Parameter(start[None])
        elif position == "learned-2d":
            self.pos_embed_2d = FactorisedPositionEmbedding(self.grid_size, dim)
        else:
            # a class token's row stays zero: it gets no position
            table = torch.zeros(slots, dim)
            start = class_tokens
            if position == "sincos2d":
                table[start:] = sincos_position_embedding(self.grid_size, dim)
            elif position == "sincos1d":
                table[start:] = sincos_1d_position_embedding(num_patches, dim)
            self.register_buffer("pos_embed", table[None])
        # registers: N(0, 0.02²) so that they start apart (timm starts them at
        # N(0, 1e-6²)); identical registers would stay identical
        self.registers = (
            nn.Parameter(torch.randn(1, registers, dim) * 0.02) if registers else None
        )
        # the leading tokens that are no patch: class token, then registers
        self.num_prefix_tokens = prefix = class_tokens + registers
        rope = None
        if position == "rope2d":
            rope = AxialRoPE(self.grid_size, dim // heads, prefix)

        blocks = []
        for _ in range(depth):
            # with position="relative-bias" or "relative", a table per block
            rel_bias = (
                RelativePositionBias(self.grid_size, heads, prefix)
                if position == "relative-bias"
                else None
            )
            rel_attn = (
                RelativeAttention(num_patches, dim // heads, prefix)
                if position == "relative"
                else None
            )
            blocks.append(EncoderBlock(dim, heads, mlp_dim, rope, rel_bias, rel_attn))
        self.blocks = nn.ModuleList(blocks)
        # with position="cpe", the convolution that follows the first block
        self.cpe = (
            ConvPositionEncoding(self.grid_size, dim, prefix)
            if position == "cpe"
            else None
        )
        self.norm = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        # a pre-logits layer (Linear + tanh), as the paper pre-trained with and as
        # torchvision's representation_size builds; none by default, as in fine-tuning
        self.representation_size = representation_size
        self.pre_logits = (
            nn.Sequential(nn.Linear(dim, representation_size), nn.Tanh())
            if representation_size
            else nn.Identity()
        )
        self.head = nn.Linear(representation_size or dim, num_classes)

    def no_weight_decay(self) -> set[str]:
        """The parameters that training exempts from weight decay beside the biases
        and norms: the class token, the registers and the position table (the names
        timm's ``VisionTransformer.no_weight_decay`` gives, its ``reg_token`` ours
        ``registers``), the factorised table and the relative tables. (The
        convolution of ``"cpe"`` decays like any convolution.)"""
        return {
            "cls_token",
            "registers",
            "pos_embed",
            "pos_embed_2d",
            "rel_bias",
            "rel_attn",
        }

    def tokens(self, images: torch.Tensor) -> torch.Tensor:
        """The encoder's input: ``(B, C, S, S)`` -> ``(B, 1 + N, dim)`` (class token,
        then the patches), or ``(B, N, dim)`` with ``pool="mean"``; with registers,
        ``(B, prefix + N, dim)``, the registers after the class token."""
        # float images (B, C, S, S) in [0, 1]; in training, no NaN to reach the weights
        checks.images(
            images,
            channels=self.channels,
            size=(self.image_size, self.image_size),
            no_nan=self.training,
            dtype=self.head.weight.dtype,
        )
        with warnings.catch_warnings():
            # the images were range-checked above; normalised, they are no news
            warnings.simplefilter("ignore", checks.InputRangeWarning)
            x = self.patch_embed((images - self.mean) / self.std)  # (B, N, D)
        if self.cls_token is not None:
            cls = self.cls_token.expand(x.shape[0], -1, -1)  # (B, 1, D)
            x = torch.cat([cls, x], dim=1)  # (B, 1+N, D)
        x = x + self.position_table()
        if self.registers is not None:
            # after the class token, with no position: (B, prefix + N, D)
            regs = self.registers.expand(x.shape[0], -1, -1)
            first = 1 if self.cls_token is not None else 0
            x = torch.cat([x[:, :first], regs, x[:, first:]], dim=1)
        return x

    def position_table(self) -> torch.Tensor:
        """The table added to the tokens: ``(1, 1 + N, dim)``, or ``(1, N, dim)``
        with ``pool="mean"`` (registers get none); zeros for ``"none"`` and for the
        kinds that put position inside the blocks instead (``"rope2d"``,
        ``"relative-bias"``, ``"relative"``, ``"cpe"``)."""
        if self.position == "learned-2d":
            return self.pos_embed_2d(1 if self.cls_token is not None else 0)
        return self.pos_embed

    def encode(self, x: torch.Tensor, block: int) -> torch.Tensor:
        """Block number ``block`` applied to the tokens ``x``, followed by the
        conditional position encoding after the first block (``"cpe"``)."""
        x = self.blocks[block](x)
        if block == 0 and self.cpe is not None:
            x = self.cpe(x)
        return x

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The pooled, normalised representation: ``(B, dim)``."""
        x = self.tokens(images)
        for i in range(len(self.blocks)):
            x = self.encode(x, i)
        x = self.norm(x)
        if self.pool == "cls":
            return x[:, 0]
        return x[:, self.num_prefix_tokens :].mean(dim=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.pre_logits(self.features(images)))

    def attention_maps(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The softmax attention of every block:
        ``(B, C, S, S)`` -> ``depth`` tensors ``(B, heads, T, T)``, T = 1 + N with
        the class token (slot 0), N with ``pool="mean"``; prefix + N with registers."""
        x = self.tokens(images)  # (B, 1+N, D)
        maps = []
        for i, block in enumerate(self.blocks):
            # the attention block(x) computes, from the normed tokens
            maps.append(block.attn.attention_weights(block.norm1(x)))
            x = self.encode(x, i)
        return maps


def parameter_table(model: nn.Module, per_block: bool = True) -> list[tuple[str, int]]:
    """The trainable parameters of a ``ViT`` by part: ``[(name, count), ...]`` in
    forward order, summing to the total.

    Rows are named like the attributes: ``patch_embed``, ``cls_token``, ``pos_embed``
    (only when learned; fixed tables are buffers), ``blocks.0.norm1``,
    ``blocks.0.attn.qkv``, ``blocks.0.attn.proj``, ``blocks.0.norm2``,
    ``blocks.0.mlp.fc1``, ``blocks.0.mlp.fc2``, ..., ``norm``, ``head``. With
    ``per_block=False`` the blocks are summed: ``blocks.*.attn.qkv``. Works on models
    built on the ``meta`` device (counts without allocating the weights).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    rows: dict[str, int] = {}
    for name, param in model.named_parameters():
        parts = name.split(".")
        if parts[0] == "blocks" and len(parts) > 2:
            if not per_block:
                parts[1] = "*"
            key = ".".join(parts[:-1])  # the weight's module: blocks.0.attn.qkv
        else:
            key = parts[0]  # a top-level part, all of it: patch_embed, head
        rows[key] = rows.get(key, 0) + param.numel()
    first = [k for k in ("patch_embed", "cls_token", "pos_embed") if k in rows]
    return [(k, rows[k]) for k in first] + [
        (k, n) for k, n in rows.items() if k not in first
    ]


def mean_attention_distance(
    attention: torch.Tensor,
    grid_size: int | tuple[int, int],
    patch_size: int,
    per_query: bool = False,
) -> torch.Tensor:
    """The mean attention distance of each head, in pixels:
    ``(B, heads, T, T)`` -> ``(heads,)``, or with ``per_query=True`` the distance of
    every query patch, not yet averaged: ``(B, heads, N)``.

    For every query patch, the distance from its centre to each key patch's centre
    (grid steps times ``patch_size``), weighted by the attention; then the mean over
    query patches and images (the ViT paper's Figure 7, right, and Appendix D.7). ``T``
    is N, or 1 + N with a class token first: its row and column are dropped (it has no
    place in the image) and each query's weights on the N patches are renormalised to
    sum to 1.
    """
    from .patches import _pair

    rows, cols = _pair(grid_size, "grid_size")
    n = rows * cols
    checks.instance(
        attention, "attention", torch.Tensor, "a torch.Tensor (B, heads, T, T)"
    )
    patch_size = checks.positive_int(patch_size, "patch_size")
    if attention.ndim != 4 or attention.shape[-1] != attention.shape[-2]:
        raise ValueError(
            f"attention must have shape (B, heads, T, T), got {tuple(attention.shape)}"
        )
    tokens = attention.shape[-1]
    if tokens not in (n, n + 1):
        raise ValueError(
            f"attention has {tokens} tokens, "
            f"but a {rows}x{cols} grid has N = {n} patches: "
            f"expected N = {n} or 1 + N = {n + 1}"
        )
    if attention.is_floating_point() and not attention.is_meta and attention.numel():
        sums = attention.sum(dim=-1)
        if attention.min() < 0 or not torch.allclose(
            sums, torch.ones_like(sums), atol=1e-3
        ):
            raise ValueError(
                "attention must hold softmax weights (each row >= 0, summing to 1), "
                f"got rows summing to {sums.min().item():.3g} .. "
                f"{sums.max().item():.3g}: pass model.attention_maps(images), not "
                "the logits"
            )
    if tokens == n + 1:
        attention = attention[..., 1:, 1:]  # drop the class token: (B, heads, N, N)
        attention = attention / attention.sum(dim=-1, keepdim=True).clamp_min(1e-12)
    r, c = torch.meshgrid(torch.arange(rows), torch.arange(cols), indexing="ij")
    centres = torch.stack([r.flatten(), c.flatten()], dim=1)  # (N, 2): row, column
    centres = centres.to(attention.dtype)
    distance = torch.cdist(centres, centres) * patch_size  # (N, N), in pixels
    by_query = (attention * distance.to(attention.device)).sum(dim=-1)  # (B, heads, N)
    return by_query if per_query else by_query.mean(dim=(0, 2))  # (heads,)


def count_parameters(module: torch.nn.Module) -> int:
    """The number of trainable values in ``module``."""
    checks.instance(module, "module", nn.Module, "an nn.Module")
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def _count(
    module: torch.nn.Module,
    inputs: torch.Tensor,
    backward: bool = False,
    math_attention: bool = True,
) -> torch.utils.flop_counter.FlopCounterMode:
    """Run ``module`` on ``inputs`` under ``FlopCounterMode``; return the counter."""
    # imported here: it loads torch's decompositions, a fifth of a second that every
    # notebook importing vitbook would otherwise pay
    from torch.utils.flop_counter import FlopCounterMode

    checks.instance(module, "module", nn.Module, "an nn.Module")
    checks.instance(inputs, "inputs", torch.Tensor, "a torch.Tensor")
    from contextlib import nullcontext

    checks.instance(backward, "backward", bool, "True or False")
    kernel = nullcontext()
    if math_attention:
        try:
            from torch.nn.attention import SDPBackend, sdpa_kernel

            kernel = sdpa_kernel(SDPBackend.MATH)
        except ImportError:  # torch < 2.3: the counter may miss fused attention
            pass
    was_training = module.training
    module.train(backward)
    with (
        torch.set_grad_enabled(backward),
        kernel,
        FlopCounterMode(display=False) as counter,
    ):
        out = module(inputs)
        if backward:
            out.float().pow(2).mean().backward()
    module.train(was_training)
    if backward:
        module.zero_grad(set_to_none=True)
    return counter


def count_flops(
    module: torch.nn.Module, inputs: torch.Tensor, backward: bool = False
) -> int:
    """FLOPs (2 per multiply-add) of one forward pass of ``module`` (in eval mode) on
    ``inputs``, or with ``backward=True`` of a training step's forward and backward
    passes (in train mode).

    Counted by ``torch.utils.flop_counter``: matrix products and convolutions,
    attention's two ``N x N`` products included (attention runs on its plain "math"
    kernel while counting); norms, activations and softmax are not counted.
    """
    return _count(module, inputs, backward).get_total_flops()


def flops_by_part(
    model: ViT, images: torch.Tensor, math_attention: bool = True
) -> dict[str, int]:
    """The FLOPs of one forward pass of a ``ViT`` on ``images``, by part:
    ``{"patch embedding", "attention: qkv and proj", "attention: q k^T and A v",
    "MLP", "head": FLOPs}``, summing to ``count_flops(model, images)``.

    With ``math_attention=False`` attention runs on whatever kernel torch picks; on a
    CPU that is a fused kernel the counter does not see, and the ``q k^T`` and ``A v``
    products are then missing from the count.
    """
    if not isinstance(model, ViT):
        raise TypeError(f"model must be a vitbook.ViT, got {type(model).__name__}")
    counter = _count(model, images, math_attention=math_attention)
    counts = counter.get_flop_counts()  # {module name: {operation: FLOPs}}

    def total(name: str) -> int:
        return sum(counts.get(name, {}).values())

    blocks = [f"ViT.blocks.{i}" for i in range(len(model.blocks))]
    projections = sum(total(f"{b}.attn.qkv") + total(f"{b}.attn.proj") for b in blocks)
    parts = {
        "patch embedding": total("ViT.patch_embed"),
        **({"position encoding": total("ViT.cpe")} if model.cpe is not None else {}),
        "attention: qkv and proj": projections,
        "attention: q k^T and A v": sum(total(f"{b}.attn") for b in blocks)
        - projections,
        "MLP": sum(total(f"{b}.mlp") for b in blocks),
        "head": total("ViT.head"),
    }
    if sum(parts.values()) != counter.get_total_flops():
        raise RuntimeError(  # a new part of ViT that this table does not know
            f"flops_by_part missed {counter.get_total_flops() - sum(parts.values())} "
            "FLOPs: update its parts to the model's modules"
        )
    return parts
