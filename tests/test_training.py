"""The training loop: what weight decay reaches, and the progress it shows."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vitbook import ConvStem, ViT
from vitbook.training import Progress, TrainConfig, decay_split, train_classifier


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


def _tiny_run(progress):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
    images, labels = torch.rand(32, 3, 2, 2), torch.arange(32) % 3
    config = TrainConfig(steps=6, batch_size=8, warmup_steps=1)
    return train_classifier(model, images, labels, config, progress=progress)


def test_progress_prints_plain_lines_where_the_output_is_not_a_terminal(monkeypatch):
    monkeypatch.setattr(Progress, "_interactive", staticmethod(lambda: False))
    lines = []
    bar = Progress(6, "steps", log=lines.append, every=1e-9)
    history = _tiny_run(bar)
    bar.close()
    # one line per step (every is tiny here), then the closing line
    assert len(lines) == 7
    assert lines[0].startswith("1/6 steps (17%), ") and "about " in lines[0]
    last = lines[-1]
    assert last.startswith("6/6 steps (100%), ") and " img/s, " in last
    assert f"loss {history.losses[-1]:.3f}" in last and "left" not in last


def test_progress_is_a_tqdm_bar_on_a_terminal_and_silent_without_log(
    monkeypatch, capsys
):
    monkeypatch.setattr(Progress, "_interactive", staticmethod(lambda: True))
    bar = Progress(6, "steps")
    _tiny_run(bar)
    bar.note("a result line")
    bar.close()
    out, err = capsys.readouterr()
    # the bar goes to stderr, with the rate and the loss; nothing of it to stdout
    assert "6/6" in err and "img/s=" in err and "loss=" in err
    assert out == "a result line\n"
    silent = Progress(6, "steps", log=None)
    _tiny_run(silent)
    silent.note("unseen")
    silent.close()
    assert capsys.readouterr() == ("", "")


def test_progress_refuses_a_bad_total_or_log():
    with pytest.raises(ValueError, match="total must be a positive int, got 0"):
        Progress(0)
    with pytest.raises(TypeError, match="log must be a function"):
        Progress(5, log="print")
    with pytest.raises(TypeError, match="progress must be a Progress or None"):
        _tiny_run(progress="yes")
