"""The paper's Table 8 at small scale:
``python -m vitbook.experiments.position_ablation --help``.

The reference tiny ViT is trained on Fashion-MNIST with each kind of position embedding
(none, learned 1-D, learned 1-D started from the 2-D sine-cosine values, fixed 1-D
sinusoidal, fixed 2-D sine-cosine), at two budgets, with the same seeds for each, and
the test accuracies are written, with the configuration, to
``vitbook/results/position_ablation.json``, which ``vitbook.load_results`` reads (the
book's chapter draws it from there). A conclusion that holds at one budget only is a
statement about that budget.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from .. import checks
from ..recipes import (
    REFERENCE_MODEL,
    describe_recipe,
    short_run_steps,
    train_short_run,
)
from ..training import Progress
from .flags import add_budget_flags

__all__ = ["BUDGETS", "KINDS", "PAPER_TABLE_8", "main", "run"]

#: The ViT paper's Table 8 (Appendix D.4): ViT-B/16, ImageNet 5-shot linear accuracy,
#: position embeddings added once at the input ("Default/Stem" column).
PAPER_TABLE_8 = {
    "No Pos. Emb.": 0.61382,
    "1-D Pos. Emb.": 0.64206,
    "2-D Pos. Emb.": 0.64001,
    "Rel. Pos. Emb.": 0.64032,
}

KINDS = ("none", "learned", "learned-sincos2d", "sincos1d", "sincos2d")

#: The two training budgets, in epochs: a short one and three times as long.
BUDGETS = (0.25, 0.75)


def run(
    kinds=KINDS,
    seeds=(0, 1, 2),
    budgets=BUDGETS,
    train_limit: int = 0,
    lr: float = 2e-3,
    log=print,
) -> dict:
    """Train one model per budget, kind and seed; return the results record
    (accuracies, and a summary per budget and kind)."""
    runs = []
    start = time.perf_counter()
    jobs = [(e, k, s) for e in budgets for k in kinds for s in seeds]
    bar = Progress(sum(short_run_steps(e, train_limit) for e, _, _ in jobs), log=log)
    try:
        for epochs, kind, seed in jobs:
            info = train_short_run(
                epochs, lr, seed, train_limit, progress=bar, position=kind
            )
            runs.append(
                {
                    "epochs": epochs,
                    "position": kind,
                    "seed": seed,
                    "test_accuracy": info["test_accuracy"],
                }
            )
            bar.note(
                f"{epochs:g} epochs, {kind:16s} seed {seed}: "
                f"test accuracy {info['test_accuracy']:.4f}"
            )
    finally:
        bar.close()
    summary = {}
    for epochs in budgets:
        rows = {}
        for kind in kinds:
            accs = [
                r["test_accuracy"]
                for r in runs
                if r["position"] == kind and r["epochs"] == epochs
            ]
            rows[kind] = {
                "mean": round(statistics.mean(accs), 4),
                "std": round(statistics.stdev(accs), 4) if len(accs) > 1 else 0.0,
                "min": min(accs),
                "max": max(accs),
            }
        summary[f"{epochs:g}"] = rows
    return {
        "what": "test accuracy on all 10,000 Fashion-MNIST test images",
        "model": {**REFERENCE_MODEL},
        "budget": {
            "epochs": list(budgets),
            "train_images": train_limit or 60000,
            "seeds": list(seeds),
        },
        "recipe": describe_recipe(info),
        "torch": torch.__version__,
        "wall_seconds": round(time.perf_counter() - start, 1),
        "runs": runs,
        "summary": summary,
        "paper_table_8": PAPER_TABLE_8,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        prog="python -m vitbook.experiments.position_ablation",
        description=__doc__.split("\n\n")[0].replace("\n", " "),
    )
    add_budget_flags(parser, BUDGETS, lr=2e-3)
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    checks.add_output_flags(parser, "position_ablation.json", "the results record")
    args = parser.parse_args(argv)
    checks.distinct_flags(parser, args, "epochs", "kinds")
    checks.checked_output(parser, args)
    record = run(
        args.kinds,
        tuple(range(args.seeds)),
        tuple(args.epochs),
        args.train_limit,
        args.lr,
        log=lambda s: print(s, flush=True),
    )
    checks.write_record(args.out, record)
    for epochs, rows in record["summary"].items():
        for kind, row in rows.items():
            print(f"{epochs} epochs, {kind:16s} {row['mean']:.4f} ± {row['std']:.4f}")
    return record


if __name__ == "__main__":
    main()
