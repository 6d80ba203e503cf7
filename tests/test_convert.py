"""vitbook.convert against the real libraries: torchvision's, timm's and transformers'
own ViTs with random weights, converted to vitbook.ViT and back, give the same outputs
on real photos. Nothing is downloaded: every model is built from its constructor."""

from __future__ import annotations

import pytest
import torch

import vitbook
from vitbook.convert import from_library, key_map, to_library, vit_from


class _Library:
    """A reference library, imported when a test first uses it (not when pytest
    collects this module: each worker collects every module, and timm with
    transformers take seconds to import); a test whose library is missing is skipped."""

    def __init__(self, name: str):
        self.name = name

    def __getattr__(self, attribute: str):
        if attribute.startswith("_"):  # pytest probing for fixtures, copy, pickle
            raise AttributeError(attribute)
        return getattr(pytest.importorskip(self.name), attribute)


timm = _Library("timm")
transformers = _Library("transformers")
vision_transformer = _Library("torchvision.models.vision_transformer")

SMALL = dict(image_size=32, patch_size=4, layers=2, heads=4, dim=32, mlp=64, classes=10)


def jitter(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Move every weight off its initial value (a zero class token or unit norms would
    hide a wrong mapping), give BatchNorm running statistics, and set eval mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=generator) * 0.05)
        for name, b in model.named_buffers():
            if name.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=generator) + 0.5)
            elif name.endswith("running_mean"):
                b.copy_(torch.randn(b.shape, generator=generator) * 0.1)
    return model.eval()


def photos(size: int, count: int = 4) -> torch.Tensor:
    names = list(vitbook.PHOTOS)[:count]
    return torch.cat(
        [vitbook.to_tensor(vitbook.load_photo(n, size=size)) for n in names]
    )


def outputs(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        out = model(x)
    return getattr(out, "logits", out)


def torchvision_vit(stem: bool = False, representation_size=None, **shape):
    s = SMALL | shape
    configs = None
    if stem:
        config = vision_transformer.ConvStemConfig
        configs = [config(16, 3, 2), config(32, 3, 2)]  # two stride-2 3x3: P = 4
    return vision_transformer.VisionTransformer(
        image_size=s["image_size"],
        patch_size=s["patch_size"],
        num_layers=s["layers"],
        num_heads=s["heads"],
        hidden_dim=s["dim"],
        mlp_dim=s["mlp"],
        num_classes=s["classes"],
        conv_stem_configs=configs,
        representation_size=representation_size,
    )


def timm_vit(**options):
    s = SMALL
    return timm.create_model(
        "vit_tiny_patch16_224",
        pretrained=False,
        img_size=s["image_size"],
        patch_size=s["patch_size"],
        depth=s["layers"],
        embed_dim=s["dim"],
        num_heads=s["heads"],
        mlp_ratio=s["mlp"] / s["dim"],
        num_classes=s["classes"],
        **options,
    )


def transformers_vit(**options):
    s = SMALL | options
    config = transformers.ViTConfig(
        hidden_size=s["dim"],
        num_hidden_layers=s["layers"],
        num_attention_heads=s["heads"],
        intermediate_size=s["mlp"],
        image_size=s["image_size"],
        patch_size=s["patch_size"],
        num_labels=s["classes"],
        layer_norm_eps=s.get("layer_norm_eps", 1e-6),
    )
    return transformers.ViTForImageClassification(config)


SMALL_CASES = {
    "torchvision": (lambda: torchvision_vit(), "torchvision"),
    "torchvision-conv-stem-pre-logits": (
        lambda: torchvision_vit(stem=True, representation_size=24),
        "torchvision",
    ),
    "timm": (lambda: timm_vit(), "timm"),
    "timm-mean-pool": (
        lambda: timm_vit(class_token=False, global_pool="avg", fc_norm=False),
        "timm",
    ),
    "transformers": (lambda: transformers_vit(), "transformers"),
}


@pytest.mark.parametrize("case", SMALL_CASES)
def test_a_converted_model_computes_the_same_function(case):
    build, library = SMALL_CASES[case]
    reference = jitter(build())
    x = photos(SMALL["image_size"])
    ours = vit_from(reference)
    expected = outputs(reference, x)
    assert (outputs(ours, x) - expected).abs().max() < 1e-5
    # and back: the converted weights, loaded strictly into a fresh model of the
    # library, give the reference's outputs exactly
    fresh = build()
    fresh.load_state_dict(to_library(ours, library), strict=True)
    assert torch.equal(outputs(fresh.eval(), x), expected)
    # the control: another model of the same shape, not converted, differs by far more
    assert (outputs(jitter(build(), seed=1), x) - expected).abs().max() > 1e-2


def test_vitbook_models_convert_to_each_library_and_back():
    x = photos(SMALL["image_size"])
    for library, build in [
        ("torchvision", torchvision_vit),
        ("timm", timm_vit),
        ("transformers", transformers_vit),
    ]:
        torch.manual_seed(0)
        config = vitbook.convert.vit_config_from(build())
        ours = jitter(vitbook.ViT(**config))
        theirs = build()
        theirs.load_state_dict(to_library(ours, library), strict=True)
        assert (outputs(theirs.eval(), x) - outputs(ours, x)).abs().max() < 1e-5
        back = from_library(theirs.state_dict(), library, vitbook.ViT(**config))
        assert torch.equal(outputs(back.eval(), x), outputs(ours, x)), library


def test_the_patch_kernel_layout_matters():
    # the control for the one layout change: reading the conv kernel (D, C, P, P) as if
    # it were vitbook's channels-last (D, P*P*C) breaks the function
    reference = jitter(torchvision_vit())
    x = photos(SMALL["image_size"])
    state = reference.state_dict()
    kernel = state["conv_proj.weight"]  # (D, C, P, P)
    # scrambled so that what from_library reads as the patch weight is the kernel
    # flattened channels-first: the plain kernel.reshape(D, -1) mistake
    state["conv_proj.weight"] = kernel.reshape(kernel.shape[0], 4, 4, 3).permute(
        0, 3, 1, 2
    )
    wrong = from_library(state, "torchvision", vit_from(reference))
    assert (outputs(wrong, x) - outputs(reference, x)).abs().max() > 1e-2


@pytest.mark.parametrize("library", ["torchvision", "timm", "transformers"])
def test_vit_b16_shapes_convert_to_float_precision(library):
    # the ViT-B/16 shape (86M parameters, 224x224), random weights
    if library == "torchvision":
        from torchvision.models import vit_b_16

        reference = vit_b_16()
    elif library == "timm":
        reference = timm.create_model("vit_base_patch16_224", pretrained=False)
    else:
        reference = transformers.ViTForImageClassification(
            transformers.ViTConfig(layer_norm_eps=1e-6, num_labels=1000)
        )
    reference = jitter(reference)
    x = photos(224, count=2)
    ours = vit_from(reference)
    assert ours.num_patches == 196 and len(ours.blocks) == 12
    assert vitbook.count_parameters(ours) == vitbook.count_parameters(reference)
    assert (outputs(ours, x) - outputs(reference, x)).abs().max() < 1e-5


def test_a_state_dict_that_does_not_fit_is_refused_with_its_keys():
    reference = jitter(torchvision_vit())
    ours = vit_from(reference)
    state = reference.state_dict()
    del state["class_token"]
    state["encoder.pos_embedding"] = torch.zeros(1, 17, 32)  # a 4x4 grid's table
    state["extra.weight"] = torch.zeros(1)
    with pytest.raises(ValueError) as error:
        from_library(state, "torchvision", ours)
    message = str(error.value)
    assert "1 missing: class_token" in message
    assert "1 unexpected: extra.weight" in message
    assert "1 mis-shaped: encoder.pos_embedding: (1, 17, 32), expected (1, 65, 32)" in (
        message
    )
    with pytest.raises(ValueError, match="layer_norm_eps 1e-12"):
        vit_from(transformers_vit(layer_norm_eps=1e-12))
    with pytest.raises(ValueError, match="fc_norm"):
        vit_from(timm_vit(class_token=False, global_pool="avg"))
    with pytest.raises(ValueError, match="exact GELU"):
        vit_from(timm_vit(act_layer="gelu_tanh"))
    with pytest.raises(ValueError, match="eps is 0.01"):
        vit_from(
            vision_transformer.VisionTransformer(
                32, 4, 1, 4, 32, 64, norm_layer=lambda d: torch.nn.LayerNorm(d, 1e-2)
            )
        )
    with pytest.raises(ValueError, match="ConvStem stages"):
        config = vision_transformer.ConvStemConfig
        silu = [config(16, 3, 2, activation_layer=torch.nn.SiLU), config(32, 3, 2)]
        vit_from(
            vision_transformer.VisionTransformer(
                32, 4, 1, 4, 32, 64, conv_stem_configs=silu
            )
        )
    with pytest.raises(ValueError, match="only torchvision ships a conv stem"):
        key_map("timm", depth=1, conv_stem_stages=2)
