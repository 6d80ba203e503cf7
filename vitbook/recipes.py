"""What the book trains on Fashion-MNIST, and how: the reference tiny ViT
(``REFERENCE_MODEL``: D = 128, a 7x7 grid of 4x4 patches), its recipe
(``REFERENCE_RECIPE``: AdamW with warm-up and a cosine schedule, label smoothing, random
left-right flips, a fixed number of epochs, seeded), the shorter recipe of the
experiments (``SHORT_RUN_RECIPE``), and ``train_fashion_vit``, which trains any of them
with ``vitbook.training.train_classifier``.

The scripts in ``vitbook.experiments`` call these; ``python -m
vitbook.experiments.fashion_vit`` wrote the checkpoint ``vitbook.load_pretrained()``
loads, and ``initial_model`` rebuilds its start for ``vitbook.load_initial()``.
"""

from __future__ import annotations

import functools
import math
import platform
import time

import torch
from torch import nn

from . import checks
from .cnn import REFERENCE_CNN, SmallCNN
from .data import load_fashion_mnist, random_crop_flip, random_flip
from .embedding import ConvStem
from .model import ViT
from .training import (
    Progress,
    TrainConfig,
    default_device,
    predictions,
    train_classifier,
)

__all__ = [
    "REFERENCE_MODEL",
    "REFERENCE_RECIPE",
    "SHORT_RUN_RECIPE",
    "describe_recipe",
    "initial_model",
    "short_run_steps",
    "steps_of",
    "train_fashion_vit",
    "train_short_run",
]


REFERENCE_MODEL = {
    "image_size": 28,
    # a 7x7 grid of 4x4 patches, like the 7x7 grid of the paper's Figure 7
    "patch_size": 4,
    "num_classes": 10,
    "dim": 128,
    "depth": 4,
    "heads": 4,
    "mlp_dim": 256,
    "channels": 1,
}


#: The recipe of the committed checkpoint;
#: the script's and ``train_fashion_vit``'s defaults.
REFERENCE_RECIPE = {
    "epochs": 12,
    "batch_size": 64,
    "lr": 7e-4,
    "weight_decay": 0.05,
    "label_smoothing": 0.1,
    "augment": "flip",
}


#: The recipe of the short experiments (``position_ablation``, ``conv_stem``), with
#: which their committed results were made; each script passes it explicitly (and its
#: own ``lr``).
SHORT_RUN_RECIPE = {
    "batch_size": 128,
    "weight_decay": 0.05,
    "label_smoothing": 0.1,
    "augment": "none",
    "fused": False,
}


def steps_of(epochs: float, train_images: int, batch_size: int) -> int:
    """How many mini-batches ``train_fashion_vit`` takes for ``epochs`` over
    ``train_images`` images (at least one)."""
    return max(1, round(epochs * math.ceil(train_images / batch_size)))


def short_run_steps(epochs: float, train_limit: int = 0) -> int:
    """The steps of one ``train_short_run`` (for a progress bar over several)."""
    images = min(train_limit, 60000) if train_limit else 60000
    return steps_of(epochs, images, SHORT_RUN_RECIPE["batch_size"])


def train_short_run(
    epochs: float,
    lr: float,
    seed: int,
    train_limit: int = 0,
    probe=None,
    progress: Progress | None = None,
    **model_options,
) -> dict:
    """One run of the short experiments (``position_ablation``, ``conv_stem``):
    ``train_fashion_vit`` with ``SHORT_RUN_RECIPE``, one test evaluation at the end,
    silent; returns its ``info``.

    ``probe``, if given, is called on the trained model (in eval mode); what it returns
    is kept as ``info["probe"]``, so an experiment can measure its models without
    storing them. ``progress``, a ``Progress`` shared by the experiment's runs, is
    advanced by every step.
    """
    model, _, info = train_fashion_vit(
        **SHORT_RUN_RECIPE,
        epochs=epochs,
        lr=lr,
        seed=seed,
        train_limit=train_limit,
        evals=1,
        log=None,
        progress=progress,
        **model_options,
    )
    if probe is not None:
        with torch.no_grad():
            info["probe"] = probe(model)
    return info


def describe_recipe(info: dict, lr: str = "") -> str:
    """One line naming the recipe a ``train_fashion_vit`` run recorded in its ``info``.

    ``lr`` replaces the run's learning rate in the text, for records of several rates.
    """
    train = info["train"]
    rate = lr or format(train["lr"], "g")
    return (
        f"vitbook.recipes.train_fashion_vit: AdamW lr {rate}, "
        f"batch {train['batch_size']}, weight decay {train['weight_decay']:g}, "
        f"warm-up + cosine, label smoothing {train['label_smoothing']:g}, "
        f"gradient clipping {train['grad_clip']:g}, "
        f"augmentation: {info['augmentation']}"
    )


#: ``--augment`` choices: the batch transform and how the checkpoint's record
#: describes it.
AUGMENTATIONS = {
    "none": (None, "none"),
    "flip": (random_flip, "random left-right flip"),
    "shift-flip": (
        random_crop_flip,
        "random shift up to 2 px (zero padding) + left-right flip",
    ),
    # garments anywhere on the canvas: a position table must then learn the grid, not
    # the parts of a centred garment (11_looking_inside.ipynb, Figure 7 centre)
    "shift8-flip": (
        functools.partial(random_crop_flip, padding=8),
        "random shift up to 8 px (zero padding) + left-right flip",
    ),
}


def initial_model(
    model_config: dict,
    seed: int,
    stem: str = "patchify",
    stem_channels: list[int] | None = None,
) -> ViT:
    """The model ``train_fashion_vit`` trains, as it is before its first step.

    Seeds the global generator with ``seed``, then builds the ``ConvStem`` (for
    ``stem="conv"``) and the ``ViT(**model_config)``: the one place that says how a
    trained model started, for the scripts and for ``vitbook.load_initial``.
    """
    torch.manual_seed(seed)
    embedding = None
    if stem == "conv":
        embedding = ConvStem(
            model_config["patch_size"],
            model_config["channels"],
            model_config["dim"],
            channels=stem_channels,
        )
    return ViT(**model_config, embedding=embedding)


def train_fashion_vit(
    epochs: float = REFERENCE_RECIPE["epochs"],
    batch_size: int = REFERENCE_RECIPE["batch_size"],
    lr: float = REFERENCE_RECIPE["lr"],
    weight_decay: float = REFERENCE_RECIPE["weight_decay"],
    label_smoothing: float = REFERENCE_RECIPE["label_smoothing"],
    augment: str = REFERENCE_RECIPE["augment"],
    fused: bool = True,
    seed: int = 0,
    train_limit: int = 0,
    evals: int = 10,
    log=print,
    progress: Progress | None = None,
    **model_options,
) -> tuple[ViT, dict, dict]:
    """Train a ViT of ``REFERENCE_MODEL`` (overridden by ``model_options``)
    on Fashion-MNIST.

    Returns ``(model, model_config, info)``; ``info`` holds the recipe, the training
    wall time (test evaluations excluded) and the test accuracy at ``evals`` points
    along the way. ``stem="conv"`` in ``model_options`` swaps the patch embedding for a
    ``ConvStem`` (widths ``stem_channels``, default its own); ``info["stem"]`` then
    records it. ``architecture="cnn"`` trains ``vitbook.cnn.SmallCNN`` with
    ``REFERENCE_CNN`` instead of a ViT, with the same data, recipe and budget. With
    ``log``, the run shows a ``Progress`` bar (the evaluations as lines above it),
    unless ``progress``, one shared by several runs, is given.
    """
    # every argument checked before the data loads and the training starts
    epochs = checks.positive_number(epochs, "epochs")
    batch_size = checks.positive_int(batch_size, "batch_size")
    lr = checks.positive_number(lr, "lr")
    weight_decay = checks.number(weight_decay, "weight_decay", low=0)
    label_smoothing = checks.number(
        label_smoothing, "label_smoothing", low=0, high=1, high_open=True
    )
    checks.instance(fused, "fused", bool, "True or False")
    seed = checks.nonnegative_int(seed, "seed")
    train_limit = checks.nonnegative_int(train_limit, "train_limit")
    evals = checks.positive_int(evals, "evals")
    if log is not None and not callable(log):
        raise TypeError(f"log must be a function (such as print) or None, got {log!r}")
    stem = model_options.pop("stem", "patchify")
    stem_channels = model_options.pop("stem_channels", None)
    architecture = model_options.pop("architecture", "vit")
    if architecture not in ("vit", "cnn"):
        raise ValueError(f"architecture must be 'vit' or 'cnn', got {architecture!r}")
    if architecture == "cnn" and (stem != "patchify" or model_options):
        raise ValueError(
            "architecture='cnn' trains vitbook.cnn.REFERENCE_CNN and takes "
            f"no ViT options, got stem={stem!r} and {sorted(model_options)}"
        )
    checks.choice(augment, "augment", sorted(AUGMENTATIONS))
    checks.choice(stem, "stem", ("patchify", "conv"))
    device = default_device()
    train_x, train_y = load_fashion_mnist("train")
    test_x, test_y = load_fashion_mnist("test")
    if train_limit:
        train_x, train_y = train_x[:train_limit], train_y[:train_limit]
    train_x = train_x[:, None].float() / 255.0  # (M, 1, 28, 28) in [0, 1]
    test_x = test_x[:, None].float() / 255.0
    norm_stats = {
        "mean": round(train_x.mean().item(), 4),
        "std": round(train_x.std().item(), 4),
    }
    if architecture == "cnn":
        model_config = {**REFERENCE_CNN, **norm_stats}
        torch.manual_seed(seed)
        model = SmallCNN(**model_config).to(device)
    else:
        model_config = {
            **REFERENCE_MODEL,
            "position": "learned",
            "pool": "cls",
            **model_options,
            **norm_stats,
        }
        model = initial_model(model_config, seed, stem, stem_channels).to(device)
    embedding = model.patch_embed if stem == "conv" else None
    steps_per_epoch = math.ceil(len(train_x) / batch_size)
    steps = steps_of(epochs, len(train_x), batch_size)
    own_bar = progress is None and log is not None
    bar = Progress(steps, "steps", log=log) if own_bar else progress
    config = TrainConfig(
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        weight_decay=weight_decay,
        warmup_steps=min(steps // 10, steps_per_epoch),
        seed=seed,
        label_smoothing=label_smoothing,
        fused=fused,
    )
    eval_at = {max(1, round(steps * (k + 1) / evals)) for k in range(evals)}
    curve, clock = [], {"train": 0.0, "since": time.perf_counter()}

    def on_step(done: int, net: nn.Module) -> None:
        if done in eval_at:
            clock["train"] += time.perf_counter() - clock["since"]
            predicted = predictions(net, test_x)
            clock["predicted"] = predicted
            acc = (predicted == test_y).sum().item() / len(test_y)
            epoch = done / steps_per_epoch
            curve.append(
                {
                    "step": done,
                    "epoch": round(epoch, 2),
                    "train_seconds": round(clock["train"], 1),
                    "test_accuracy": acc,
                }
            )
            if own_bar:
                bar.note(
                    f"epoch {epoch:5.2f}  {clock['train']:7.1f} s  "
                    f"test accuracy {acc:.4f}"
                )
            clock["since"] = time.perf_counter()

    try:
        history = train_classifier(
            model,
            train_x,
            train_y,
            config,
            augment=AUGMENTATIONS[augment][0],
            on_step=on_step,
            progress=bar,
        )
    finally:
        if own_bar:
            bar.close()
    recipe = (
        "batch_size",
        "lr",
        "weight_decay",
        "warmup_steps",
        "label_smoothing",
        "grad_clip",
        "fused",
    )
    info = {
        "data": (
            f"Fashion-MNIST: {len(train_x):,} training images, "
            f"{len(test_x):,} test images"
        ),
        "train_images": len(train_x),
        "seed": seed,
        "epochs": epochs,
        "steps": steps,
        "train": {k: getattr(config, k) for k in recipe},
        "augmentation": AUGMENTATIONS[augment][1],
        "train_seconds": round(clock["train"], 1),
        "device": f"{device.type}: {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads",
        "torch": torch.__version__,
        "test_accuracy": curve[-1]["test_accuracy"],
        "final_train_loss": round(
            sum(history.losses[-50:]) / len(history.losses[-50:]), 4
        ),
        "curve": curve,
        # the class predicted for each test image at the end, as one string of digits
        "test_predictions": "".join(str(k) for k in clock["predicted"].tolist()),
    }
    if embedding is not None:
        info["stem"] = {"kind": "conv", "channels": list(embedding.channels)}
    return model.cpu().eval(), model_config, info
