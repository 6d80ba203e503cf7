"""The patch embedding: one linear map applied to every flattened patch.

``PatchEmbedding`` is the book's form: ``patchify`` then ``nn.Linear(P*P*C, D)``, with
PyTorch's default initialisation. The official JAX code writes the same map as a Flax
``nn.Conv(D, kernel_size=(P, P), strides=(P, P), padding="VALID")`` (its kernel stored
``(P, P, C, D)``), timm and torchvision as ``nn.Conv2d(C, D, kernel_size=P, stride=P)``
(kernel ``(D, C, P, P)``). The two conversion functions move weights between the
``Linear`` and the ``Conv2d`` form, minding that ``patchify`` flattens a patch
channels-last while a ``Conv2d`` kernel is stored channels-first. ``ConvStem`` is the
alternative of "Early Convolutions Help Transformers See Better": stride-2 3x3
convolutions, then a 1x1 convolution, giving tokens on the same grid.
"""

from __future__ import annotations

import torch
from torch import nn

from . import checks
from .patches import grid_size, patchify

__all__ = [
    "ConvStem",
    "PatchEmbedding",
    "RawPatches",
    "conv_to_linear",
    "cosine_similarity_matrix",
    "linear_to_conv",
]


class PatchEmbedding(nn.Module):
    """Images ``(B, C, H, W)`` -> patch tokens ``(B, N, D)`` through
    ``proj = nn.Linear(P*P*C, D)``."""

    def __init__(self, patch_size: int = 16, in_channels: int = 3, dim: int = 128):
        super().__init__()
        self.patch_size = checks.positive_int(patch_size, "patch_size")
        in_channels = checks.positive_int(in_channels, "in_channels")
        dim = checks.positive_int(dim, "dim")
        self.in_channels = in_channels
        self.dim = dim
        self.proj = nn.Linear(patch_size * patch_size * in_channels, dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # float images (B, C, H, W), in [0, 1] or normalised (what ViT passes)
        checks.images(
            images,
            channels=self.in_channels,
            expect="normalised",
            dtype=self.proj.weight.dtype,
        )
        # (B, N, P*P*C) -> (B, N, D)
        return self.proj(patchify(images, self.patch_size))


class RawPatches(nn.Module):
    """No embedding: the raw flattened patches are the tokens, ``(B, C, H, W)`` ->
    ``(B, N, P*P*C)``. The model B of 06_redundancy.ipynb, in place of
    ``PatchEmbedding``."""

    def __init__(self, patch_size: int):
        super().__init__()
        self.patch_size = checks.positive_int(patch_size, "patch_size")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return patchify(images, self.patch_size)


def linear_to_conv(embedding: PatchEmbedding) -> nn.Conv2d:
    """The ``nn.Conv2d(C, D, kernel_size=P, stride=P)`` that computes the same map as
    ``embedding``.

    Its output ``(B, D, H/P, W/P)`` flattened to ``(B, N, D)`` equals
    ``embedding(images)``.
    """
    if not isinstance(embedding, PatchEmbedding):
        raise TypeError(
            "embedding must be a vitbook.PatchEmbedding, "
            f"got {type(embedding).__name__}"
        )
    p, c, d = embedding.patch_size, embedding.in_channels, embedding.dim
    w = embedding.proj.weight
    conv = nn.Conv2d(c, d, kernel_size=p, stride=p, device=w.device, dtype=w.dtype)
    with torch.no_grad():
        weight = embedding.proj.weight.reshape(d, p, p, c)  # (D, P*P*C) -> (D, P, P, C)
        conv.weight.copy_(weight.permute(0, 3, 1, 2))  # (D, C, P, P)
        conv.bias.copy_(embedding.proj.bias)
    return conv


def conv_to_linear(conv: nn.Conv2d) -> PatchEmbedding:
    """The ``PatchEmbedding`` that computes the same map as a patchifying ``conv``.

    ``conv`` must have a square kernel equal to its stride, no padding, no dilation,
    groups=1.
    """
    if not isinstance(conv, nn.Conv2d):
        raise TypeError(f"conv must be an nn.Conv2d, got {type(conv).__name__}")
    d, c, kh, kw = conv.weight.shape
    if kh != kw or conv.stride != (kh, kw) or conv.padding not in ((0, 0), "valid"):
        raise ValueError(
            f"conv must have a square kernel equal to its stride and no padding, got "
            f"kernel_size={conv.kernel_size}, stride={conv.stride}, "
            f"padding={conv.padding}"
        )
    if conv.dilation != (1, 1) or conv.groups != 1:
        raise ValueError(
            "conv must have dilation 1 and groups 1, "
            f"got {conv.dilation} and {conv.groups}"
        )
    embedding = PatchEmbedding(patch_size=kh, in_channels=c, dim=d).to(conv.weight)
    with torch.no_grad():
        weight = conv.weight.permute(0, 2, 3, 1)  # (D, C, P, P) -> (D, P, P, C)
        embedding.proj.weight.copy_(weight.reshape(d, kh * kw * c))
        if conv.bias is None:
            embedding.proj.bias.zero_()
        else:
            embedding.proj.bias.copy_(conv.bias)
    return embedding


def cosine_similarity_matrix(
    x: torch.Tensor, y: torch.Tensor | None = None, eps: float = 1e-8
) -> torch.Tensor:
    """All pairwise cosine similarities:
    ``(..., N, D)`` and ``(..., M, D)`` -> ``(..., N, M)``.

    Entry ``[i, j]`` is ``x_i · y_j / (|x_i| |y_j|)``; ``y`` defaults to ``x``. A zero
    vector (an all-black patch) has no direction: its similarities are 0 (a vector
    shorter than ``eps`` is divided by ``eps``, not by its length, as in
    ``F.normalize``).
    """
    y = x if y is None else y
    checks.instance(x, "x", torch.Tensor, "a torch.Tensor (..., N, D)")
    checks.instance(y, "y", torch.Tensor, "a torch.Tensor (..., M, D) or None")
    if not (x.is_floating_point() and y.is_floating_point()):
        raise TypeError(
            f"x and y must be float tensors, got {x.dtype} and {y.dtype}; use .float()"
        )
    if x.ndim < 2 or y.ndim < 2:
        raise ValueError(
            "x and y must have shape (..., N, D) and (..., M, D), "
            f"got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if x.shape[-1] != y.shape[-1]:
        raise ValueError(
            "x and y must have vectors of the same length D, "
            f"got {x.shape[-1]} and {y.shape[-1]}"
        )
    # (..., N, D), each row of length 1 (or 0)
    x_unit = torch.nn.functional.normalize(x, dim=-1, eps=eps)
    y_unit = torch.nn.functional.normalize(y, dim=-1, eps=eps)  # (..., M, D)
    return x_unit @ y_unit.transpose(-2, -1)  # (..., N, M)


class ConvStem(nn.Module):
    """Images ``(B, C, H, W)`` -> tokens ``(B, N, D)`` through a convolutional stem
    (Xiao et al., 2021).

    ``log2(P)`` stages of [3x3 convolution, stride 2, padding 1, no bias -> BatchNorm ->
    ReLU] halve the image ``log2(P)`` times, then
    ``proj = nn.Conv2d(channels[-1], D, 1)`` maps each cell to ``D`` values. The tokens
    lie on the same ``(H/P, W/P)`` grid, in the same raster order, as
    ``PatchEmbedding``'s. ``channels`` are the stages' widths; by default they follow
    the paper's smaller stems: the last stage has ``D`` channels and each earlier one
    half as many (P=16, D=128: 16, 32, 64, 128). Token ``i`` sees a ``(2P-1) x (2P-1)``
    window: its own ``P x P`` cell and ``P-1`` pixels above and to the left of it.
    """

    def __init__(
        self,
        patch_size: int = 16,
        in_channels: int = 3,
        dim: int = 128,
        channels: tuple[int, ...] | list[int] | None = None,
    ):
        super().__init__()
        p = checks.positive_int(patch_size, "patch_size")
        if p < 2 or p & (p - 1):
            raise ValueError(
                f"patch_size must be a power of two >= 2 (one stride-2 convolution per "
                f"halving), got {p}; use 2, 4, 8, 16 or 32"
            )
        in_channels = checks.positive_int(in_channels, "in_channels")
        dim = checks.positive_int(dim, "dim")
        num_convs = p.bit_length() - 1  # log2(P)
        if channels is None:
            channels = [
                max(1, dim // 2 ** (num_convs - 1 - k)) for k in range(num_convs)
            ]
        if isinstance(channels, (str, bytes)) or not hasattr(channels, "__len__"):
            raise TypeError(
                f"channels must be a list of {num_convs} ints (one per stride-2 "
                f"convolution), got {channels!r}"
            )
        channels = list(channels)
        for k, c in enumerate(channels):
            checks.positive_int(c, f"channels[{k}]")
        if len(channels) != num_convs:
            raise ValueError(
                f"channels must be {num_convs} positive ints (one per stride-2 "
                f"convolution, log2({p}) = {num_convs}), got {channels}"
            )
        self.patch_size, self.in_channels, self.dim = p, in_channels, dim
        self.channels = tuple(channels)
        stages, c_in = [], in_channels
        for c_out in channels:
            stages.append(
                nn.Sequential(
                    nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False),
                    nn.BatchNorm2d(c_out),
                    nn.ReLU(),
                )
            )
            c_in = c_out
        self.stages = nn.Sequential(*stages)
        self.proj = nn.Conv2d(c_in, dim, kernel_size=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # float images (B, C, H, W); in training no NaN, which would poison the
        # BatchNorm statistics of every later batch
        checks.images(
            images,
            channels=self.in_channels,
            expect="normalised",
            no_nan=self.training,
            dtype=self.proj.weight.dtype,
        )
        # a side that is no multiple of P raises an error naming it
        grid_size(images.shape[-2:], self.patch_size)
        x = self.proj(self.stages(images))  # (B, D, H/P, W/P)
        return x.flatten(2).transpose(1, 2)  # (B, N, D), raster order
