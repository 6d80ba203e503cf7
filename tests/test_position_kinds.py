"""The position kinds beyond one absolute table: the paper's factorised 2-D table and
the axial 2-D rotary embedding, each checked by its defining property."""

from __future__ import annotations

import pytest
import torch

import vitbook
from vitbook.position import (
    AxialRoPE,
    ConvPositionEncoding,
    FactorisedPositionEmbedding,
    RelativeAttention,
)
from vitbook.training import decay_split


def small_vit(position, **kw):
    torch.manual_seed(0)
    config = dict(image_size=24, patch_size=4, dim=32, depth=1, heads=2, mlp_dim=64)
    return vitbook.ViT(**(config | kw), position=position).eval()


def test_the_factorised_table_is_a_row_part_and_a_column_part():
    table = FactorisedPositionEmbedding((3, 5), 8)(prefix=1)[0]  # (1 + 15, 8)
    assert table.shape == (16, 8)
    assert torch.equal(table[0], torch.zeros(8))  # the class token: no position
    grid = table[1:].reshape(3, 5, 8)
    # patches in one row share the first half, patches in one column the second
    assert torch.equal(grid[:, :, :4], grid[:, :1, :4].expand(3, 5, 4))
    assert torch.equal(grid[:, :, 4:], grid[:1, :, 4:].expand(3, 5, 4))
    # and rows differ from one another (a random start)
    assert not torch.equal(grid[0, 0, :4], grid[1, 0, :4])


def test_learned_2d_trains_both_tables_without_weight_decay():
    model = small_vit("learned-2d").train()
    names_decayed = {n for n, _ in decay_split(model)[0]}
    assert not any("pos_embed_2d" in n for n in names_decayed)
    loss = model(torch.rand(2, 3, 24, 24)).sum()
    loss.backward()
    assert model.pos_embed_2d.rows.grad.abs().sum() > 0
    assert model.pos_embed_2d.cols.grad.abs().sum() > 0
    table = model.position_table()
    assert table.shape == (1, 37, 32)


def scores(model, tokens):
    # block 1's attention logits q_i . k_j (before the softmax) for (B, T, D) tokens
    attn = model.blocks[0].attn
    q, k, _ = attn.split_heads(model.blocks[0].norm1(tokens))
    return q @ k.transpose(-2, -1)  # (B, heads, T, T)


def offsets_agree(s, rows, cols, prefix):
    # the largest spread, over all pairs of patches with the same (row, column) offset
    s = s[..., prefix:, prefix:]
    r = torch.arange(rows).repeat_interleave(cols)
    c = torch.arange(cols).repeat(rows)
    dr = r[:, None] - r[None, :]
    dc = c[:, None] - c[None, :]
    spread = 0.0
    for a in dr.unique():
        for b in dc.unique():
            values = s[..., (dr == a) & (dc == b)]
            spread = max(spread, (values.amax(-1) - values.amin(-1)).max().item())
    return spread


@pytest.mark.parametrize("pool", ["cls", "mean"])
def test_rope_logits_depend_only_on_the_offset(pool):
    # the same content at every patch: whatever differs between pairs is position.
    # With RoPE the logit of two patches depends only on their offset, exactly, after
    # LayerNorm, W_Q and W_K; an absolute table breaks that (the control)
    content = torch.randn(1, 1, 32).expand(1, 36, 32)
    rope = small_vit("rope2d", pool=pool)
    learned = small_vit("learned", pool=pool)
    prefix = rope.num_prefix_tokens
    with torch.no_grad():
        tokens = torch.cat([torch.randn(1, prefix, 32), content], dim=1)
        rope_spread = offsets_agree(scores(rope, tokens), 6, 6, prefix)
        absolute = tokens + learned.position_table()
        learned_spread = offsets_agree(scores(learned, absolute), 6, 6, prefix)
    assert rope_spread < 1e-4
    assert learned_spread > 100 * max(rope_spread, 1e-6)


def test_rope_moves_attention_with_the_content():
    # translation: content shifted one patch to the right gives the same logits between
    # the shifted patches (where both are inside the grid)
    rope = small_vit("rope2d", pool="mean")
    grid = torch.randn(1, 6, 6, 32)
    shifted = torch.roll(grid, shifts=1, dims=2)
    with torch.no_grad():
        s = scores(rope, grid.reshape(1, 36, 32))[0, 0].reshape(6, 6, 6, 6)
        t = scores(rope, shifted.reshape(1, 36, 32))[0, 0].reshape(6, 6, 6, 6)
    # patch (r, c) of the original is patch (r, c + 1) of the shifted grid
    assert torch.allclose(s[:, :5, :, :5], t[:, 1:, :, 1:], atol=1e-4)
    # control: without the shift the two differ
    assert (s[:, :5, :, :5] - t[:, :5, :, :5]).abs().max() > 1e-2


def test_rope_leaves_the_class_token_and_norms_unrotated():
    rope = AxialRoPE((2, 3), head_dim=8, prefix=1)
    x = torch.randn(1, 1, 7, 8)
    y = rope(x)
    assert torch.equal(y[..., 0, :], x[..., 0, :])  # the class token: angle 0
    # a rotation keeps every pair's length
    pairs = lambda t: t.reshape(*t.shape[:-1], -1, 2).norm(dim=-1)  # noqa: E731
    assert torch.allclose(pairs(y), pairs(x), atol=1e-6)
    assert not torch.allclose(y[..., 1:, :], x[..., 1:, :])


def test_rope_needs_head_dim_a_multiple_of_4():
    with pytest.raises(ValueError, match="multiple of 4"):
        vitbook.ViT(image_size=8, patch_size=4, dim=12, heads=2, position="rope2d")


def biased_scores(model, tokens):
    # block 1's logits with the relative term, as the softmax sees them
    return model.blocks[0].attn.attention_logits(model.blocks[0].norm1(tokens))


def patch_logits(model, prefix, content):
    # block 1's logits between the patches, for the tokens [prefix; content] plus the
    # model's own table: (heads, N, N)
    tokens = torch.cat([prefix, content], dim=1) + model.position_table()
    p = prefix.shape[1]
    return biased_scores(model, tokens)[0, :, p:, p:]


@pytest.mark.parametrize("pool", ["cls", "mean"])
def test_relative_bias_moves_attention_with_the_content(pool):
    # shift the content one patch to the right: with a relative bias (and no absolute
    # table) the logits between the shifted patches are the same; with a learned
    # absolute table they are not (the control)
    relative = small_vit("relative-bias", pool=pool)
    learned = small_vit("learned", pool=pool)
    p = relative.num_prefix_tokens
    grid = torch.randn(1, 6, 6, 32)
    shifted = torch.roll(grid, shifts=1, dims=2)
    prefix = torch.randn(1, p, 32)
    gaps = {}
    with torch.no_grad():
        for name, model in (("relative", relative), ("learned", learned)):
            s = patch_logits(model, prefix, grid.reshape(1, 36, 32))
            t = patch_logits(model, prefix, shifted.reshape(1, 36, 32))
            s, t = s.reshape(2, 6, 6, 6, 6), t.reshape(2, 6, 6, 6, 6)
            gaps[name] = (s[:, :, :5, :, :5] - t[:, :, 1:, :, 1:]).abs().max().item()
    assert gaps["relative"] < 1e-5
    assert gaps["learned"] > 1e-2


def test_relative_bias_depends_only_on_the_offset_and_reaches_forward():
    bias = vitbook.position.RelativePositionBias((3, 4), heads=2, prefix=1)()
    assert bias.shape == (2, 13, 13)
    assert torch.equal(bias[:, 0], torch.zeros(2, 13))  # the class token: no bias
    grid = bias[:, 1:, 1:].reshape(2, 3, 4, 3, 4)
    # the same offset, the same bias: (0,0)->(1,1) and (1,2)->(2,3)
    assert torch.equal(grid[:, 0, 0, 1, 1], grid[:, 1, 2, 2, 3])
    assert not torch.equal(grid[:, 0, 0, 1, 1], grid[:, 0, 0, 1, 2])
    # forward (scaled_dot_product_attention with the bias) matches attention_weights
    model = small_vit("relative-bias")
    attn = model.blocks[0].attn
    with torch.no_grad():
        x = torch.randn(2, 37, 32)
        _, _, v = attn.split_heads(x)
        by_weights = attn.attention_weights(x) @ v  # (B, h, T, D/h)
        expected = attn.proj(by_weights.transpose(1, 2).reshape(2, 37, 32))
        assert torch.allclose(attn(x), expected, atol=1e-5)
    decayed = {n for n, _ in decay_split(model)[0]}
    assert not any("rel_bias" in n for n in decayed)


@pytest.mark.parametrize("pool", ["cls", "mean"])
def test_paper_relative_attention_moves_attention_with_the_content(pool):
    # the paper's offsets are 1-D (raster order): shift the content one step along the
    # raster order and the logits between the shifted tokens are the same; with a
    # learned absolute table they are not (the control)
    relative = small_vit("relative", pool=pool)
    learned = small_vit("learned", pool=pool)
    p = relative.num_prefix_tokens
    content = torch.randn(1, 36, 32)
    shifted = torch.roll(content, shifts=1, dims=1)
    prefix = torch.randn(1, p, 32)
    gaps = {}
    with torch.no_grad():
        for name, model in (("relative", relative), ("learned", learned)):
            s = patch_logits(model, prefix, content)
            t = patch_logits(model, prefix, shifted)
            gaps[name] = (s[:, :35, :35] - t[:, 1:, 1:]).abs().max().item()
    assert gaps["relative"] < 1e-5
    assert gaps["learned"] > 1e-2


def test_paper_relative_attention_is_queries_against_offset_embeddings():
    torch.manual_seed(0)
    rel = RelativeAttention(num_patches=5, head_dim=4, prefix=1)
    assert rel.table.shape == (2 * 5 - 1, 4)
    q = torch.randn(2, 3, 6, 4)  # (B, heads, 1 + N, head_dim)
    logits = rel(q)
    assert logits.shape == (2, 3, 6, 6)
    assert torch.equal(logits[..., 0, :], torch.zeros(2, 3, 6))  # the class token
    assert torch.equal(logits[..., :, 0], torch.zeros(2, 3, 6))
    for i in range(5):
        for j in range(5):
            # query i against the embedding of offset i - j, scaled like the content
            want = q[..., 1 + i, :] @ rel.table[i - j + 4] / 2.0
            assert torch.allclose(logits[..., 1 + i, 1 + j], want, atol=1e-6)
    # it reaches forward: the fused attention matches attention_weights
    model = small_vit("relative")
    attn = model.blocks[0].attn
    with torch.no_grad():
        x = torch.randn(2, 37, 32)
        _, _, v = attn.split_heads(x)
        by_weights = attn.attention_weights(x) @ v
        expected = attn.proj(by_weights.transpose(1, 2).reshape(2, 37, 32))
        assert torch.allclose(attn(x), expected, atol=1e-5)
    decayed = {n for n, _ in decay_split(model)[0]}
    assert not any("rel_attn" in n for n in decayed)


def test_cpe_gives_position_from_the_border_and_moves_with_the_content():
    torch.manual_seed(0)
    cpe = ConvPositionEncoding((6, 6), dim=8, prefix=1)
    with torch.no_grad():
        cpe.conv.bias.zero_()
        # the same content at every patch: only the zero padding tells patches apart,
        # so the 16 inner patches agree and the border ones differ from them
        same = torch.cat([torch.randn(1, 1, 8), torch.ones(1, 36, 8)], dim=1)
        out = cpe(same)
        grid = out[0, 1:].reshape(6, 6, 8)
        inner = grid[1:5, 1:5].reshape(-1, 8)
        assert (inner - inner[0]).abs().max() < 1e-6
        assert (grid[0, 0] - grid[2, 2]).abs().max() > 1e-2
        assert torch.equal(out[:, 0], same[:, 0])  # the class token passes unchanged
        # translation: content shifted one patch right, outputs shifted with it away
        # from the border columns
        x = torch.randn(1, 6, 6, 8)
        shifted = torch.roll(x, shifts=1, dims=2)
        a = cpe(torch.cat([same[:, :1], x.reshape(1, 36, 8)], 1))[0, 1:]
        b = cpe(torch.cat([same[:, :1], shifted.reshape(1, 36, 8)], 1))[0, 1:]
        a, b = a.reshape(6, 6, 8), b.reshape(6, 6, 8)
        assert torch.allclose(a[:, 1:4], b[:, 2:5], atol=1e-6)
        assert (a[:, 1:4] - b[:, 1:4]).abs().max() > 1e-2
    with pytest.raises(ValueError, match=r"expected 1 \+ 6x6 tokens, got 26"):
        cpe(torch.randn(1, 26, 8))


def test_cpe_follows_the_first_block_only():
    model = small_vit("cpe", depth=2)
    assert model.cpe.grid_size == (6, 6)
    images = torch.rand(2, 3, 24, 24)
    with torch.no_grad():
        x = model.tokens(images)
        by_hand = model.cpe(model.blocks[0](x))
        assert torch.equal(model.encode(x, 0), by_hand)
        assert torch.equal(model.encode(by_hand, 1), model.blocks[1](by_hand))
        assert len(model.attention_maps(images)) == 2
        # control: without its convolution the model's output changes
        before = model(images)
        model.cpe.conv.weight.zero_()
        model.cpe.conv.bias.zero_()
        assert (model(images) - before).abs().max() > 1e-4


@pytest.mark.parametrize("pool", ["cls", "mean"])
def test_registers_sit_after_the_class_token_without_a_position(pool):
    model = small_vit("learned", pool=pool, registers=3)
    cls = 1 if pool == "cls" else 0
    assert model.num_prefix_tokens == cls + 3
    images = torch.rand(2, 3, 24, 24)
    with torch.no_grad():
        tokens = model.tokens(images)
        assert tokens.shape == (2, cls + 3 + 36, 32)
        # the registers are the same learned vectors for every image: no position
        for b in range(2):
            assert torch.equal(tokens[b, cls : cls + 3], model.registers[0])
        # and distinct from one another (a random start)
        assert (model.registers[0, 0] - model.registers[0, 1]).abs().max() > 1e-3
        assert model.position_table().shape == (1, cls + 36, 32)
        maps = model.attention_maps(images)
        assert maps[0].shape == (2, 2, cls + 3 + 36, cls + 3 + 36)
        if pool == "mean":
            # the mean runs over the patches, not the registers
            x = tokens
            for i in range(len(model.blocks)):
                x = model.encode(x, i)
            want = model.norm(x)[:, 3:].mean(dim=1)
            assert torch.allclose(model.features(images), want, atol=1e-6)
    decayed = {n for n, _ in decay_split(model)[0]}
    assert "registers" not in decayed


def test_registers_must_be_a_whole_number():
    with pytest.raises(ValueError, match="registers must be an int >= 0, got -1"):
        small_vit("learned", registers=-1)
    for bad in (1.5, True):
        with pytest.raises(TypeError, match="registers must be an int"):
            small_vit("learned", registers=bad)
