"""Patchify vs convolutional stem at small scale:
``python -m vitbook.experiments.conv_stem --help``.

"Early Convolutions Help Transformers See Better" (Xiao et al., NeurIPS 2021) replaces
ViT's patchify layer by a few stride-2 3x3 convolutions and removes one transformer
block to keep the cost equal. Here the book's reference tiny ViT (Fashion-MNIST, a 7x7
grid of 4x4 patches, D = 128, 4 blocks) is set against the same ViT with a ``ConvStem``
and 3 blocks, the stem's first width chosen so that the two parameter counts match as
closely as possible. Both are trained with the same recipe and budget at several
learning rates (a sweep over a factor of 64) and seeds; the test accuracies, the mean
attention distance of every head of every trained model (for the paper's prediction
that local attention "is less pronounced in hybrid models"), the parameter and FLOP
counts and the configuration are written to ``vitbook/results/conv_stem.json``, which
``vitbook.load_results("conv_stem")`` reads.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from .. import checks
from ..embedding import ConvStem
from ..model import ViT, count_flops, count_parameters
from ..recipes import (
    REFERENCE_MODEL,
    describe_recipe,
    short_run_steps,
    train_short_run,
)
from ..training import Progress
from .flags import add_seeds_flag, add_train_limit_flag

__all__ = [
    "LEARNING_RATES",
    "PAPER_CLAIM",
    "PROBE_IMAGES",
    "attention_distances",
    "main",
    "matched_stem",
    "run",
]

#: The sweep of the committed results: four rates, each 4x the last, 2.5e-4 to 1.6e-2.
LEARNING_RATES = (2.5e-4, 1e-3, 4e-3, 1.6e-2)

#: How many test images (the first ones) ``attention_distances`` averages over.
PROBE_IMAGES = 500

#: The paper's claim (abstract, NeurIPS 2021 version), quoted.
PAPER_CLAIM = (
    "Using a convolutional stem in ViT dramatically increases optimization stability "
    "and also improves peak performance (by ~1-2% top-1 accuracy on ImageNet-1k), "
    "while maintaining flops and runtime."
)


def matched_stem(model: dict | None = None) -> tuple[list[int], dict]:
    """The conv stem's widths ``[c1, D]`` whose ViT (one block fewer)
    best matches the patchify ViT's parameters.

    Returns the widths and a record of both models' parameter and FLOP counts.
    """
    model = {**REFERENCE_MODEL, **(model or {})}
    p, c, d = model["patch_size"], model["channels"], model["dim"]
    if p != 4:
        raise ValueError(
            "matched_stem searches two-convolution stems (patch size 4), "
            f"got patch size {p}"
        )
    patchify = ViT(**model)
    target = count_parameters(patchify)
    fewer = {**model, "depth": model["depth"] - 1}
    # without its stem, the conv ViT has the patchify ViT's parameters less its
    # embedding and a block
    budget = count_parameters(patchify.patch_embed) + count_parameters(
        patchify.blocks[0]
    )

    def stem_parameters(c1: int) -> int:
        return count_parameters(ConvStem(p, c, d, channels=(c1, d)))

    # the stem's count is linear in c1, a + b * c1: solve,
    # then take the nearer whole width
    slope = stem_parameters(2) - stem_parameters(1)
    intercept = stem_parameters(1) - slope
    guess = max(1, (budget - intercept) // slope)
    best = min((guess, guess + 1), key=lambda c1: abs(stem_parameters(c1) - budget))
    conv = ViT(**fewer, embedding=ConvStem(p, c, d, channels=(best, d)))
    image = torch.zeros(1, c, model["image_size"], model["image_size"])  # (B, C, H, W)
    record = {
        "patchify": {
            "depth": model["depth"],
            "parameters": target,
            "embedding_parameters": count_parameters(patchify.patch_embed),
            "flops": count_flops(patchify, image),
        },
        "conv": {
            "depth": fewer["depth"],
            "stem_channels": [best, d],
            "parameters": count_parameters(conv),
            "embedding_parameters": count_parameters(conv.patch_embed),
            "flops": count_flops(conv, image),
        },
        "block_parameters": count_parameters(patchify.blocks[0]),
    }
    return [best, d], record


def attention_distances(model: ViT, images: torch.Tensor) -> dict:
    """The mean attention distance of every head of ``model`` on ``images``, per layer:
    in pixels (``"pixels"``, ``[layer][head]``), and each query's distance divided by
    the distance it would have under uniform attention over all patches, then averaged
    (``"relative"``: 1 is no preference for near or far, below 1 is local)."""
    from ..model import mean_attention_distance

    grid, p = model.grid_size, model.patch_size
    uniform = torch.full((1, 1, model.num_patches, model.num_patches), 1.0)
    uniform = mean_attention_distance(uniform / model.num_patches, grid, p, True)[0, 0]
    pixels, relative = [], []
    for attention in model.attention_maps(images):  # (B, heads, T, T) per layer
        by_query = mean_attention_distance(attention, grid, p, per_query=True)
        pixels.append([round(v, 3) for v in by_query.mean(dim=(0, 2)).tolist()])
        relative.append(
            [round(v, 4) for v in (by_query / uniform).mean(dim=(0, 2)).tolist()]
        )
    return {"pixels": pixels, "relative": relative}


def _probe_images() -> torch.Tensor:
    from ..data import load_fashion_mnist

    images, _ = load_fashion_mnist("test")
    return images[:PROBE_IMAGES, None].float() / 255.0  # (B, 1, 28, 28) in [0, 1]


def run(
    lrs=LEARNING_RATES,
    seeds=(0, 1, 2),
    epochs: float = 0.4,
    train_limit: int = 0,
    log=print,
) -> dict:
    """Train one model per stem, learning rate and seed; return the results record."""
    start = time.perf_counter()
    channels, budget = matched_stem()
    stems = {
        "patchify": {},
        "conv": {
            "stem": "conv",
            "stem_channels": channels,
            "depth": budget["conv"]["depth"],
        },
    }
    runs = []
    probe_images = _probe_images()

    def probe(model: ViT) -> dict:
        return attention_distances(model, probe_images)

    jobs = [(lr, name, seed) for lr in lrs for name in stems for seed in seeds]
    bar = Progress(len(jobs) * short_run_steps(epochs, train_limit), log=log)
    try:
        for lr, name, seed in jobs:
            info = train_short_run(
                epochs, lr, seed, train_limit, probe=probe, progress=bar, **stems[name]
            )
            runs.append(
                {
                    "stem": name,
                    "lr": lr,
                    "seed": seed,
                    "test_accuracy": info["test_accuracy"],
                    "final_train_loss": info["final_train_loss"],
                    "train_seconds": info["train_seconds"],
                    "attention_distance": info["probe"],
                }
            )
            bar.note(
                f"{name:8s} lr {lr:.0e} seed {seed}: test accuracy "
                f"{info['test_accuracy']:.4f}, "
                f"train loss {info['final_train_loss']:.3f}, "
                f"{info['train_seconds']:.0f} s"
            )
    finally:
        bar.close()
    summary = []
    for lr in lrs:
        for name in stems:
            accs = [
                r["test_accuracy"] for r in runs if r["stem"] == name and r["lr"] == lr
            ]
            losses = [
                r["final_train_loss"]
                for r in runs
                if r["stem"] == name and r["lr"] == lr
            ]
            summary.append(
                {
                    "stem": name,
                    "lr": lr,
                    "seeds": len(accs),
                    "mean": round(statistics.mean(accs), 4),
                    "std": round(statistics.stdev(accs), 4) if len(accs) > 1 else 0.0,
                    "min": min(accs),
                    "max": max(accs),
                    "mean_final_train_loss": round(statistics.mean(losses), 4),
                }
            )
    return {
        "what": (
            "test accuracy on all 10,000 Fashion-MNIST test images "
            "after a short, equal budget"
        ),
        "script": "python -m vitbook.experiments.conv_stem",
        "model": {**REFERENCE_MODEL},
        "stems": {
            "patchify": "PatchEmbedding (one linear map per 4x4 patch), depth 4",
            "conv": (
                f"ConvStem: 3x3 stride-2 convs {channels} + BatchNorm + ReLU, "
                f"then a 1x1 conv to {REFERENCE_MODEL['dim']}; "
                f"depth {budget['conv']['depth']} (one block removed, as in the paper)"
            ),
        },
        "budget": {
            "epochs": epochs,
            "train_images": train_limit or 60000,
            "lrs": list(lrs),
            "seeds": list(seeds),
        },
        "attention_distance": (
            f"mean attention distance of each head on the first {PROBE_IMAGES} test "
            "images, per layer: in pixels, and relative to uniform attention"
        ),
        "cost": budget,
        "recipe": describe_recipe(info, lr="as in each run"),
        "paper_claim": PAPER_CLAIM,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "wall_seconds": round(time.perf_counter() - start, 1),
        "runs": runs,
        "summary": summary,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        prog="python -m vitbook.experiments.conv_stem",
        description=__doc__.split("\n\n")[0].replace("\n", " "),
    )
    parser.add_argument(
        "--epochs",
        type=checks.arg_type(checks.positive_number),
        default=0.4,
        help="training budget per run",
    )
    add_seeds_flag(parser)
    parser.add_argument(
        "--lrs",
        type=checks.arg_type(checks.positive_number),
        nargs="+",
        default=list(LEARNING_RATES),
    )
    add_train_limit_flag(parser)
    checks.add_output_flags(parser, "conv_stem.json", "the results record")
    args = parser.parse_args(argv)
    checks.distinct_flags(parser, args, "lrs")
    checks.checked_output(parser, args)
    record = run(
        tuple(args.lrs),
        tuple(range(args.seeds)),
        args.epochs,
        args.train_limit,
        log=lambda s: print(s, flush=True),
    )
    checks.write_record(args.out, record)
    for row in record["summary"]:
        print(
            f"{row['stem']:8s} lr {row['lr']:.0e}  {row['mean']:.4f} ± {row['std']:.4f}"
        )
    print(f"wrote {args.out.name} after {record['wall_seconds']} s")
    return record


if __name__ == "__main__":
    main()
