"""Bad input, tried as a new reader would make the mistake: every case is refused at the
boundary with the right type of error (``TypeError`` for a wrong type, ``ValueError``
for a wrong value) and a message that names the argument and the value, or, for
images on the wrong scale, warned about with the range seen. Nothing here may pass
silently: each case asserts the error (or warning) and words it must carry.

The tables are by area; the command lines' flags are tried in test_command_lines.py.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib import pyplot as plt
from torch import nn

import vitbook
from vitbook import checks, convert, plots, widgets
from vitbook.analysis import draw_figure7, figure7
from vitbook.checks import InputRangeWarning
from vitbook.position import (
    AxialRoPE,
    ConvPositionEncoding,
    FactorisedPositionEmbedding,
    RelativeAttention,
    RelativePositionBias,
)
from vitbook.resolution import (
    place_on_canvas,
    resize_images,
)
from vitbook.training import TrainConfig, accuracy, train_classifier


def small_vit(**options) -> vitbook.ViT:
    config = dict(
        image_size=16,
        patch_size=4,
        num_classes=3,
        dim=16,
        depth=1,
        heads=2,
        mlp_dim=32,
        channels=1,
    )
    return vitbook.ViT(**(config | options))


def raises(error: type, words: str, call, *args, **kwargs) -> None:
    """``call(*args, **kwargs)`` raises ``error`` (an IndexError or a torch
    RuntimeError from deep inside fails the case) with ``words`` in its message."""
    with pytest.raises(error) as caught:
        call(*args, **kwargs)
    assert re.search(words, str(caught.value)), (words, str(caught.value))


# --- sizes, counts and numbers: one shared check -------------------------------------

SIZES = [
    # (call, kwargs, error, words)
    (vitbook.ViT, {"dim": 0}, ValueError, r"dim must be a positive int, got 0"),
    (vitbook.ViT, {"dim": 12.0}, TypeError, r"dim must be an int, got 12\.0.*pass 12"),
    (vitbook.ViT, {"depth": 0}, ValueError, r"depth must be a positive int, got 0"),
    (vitbook.ViT, {"depth": True}, TypeError, r"depth must be an int, got True"),
    (vitbook.ViT, {"heads": -2}, ValueError, r"heads must be a positive int, got -2"),
    (vitbook.ViT, {"heads": 3}, ValueError, r"dim 128 is not divisible by heads 3"),
    (vitbook.ViT, {"mlp_dim": 0}, ValueError, r"mlp_dim must be a positive int"),
    (vitbook.ViT, {"num_classes": 0}, ValueError, r"num_classes must be a positive"),
    (vitbook.ViT, {"channels": "3"}, TypeError, r"channels must be an int.*string"),
    (vitbook.ViT, {"patch_size": 0}, ValueError, r"patch_size must be a positive int"),
    (vitbook.ViT, {"image_size": -224}, ValueError, r"image_size must be a positive"),
    (vitbook.ViT, {"registers": -1}, ValueError, r"registers must be an int >= 0"),
    (vitbook.ViT, {"representation_size": 0}, ValueError, r"representation_size"),
    (vitbook.ViT, {"std": 0}, ValueError, r"std must be > 0, got 0"),
    (vitbook.ViT, {"std": -0.5}, ValueError, r"std must be > 0, got -0\.5"),
    (vitbook.ViT, {"mean": float("nan")}, ValueError, r"mean must be a finite number"),
    (vitbook.ViT, {"mean": "0.5"}, TypeError, r"mean must be a number, got '0\.5'"),
    (vitbook.ViT, {"std": (0.5, 0.5)}, ValueError, r"one per channel \(3\), got 2"),
    (vitbook.ViT, {"position": "learnd"}, ValueError, r"did you mean 'learned'\?"),
    (vitbook.ViT, {"position": 1}, TypeError, r"position must be a string"),
    (vitbook.ViT, {"pool": "max"}, ValueError, r"pool must be one of 'cls', 'mean'"),
    (vitbook.ViT, {"embedding": "conv"}, TypeError, r"embedding must be an nn.Module"),
    (vitbook.PatchEmbedding, {"patch_size": True}, TypeError, r"patch_size must be"),
    (vitbook.PatchEmbedding, {"in_channels": 0}, ValueError, r"in_channels must be"),
    (vitbook.PatchEmbedding, {"dim": -1}, ValueError, r"dim must be a positive int"),
    (vitbook.ConvStem, {"patch_size": 12}, ValueError, r"power of two >= 2.*got 12"),
    (vitbook.ConvStem, {"channels": 64}, TypeError, r"channels must be a list of 4"),
    (vitbook.ConvStem, {"channels": (8, 8.0, 8, 8)}, TypeError, r"channels\[1\]"),
    (vitbook.MultiHeadSelfAttention, {"dim": 8, "heads": 0}, ValueError, r"heads"),
    (vitbook.MLP, {"dim": 8, "mlp_dim": 0}, ValueError, r"mlp_dim must be a positive"),
    (vitbook.EncoderBlock, {"dim": 0, "heads": 1, "mlp_dim": 4}, ValueError, r"dim"),
    (vitbook.sincos_position_embedding, {"grid_size": 4, "dim": 6}, ValueError, "4"),
    (
        vitbook.sincos_position_embedding,
        {"grid_size": 4, "dim": 8, "temperature": 0},
        ValueError,
        r"temperature must be > 0, got 0",
    ),
    (
        vitbook.sincos_position_embedding,
        {"grid_size": (4, 0), "dim": 8},
        ValueError,
        r"grid_size\[1\] must be a positive int, got 0",
    ),
    (
        vitbook.sincos_position_embedding,
        {"grid_size": 4.0, "dim": 8},
        TypeError,
        r"grid_size must be an int or a pair",
    ),
    (
        vitbook.sincos_1d_position_embedding,
        {"num_positions": 0, "dim": 8},
        ValueError,
        r"num_positions must be a positive int",
    ),
    (
        vitbook.sincos_1d_position_embedding,
        {"num_positions": 4, "dim": 8, "temperature": -1.0},
        ValueError,
        r"temperature must be > 0",
    ),
    (
        vitbook.LearnedPositionEmbedding,
        {"num_positions": 4, "dim": 8, "std": -0.02},
        ValueError,
        r"std must be > 0",
    ),
    (
        FactorisedPositionEmbedding,
        {"grid_size": 4, "dim": 7},
        ValueError,
        r"dim must be even",
    ),
    (AxialRoPE, {"grid_size": 4, "head_dim": 8, "theta": 0}, ValueError, r"theta"),
    (AxialRoPE, {"grid_size": 4, "head_dim": 8, "prefix": -1}, ValueError, r"prefix"),
    (RelativePositionBias, {"grid_size": 4, "heads": 0}, ValueError, r"heads must"),
    (RelativeAttention, {"num_patches": 0, "head_dim": 4}, ValueError, r"num_patch"),
    (
        ConvPositionEncoding,
        {"grid_size": 4, "dim": 8, "kernel_size": 2},
        ValueError,
        r"kernel_size must be a positive odd number, got 2",
    ),
    (
        vitbook.resize_position_embedding,
        {"pos_embed": torch.zeros(1, 17, 8), "new_grid_size": 5, "mode": "cubic"},
        ValueError,
        r"mode must be one of .*'bicubic'.*did you mean 'bicubic'",
    ),
    (
        vitbook.resize_position_embedding,
        {"pos_embed": np.zeros((1, 17, 8)), "new_grid_size": 5},
        TypeError,
        r"pos_embed must be a torch.Tensor",
    ),
    (vitbook.grid_size, {"image_size": 224, "patch_size": 16.0}, TypeError, r"int"),
    (vitbook.num_patches, {"image_size": (224,), "patch_size": 16}, TypeError, r"pair"),
    (
        vitbook.mean_attention_distance,
        {"attention": torch.ones(1, 1, 4, 4) / 4, "grid_size": 2, "patch_size": 0},
        ValueError,
        r"patch_size must be a positive int",
    ),
    (
        vitbook.patches_in_box,
        {"box": (0, 0, 10), "image_size": 32, "patch_size": 16},
        TypeError,
        r"box must be \(top, left, height, width\)",
    ),
    (
        vitbook.patches_in_box,
        {"box": (0, 0, 10.5, 10), "image_size": 32, "patch_size": 16},
        TypeError,
        r"box height must be an int",
    ),
    (vitbook.load_photo, {"size": 0}, ValueError, r"size must be a positive int"),
    (vitbook.load_photo, {"size": 224.0}, TypeError, r"size must be an int"),
    (vitbook.load_raw_photo, {"name": "astronot"}, ValueError, r"'astronaut'\?"),
    (vitbook.glue, {"name": 3, "value": 1}, TypeError, r"glue name must be a str"),
    (vitbook.glue, {"name": "x", "value": 1, "fmt": 3}, TypeError, r"fmt must be"),
    (vitbook.glue, {"name": "x", "value": 2.0, "fmt": "%d"}, ValueError, r"fmt '%d'"),
    (
        vitbook.glue,
        {"name": "x", "value": torch.ones(2), "fmt": ".2f"},
        TypeError,
        r"cannot format value .*\.item\(\)",
    ),
    (
        vitbook.patches_in_box,
        {"box": (100, 100, 20, 20), "image_size": 64, "patch_size": 16},
        ValueError,
        r"lies outside the 64x64 image",
    ),
    (
        vitbook.mean_attention_distance,
        {
            "attention": torch.full((1, 2, 17, 17), -0.5),
            "grid_size": 4,
            "patch_size": 8,
        },
        ValueError,
        r"softmax weights .*not the logits",
    ),
    (
        vitbook.count_flops,
        {"module": nn.Linear(2, 2), "inputs": torch.ones(1, 2), "backward": "yes"},
        TypeError,
        r"backward must be True or False",
    ),
    (
        vitbook.resize_position_embedding,
        {"pos_embed": torch.zeros(1, 17, 8, dtype=torch.long), "new_grid_size": 5},
        TypeError,
        r"pos_embed must be a float table",
    ),
    (
        vitbook.cosine_similarity_matrix,
        {"x": torch.ones(4, 8, dtype=torch.long)},
        TypeError,
        r"x and y must be float tensors",
    ),
]


@pytest.mark.parametrize(
    "call, kwargs, error, words",
    SIZES,
    ids=[f"{c.__name__}-{'-'.join(k)}-{i}" for i, (c, k, *_) in enumerate(SIZES)],
)
def test_sizes_and_numbers(call, kwargs, error, words):
    raises(error, words, call, **kwargs)


@settings(max_examples=60, deadline=None)
@given(st.integers(max_value=0))
def test_positive_int_refuses_every_int_below_one(value):
    with pytest.raises(ValueError, match=f"dim must be a positive int, got {value}"):
        checks.positive_int(value, "dim")


@settings(max_examples=60, deadline=None)
@given(
    st.one_of(
        st.floats(allow_nan=True),
        st.booleans(),
        st.text(max_size=5),
        st.none(),
        st.lists(st.integers(), max_size=2),
    )
)
def test_positive_int_refuses_every_non_int(value):
    with pytest.raises(TypeError, match="heads must be an int, got"):
        checks.positive_int(value, "heads")


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=2**40))
def test_positive_int_accepts_every_int_above_zero(value):
    # the control: the check lets every good value through, unchanged
    assert checks.positive_int(np.int64(value), "dim") == value


@settings(max_examples=60, deadline=None)
@given(
    st.one_of(
        st.floats(max_value=0.0),
        st.just(math.inf),
        st.just(math.nan),
    )
)
def test_positive_number_refuses_zero_negative_and_non_finite(value):
    with pytest.raises(ValueError, match="temperature must be"):
        vitbook.sincos_position_embedding(4, 8, temperature=value)


# --- images: dtype, layout, range, NaN ------------------------------------------------


def unit_images(b: int = 2, c: int = 1, s: int = 16) -> torch.Tensor:
    return torch.rand(b, c, s, s, generator=torch.Generator().manual_seed(0))


IMAGES = [
    # (what the reader passes, error, words)
    (
        (unit_images() * 255).to(torch.uint8),
        TypeError,
        r"dtype torch.uint8.*images.float\(\) / 255",
    ),
    (unit_images().long(), TypeError, r"dtype torch.int64.*scaled to \[0, 1\]"),
    (unit_images() > 0.5, TypeError, r"dtype torch.bool"),
    (unit_images().numpy(), TypeError, r"torch.Tensor.*got ndarray.*torch.as_tensor"),
    (unit_images().tolist(), TypeError, r"got list"),
    (
        unit_images().permute(0, 2, 3, 1),
        ValueError,
        r"look channels-last \(B, H, W, C\).*images.permute\(0, 3, 1, 2\)",
    ),
    (unit_images()[:, 0], ValueError, r"images\[:, None\]"),
    (unit_images()[0, 0], ValueError, r"images\[None, None\]"),
    (unit_images(c=3), ValueError, r"must have 1 channels.*got shape \(2, 3, 16, 16\)"),
    (unit_images(s=20), ValueError, r"must be 16x16 pixels, got 20x20"),
    (unit_images().double(), TypeError, r"torch.float64, but the weights are.*float()"),
]


@pytest.mark.parametrize("images, error, words", IMAGES)
def test_vit_refuses_images_it_cannot_read(images, error, words):
    raises(error, words, small_vit(), images)


LAYER_IMAGES = [
    # (module, images, error, words)
    (
        vitbook.PatchEmbedding(4, 3, 8),
        (unit_images(c=3) * 255).byte(),
        TypeError,
        r"uint8",
    ),
    (
        vitbook.PatchEmbedding(16, 3, 8),
        torch.rand(1, 224, 224, 3),
        ValueError,
        r"channels-last.*permute\(0, 3, 1, 2\)",
    ),
    (
        vitbook.ConvStem(4, 3, 8),
        torch.rand(1, 32, 32, 3),
        ValueError,
        r"channels-last.*permute\(0, 3, 1, 2\)",
    ),
    (vitbook.ConvStem(4, 3, 8), torch.zeros(1, 3, 32, 32).int(), TypeError, r"int32"),
    (
        lambda x: vitbook.patchify(x, 16),
        torch.rand(1, 224, 224, 3),
        ValueError,
        r"channels-last.*C = 3.*permute\(0, 3, 1, 2\)",
    ),
    (
        lambda x: vitbook.sliding_patches(x, 16, 8),
        torch.rand(1, 8, 8, 3),
        ValueError,
        r"patch_size 16 is larger than the 8x3 images|channels-last",
    ),
    (lambda x: resize_images(x, 8), torch.rand(4, 4), ValueError, r"\(B, C, H, W\)"),
    (lambda x: place_on_canvas(x, 8), np.zeros((1, 1, 4, 4)), TypeError, r"Tensor"),
    (vitbook.EncoderBlock(16, 2, 32), torch.zeros(2, 5, 8), ValueError, r"D = 16"),
    (
        vitbook.MultiHeadSelfAttention(32, 4),
        torch.zeros(5, 32),
        ValueError,
        r"x\[None\]",
    ),
    (
        vitbook.MultiHeadSelfAttention(32, 4),
        torch.zeros(1, 5, 32, dtype=torch.long),
        TypeError,
        r"float tokens",
    ),
    (vitbook.MLP(32, 64), torch.zeros(2, 5, 16), ValueError, r"MLP takes tokens"),
]


@pytest.mark.parametrize("module, images, error, words", LAYER_IMAGES)
def test_layers_refuse_images_they_cannot_read(module, images, error, words):
    raises(error, words, module, images)


def test_patchify_still_takes_uint8_photos():
    # the control for the dtype checks: patches of a uint8 photo are meaningful
    photo = vitbook.to_tensor(vitbook.load_photo()).mul(255).byte()
    assert vitbook.patchify(photo, 16).dtype == torch.uint8


@pytest.mark.parametrize(
    "scale, shift, words",
    [
        (255.0, 0.0, r"values in \[0\.\d+, 255\].*0-255 pixel values; divide by 255"),
        (2.0, -1.0, r"values in \[-0\.99\d, 1\].*look normalised already"),
    ],
)
def test_vit_warns_about_images_on_the_wrong_scale(scale, shift, words):
    with pytest.warns(InputRangeWarning, match=words):
        small_vit()(unit_images() * scale + shift)


def test_layers_warn_only_about_0_255_images():
    # a patch embedding reads normalised images inside ViT: only 0-255 warns
    embedding = vitbook.PatchEmbedding(4, 1, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("error", InputRangeWarning)
        embedding(unit_images() * 2 - 1)
    with pytest.warns(InputRangeWarning, match="0-255"):
        embedding(unit_images() * 255)


def test_no_warning_for_images_in_the_unit_range():
    # the control: in-range images, and a slight resampling overshoot, are silent
    with warnings.catch_warnings():
        warnings.simplefilter("error", InputRangeWarning)
        small_vit()(unit_images() * 1.2 - 0.1)


@pytest.fixture(scope="module")
def fashion_batch():
    images, labels = vitbook.load_fashion_mnist("test")
    return images[:512], labels[:512]


def test_the_mistakes_that_cost_accuracy_are_the_ones_refused(fashion_batch):
    """The trained model on 512 test images: right input vs the three mistakes
    (uint8, 0-255 floats, images normalised twice). Each mistake is refused or
    warned about; the right input is silent and keeps the accuracy."""
    model = vitbook.load_pretrained()
    images, labels = fashion_batch
    right = images[:, None].float() / 255
    with warnings.catch_warnings():
        warnings.simplefilter("error", InputRangeWarning)
        good = accuracy(model, right, labels)
    with pytest.raises(TypeError, match="uint8"):
        model(images[:, None])
    mean, std = model.mean.item(), model.std.item()
    wrong = {"0-255": right * 255, "normalised": (right - mean) / std}
    for name, x in wrong.items():
        with pytest.warns(InputRangeWarning):
            got = accuracy(model, x, labels)
        # the warning is warranted: each mistake costs most of the accuracy
        assert got < good - 0.3, (name, got, good)
    assert good > 0.85


def test_nan_in_a_conv_stem_training_batch_is_refused_before_it_poisons_the_stats():
    stem = vitbook.ConvStem(4, 1, 8).train()
    before = {k: v.clone() for k, v in stem.state_dict().items()}
    poisoned = unit_images()
    poisoned[0, 0, 3, 3] = float("nan")
    raises(ValueError, r"1 non-finite values \(1 NaN", stem, poisoned)
    after = stem.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    # the control: the same batch past the check turns the running mean NaN
    stem.stages(poisoned)
    assert stem.stages[0][1].running_mean.isnan().all()


def test_nan_is_fine_in_eval_mode_where_it_poisons_nothing():
    out = vitbook.ConvStem(4, 1, 8).eval()(unit_images().fill_(float("nan")))
    assert out.isnan().all()


def test_nan_in_a_training_batch_stops_training_before_the_step():
    torch.manual_seed(0)
    model = small_vit()
    images, labels = unit_images(b=8), torch.randint(0, 3, (8,))
    images[5, 0, 0, 0] = float("inf")
    before = [p.detach().clone() for p in model.parameters()]
    config = TrainConfig(steps=1, batch_size=8, warmup_steps=0)
    raises(
        ValueError,
        r"training batch of step 1 holds 1 non-finite",
        train_classifier,
        model,
        images,
        labels,
        config,
    )
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


# --- a ViT is checked when it is built, not at its first forward pass -----------------

CONSTRUCTION = [
    ({"image_size": (16, 20)}, ValueError, r"one side S of square images.*\(16, 20\)"),
    ({"image_size": 18}, ValueError, r"height 18 is not a multiple of patch size 4"),
    (
        {"embedding": vitbook.PatchEmbedding(8, 1, 16)},
        ValueError,
        r"maps \(1, 1, 16, 16\) images to \(1, 4, 16\).*\(1, 16, 16\)",
    ),
    (
        {"embedding": vitbook.PatchEmbedding(4, 1, 32)},
        ValueError,
        r"tokens of width 32, but the ViT has dim=16",
    ),
    (
        {"embedding": vitbook.PatchEmbedding(4, 3, 16)},
        ValueError,
        r"embedding PatchEmbedding fails on images of shape \(1, 1, 16, 16\)",
    ),
    (
        {"embedding": nn.Conv2d(1, 16, 4, 4)},
        ValueError,
        r"maps .* to \(1, 16, 4, 4\)",
    ),
]


@pytest.mark.parametrize("options, error, words", CONSTRUCTION)
def test_a_vit_that_could_not_run_is_refused_when_it_is_built(options, error, words):
    raises(error, words, small_vit, **options)


def test_a_conv_stem_embedding_is_probed_without_moving_its_statistics():
    # the control: a fitting embedding passes, and the probe leaves BatchNorm alone
    stem = vitbook.ConvStem(4, 1, 16).train()
    before = stem.stages[0][1].running_mean.clone()
    small_vit(embedding=stem)
    assert stem.training and torch.equal(stem.stages[0][1].running_mean, before)


# --- explorers, galleries and figures -------------------------------------------------


@pytest.fixture(scope="module")
def photo():
    return vitbook.to_tensor(vitbook.load_photo(size=64))


def explorer_cases(photo):
    grey = photo[:, :1]
    patch = widgets.PatchExplorer(photo, patch_sizes=(16,))
    similar = widgets.SimilarityExplorer(photo, patch_size=16)
    where = widgets.PositionExplorer(grid=4, dim=8)
    fig, ax = plt.subplots()
    return [
        (widgets.PatchExplorer, (grey,), ValueError, r"must have 3 channels"),
        (widgets.PatchExplorer, ((photo * 255).byte(),), TypeError, r"uint8"),
        (
            widgets.PatchExplorer,
            (photo.permute(0, 2, 3, 1),),
            ValueError,
            r"channels-last.*permute",
        ),
        (widgets.PatchExplorer, (photo[0],), ValueError, r"images\[None\]"),
        (widgets.PatchExplorer, (torch.cat([photo, photo]),), ValueError, r"one image"),
        (lambda: widgets.PatchExplorer(photo, patch_sizes=16), (), TypeError, "list"),
        (lambda: widgets.PatchExplorer(photo, patch_sizes=()), (), ValueError, "empty"),
        (lambda: widgets.PatchExplorer(photo, (16.0,)), (), TypeError, "patch_sizes"),
        (lambda: widgets.PatchExplorer(photo, (24,)), (), ValueError, "multiple of"),
        (patch.render, (16, "3"), TypeError, r"patch index must be an int"),
        (patch.render, (16, 16), ValueError, r"patch index 16 is out of range"),
        (patch.render, (16, -1), ValueError, r"patch index must be an int >= 0"),
        (patch.describe, (0, 0), ValueError, r"patch_size must be a positive"),
        (patch.gallery, ([16],), TypeError, r"each of states must be a tuple of 2"),
        (patch.gallery, ([],), ValueError, r"states is empty"),
        (patch.gallery, ("16, 0",), TypeError, r"states must be a list"),
        (
            lambda: widgets.SimilarityExplorer(photo, embeddings=[1]),
            (),
            TypeError,
            r"embeddings must be a dict",
        ),
        (
            lambda: widgets.SimilarityExplorer(photo, embeddings={"e": 3}),
            (),
            TypeError,
            r"embeddings\['e'\] must map the image to tokens",
        ),
        (
            lambda: widgets.SimilarityExplorer(photo, patch_size="16"),
            (),
            TypeError,
            r"patch_size must be an int",
        ),
        (similar.similarities, (2.0,), TypeError, r"patch index must be an int"),
        (similar.similarities, (0, 1), TypeError, r"center must be a string"),
        (similar.similarities, (0, "mean"), ValueError, r"center must be one of"),
        (similar.gallery, ([(1, "none", 2)],), TypeError, r"tuple of 2 values"),
        (lambda: widgets.PositionExplorer(dim=0), (), ValueError, r"dim must be"),
        (lambda: widgets.PositionExplorer(grid=(4, 0)), (), ValueError, r"grid\[1\]"),
        (lambda: widgets.PositionExplorer(seed=-1), (), ValueError, r"seed must be"),
        (
            lambda: widgets.PositionExplorer(4, 8, extra={"t": np.zeros((16, 8))}),
            (),
            TypeError,
            r"extra\['t'\] must be a tensor",
        ),
        (
            lambda: widgets.PositionExplorer(4, 8, extra=[torch.zeros(16, 8)]),
            (),
            TypeError,
            r"extra must be a dict",
        ),
        (where.render, (0.5, 0), TypeError, r"row must be an int"),
        (where.similarities, (0, 4), ValueError, r"outside the 4x4 grid"),
        (where.gallery, ([3],), TypeError, r"tuple of 2 values"),
        (widgets.static_gallery, ("g", ["frame"]), TypeError, r"frame 0 must be a tup"),
        (
            widgets.static_gallery,
            ("g", [("a", "not a figure", "alt")]),
            TypeError,
            r"frame 0's figure must be a matplotlib Figure",
        ),
        (widgets.static_gallery, (7, []), TypeError, r"name must be a str"),
        (widgets.figure_to_png, ("fig",), TypeError, r"fig must be a matplotlib"),
        (widgets.figure_to_png, (fig, 0), ValueError, r"dpi must be a positive int"),
        (plots.draw_patch_grid, (ax, photo, 16), None, None),
        (
            lambda: plots.draw_patch_grid(ax, photo, 16, highlight=16),
            (),
            ValueError,
            r"highlight 16 is out of range for a 4x4 grid",
        ),
        (plots.draw_patch_grid, ("ax", photo, 16), TypeError, r"ax must be a matplot"),
        (plots.patch_image, (torch.zeros(10), 4), ValueError, r"one flattened patch"),
        (plots.filter_mosaic, (torch.zeros(4, 16), 4, 0), ValueError, r"per_row"),
        (
            plots.draw_similarity_grid,
            (ax, torch.zeros(16), (4, 4), 16),
            ValueError,
            r"query 16 is out of range",
        ),
        (draw_figure7, ({},), ValueError, r"report lacks patch_size"),
        (
            lambda: widgets.PositionExplorer(
                4, 8, extra={"t": torch.full((16, 8), float("nan"))}
            ),
            (),
            ValueError,
            r"extra\['t'\] holds 128 non-finite values",
        ),
        (
            lambda: widgets.SimilarityExplorer(photo, {"e": lambda x: x.numpy()}),
            (),
            TypeError,
            r"embeddings\['e'\] must return a torch.Tensor",
        ),
        (
            lambda: widgets.SimilarityExplorer(
                photo, {"e": vitbook.PatchEmbedding(16, 1, 8)}
            ),
            (),
            ValueError,
            r"embeddings\['e'\] fails on the image of shape \(1, 3, 64, 64\)",
        ),
        (where.query_on, ((3,), 1, 1), TypeError, r"grid must be an int or a pair"),
        (where.query_on, (3, 1, 1), None, None),
        (widgets.static_gallery, ("g", 5), TypeError, r"frames must be a list"),
        (
            widgets.static_gallery,
            ("g", [(1, fig, "alt")]),
            TypeError,
            r"frame 0's label must be a str",
        ),
        (plots.draw_patch_grid, (ax, torch.rand(2, 3, 64, 64), 16), ValueError, r"one"),
        (
            plots.draw_patch_grid,
            (ax, torch.rand(64, 64, 3), 16),
            ValueError,
            r"channels-last \(H, W, C\).*permute\(2, 0, 1\)",
        ),
        (
            plots.draw_patch_grid,
            (ax, np.zeros((3, 64, 64)), 16),
            ValueError,
            r"H, W, C",
        ),
        (
            plots.show_patch_sequence,
            (torch.zeros(16, 768), 16, [0, 99]),
            ValueError,
            r"index 99 is out of range for 16 patches",
        ),
        (
            plots.show_patch_sequence,
            (torch.zeros(16, 768), 16, []),
            ValueError,
            "empty",
        ),
        (plots.show_patch_sequence, (torch.zeros(16, 768), 16, 3), TypeError, "list"),
        (plots.patch_image, (torch.rand(768), 8), ValueError, r"C = 1 or 3"),
        (
            plots.neighbour_correlation,
            (torch.ones(4, 48), 4),
            ValueError,
            r"filters are constant",
        ),
        (plots.neighbour_correlation, (torch.rand(4, 3), 1), ValueError, r"at least 2"),
        (plots.filter_mosaic, (torch.zeros(0, 768), 16), ValueError, r"K >= 1"),
        (plots.draw_filter_mosaic, (ax, nn.Linear(768, 4), 16), TypeError, r".weight"),
        (
            plots.draw_similarity_maps,
            (ax, torch.rand(16, 8), 4, 1, None, -1),
            ValueError,
            r"gap must be an int >= 0",
        ),
        (
            plots.draw_similarity_maps,
            (ax, torch.full((16, 8), float("nan")), 4),
            ValueError,
            r"table holds 128 non-finite",
        ),
        (plots.draw_similarity_grid, (None, torch.zeros(4), (2, 2)), TypeError, "ax"),
        (
            lambda: plots.draw_similarity_grid(
                ax, torch.zeros(4), (2, 2), vmin=1, vmax=-1
            ),
            (),
            ValueError,
            r"vmax -1 must be above vmin 1",
        ),
        (plots.smallest_text, (None,), TypeError, r"fig must be a matplotlib Figure"),
        (plots.draw_similarity_maps, (ax, np.random.rand(16, 8), 4), None, None),
        (similar.gallery, ([np.int64(3)],), None, None),
        (draw_figure7, ([],), TypeError, r"report must be the dict"),
        (figure7, ("model", photo), TypeError, r"a vitbook.ViT"),
    ]


def test_explorers_and_figures_refuse_bad_arguments(photo):
    cases = explorer_cases(photo)
    for call, args, error, words in cases:
        if error is None:
            # the control: a good call draws
            call(*args)
            continue
        raises(error, words, call, *args)
    plt.close("all")


# --- photos ---------------------------------------------------------------------------

PHOTOS = [
    (vitbook.to_tensor, (torch.zeros(1, 3, 8, 8),), TypeError, r"NumPy array.*Tensor"),
    (vitbook.to_tensor, (np.zeros((8, 8, 3)),), TypeError, r"uint8 photo.*float64"),
    (
        vitbook.to_tensor,
        (np.zeros((3, 8, 8), np.uint8),),
        ValueError,
        r"looks channels-first.*transpose\(1, 2, 0\)",
    ),
    (vitbook.to_tensor, (np.zeros((8, 8), np.uint8),), ValueError, r"image\[\.\.\., "),
    (vitbook.center_crop, ([[1, 2]],), TypeError, r"NumPy array"),
    (vitbook.resize, (np.zeros((8, 8, 3), np.uint8), 0), ValueError, r"size must be"),
    (vitbook.resize, (np.zeros((8, 8, 3), np.uint8), "4"), TypeError, r"size must"),
    (
        vitbook.chessboard_windows,
        (torch.zeros(1, 3, 64, 64), "yes"),
        TypeError,
        r"train must be True or False",
    ),
    (
        lambda: vitbook.chessboard_windows(torch.zeros(1, 3, 64, 64), True, size=64),
        (),
        ValueError,
        r"size 64 is larger than block 56",
    ),
    (vitbook.photo_crops, ([torch.zeros(1, 3, 8, 8)], True), TypeError, r"dict"),
    (vitbook.photo_crops, ({}, True), ValueError, r"photos is empty"),
    (figure7, (small_vit(), unit_images()[:0]), ValueError, r"images is empty"),
    (
        convert.key_map,
        ("torchvision", 2, "cls", 0, -5),
        ValueError,
        r"representation_size must be a positive int",
    ),
    (
        convert.to_library,
        (small_vit(embedding=nn.Sequential(vitbook.PatchEmbedding(4, 1, 16))), "timm"),
        ValueError,
        r"patch embedding is a Sequential",
    ),
    (
        convert.from_library,
        ({"cls_token": np.zeros((1, 1, 16))}, "timm", small_vit()),
        TypeError,
        r"state_dict\['cls_token'\] must be a torch.Tensor",
    ),
    (
        lambda: convert.vit_from(nn.Linear(1, 1), position="sincos2d"),
        (),
        ValueError,
        r"position cannot be overridden",
    ),
    (vitbook.load_pretrained, ("fashion_vit", None, "gpu"), ValueError, r"no torch"),
    (vitbook.load_results, ("../weights/fashion_vit",), ValueError, r"bare"),
]


@pytest.mark.parametrize("call, args, error, words", PHOTOS)
def test_photos_refuse_bad_arguments(call, args, error, words):
    raises(error, words, call, *args)


# --- training -------------------------------------------------------------------------

TRAINING = [
    (TrainConfig, {"steps": 0}, ValueError, r"steps must be a positive int, got 0"),
    (TrainConfig, {"steps": 10.5}, TypeError, r"steps must be an int"),
    (TrainConfig, {"batch_size": -1}, ValueError, r"batch_size must be a positive"),
    (TrainConfig, {"lr": 0}, ValueError, r"lr must be > 0, got 0"),
    (TrainConfig, {"lr": "1e-3"}, TypeError, r"lr must be a number"),
    (TrainConfig, {"weight_decay": -0.1}, ValueError, r"weight_decay must be >= 0"),
    (TrainConfig, {"label_smoothing": 1.0}, ValueError, r"label_smoothing .*< 1"),
    (TrainConfig, {"warmup_steps": 300}, ValueError, r"warmup_steps 300 is more"),
    (
        TrainConfig,
        {"grad_clip": float("inf")},
        ValueError,
        r"grad_clip must be a finite number, got inf",
    ),
    (TrainConfig, {"fused": "yes"}, TypeError, r"fused must be True or False"),
    (TrainConfig, {"seed": -1}, ValueError, r"seed must be an int >= 0"),
    (TrainConfig, {"log_every": -1}, ValueError, r"log_every must be an int >= 0"),
    (
        train_classifier,
        {"model": "vit", "images": unit_images(), "labels": torch.zeros(2).long()},
        TypeError,
        r"model must be an nn.Module",
    ),
    (
        train_classifier,
        {"model": small_vit(), "images": unit_images(), "labels": torch.zeros(2)},
        TypeError,
        r"labels must be class indices \(ints\), got dtype torch.float32",
    ),
    (
        train_classifier,
        {
            "model": small_vit(),
            "images": unit_images(),
            "labels": torch.zeros(3).long(),
        },
        ValueError,
        r"2 images but 3 labels",
    ),
    (
        train_classifier,
        {
            "model": small_vit(),
            "images": (unit_images() * 255).byte(),
            "labels": torch.zeros(2).long(),
        },
        TypeError,
        r"uint8",
    ),
    (
        train_classifier,
        {
            "model": small_vit(),
            "images": unit_images(),
            "labels": torch.zeros(2).long(),
            "config": {"steps": 3},
        },
        TypeError,
        r"config must be a vitbook.TrainConfig",
    ),
    (
        train_classifier,
        {
            "model": small_vit(),
            "images": unit_images(),
            "labels": torch.zeros(2).long(),
            "augment": "flip",
        },
        TypeError,
        r"augment must be a function or None, got 'flip'",
    ),
    (
        accuracy,
        {"model": small_vit(), "images": unit_images(), "labels": torch.full((2,), 3)},
        ValueError,
        r"labels must be class indices 0 \.\. 2 .*got labels 3 \.\. 3",
    ),
    (
        train_classifier,
        {
            "model": small_vit(),
            "images": unit_images(),
            "labels": torch.tensor([0, -1]),
            "config": TrainConfig(steps=1, batch_size=2, warmup_steps=0),
        },
        ValueError,
        r"labels must be class indices 0 \.\. 2 .*got labels -1 \.\. 0",
    ),
    (
        train_classifier,
        {
            "model": small_vit(),
            "images": unit_images(),
            "labels": torch.zeros(2).long(),
            "config": TrainConfig(steps=1, batch_size=8, warmup_steps=0),
        },
        ValueError,
        r"batch_size 8 is more than the 2 training images",
    ),
    (
        train_classifier,
        {
            "model": small_vit(),
            "images": unit_images(),
            "labels": torch.zeros(2).long(),
            "config": TrainConfig(steps=1, batch_size=2, warmup_steps=0),
            "augment": lambda batch, generator: None,
        },
        TypeError,
        r"what augment returned must be a batch tensor",
    ),
    (
        accuracy,
        {
            "model": small_vit(),
            "images": unit_images(),
            "labels": torch.zeros(2).long(),
            "batch_size": 0,
        },
        ValueError,
        r"batch_size must be a positive int",
    ),
    (
        accuracy,
        {
            "model": small_vit(),
            "images": unit_images()[:0],
            "labels": torch.zeros(0).long(),
        },
        ValueError,
        r"images is empty",
    ),
]


@pytest.mark.parametrize(
    "call, kwargs, error, words",
    TRAINING,
    ids=[f"{c.__name__}-{sorted(k)[-1]}" for c, k, *_ in TRAINING],
)
def test_training_refuses_bad_arguments(call, kwargs, error, words):
    raises(error, words, call, **kwargs)


TRAIN_FASHION = [
    ({"epochs": 0}, ValueError, r"epochs must be > 0, got 0"),
    ({"epochs": -1}, ValueError, r"epochs must be > 0"),
    ({"batch_size": 0}, ValueError, r"batch_size must be a positive int"),
    ({"lr": 0.0}, ValueError, r"lr must be > 0"),
    ({"weight_decay": -1.0}, ValueError, r"weight_decay must be >= 0"),
    ({"evals": 0}, ValueError, r"evals must be a positive int, got 0"),
    ({"train_limit": -5}, ValueError, r"train_limit must be an int >= 0"),
    ({"augment": "flips"}, ValueError, r"did you mean 'flip'"),
    ({"log": "print"}, TypeError, r"log must be a function"),
    ({"stem": "hybrid"}, ValueError, r"stem must be one of 'patchify', 'conv'"),
    ({"dim": 0}, ValueError, r"dim must be a positive int"),
]


@pytest.mark.parametrize("options, error, words", TRAIN_FASHION)
def test_train_fashion_vit_refuses_before_loading_any_data(
    monkeypatch, options, error, words
):
    from vitbook import recipes

    def too_late(*args, **kwargs):
        raise AssertionError("the run went on before the arguments were checked")

    monkeypatch.setattr(recipes, "train_classifier", too_late)
    if "dim" not in options:
        # a model option is checked when the model is built, after the data loads
        monkeypatch.setattr(recipes, "load_fashion_mnist", too_late)
    raises(error, words, recipes.train_fashion_vit, **options)


# --- the shipped records --------------------------------------------------------------


@pytest.fixture
def record_copy(tmp_path):
    """A copy of the shipped checkpoint, to edit."""
    for suffix in (".pt", ".json"):
        shutil.copy(vitbook.pretrained.WEIGHTS_DIR / f"fashion_vit{suffix}", tmp_path)
    return tmp_path


def edit_record(folder, change) -> None:
    path = folder / "fashion_vit.json"
    record = json.loads(path.read_text())
    change(record)
    path.write_text(json.dumps(record))


def test_a_config_changed_after_it_was_made_is_checked_again():
    config = TrainConfig(steps=2, batch_size=2, warmup_steps=0)
    config.steps = -5
    raises(
        ValueError,
        r"steps must be a positive int, got -5",
        train_classifier,
        small_vit(),
        unit_images(),
        torch.zeros(2).long(),
        config,
    )


RECORD_EDITS = [
    (
        lambda r: r["model"].update(dim=0),
        ValueError,
        r"'model' entry .* \(dim must be a positive int, got 0\)",
    ),
    (lambda r: r["model"].update(depth=3), ValueError, r"does not fit the model"),
    (lambda r: r["model"].update(width=3), ValueError, r"does not build a vitbook.ViT"),
    (lambda r: r.pop("model"), ValueError, r"'model' .* is missing"),
    (lambda r: r.update(sha256=7), ValueError, r"'sha256' .* no string"),
    (lambda r: r.update(sha256="0" * 64), ValueError, r"damaged or was replaced"),
]


@pytest.mark.parametrize("change, error, words", RECORD_EDITS)
def test_load_pretrained_checks_its_record(record_copy, change, error, words):
    edit_record(record_copy, change)
    raises(error, words, vitbook.load_pretrained, directory=record_copy)


def test_load_pretrained_refuses_broken_json_and_missing_files(record_copy):
    path = record_copy / "fashion_vit.json"
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    raises(
        ValueError, r"is not valid JSON", vitbook.load_pretrained, directory=record_copy
    )
    path.write_text("[1, 2]")
    raises(
        ValueError, r"holds a JSON list", vitbook.pretrained_info, directory=record_copy
    )
    path.write_text(text)
    (record_copy / "fashion_vit.pt").unlink()
    raises(
        FileNotFoundError,
        r"fashion_vit.pt is missing",
        vitbook.load_pretrained,
        directory=record_copy,
    )
    raises(
        FileNotFoundError,
        r"ships \['fashion_vit', 'fashion_vit_shift'\]",
        vitbook.pretrained_info,
        "fashion_vat",
    )
    raises(
        ValueError, r"bare checkpoint name", vitbook.pretrained_info, "fashion_vit.pt"
    )
    raises(TypeError, r"name must be a checkpoint name", vitbook.load_pretrained, 3)
    edit_record(record_copy, lambda r: r.update(stem={}))
    raises(
        ValueError,
        r"'stem' entry \{\} without a kind",
        vitbook.load_initial,
        directory=record_copy,
    )
    edit_record(record_copy, lambda r: r.pop("seed"))
    raises(ValueError, r"no int 'seed'", vitbook.load_initial, directory=record_copy)
    # the control: the untouched copy loads
    shutil.copy(vitbook.pretrained.WEIGHTS_DIR / "fashion_vit.pt", record_copy)
    path.write_text(text)
    assert isinstance(vitbook.load_pretrained(directory=record_copy), vitbook.ViT)


def test_load_results_names_what_exists():
    raises(
        ValueError,
        r"did you mean 'position_ablation'\?",
        vitbook.load_results,
        "positon_ablation",
    )
    raises(TypeError, r"name must be a results name", vitbook.load_results, None)
    assert "summary" in vitbook.load_results("position_ablation")
