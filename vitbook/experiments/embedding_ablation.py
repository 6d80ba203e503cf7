"""The experiment of book/06_redundancy.ipynb:
``python -m vitbook.experiments.embedding_ablation --help``.

The same one-block ViT with and without its patch embedding, on the which-photo task
(16x16 crops of the four photos at 112x112, from the two colours of a chessboard of
28x28 blocks: ``vitbook.photo_crops``): A, embedding to D = 24; B, no embedding (the
raw 48-value patches are the tokens); C, embedding to D = 48; B′ and C′, B and C
without the LayerNorm before attention. Seeds 0, 1, 2, 150 steps each. The test
accuracies and parameter counts are written with the configuration to
``vitbook/results/embedding_ablation.json``, which 06_redundancy.ipynb reads through
``vitbook.load_results("embedding_ablation")``; the chapter re-runs seed 0 of every
model and checks that it reproduces this record. About 20 s on one CPU thread.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from .. import checks
from ..embedding import RawPatches
from ..images import PHOTOS, load_photo, photo_crops, to_tensor
from ..model import ViT
from ..training import (
    Progress,
    TrainConfig,
    accuracy,
    machine_setup,
    train_classifier,
)
from .flags import add_seeds_flag

__all__ = ["KINDS", "STEPS", "crops", "main", "make_model", "run"]

KINDS = ("A", "B", "C", "B′", "C′")
STEPS = 150
SCHEDULE = {"batch_size": 64, "lr": 3e-3, "warmup_steps": 10}
#: the photos' size, and the crops: 16x16 at stride 4 from a chessboard of 28x28 blocks
PHOTO_SIZE = 112
WINDOWS = {"block": 28, "size": 16, "stride": 4}


def crops() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The training and test crops and their photo labels ``(x, y, test_x, test_y)``."""
    photos = {name: to_tensor(load_photo(name, size=PHOTO_SIZE)) for name in PHOTOS}
    train_x, train_y = photo_crops(photos, train=True, **WINDOWS)
    test_x, test_y = photo_crops(photos, train=False, **WINDOWS)
    return train_x, train_y, test_x, test_y


def make_model(kind: str) -> ViT:
    """Model ``kind`` of ``KINDS``, freshly initialised (seed it first)."""
    checks.choice(kind, "kind", KINDS)
    common = dict(
        image_size=16, patch_size=4, num_classes=4, depth=1, heads=4, pool="mean"
    )
    if kind == "A":
        return ViT(dim=24, mlp_dim=48, **common)
    if kind.startswith("C"):
        model = ViT(dim=48, mlp_dim=96, **common)
    else:
        model = ViT(dim=48, mlp_dim=96, embedding=RawPatches(4), **common)
    if kind.endswith("′"):
        model.blocks[0].norm1 = nn.Identity()
    return model


def run(kinds=KINDS, seeds=(0, 1, 2), steps: int = STEPS, log=print) -> dict:
    """Train every model with every seed on one thread; return the results record."""
    train_x, train_y, test_x, test_y = crops()
    runs, params = [], {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    start = time.perf_counter()
    bar = Progress(len(kinds) * len(seeds) * steps, "steps", log=log)
    try:
        for kind in kinds:
            for seed in seeds:
                torch.manual_seed(seed)
                model = make_model(kind)
                config = TrainConfig(**SCHEDULE, steps=steps, seed=seed)
                train_classifier(model, train_x, train_y, config, progress=bar)
                result = accuracy(model, test_x, test_y)
                runs.append({"model": kind, "seed": seed, "test_accuracy": result})
                bar.note(f"model {kind} seed {seed}: test accuracy {result:.3f}")
            params[kind] = sum(p.numel() for p in model.parameters())
    finally:
        bar.close()
        torch.set_num_threads(threads)
    return {
        "what": "test accuracy on the which-photo task's test crops",
        "data": {
            "photo_size": PHOTO_SIZE,
            **WINDOWS,
            "train_crops": len(train_x),
            "test_crops": len(test_x),
        },
        "schedule": {**SCHEDULE, "steps": steps},
        "train_config": TrainConfig(**SCHEDULE).recipe(),
        "seeds": list(seeds),
        "threads": 1,
        # torch, the CPU kernels (the book pins AVX2: tools/kernel_path.py), the CPU's
        # maker: where all three are the same, a run reproduces its record exactly
        "setup": machine_setup(),
        "wall_seconds": round(time.perf_counter() - start, 1),
        "parameters": params,
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        prog="python -m vitbook.experiments.embedding_ablation",
        description=__doc__.split("\n\n")[0].replace("\n", " "),
    )
    parser.add_argument(
        "--steps",
        type=checks.arg_type(checks.int_at_least, SCHEDULE["warmup_steps"]),
        default=STEPS,
        help=f"training steps per run (at least the {SCHEDULE['warmup_steps']} "
        "warm-up steps)",
    )
    add_seeds_flag(parser)
    checks.add_output_flags(parser, "embedding_ablation.json", "the results record")
    args = parser.parse_args(argv)
    checks.checked_output(parser, args)
    record = run(seeds=tuple(range(args.seeds)), steps=args.steps)
    checks.write_record(args.out, record)
    return record


if __name__ == "__main__":
    main()
