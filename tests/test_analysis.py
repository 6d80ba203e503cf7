"""vitbook.analysis on a random-weight model of the ViT-B/16 shape: what the chapter's
online cell runs on a published checkpoint, tested offline."""

from __future__ import annotations

import matplotlib
import pytest
import torch

import vitbook
from vitbook.analysis import draw_figure7, figure7

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def b16():
    torch.manual_seed(0)
    model = vitbook.ViT(
        image_size=224,
        patch_size=16,
        dim=768,
        depth=12,
        heads=12,
        mlp_dim=3072,
        num_classes=1000,
        mean=0.0,
        std=1.0,
    )
    return model.eval()


def test_figure7_of_a_b16_shaped_model(b16):
    images = vitbook.to_tensor(vitbook.load_photo("astronaut"))
    report = figure7(b16, images)
    assert report["components"].shape == (28, 768)
    assert report["position_similarity"].shape == (196, 196)
    assert report["attention_distance"].shape == (12, 12)
    assert report["cls_attention"].shape == (1, 196)
    # the components are orthonormal directions, in decreasing order of variance
    gram = report["components"] @ report["components"].T
    assert torch.allclose(gram, torch.eye(28), atol=1e-4)
    assert (report["explained"].diff() <= 1e-7).all()
    # the class token's weights on the 196 patches: all but its weight on itself
    on_patches = report["cls_attention"].sum(dim=-1)
    assert ((on_patches > 0.9) & (on_patches < 1)).all()
    # a random model attends almost uniformly: every head near the uniform distance,
    # which a 14x14 grid of 16-pixel patches puts far from 0 and from the grid's size
    uniform = report["uniform_distance"]
    assert 80 < uniform < 120
    assert (report["attention_distance"] - uniform).abs().max() < 0.1 * uniform
    # a random table is not similar to its neighbours: the diagonal is 1, the rest small
    similarity = report["position_similarity"]
    assert torch.allclose(similarity.diag(), torch.ones(196), atol=1e-5)
    assert similarity.fill_diagonal_(0).abs().max() < 0.3
    fig = draw_figure7(report)
    assert len(fig.axes) >= 3
    matplotlib.pyplot.close(fig)


def test_figure7_sees_local_attention():
    # the control for the distance panel: a random model comes out near uniform,
    # while attention that stays on its own patch comes out far below it
    torch.manual_seed(0)
    model = vitbook.ViT(image_size=32, patch_size=4, dim=32, depth=1, heads=2).eval()
    images = torch.rand(2, 3, 32, 32)
    report = figure7(model, images)
    uniform = report["uniform_distance"]
    maps = model.attention_maps(images)
    assert (report["attention_distance"][0] - uniform).abs().max() < 0.1 * uniform
    local = torch.eye(65)[None, None].expand_as(maps[0])
    distance = vitbook.mean_attention_distance(local, 8, 4)
    assert distance.max() < 0.1 * uniform


def test_figure7_refuses_a_conv_stem_model():
    model = vitbook.ViT(
        image_size=32,
        patch_size=4,
        dim=32,
        depth=1,
        heads=2,
        embedding=vitbook.ConvStem(4, 3, 32),
    )
    with pytest.raises(ValueError, match="linear patch embedding"):
        figure7(model, torch.rand(1, 3, 32, 32))
