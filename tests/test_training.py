"""The training loop's parameter groups: which parameters weight decay reaches."""

from __future__ import annotations

import torch

from vitbook import ConvStem, ViT
from vitbook.training import TrainConfig, decay_split, train_classifier


def small_vit(**kwargs) -> ViT:
    torch.manual_seed(0)
    config = dict(
        image_size=8, patch_size=4, num_classes=3, dim=8, depth=1, heads=2, mlp_dim=16
    )
    return ViT(**{**config, **kwargs})


def test_weight_decay_reaches_the_matrices_only():
    """Decay: the patch embedding, attention and MLP matrices and the head; never the
    class token, the position table, a bias or a LayerNorm (as in timm)."""
    decay, no_decay = decay_split(small_vit())
    assert [n for n, _ in decay] == [
        "patch_embed.proj.weight",
        "blocks.0.attn.qkv.weight",
        "blocks.0.attn.proj.weight",
        "blocks.0.mlp.fc1.weight",
        "blocks.0.mlp.fc2.weight",
        "head.weight",
    ]
    assert {"cls_token", "pos_embed"} <= {n for n, _ in no_decay}
    assert not any(n.endswith(".weight") and "norm" not in n for n, _ in no_decay)


def test_every_trainable_parameter_is_in_exactly_one_group():
    model = small_vit(pool="mean", embedding=ConvStem(4, 3, 8, channels=(4, 8)))
    decay, no_decay = decay_split(model)
    names = [n for n, _ in decay] + [n for n, _ in no_decay]
    assert sorted(names) == sorted(n for n, _ in model.named_parameters())
    assert "cls_token" not in names  # mean pooling: no class token at all
    # the conv stem's kernels decay, its BatchNorm scales and shifts do not
    assert "patch_embed.stages.0.0.weight" in [n for n, _ in decay]
    assert all(p.ndim >= 2 for _, p in decay)


def test_training_leaves_an_exempt_parameter_free_of_decay():
    """With zero gradients on the class token, only decay could move it: it must not
    move, while a matrix under the same zero gradient shrinks."""
    model = small_vit()
    with torch.no_grad():
        model.cls_token.fill_(1.0)
    model.cls_token.register_hook(lambda g: torch.zeros_like(g))
    model.head.weight.register_hook(lambda g: torch.zeros_like(g))
    head_before = model.head.weight.detach().clone()
    images, labels = torch.rand(16, 3, 8, 8), torch.randint(0, 3, (16,))
    config = TrainConfig(
        steps=5, batch_size=8, lr=0.1, weight_decay=0.5, warmup_steps=1
    )
    train_classifier(model, images, labels, config)
    assert torch.equal(model.cls_token, torch.ones_like(model.cls_token))
    assert model.head.weight.norm() < 0.99 * head_before.norm()
