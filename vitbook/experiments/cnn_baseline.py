"""A small CNN beside the tiny ViT:
``python -m vitbook.experiments.cnn_baseline --help``.

The reference point that book/10_training.ipynb sets beside the book's tiny ViT: a plain
convolutional network with about the same number of parameters and FLOPs (``SmallCNN``
with ``REFERENCE_CNN``), trained on the same Fashion-MNIST images with the same recipe
and budget (``vitbook.recipes.REFERENCE_RECIPE``: the same optimiser, schedule, epochs,
batch, label smoothing and flips). The script writes its test accuracy, training curve,
wall time and both models' parameter and FLOP counts to
``vitbook/results/cnn_baseline.json``, which ``vitbook.load_results("cnn_baseline")``
reads."""

from __future__ import annotations

import argparse
import time

import torch

from .. import checks
from ..cnn import REFERENCE_CNN, SmallCNN
from ..model import ViT, count_flops, count_parameters
from ..recipes import (
    REFERENCE_MODEL,
    REFERENCE_RECIPE,
    describe_recipe,
    train_fashion_vit,
)
from .flags import add_train_limit_flag

__all__ = ["main", "run"]


def run(epochs: float | None = None, train_limit: int = 0, seed: int = 0, log=print):
    """Train ``SmallCNN(**REFERENCE_CNN)`` with the reference ViT's recipe (``epochs``
    overrides its budget, for tests); return the results record."""
    start = time.perf_counter()
    epochs = REFERENCE_RECIPE["epochs"] if epochs is None else epochs
    _, model_config, info = train_fashion_vit(
        epochs=epochs,
        seed=seed,
        train_limit=train_limit,
        log=log,
        architecture="cnn",
    )
    image = torch.zeros(
        1, 1, REFERENCE_MODEL["image_size"], REFERENCE_MODEL["image_size"]
    )
    cnn, vit = SmallCNN(**REFERENCE_CNN), ViT(**REFERENCE_MODEL)
    return {
        "what": (
            "a small CNN trained like the book's tiny ViT: test accuracy on all "
            "10,000 Fashion-MNIST test images"
        ),
        "script": "python -m vitbook.experiments.cnn_baseline",
        "model": model_config,
        "cost": {
            "cnn": {
                "parameters": count_parameters(cnn),
                "flops": count_flops(cnn, image),
            },
            "vit": {
                "parameters": count_parameters(vit),
                "flops": count_flops(vit, image),
            },
        },
        "recipe": describe_recipe(info),
        "info": info,
        "wall_seconds": round(time.perf_counter() - start, 1),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        prog="python -m vitbook.experiments.cnn_baseline",
        description=__doc__.split("\n\n")[0].replace("\n", " "),
    )
    parser.add_argument(
        "--epochs",
        type=checks.arg_type(checks.positive_number),
        default=None,
        help="default: the reference recipe's",
    )
    parser.add_argument(
        "--seed", type=checks.arg_type(checks.nonnegative_int), default=0
    )
    add_train_limit_flag(parser)
    checks.add_output_flags(parser, "cnn_baseline.json", "the results record")
    args = parser.parse_args(argv)
    checks.checked_output(parser, args)
    record = run(
        args.epochs, args.train_limit, args.seed, log=lambda s: print(s, flush=True)
    )
    checks.write_record(args.out, record)
    print(
        f"wrote {args.out.name}: test accuracy {record['info']['test_accuracy']:.4f} "
        f"after {record['info']['train_seconds']} s of training"
    )
    return record


if __name__ == "__main__":
    main()
