"""A small CNN beside the tiny ViT: ``python -m vitbook.cnn_baseline --help``.

The reference point chapter 11 sets beside the book's tiny ViT: a plain convolutional
network with about the same number of parameters and FLOPs (``SmallCNN`` with
``REFERENCE_CNN``), trained on the same Fashion-MNIST images with the same recipe and
budget (``vitbook.train.REFERENCE_RECIPE``: the same optimiser, schedule, epochs,
batch, label smoothing and flips). The script writes its test accuracy, training curve,
wall time and both models' parameter and FLOP counts to
``vitbook/results/cnn_baseline.json``, which ``vitbook.load_results("cnn_baseline")``
reads.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from . import checks
from .train import add_train_limit_flag

__all__ = ["REFERENCE_CNN", "SmallCNN", "main", "run"]


#: The CNN of the committed results: six 3x3 convolutions (28x28 -> 14x14 -> 7x7), then
#: global average pooling and a linear head. Its widths were chosen so that its
#: parameters and FLOPs are within a few per cent of the tiny ViT's (``run`` records
#: both, and a test checks it).
REFERENCE_CNN = {
    "channels": 1,
    "num_classes": 10,
    "widths": [32, 64, 128, 128, 128, 128],
    "strides": [1, 2, 2, 1, 1, 1],
}


class SmallCNN(nn.Module):
    """Images ``(B, channels, H, W)`` in [0, 1] -> ``(B, num_classes)`` logits.

    Normalises with ``(x - mean) / std`` inside ``forward``, as ``vitbook.ViT`` does,
    then one [3x3 convolution (stride ``strides[k]``, padding 1, no bias) ->
    BatchNorm -> ReLU] per entry of ``widths``, global average pooling and a linear
    head.
    """

    def __init__(
        self,
        channels: int = 1,
        num_classes: int = 10,
        widths: list[int] | tuple[int, ...] = tuple(REFERENCE_CNN["widths"]),
        strides: list[int] | tuple[int, ...] = tuple(REFERENCE_CNN["strides"]),
        mean: float | tuple[float, ...] = 0.5,
        std: float | tuple[float, ...] = 0.5,
    ):
        super().__init__()
        widths, strides = list(widths), list(strides)
        if len(widths) != len(strides) or not widths:
            raise ValueError(
                f"widths and strides must be non-empty lists of one length, got "
                f"{len(widths)} widths and {len(strides)} strides"
            )
        for name, values in (("widths", widths), ("strides", strides)):
            if not all(type(v) is int and v > 0 for v in values):
                raise ValueError(f"{name} must be positive ints, got {values}")
        for name, value in (("channels", channels), ("num_classes", num_classes)):
            if type(value) is not int or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.channels = channels
        self.register_buffer(
            "mean", torch.as_tensor(mean, dtype=torch.float32).reshape(1, -1, 1, 1)
        )
        self.register_buffer(
            "std", torch.as_tensor(std, dtype=torch.float32).reshape(1, -1, 1, 1)
        )
        layers, c_in = [], channels
        for c_out, stride in zip(widths, strides):
            layers += [
                nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(),
            ]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] != self.channels:
            raise ValueError(
                f"expected images of shape (B, {self.channels}, H, W), "
                f"got {tuple(images.shape)}"
            )
        x = self.features((images - self.mean) / self.std)  # (B, C', H', W')
        return self.head(x.mean(dim=(2, 3)))  # global average pool -> (B, classes)


def run(epochs: float | None = None, train_limit: int = 0, seed: int = 0, log=print):
    """Train ``SmallCNN(**REFERENCE_CNN)`` with the reference ViT's recipe (``epochs``
    overrides its budget, for tests); return the results record."""
    from .model import ViT, count_flops, count_parameters
    from .train import (
        REFERENCE_MODEL,
        REFERENCE_RECIPE,
        describe_recipe,
        train_fashion_vit,
    )

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
        "script": "python -m vitbook.cnn_baseline",
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
        prog="python -m vitbook.cnn_baseline",
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
