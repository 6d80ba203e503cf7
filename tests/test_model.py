"""The encoder and the ViT: shapes, attention, permutation equivariance, parameter counts and errors."""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import vitbook
from vitbook import (
    MLP,
    POSITION_KINDS,
    EncoderBlock,
    MultiHeadSelfAttention,
    ViT,
    patchify,
    unpatchify,
)


def tiny_vit(**kwargs) -> ViT:
    torch.manual_seed(0)
    config = dict(
        image_size=32, patch_size=8, num_classes=5, dim=16, depth=2, heads=2, mlp_dim=32
    )
    return ViT(**{**config, **kwargs}).eval()


def shuffle_patches(
    images: torch.Tensor, patch_size: int, perm: torch.Tensor
) -> torch.Tensor:
    """The same images with their patches moved around: (B, C, H, W) -> (B, C, H, W)."""
    patches = patchify(images, patch_size)  # (B, N, P*P*C)
    return unpatchify(patches[:, perm], patch_size, tuple(images.shape[-2:]))


# --- attention, MLP, block: shapes --------------------------------------------------------------


@pytest.mark.parametrize(
    "b, n, d, heads", [(1, 197, 128, 4), (2, 5, 12, 3), (3, 1, 8, 1)]
)
def test_block_parts_keep_the_token_shape(b, n, d, heads):
    torch.manual_seed(0)
    x = torch.randn(b, n, d)  # (B, N, D)
    assert MultiHeadSelfAttention(d, heads)(x).shape == (b, n, d)
    assert MLP(d, 2 * d)(x).shape == (b, n, d)
    assert EncoderBlock(d, heads, 2 * d)(x).shape == (b, n, d)


def test_split_heads_shapes():
    attn = MultiHeadSelfAttention(128, 4)
    q, k, v = attn.split_heads(torch.randn(2, 197, 128))
    assert q.shape == k.shape == v.shape == (2, 4, 197, 32)  # (B, heads, N, D/heads)


def test_heads_must_divide_dim():
    with pytest.raises(ValueError, match="dim 130 is not divisible by heads 4"):
        MultiHeadSelfAttention(130, 4)


def test_attention_weights_rows_sum_to_one_and_agree_with_sdpa():
    torch.manual_seed(0)
    attn = MultiHeadSelfAttention(32, 4)
    x = torch.randn(2, 10, 32)
    weights = attn.attention_weights(x)  # (B, heads, N, N)
    assert weights.shape == (2, 4, 10, 10)
    assert (weights >= 0).all()
    assert torch.allclose(weights.sum(-1), torch.ones(2, 4, 10), atol=1e-6)
    # the explicit softmax(q k^T / sqrt(d)) v, merged and projected, is what forward computes with SDPA
    _, _, v = attn.split_heads(x)
    by_hand = attn.proj((weights @ v).transpose(1, 2).reshape(2, 10, 32))
    assert torch.allclose(by_hand, attn(x), atol=1e-5)
    q, k, _ = attn.split_heads(x)
    assert torch.allclose(
        weights @ v, F.scaled_dot_product_attention(q, k, v), atol=1e-5
    )


def test_encoder_block_is_pre_norm_with_residuals():
    torch.manual_seed(0)
    block = EncoderBlock(16, 2, 32)
    x = torch.randn(2, 6, 16)
    mid = x + block.attn(block.norm1(x))
    assert torch.allclose(block(x), mid + block.mlp(block.norm2(mid)), atol=1e-6)


# --- permutation equivariance --------------------------------------------------------------------


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n=st.integers(2, 24),
    b=st.integers(1, 3),
    heads=st.sampled_from([1, 2, 4]),
)
def test_encoder_block_is_permutation_equivariant(seed, n, b, heads):
    """Shuffling the tokens shuffles the outputs the same way: block(x[:, perm]) == block(x)[:, perm]."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    block = EncoderBlock(16, heads, 32).eval()
    x = torch.randn(b, n, 16, generator=gen)
    perm = torch.randperm(n, generator=gen)
    assert torch.allclose(block(x[:, perm]), block(x)[:, perm], atol=1e-5)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(2, 16))
def test_attention_matrix_is_permuted_on_both_axes(seed, n):
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    attn = MultiHeadSelfAttention(8, 2)
    x = torch.randn(1, n, 8, generator=gen)
    perm = torch.randperm(n, generator=gen)
    weights = attn.attention_weights(x)
    assert torch.allclose(
        attn.attention_weights(x[:, perm]),
        weights[:, :, perm][:, :, :, perm],
        atol=1e-6,
    )


def test_a_stack_of_blocks_is_permutation_equivariant_and_its_mean_is_invariant():
    torch.manual_seed(0)
    stack = torch.nn.Sequential(*[EncoderBlock(32, 4, 64) for _ in range(4)]).eval()
    x = torch.randn(2, 50, 32)
    perm = torch.randperm(50)
    out, out_shuffled = stack(x), stack(x[:, perm])
    assert torch.allclose(out_shuffled, out[:, perm], atol=1e-5)
    assert torch.allclose(out_shuffled.mean(1), out.mean(1), atol=1e-5)


@pytest.mark.parametrize("pool", ["cls", "mean"])
def test_vit_without_position_sees_a_bag_of_patches(pool):
    model = tiny_vit(position="none", pool=pool)
    torch.manual_seed(1)
    images = torch.rand(3, 3, 32, 32)
    perm = torch.randperm(16)
    shuffled = shuffle_patches(images, 8, perm)
    assert not torch.equal(shuffled, images)
    assert torch.allclose(model(shuffled), model(images), atol=1e-5)


@pytest.mark.parametrize("position", ["learned", "sincos1d", "sincos2d"])
def test_vit_with_position_tells_the_arrangements_apart(position):
    model = tiny_vit(position=position)
    torch.manual_seed(1)
    images = torch.rand(3, 3, 32, 32)
    shuffled = shuffle_patches(images, 8, torch.randperm(16))
    assert (model(shuffled) - model(images)).abs().max() > 1e-4


# --- the ViT: configuration, tokens, parameter counts ---------------------------------------------


def test_vit_b16_has_exactly_86_567_656_parameters():
    model = ViT(224, 16, 1000, 768, 12, 12, 3072, 3)
    assert sum(p.numel() for p in model.parameters()) == 86_567_656


def test_vit_b16_parameters_add_up_by_part():
    """Patch embedding, class token, position table, 12 blocks, final norm, head."""
    d, mlp, n = 768, 3072, 196
    embedding = 16 * 16 * 3 * d + d
    block = (
        (d * 3 * d + 3 * d)
        + (d * d + d)
        + (d * mlp + mlp)
        + (mlp * d + d)
        + 2 * (2 * d)
    )
    total = embedding + d + (n + 1) * d + 12 * block + 2 * d + (d * 1000 + 1000)
    assert total == 86_567_656


def test_vit_tokens_shape_and_output_shape():
    model = tiny_vit()
    images = torch.rand(2, 3, 32, 32)
    assert model.tokens(images).shape == (2, 1 + 16, 16)  # (B, 1+N, D)
    assert model.features(images).shape == (2, 16)
    assert model(images).shape == (2, 5)


def test_vit_position_tables_by_kind():
    learned = tiny_vit(position="learned")
    assert isinstance(
        learned.pos_embed, torch.nn.Parameter
    ) and learned.pos_embed.shape == (1, 17, 16)
    fixed = tiny_vit(position="sincos2d")
    assert "pos_embed" not in dict(fixed.named_parameters())  # a buffer: not trained
    assert torch.equal(
        fixed.pos_embed[0, 0], torch.zeros(16)
    )  # the class token gets no position
    assert torch.equal(fixed.pos_embed[0, 1:], vitbook.sincos_position_embedding(4, 16))
    one_d = tiny_vit(position="sincos1d")
    assert torch.equal(
        one_d.pos_embed[0, 1:], vitbook.sincos_1d_position_embedding(16, 16)
    )
    assert torch.equal(tiny_vit(position="none").pos_embed, torch.zeros(1, 17, 16))
    assert set(POSITION_KINDS) == {"learned", "sincos1d", "sincos2d", "none"}


def test_vit_parameter_count_differs_only_by_the_learned_table():
    counts = {
        kind: sum(p.numel() for p in tiny_vit(position=kind).parameters())
        for kind in POSITION_KINDS
    }
    assert counts["learned"] - counts["none"] == 17 * 16
    assert counts["none"] == counts["sincos1d"] == counts["sincos2d"]


# --- the ViT: errors -----------------------------------------------------------------------------


def test_vit_rejects_an_unknown_position_kind():
    with pytest.raises(
        ValueError, match=re.escape("position must be one of") + ".*'rope'"
    ):
        ViT(position="rope")


def test_vit_rejects_an_unknown_pool():
    with pytest.raises(
        ValueError, match=re.escape("pool must be 'cls' or 'mean', got 'max'")
    ):
        ViT(pool="max")


def test_vit_rejects_an_image_size_the_patches_do_not_divide():
    with pytest.raises(ValueError, match="not a multiple of patch size 16"):
        ViT(image_size=225)


@pytest.mark.parametrize(
    "shape", [(3, 32, 32), (2, 1, 32, 32), (2, 3, 48, 48), (2, 3, 32, 40)]
)
def test_vit_rejects_images_of_the_wrong_shape(shape):
    model = tiny_vit()
    with pytest.raises(
        ValueError,
        match=re.escape(f"expected images of shape (B, 3, 32, 32), got {shape}"),
    ):
        model(torch.zeros(shape))
