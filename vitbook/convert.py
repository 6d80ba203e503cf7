"""State dicts between ``vitbook.ViT`` and the reference implementations.

``vitbook.ViT`` and the ViTs of torchvision, timm and Hugging Face transformers hold the
same numbers under different names and, in two places, different layouts:

- the patch embedding: ``vitbook`` keeps a ``Linear`` on patches flattened
  channels-last, ``(D, P*P*C)``; the others keep the ``Conv2d`` kernel ``(D, C, P, P)``
  (04_linear_projection.ipynb: the same map);
- the attention's input projections: ``vitbook``, torchvision (``in_proj_weight``) and
  timm (``qkv``) fuse W_Q, W_K and W_V into one ``(3D, D)`` matrix, rows ``[Q; K; V]``;
  transformers keeps three ``(D, D)`` matrices. Inside each, heads are consecutive
  blocks of ``D/heads`` rows in all four.

``key_map(library, depth, ...)`` lists which key of a ``vitbook.ViT`` holds which of
the library's; ``to_library`` and ``from_library`` convert whole state dicts with it,
and refuse one that does not fit, listing its missing, unexpected and mis-shaped keys.
``vit_config_from(model)`` reads the ``ViT`` arguments off a reference model, so
``vit_from(model)`` gives the ``vitbook.ViT`` that computes the same function.

The reference models take images already normalised; ``vitbook.ViT`` normalises inside
``forward`` with its ``mean`` and ``std``, so a converted model is built with the
normalisation its checkpoint was trained with (``mean=0, std=1`` to feed both the same
tensors).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch
from torch import nn

from . import checks
from .model import ViT, _per_channel

__all__ = [
    "LIBRARIES",
    "KeyMap",
    "key_map",
    "to_library",
    "from_library",
    "vit_config_from",
    "vit_from",
]

#: The libraries whose ``VisionTransformer`` state dicts convert.
LIBRARIES = ("torchvision", "timm", "transformers")


@dataclass(frozen=True)
class KeyMap:
    """One ``vitbook`` key and the library key(s) that hold the same numbers.

    ``layout`` is ``"same"`` (copied), ``"patch"`` (a ``Linear`` on channels-last
    patches against a ``Conv2d`` kernel) or ``"qkv"`` (one fused ``(3D, ...)`` tensor
    against three, for Q, K and V).
    """

    ours: str
    theirs: tuple[str, ...]
    layout: str = "same"


def _block_keys(i: int, library: str) -> list[KeyMap]:
    ours = f"blocks.{i}."
    if library == "torchvision":
        t = f"encoder.layers.encoder_layer_{i}."
        pairs = [
            ("norm1", "ln_1"),
            ("attn.qkv", "self_attention.in_proj"),
            ("attn.proj", "self_attention.out_proj"),
            ("norm2", "ln_2"),
            ("mlp.fc1", "mlp.0"),
            ("mlp.fc2", "mlp.3"),
        ]
        out = []
        for a, b in pairs:
            for p in ("weight", "bias"):
                # nn.MultiheadAttention names its fused input projection in_proj_weight
                theirs = f"{t}{b}_{p}" if b.endswith("in_proj") else f"{t}{b}.{p}"
                out.append(KeyMap(f"{ours}{a}.{p}", (theirs,)))
        return out
    if library == "timm":  # timm's block names are the ones vitbook took
        names = ["norm1", "attn.qkv", "attn.proj", "norm2", "mlp.fc1", "mlp.fc2"]
        return [
            KeyMap(f"{ours}{n}.{p}", (f"blocks.{i}.{n}.{p}",))
            for n in names
            for p in ("weight", "bias")
        ]
    if library == "transformers":
        t = f"vit.layers.{i}."
        out = []
        for p in ("weight", "bias"):
            out.append(KeyMap(f"{ours}norm1.{p}", (f"{t}layernorm_before.{p}",)))
            out.append(
                KeyMap(
                    f"{ours}attn.qkv.{p}",
                    tuple(f"{t}attention.{x}_proj.{p}" for x in "qkv"),
                    "qkv",
                )
            )
            out.append(KeyMap(f"{ours}attn.proj.{p}", (f"{t}attention.o_proj.{p}",)))
            out.append(KeyMap(f"{ours}norm2.{p}", (f"{t}layernorm_after.{p}",)))
            out.append(KeyMap(f"{ours}mlp.fc1.{p}", (f"{t}mlp.fc1.{p}",)))
            out.append(KeyMap(f"{ours}mlp.fc2.{p}", (f"{t}mlp.fc2.{p}",)))
        return out
    raise ValueError(f"library must be one of {LIBRARIES}, got {library!r}")


def _stem_keys(stages: int, prefix: str, stage_name: str, last: str) -> list[KeyMap]:
    # vitbook.ConvStem: stages.k = (conv, BatchNorm, ReLU), then proj, a 1x1 conv;
    # torchvision's conv_stem_configs branch: conv_bn_relu_k = the same, then conv_last
    out = []
    for k in range(stages):
        ours, theirs = f"patch_embed.stages.{k}.", f"{prefix}{stage_name}{k}."
        out.append(KeyMap(f"{ours}0.weight", (f"{theirs}0.weight",)))
        for p in ("weight", "bias", "running_mean", "running_var"):
            out.append(KeyMap(f"{ours}1.{p}", (f"{theirs}1.{p}",)))
        out.append(
            KeyMap(f"{ours}1.num_batches_tracked", (f"{theirs}1.num_batches_tracked",))
        )
    for p in ("weight", "bias"):
        out.append(KeyMap(f"patch_embed.proj.{p}", (f"{prefix}{last}.{p}",)))
    return out


def key_map(
    library: str,
    depth: int,
    pool: str = "cls",
    conv_stem_stages: int = 0,
    representation_size: int | None = None,
) -> list[KeyMap]:
    """Every key of a ``vitbook.ViT`` of ``depth`` blocks and the library's key(s) that
    hold the same numbers, in ``ViT``'s order.

    ``conv_stem_stages`` > 0 for a ``ConvStem`` embedding (torchvision only);
    ``representation_size`` for a pre-logits layer (torchvision's ``heads.pre_logits``;
    timm's is not converted, transformers' classifier has none).
    """
    checks.choice(library, "library", LIBRARIES)
    depth = checks.positive_int(depth, "depth")
    checks.choice(pool, "pool", ("cls", "mean"))
    conv_stem_stages = checks.nonnegative_int(conv_stem_stages, "conv_stem_stages")
    if representation_size is not None:
        representation_size = checks.positive_int(
            representation_size, "representation_size"
        )
    if conv_stem_stages and library != "torchvision":
        raise ValueError(
            f"only torchvision ships a conv stem (conv_stem_configs); {library} has "
            "none: convert a ViT with the plain patch embedding"
        )
    names = {
        "torchvision": dict(
            cls="class_token",
            pos="encoder.pos_embedding",
            patch="conv_proj",
            norm="encoder.ln",
            pre="heads.pre_logits",
            head="heads.head",
        ),
        "timm": dict(
            cls="cls_token",
            pos="pos_embed",
            patch="patch_embed.proj",
            norm="norm",
            pre=None,  # (timm's pre-logits layer is not converted)
            head="head",
        ),
        "transformers": dict(
            cls="vit.embeddings.cls_token",
            pos="vit.embeddings.position_embeddings",
            patch="vit.embeddings.patch_embeddings.projection",
            norm="vit.layernorm",
            pre=None,
            head="classifier",
        ),
    }[library]
    if pool == "mean" and library != "timm":
        raise ValueError(
            f"{library}'s ViT always has a class token; only timm's (class_token=False,"
            " global_pool='avg', fc_norm=False) matches pool='mean'"
        )
    if representation_size and names["pre"] is None:
        raise ValueError(
            f"{library}'s classifier has no pre-logits layer; build the ViT without "
            "representation_size"
        )
    out = []
    if conv_stem_stages:
        out += _stem_keys(conv_stem_stages, "conv_proj.", "conv_bn_relu_", "conv_last")
    else:
        out += [
            KeyMap("patch_embed.proj.weight", (f"{names['patch']}.weight",), "patch"),
            KeyMap("patch_embed.proj.bias", (f"{names['patch']}.bias",)),
        ]
    if pool == "cls":
        out.append(KeyMap("cls_token", (names["cls"],)))
    out.append(KeyMap("pos_embed", (names["pos"],)))
    for i in range(depth):
        out += _block_keys(i, library)
    for p in ("weight", "bias"):
        out.append(KeyMap(f"norm.{p}", (f"{names['norm']}.{p}",)))
    if representation_size:
        for p in ("weight", "bias"):
            out.append(KeyMap(f"pre_logits.0.{p}", (f"{names['pre']}.{p}",)))
    for p in ("weight", "bias"):
        out.append(KeyMap(f"head.{p}", (f"{names['head']}.{p}",)))
    return out


def _check_keys(state_dict: dict, expected: dict[str, tuple], what: str) -> None:
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    misshaped = sorted(
        f"{k}: {tuple(state_dict[k].shape)}, expected {expected[k]}"
        for k in set(expected) & set(state_dict)
        if expected[k] is not None and tuple(state_dict[k].shape) != expected[k]
    )
    if missing or unexpected or misshaped:
        lines = [f"this state dict does not fit {what}:"]
        for label, keys in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("mis-shaped", misshaped),
        ):
            if keys:
                shown = ", ".join(keys[:8]) + (" ..." if len(keys) > 8 else "")
                lines.append(f"  {len(keys)} {label}: {shown}")
        lines.append(
            "  check depth, width, patch size, pooling and head against the checkpoint"
            " (vitbook.convert.vit_config_from reads them off a reference model)"
        )
        raise ValueError("\n".join(lines))


def _patch_to_conv(weight: torch.Tensor, patch_size: int) -> torch.Tensor:
    d = weight.shape[0]
    channels = weight.shape[1] // (patch_size * patch_size)
    # (D, P*P*C), channels-last patches -> (D, P, P, C) -> (D, C, P, P)
    return weight.reshape(d, patch_size, patch_size, channels).permute(0, 3, 1, 2)


def _conv_to_patch(kernel: torch.Tensor) -> torch.Tensor:
    # (D, C, P, P) -> (D, P, P, C) -> (D, P*P*C)
    return kernel.permute(0, 2, 3, 1).reshape(kernel.shape[0], -1)


def _map_for(model: ViT, library: str) -> list[KeyMap]:
    from .embedding import ConvStem, PatchEmbedding

    if not isinstance(model.patch_embed, (PatchEmbedding, ConvStem)):
        raise ValueError(
            f"the model's patch embedding is a {type(model.patch_embed).__name__}; the "
            "reference ViTs have a patch embedding (PatchEmbedding) or torchvision's "
            "conv stem (ConvStem): convert a model with one of those"
        )
    stem = getattr(model.patch_embed, "stages", None)
    return key_map(
        library,
        depth=len(model.blocks),
        pool=model.pool,
        conv_stem_stages=len(stem) if stem is not None else 0,
        representation_size=model.representation_size,
    )


def to_library(model: ViT, library: str) -> dict[str, torch.Tensor]:
    """``model``'s weights as a state dict of ``library``'s ViT of the same shape
    (``load_state_dict(..., strict=True)`` takes it)."""
    checks.instance(model, "model", ViT, "a vitbook.ViT")
    checks.choice(library, "library", LIBRARIES)
    if model.position not in ("learned", "learned-sincos2d"):
        raise ValueError(
            f"the reference ViTs learn their position table; this model's is "
            f"{model.position!r}: convert a model with position='learned'"
        )
    if model.registers is not None:
        raise ValueError(
            f"this model has {model.registers.shape[1]} registers, which the "
            "reference ViTs converted here (torchvision, timm without reg_tokens, "
            "transformers) have no place for: convert a model with registers=0"
        )
    ours = model.state_dict()
    out = {}
    for entry in _map_for(model, library):
        value = ours[entry.ours]
        if entry.layout == "patch":
            value = _patch_to_conv(value, model.patch_size)
        if entry.layout == "qkv":
            for key, part in zip(entry.theirs, value.chunk(3, dim=0)):
                out[key] = part.clone()
            continue
        out[entry.theirs[0]] = value.clone()
    return out


def from_library(state_dict: dict[str, torch.Tensor], library: str, model: ViT) -> ViT:
    """Load ``library``'s ViT ``state_dict`` into ``model`` (a ``vitbook.ViT`` of the
    same shape) and return it; a state dict that does not fit raises ``ValueError``
    with its missing, unexpected and mis-shaped keys."""
    checks.instance(state_dict, "state_dict", dict, "a state dict (model.state_dict())")
    checks.choice(library, "library", LIBRARIES)
    checks.instance(model, "model", ViT, "a vitbook.ViT")
    for key, value in state_dict.items():
        checks.instance(value, f"state_dict[{key!r}]", torch.Tensor, "a torch.Tensor")
    mapping = _map_for(model, library)
    ours = model.state_dict()
    expected = {}
    for entry in mapping:
        shape = tuple(ours[entry.ours].shape)
        if entry.layout == "patch":
            shape = tuple(_patch_to_conv(ours[entry.ours], model.patch_size).shape)
        if entry.layout == "qkv":
            shape = (shape[0] // 3, *shape[1:])
        for key in entry.theirs:
            expected[key] = shape
    state_dict = {k: v for k, v in state_dict.items() if not _ignored(k, library)}
    _check_keys(state_dict, expected, f"a {library} ViT shaped like this vitbook.ViT")
    new = {}
    for entry in mapping:
        values = [state_dict[k] for k in entry.theirs]
        if entry.layout == "patch":
            new[entry.ours] = _conv_to_patch(values[0])
        elif entry.layout == "qkv":
            new[entry.ours] = torch.cat(values, dim=0)
        else:
            new[entry.ours] = values[0]
    new["mean"], new["std"] = ours["mean"], ours["std"]
    model.load_state_dict(new, strict=True)
    return model


def _ignored(key: str, library: str) -> bool:
    # entries that hold no weight of the function: transformers' ViTModel pooler is
    # not used by ViTForImageClassification's head
    return library == "transformers" and key.startswith("vit.pooler.")


def _check_blocks(norms, activations, library: str) -> None:
    # what vitbook.ViT fixes and a state dict cannot show: LayerNorm's eps, exact GELU
    for norm in norms:
        if abs(norm.eps - 1e-6) > 1e-12:
            raise ValueError(
                f"this {library} ViT's LayerNorm eps is {norm.eps:g}; vitbook.ViT's "
                "norms use 1e-6, so the converted model would be another function"
            )
    for act in activations:
        if not isinstance(act, nn.GELU) or act.approximate != "none":
            raise ValueError(
                f"this {library} ViT's MLP activation is {act!r}; vitbook.ViT uses the "
                "exact GELU, nn.GELU(approximate='none')"
            )


def vit_config_from(model: nn.Module) -> dict:
    """The ``vitbook.ViT`` keyword arguments (``mean=0, std=1``) of the same shape as
    ``model``: a torchvision ``VisionTransformer``, a timm ``VisionTransformer`` or a
    transformers ``ViTForImageClassification``."""
    kind = _library_of(model)
    common = dict(position="learned", mean=0.0, std=1.0)
    if kind == "torchvision":
        layers = list(model.encoder.layers)
        norms = [n for b in layers for n in (b.ln_1, b.ln_2)] + [model.encoder.ln]
        _check_blocks(norms, [b.mlp[1] for b in layers], kind)
        stem = model.conv_proj
        if isinstance(stem, nn.Sequential):
            for layer in stem[:-1]:
                conv, norm, act = layer[0], layer[1], layer[2]
                if not (
                    isinstance(norm, nn.BatchNorm2d)
                    and isinstance(act, nn.ReLU)
                    and conv.kernel_size == (3, 3)
                    and conv.stride == (2, 2)
                ):
                    raise ValueError(
                        "vitbook.ConvStem stages are 3x3 stride-2 convolutions with "
                        f"BatchNorm and ReLU; this stem has {layer!r}"
                    )
        config = dict(
            image_size=model.image_size,
            patch_size=model.patch_size,
            num_classes=model.num_classes,
            dim=model.hidden_dim,
            depth=len(model.encoder.layers),
            heads=model.encoder.layers[0].num_heads,
            mlp_dim=model.mlp_dim,
            channels=(
                stem[0][0] if isinstance(stem, nn.Sequential) else stem
            ).weight.shape[1],
            representation_size=model.representation_size,
        )
        if isinstance(stem, nn.Sequential):
            config["conv_stem"] = [layer[0].out_channels for layer in stem[:-1]]
        return config | common
    if kind == "timm":
        if model.global_pool not in ("token", "avg"):
            raise ValueError(
                f"timm global_pool {model.global_pool!r} has no vitbook pool"
            )
        pool = "cls" if model.global_pool == "token" else "mean"
        if pool == "mean" and (model.has_class_token or model.num_reg_tokens):
            raise ValueError(
                "timm mean pooling with a class or register token has no vitbook "
                "equivalent: build it with class_token=False, reg_tokens=0"
            )
        if not isinstance(model.fc_norm, nn.Identity):
            raise ValueError(
                "this timm model normalises after pooling (fc_norm); vitbook.ViT "
                "normalises the tokens and then pools: build it with fc_norm=False"
            )
        if model.no_embed_class or getattr(model, "dynamic_img_size", False):
            raise ValueError(
                "timm no_embed_class or dynamic_img_size: vitbook.ViT adds one table "
                "of 1 + N rows at one image size"
            )
        blocks = list(model.blocks)
        for b in blocks:
            if not all(
                isinstance(getattr(b, n, nn.Identity()), nn.Identity)
                for n in ("ls1", "ls2")
            ):
                raise ValueError(
                    "this timm ViT has LayerScale (init_values); vitbook.ViT has none"
                )
        norms = [n for b in blocks for n in (b.norm1, b.norm2)] + [model.norm]
        _check_blocks(norms, [b.mlp.act for b in blocks], kind)
        patch = model.patch_embed
        return (
            dict(
                image_size=patch.img_size[0],
                patch_size=patch.patch_size[0],
                num_classes=model.num_classes,
                dim=model.embed_dim,
                depth=len(model.blocks),
                heads=model.blocks[0].attn.num_heads,
                mlp_dim=model.blocks[0].mlp.fc1.out_features,
                channels=patch.proj.weight.shape[1],
                pool=pool,
            )
            | common
        )
    config = model.config
    if config.hidden_act != "gelu":
        raise ValueError(
            f"hidden_act {config.hidden_act!r}: vitbook.ViT uses exact GELU"
        )
    if abs(config.layer_norm_eps - 1e-6) > 1e-12:
        raise ValueError(
            f"layer_norm_eps {config.layer_norm_eps:g}: vitbook.ViT's norms use 1e-6 "
            "(transformers' default is 1e-12; the converted model would differ by it)"
        )
    return (
        dict(
            image_size=config.image_size,
            patch_size=config.patch_size,
            num_classes=config.num_labels,
            dim=config.hidden_size,
            depth=config.num_hidden_layers,
            heads=config.num_attention_heads,
            mlp_dim=config.intermediate_size,
            channels=config.num_channels,
        )
        | common
    )


def _library_of(model: nn.Module) -> str:
    module = type(model).__module__
    for library in LIBRARIES:
        if module.startswith(library + "."):
            return library
    raise TypeError(
        f"expected a torchvision, timm or transformers ViT, got {type(model).__name__} "
        f"from {module}"
    )


def vit_from(model: nn.Module, **overrides) -> ViT:
    """The ``vitbook.ViT`` that computes the same function as the reference ``model``
    (its weights converted; ``overrides`` such as ``mean``/``std`` go to ``ViT``)."""
    from .embedding import ConvStem

    fixed = sorted(set(overrides) & {"position", "pool", "registers", "embedding"})
    if fixed:
        raise ValueError(
            f"{', '.join(fixed)} cannot be overridden: the reference model fixes them "
            "(its weights hold a learned position table and its own token layout); "
            "override only mean, std or the like"
        )
    config = vit_config_from(model) | overrides
    stem = config.pop("conv_stem", None)
    if stem is not None:
        config["embedding"] = ConvStem(
            config["patch_size"], config["channels"], config["dim"], channels=stem
        )
    vit = _uninitialised_vit(config)
    library = _library_of(model)
    return from_library(model.state_dict(), library, vit).eval()


def _uninitialised_vit(config: dict) -> ViT:
    """``ViT(**config)`` with its weights allocated but not initialised, for a
    conversion that overwrites every one of them (initialising ViT-B/16's 86 million
    weights takes longer than converting them). ``mean`` and ``std`` are set as
    ``ViT`` sets them; a model with a buffer that no state dict restores is built as
    usual."""
    with torch.device("meta"):
        vit = ViT(**config)
    restored = set(vit.state_dict())
    if any(name not in restored for name, _ in vit.named_buffers()):
        return ViT(**config)
    vit = vit.to_empty(device="cpu")
    defaults = inspect.signature(ViT).parameters
    channels = config.get("channels", defaults["channels"].default)
    with torch.no_grad():
        for name, positive in (("mean", False), ("std", True)):
            value = config.get(name, defaults[name].default)
            buffer = getattr(vit, name)
            buffer.copy_(
                _per_channel(value, name, channels, positive).reshape(buffer.shape)
            )
    return vit
