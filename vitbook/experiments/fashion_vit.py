"""Train the book's reference tiny ViT on Fashion-MNIST and write its checkpoint:
``python -m vitbook.experiments.fashion_vit --help``.

The recipe the book reports (``vitbook.REFERENCE_MODEL`` and ``REFERENCE_RECIPE``: D =
128, a 7x7 grid of 4x4 patches, AdamW with warm-up and a cosine schedule, label
smoothing, random left-right flips, a fixed number of epochs, seeded), trained by
``vitbook.recipes.train_fashion_vit``. It writes ``OUT.pt`` and ``OUT.json``, the
checkpoint that ``vitbook.load_pretrained()`` loads.
"""

from __future__ import annotations

import argparse

from .. import checks
from ..model import POSITION_KINDS
from ..pretrained import save_checkpoint
from ..recipes import (
    AUGMENTATIONS,
    REFERENCE_MODEL,
    REFERENCE_RECIPE,
    train_fashion_vit,
)
from .flags import add_train_limit_flag

__all__ = ["main"]


def main(argv: list[str] | None = None) -> dict:
    """Train the book's reference ViT on Fashion-MNIST and write its checkpoint
    (see --help)."""
    parser = argparse.ArgumentParser(
        prog="python -m vitbook.experiments.fashion_vit",
        description=(
            "Train the tiny ViT on Fashion-MNIST; write <out>.pt and <out>.json."
        ),
    )
    parser.add_argument(
        "--epochs",
        type=checks.arg_type(checks.positive_number),
        default=REFERENCE_RECIPE["epochs"],
    )
    parser.add_argument(
        "--batch-size",
        type=checks.arg_type(checks.positive_int),
        default=REFERENCE_RECIPE["batch_size"],
    )
    parser.add_argument(
        "--lr",
        type=checks.arg_type(checks.positive_number),
        default=REFERENCE_RECIPE["lr"],
    )
    parser.add_argument(
        "--weight-decay",
        type=checks.arg_type(checks.number, low=0),
        default=REFERENCE_RECIPE["weight_decay"],
    )
    parser.add_argument(
        "--label-smoothing",
        type=checks.arg_type(checks.number, low=0, high=1, high_open=True),
        default=REFERENCE_RECIPE["label_smoothing"],
    )
    parser.add_argument(
        "--augment", choices=sorted(AUGMENTATIONS), default=REFERENCE_RECIPE["augment"]
    )
    parser.add_argument(
        "--depth",
        type=checks.arg_type(checks.positive_int),
        default=REFERENCE_MODEL["depth"],
    )
    parser.add_argument("--position", choices=POSITION_KINDS, default="learned")
    parser.add_argument("--pool", choices=["cls", "mean"], default="cls")
    parser.add_argument(
        "--seed", type=checks.arg_type(checks.nonnegative_int), default=0
    )
    add_train_limit_flag(parser)
    parser.add_argument(
        "--evals",
        type=checks.arg_type(checks.positive_int),
        default=10,
        help="test evaluations along the way",
    )
    checks.add_output_flags(parser, "fashion_vit", "OUT.pt and OUT.json")
    args = parser.parse_args(argv)
    # where the checkpoint goes, checked before the training, not after it
    checks.checked_output(parser, args, ".pt", ".json")
    model, model_config, info = train_fashion_vit(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        label_smoothing=args.label_smoothing,
        augment=args.augment,
        seed=args.seed,
        train_limit=args.train_limit,
        evals=args.evals,
        log=lambda line: print(line, flush=True),
        depth=args.depth,
        position=args.position,
        pool=args.pool,
    )
    record = save_checkpoint(model, model_config, info, args.out)
    print(
        f"wrote {args.out.with_suffix('.pt').name}: "
        f"test accuracy {info['test_accuracy']:.4f} "
        f"after {info['train_seconds']} s of training"
    )
    return record


if __name__ == "__main__":
    main()
