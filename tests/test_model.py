"""The encoder and the ViT: shapes, attention, permutation equivariance,
parameter counts and errors."""

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


# --- attention, MLP, block: shapes ----------------------------------------------------


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
    # the explicit softmax(q k^T / sqrt(d)) v, merged and projected,
    # is what forward computes with SDPA
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


# --- permutation equivariance ---------------------------------------------------------


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n=st.integers(2, 24),
    b=st.integers(1, 3),
    heads=st.sampled_from([1, 2, 4]),
)
def test_encoder_block_is_permutation_equivariant(seed, n, b, heads):
    """Shuffling the tokens shuffles the outputs the same way:
    block(x[:, perm]) == block(x)[:, perm]."""
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


# --- the ViT: configuration, tokens, parameter counts ---------------------------------


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
    # the class token gets no position
    assert torch.equal(fixed.pos_embed[0, 0], torch.zeros(16))
    assert torch.equal(fixed.pos_embed[0, 1:], vitbook.sincos_position_embedding(4, 16))
    one_d = tiny_vit(position="sincos1d")
    assert torch.equal(
        one_d.pos_embed[0, 1:], vitbook.sincos_1d_position_embedding(16, 16)
    )
    assert torch.equal(tiny_vit(position="none").pos_embed, torch.zeros(1, 17, 16))
    started = tiny_vit(position="learned-sincos2d")
    assert isinstance(started.pos_embed, torch.nn.Parameter)  # trained, but starts
    assert torch.equal(started.pos_embed, fixed.pos_embed)  # from the sin-cos values
    assert set(POSITION_KINDS) == {
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
    }


def test_vit_parameter_count_differs_only_by_the_learned_table():
    counts = {
        kind: sum(p.numel() for p in tiny_vit(position=kind).parameters())
        for kind in POSITION_KINDS
    }
    assert counts["learned"] - counts["none"] == 17 * 16
    assert counts["learned-sincos2d"] == counts["learned"]
    assert counts["none"] == counts["sincos1d"] == counts["sincos2d"]
    # the factorised table: a row and a column table of D/2 each, 4 + 4 rows
    assert counts["learned-2d"] - counts["none"] == (4 + 4) * 16 // 2
    assert counts["rope2d"] == counts["none"]  # rotations have no parameters
    # one scalar per head and 2-D offset, (2*4 - 1)^2 offsets, in each block
    blocks, heads = len(tiny_vit().blocks), tiny_vit().blocks[0].attn.heads
    assert counts["relative-bias"] - counts["none"] == blocks * heads * 7 * 7
    # the paper's relative attention: one head_dim embedding per 1-D offset,
    # 2 * 16 - 1 of them, in each block
    head_dim = 16 // heads
    assert counts["relative"] - counts["none"] == blocks * (2 * 16 - 1) * head_dim
    # a depthwise 3x3 convolution with a bias, once
    assert counts["cpe"] - counts["none"] == 16 * 9 + 16
    # registers: D each
    with_registers = sum(p.numel() for p in tiny_vit(registers=3).parameters())
    assert with_registers - counts["learned"] == 3 * 16


# --- the ViT: errors ------------------------------------------------------------------


def test_vit_rejects_an_unknown_position_kind():
    with pytest.raises(
        ValueError, match=re.escape("position must be one of") + ".*'rope'"
    ):
        ViT(position="rope")


def test_vit_rejects_an_unknown_pool():
    with pytest.raises(
        ValueError, match=re.escape("pool must be one of 'cls', 'mean'; got 'max'")
    ):
        ViT(pool="max")


def test_vit_rejects_an_image_size_the_patches_do_not_divide():
    with pytest.raises(ValueError, match="not a multiple of patch size 16"):
        ViT(image_size=225)


@pytest.mark.parametrize(
    "shape, words",
    [
        ((3, 32, 32), "must have shape (B, C, H, W), got (3, 32, 32)"),
        ((2, 1, 32, 32), "must have 3 channels in (B, C, H, W), got shape (2, 1,"),
        ((2, 3, 48, 48), "must be 32x32 pixels, got 48x48"),
        ((2, 3, 32, 40), "must be 32x32 pixels, got 32x40"),
    ],
)
def test_vit_rejects_images_of_the_wrong_shape(shape, words):
    model = tiny_vit()
    with pytest.raises(ValueError, match=re.escape(words)):
        model(torch.zeros(shape))


# --- parameter_table ------------------------------------------------------------------


def test_parameter_table_rows_add_up_and_are_named_like_the_modules():
    model = tiny_vit()  # D = 16, depth 2, mlp 32, 4x4 grid of 8x8x3 patches, 5 classes
    rows = vitbook.parameter_table(model)
    table = dict(rows)
    assert sum(table.values()) == sum(p.numel() for p in model.parameters())
    assert [name for name, _ in rows][:3] == ["patch_embed", "cls_token", "pos_embed"]
    assert [name for name, _ in rows][-2:] == ["norm", "head"]
    assert table["patch_embed"] == 8 * 8 * 3 * 16 + 16
    assert table["pos_embed"] == 17 * 16
    assert table["blocks.1.attn.qkv"] == 16 * 48 + 48
    assert table["blocks.0.mlp.fc2"] == 32 * 16 + 16
    assert table["blocks.0.norm1"] == table["blocks.1.norm2"] == 2 * 16
    assert table["head"] == 16 * 5 + 5


def test_parameter_table_can_sum_the_blocks_and_leaves_out_fixed_tables():
    model = tiny_vit(position="sincos2d")
    merged = dict(vitbook.parameter_table(model, per_block=False))
    each = dict(vitbook.parameter_table(model))
    assert "pos_embed" not in merged  # a fixed table is a buffer, not a parameter
    assert merged["blocks.*.attn.proj"] == 2 * each["blocks.0.attn.proj"]
    assert sum(merged.values()) == sum(each.values())


def test_parameter_table_counts_vit_b16_on_the_meta_device():
    with torch.device("meta"):
        model = ViT(224, 16, 1000, 768, 12, 12, 3072, 3)
    table = dict(vitbook.parameter_table(model, per_block=False))
    assert sum(table.values()) == 86_567_656
    assert table["patch_embed"] == 590_592 and table["pos_embed"] == 197 * 768


def test_parameter_table_rejects_what_is_not_a_module():
    with pytest.raises(TypeError, match="model must be an nn.Module, got dict"):
        vitbook.parameter_table({})


# --- attention maps and the mean attention distance -----------------------------------
# (Figure 7, right, in book/11_looking_inside.ipynb)


def test_attention_maps_are_what_each_block_computes():
    model = tiny_vit(depth=3)
    torch.manual_seed(1)
    images = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        maps = model.attention_maps(images)
        assert len(maps) == 3
        x = model.tokens(images)  # (B, 1+N, D) = (2, 17, 16)
        for block, weights in zip(model.blocks, maps):
            assert weights.shape == (2, 2, 17, 17)  # (B, heads, 1+N, 1+N)
            assert torch.allclose(weights.sum(-1), torch.ones(2, 2, 17), atol=1e-6)
            _, _, v = block.attn.split_heads(block.norm1(x))
            merged = (weights @ v).transpose(1, 2).reshape(2, 17, 16)
            attended = x + block.attn.proj(merged)  # the block's first half, rebuilt
            assert torch.allclose(
                attended + block.mlp(block.norm2(attended)), block(x), atol=1e-5
            )
            x = block(x)


def test_mean_attention_distance_of_attention_to_self_is_zero():
    attention = torch.eye(49).expand(2, 3, 49, 49)  # (B, heads, N, N)
    assert torch.equal(vitbook.mean_attention_distance(attention, 7, 4), torch.zeros(3))


def test_mean_attention_distance_of_uniform_attention():
    # 1x2 grid: each query gives 1/2 to itself (0 px) and 1/2 to its neighbour (P px)
    uniform = torch.full((1, 1, 2, 2), 0.5)
    assert torch.allclose(
        vitbook.mean_attention_distance(uniform, (1, 2), 8), torch.tensor([4.0])
    )
    # 2x2 grid: from any corner the distances are 0, P, P, P*sqrt(2)
    uniform = torch.full((1, 1, 4, 4), 0.25)
    expected = 16 * (2 + 2**0.5) / 4
    assert torch.allclose(
        vitbook.mean_attention_distance(uniform, 2, 16), torch.tensor([expected])
    )


def test_mean_attention_distance_matches_a_loop_and_drops_the_class_token():
    torch.manual_seed(0)
    rows, cols, p = 3, 4, 5
    n = rows * cols
    attention = torch.rand(2, 3, n + 1, n + 1).softmax(dim=-1)  # with a class token
    patches = attention[..., 1:, 1:]
    patches = patches / patches.sum(-1, keepdim=True)  # renormalised over the patches
    expected = torch.zeros(3)
    for h in range(3):
        total = 0.0
        for b in range(2):
            for q in range(n):
                for k in range(n):
                    dr, dc = q // cols - k // cols, q % cols - k % cols
                    total += patches[b, h, q, k] * p * (dr**2 + dc**2) ** 0.5
        expected[h] = total / (2 * n)
    got = vitbook.mean_attention_distance(attention, (rows, cols), p)
    assert got.shape == (3,)
    assert torch.allclose(got, expected, atol=1e-5)
    assert torch.allclose(
        vitbook.mean_attention_distance(patches, (rows, cols), p), got, atol=1e-6
    )
    # per query: the loop's terms before the average, one value per image and query
    by_query = vitbook.mean_attention_distance(attention, (rows, cols), p, True)
    assert by_query.shape == (2, 3, n)
    q, k = 5, torch.arange(n)
    dist = p * (((q // cols - k // cols) ** 2 + (q % cols - k % cols) ** 2) ** 0.5)
    assert torch.allclose(by_query[1, 2, q], (patches[1, 2, q] * dist).sum(), atol=1e-5)
    assert torch.allclose(by_query.mean(dim=(0, 2)), got, atol=1e-6)


def test_mean_attention_distance_of_a_vit_lies_inside_the_grid():
    model = tiny_vit()
    with torch.no_grad():
        maps = model.attention_maps(torch.rand(2, 3, 32, 32))
    distances = vitbook.mean_attention_distance(maps[0], model.grid_size, 8)
    corner_to_corner = 8 * (2 * 3**2) ** 0.5  # the largest distance on a 4x4 grid
    assert distances.shape == (2,)  # one per head
    assert ((distances > 0) & (distances < corner_to_corner)).all()


@pytest.mark.parametrize(
    "shape, grid, p, message",
    [
        (
            (2, 17, 17),
            4,
            8,
            "attention must have shape (B, heads, T, T), got (2, 17, 17)",
        ),
        ((1, 2, 17, 16), 4, 8, "attention must have shape (B, heads, T, T)"),
        ((1, 2, 20, 20), 4, 8, "attention has 20 tokens, but a 4x4 grid has N = 16"),
        ((1, 2, 16, 16), 4, 0, "patch_size must be a positive int, got 0"),
    ],
)
def test_mean_attention_distance_rejects_bad_inputs(shape, grid, p, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        vitbook.mean_attention_distance(torch.rand(shape), grid, p)


def test_flops_by_part_sums_to_count_flops_and_sees_attention():
    model = ViT(image_size=28, patch_size=4, num_classes=10, channels=1, depth=2)
    images = torch.rand(2, 1, 28, 28)
    parts = vitbook.flops_by_part(model, images)
    assert sum(parts.values()) == vitbook.count_flops(model, images)
    # per block: q k^T and A v are each N^2 D multiply-adds over the 50 tokens
    assert parts["attention: q k^T and A v"] == 2 * 2 * 2 * (2 * 50 * 50 * 128)
    # with torch's own kernel choice on the CPU the counter misses exactly that part
    fused = vitbook.flops_by_part(model, images, math_attention=False)
    missing = sum(parts.values()) - sum(fused.values())
    assert missing == parts["attention: q k^T and A v"]


def test_flops_by_part_refuses_other_modules():
    with pytest.raises(TypeError, match="vitbook.ViT"):
        vitbook.flops_by_part(torch.nn.Linear(3, 3), torch.rand(1, 3))
