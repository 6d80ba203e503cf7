"""The toy ablation of book/08_position_embeddings.ipynb:
``python -m vitbook.experiments.toy_ablation --help``.

A one-block ViT is trained on the arrangement task (``vitbook.arrangement_images``:
four classes that only the patches' places tell apart) with each kind of position
table, seeds 0, 1, 2, at two budgets (200 and 600 steps; without a table only at the
first, since it is at chance at any budget). The test accuracies, and the learned
tables of the first budget, are written with the configuration to
``vitbook/results/toy_ablation.json``, which 08_position_embeddings.ipynb reads through
``vitbook.load_results("toy_ablation")``. The chapter re-runs seed 0 of every kind at
the first budget and checks that it reproduces this record. About a minute on one
CPU thread.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from .. import checks
from ..data import arrangement_images
from ..model import ViT
from ..training import (
    Progress,
    TrainConfig,
    accuracy,
    machine_setup,
    train_classifier,
)
from .flags import add_seeds_flag

__all__ = ["BUDGETS", "DATA", "KINDS", "MODEL", "SCHEDULE", "main", "run"]

KINDS = ("none", "learned", "sincos1d", "sincos2d")
#: The two budgets, in training steps: a short one and three times as long.
BUDGETS = (200, 600)
#: The one-block model, the same for every kind but its ``position``.
MODEL = {
    "image_size": 16,
    "patch_size": 4,
    "num_classes": 4,
    "dim": 32,
    "depth": 1,
    "heads": 4,
    "mlp_dim": 64,
}
SCHEDULE = {"batch_size": 64, "lr": 3e-3, "warmup_steps": 10}
#: 2,000 training images (one arrangement per bag); 250 test bags in all four
#: arrangements.
DATA = {"train_groups": 2000, "train_seed": 1, "test_groups": 250, "test_seed": 2}


def task() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The training and test images and labels of ``DATA``."""
    train_x, train_y = arrangement_images(DATA["train_groups"], DATA["train_seed"])
    test_x, test_y = arrangement_images(
        DATA["test_groups"], DATA["test_seed"], all_arrangements=True
    )
    return train_x, train_y, test_x, test_y


def run(kinds=KINDS, seeds=(0, 1, 2), budgets=BUDGETS, log=print) -> dict:
    """Train one model per budget, kind and seed (the kinds without a table at the
    first budget only), on one thread; return the results record."""
    train_x, train_y, test_x, test_y = task()
    jobs = [
        (steps, kind, seed)
        for steps in budgets
        for kind in kinds
        if steps == budgets[0] or kind != "none"
        for seed in seeds
    ]
    runs, tables = [], {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    start = time.perf_counter()
    bar = Progress(sum(steps for steps, _, _ in jobs), "steps", log=log)
    try:
        for steps, kind, seed in jobs:
            torch.manual_seed(seed)
            model = ViT(**MODEL, position=kind)
            config = TrainConfig(**SCHEDULE, steps=steps, seed=seed)
            train_classifier(model, train_x, train_y, config, progress=bar)
            result = accuracy(model, test_x, test_y)
            runs.append(
                {
                    "steps": steps,
                    "position": kind,
                    "seed": seed,
                    "test_accuracy": result,
                }
            )
            bar.note(f"{steps} steps, {kind} seed {seed}: test accuracy {result:.3f}")
            if kind == "learned" and steps == budgets[0]:
                # (N, D) = (16, 32): the trained table, rounded for the record
                table = model.pos_embed.detach()[0, 1:]
                tables[str(seed)] = [
                    [round(v, 6) for v in row] for row in table.tolist()
                ]
    finally:
        bar.close()
        torch.set_num_threads(threads)
    summary = {}
    for steps in budgets:
        rows = {}
        for kind in kinds:
            accs = [
                r["test_accuracy"]
                for r in runs
                if r["position"] == kind and r["steps"] == steps
            ]
            if accs:
                rows[kind] = {
                    "mean": statistics.mean(accs),
                    "std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
                }
        summary[str(steps)] = rows
    return {
        "what": "test accuracy on the 1,000 test images of the arrangement task",
        "model": dict(MODEL),
        "schedule": dict(SCHEDULE),
        "train_config": TrainConfig(**SCHEDULE).recipe(),
        "data": dict(DATA),
        "budgets": list(budgets),
        "seeds": list(seeds),
        "threads": 1,
        # torch, the CPU kernels (the book pins AVX2: tools/kernel_path.py), the CPU's
        # maker: where all three are the same, a run reproduces its record exactly
        "setup": machine_setup(),
        "wall_seconds": round(time.perf_counter() - start, 1),
        "runs": runs,
        "summary": summary,
        "learned_tables": {"steps": budgets[0], "by_seed": tables},
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        prog="python -m vitbook.experiments.toy_ablation",
        description=__doc__.split("\n\n")[0].replace("\n", " "),
    )
    parser.add_argument(
        "--steps",
        type=checks.arg_type(checks.positive_int),
        nargs="+",
        default=list(BUDGETS),
        help="the training budgets, in steps per run",
    )
    add_seeds_flag(parser)
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    checks.add_output_flags(parser, "toy_ablation.json", "the results record")
    args = parser.parse_args(argv)
    checks.distinct_flags(parser, args, "steps", "kinds")
    warmup = SCHEDULE["warmup_steps"]
    if min(args.steps) < warmup:
        parser.error(
            f"--steps {min(args.steps)} is below the {warmup} warm-up steps of the "
            f"schedule; give at least {warmup}"
        )
    checks.checked_output(parser, args)
    record = run(args.kinds, tuple(range(args.seeds)), tuple(args.steps))
    checks.write_record(args.out, record)
    for steps, rows in record["summary"].items():
        for kind, row in rows.items():
            print(f"{steps} steps, {kind:9s} {row['mean']:.3f} ± {row['std']:.3f}")
    return record


if __name__ == "__main__":
    main()
