"""The patch embedding: one linear map applied to every flattened patch.

``PatchEmbedding`` is the book's form: ``patchify`` then ``nn.Linear(P*P*C, D)``. The paper's
code and timm write the same map as ``nn.Conv2d(C, D, kernel_size=P, stride=P)``; the two
conversion functions move weights between the forms, minding that ``patchify`` flattens a
patch channels-last while a ``Conv2d`` kernel is stored channels-first.
"""

from __future__ import annotations

import torch
from torch import nn

from .patches import _check_patch_size, patchify

__all__ = [
    "PatchEmbedding",
    "conv_to_linear",
    "cosine_similarity_matrix",
    "linear_to_conv",
]


class PatchEmbedding(nn.Module):
    """Images ``(B, C, H, W)`` -> patch tokens ``(B, N, D)`` through ``proj = nn.Linear(P*P*C, D)``."""

    def __init__(self, patch_size: int = 16, in_channels: int = 3, dim: int = 128):
        super().__init__()
        self.patch_size = _check_patch_size(patch_size)
        if in_channels <= 0 or dim <= 0:
            raise ValueError(
                f"in_channels and dim must be positive, got {in_channels} and {dim}"
            )
        self.in_channels = in_channels
        self.dim = dim
        self.proj = nn.Linear(patch_size * patch_size * in_channels, dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim == 4 and images.shape[1] != self.in_channels:
            raise ValueError(
                f"expected {self.in_channels} channels in (B, C, H, W), got shape {tuple(images.shape)}"
            )
        return self.proj(
            patchify(images, self.patch_size)
        )  # (B, N, P*P*C) -> (B, N, D)


def linear_to_conv(embedding: PatchEmbedding) -> nn.Conv2d:
    """The ``nn.Conv2d(C, D, kernel_size=P, stride=P)`` that computes the same map as ``embedding``.

    Its output ``(B, D, H/P, W/P)`` flattened to ``(B, N, D)`` equals ``embedding(images)``.
    """
    if not isinstance(embedding, PatchEmbedding):
        raise TypeError(
            f"embedding must be a vitbook.PatchEmbedding, got {type(embedding).__name__}"
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

    ``conv`` must have a square kernel equal to its stride, no padding, no dilation, groups=1.
    """
    if not isinstance(conv, nn.Conv2d):
        raise TypeError(f"conv must be an nn.Conv2d, got {type(conv).__name__}")
    d, c, kh, kw = conv.weight.shape
    if kh != kw or conv.stride != (kh, kw) or conv.padding not in ((0, 0), "valid"):
        raise ValueError(
            f"conv must have a square kernel equal to its stride and no padding, got "
            f"kernel_size={conv.kernel_size}, stride={conv.stride}, padding={conv.padding}"
        )
    if conv.dilation != (1, 1) or conv.groups != 1:
        raise ValueError(
            f"conv must have dilation 1 and groups 1, got {conv.dilation} and {conv.groups}"
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
    """All pairwise cosine similarities: ``(..., N, D)`` and ``(..., M, D)`` -> ``(..., N, M)``.

    Entry ``[i, j]`` is ``x_i · y_j / (|x_i| |y_j|)``; ``y`` defaults to ``x``. A zero vector (an
    all-black patch) has no direction: its similarities are 0 (a vector shorter than ``eps`` is
    divided by ``eps``, not by its length, as in ``F.normalize``).
    """
    y = x if y is None else y
    if x.ndim < 2 or y.ndim < 2:
        raise ValueError(
            f"x and y must have shape (..., N, D) and (..., M, D), got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if x.shape[-1] != y.shape[-1]:
        raise ValueError(
            f"x and y must have vectors of the same length D, got {x.shape[-1]} and {y.shape[-1]}"
        )
    x_unit = torch.nn.functional.normalize(
        x, dim=-1, eps=eps
    )  # (..., N, D), each row of length 1 (or 0)
    y_unit = torch.nn.functional.normalize(y, dim=-1, eps=eps)  # (..., M, D)
    return x_unit @ y_unit.transpose(-2, -1)  # (..., N, M)
