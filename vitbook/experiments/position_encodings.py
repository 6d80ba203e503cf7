"""The paper's Table 8 at small scale, extended to the position encodings vision models
use now: ``python -m vitbook.experiments.position_encodings --help``.

The reference tiny ViT at half its width (``MODEL``) is trained on Fashion-MNIST with
each encoding (none, learned
1-D, the paper's factorised 2-D table, fixed 2-D sine-cosine, the paper's relative
attention, Swin's relative position bias, axial 2-D RoPE, a convolutional position
encoding) and, as one more row, the learned table with registers; at two budgets, with
the same seeds for each, the recipe of ``vitbook.experiments.position_ablation``.
Each trained model
is then measured without fine-tuning at two new resolutions (the garments on a larger
black canvas; the images upscaled), each encoding carried to the new grid as
``vitbook.resolution.TRANSFER_RULES`` says; the learned-table models also at three new
patch sizes (FlexiViT's PI-resize against a bilinear resize of the kernel); and the
class token's attention in the last block is split between clothing, background and
registers. Everything is written, with the configuration, to
``vitbook/results/position_encodings.json``, which ``vitbook.load_results`` reads.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

import torch

from .. import checks
from ..data import load_fashion_mnist
from ..patches import patchify
from ..recipes import (
    REFERENCE_MODEL,
    SHORT_RUN_RECIPE,
    describe_recipe,
    short_run_steps,
    train_short_run,
)
from ..resolution import (
    TRANSFER_RULES,
    at_resolution,
    place_on_canvas,
    resize_images,
    with_patch_size,
)
from ..training import Progress, accuracy
from .flags import add_budget_flags
from .position_ablation import PAPER_TABLE_8

__all__ = [
    "BUDGETS",
    "MODEL",
    "PATCH_SIZES",
    "REGISTERS",
    "TRANSFERS",
    "VARIANTS",
    "main",
    "run",
    "summarise",
    "update",
]

#: The model of every row: the reference model at half its width (D = 64, MLP 128;
#: four blocks of four heads, the 7x7 grid of 4x4 patches), so that all 54 runs fit
#: in about an hour on a 2-core CPU.
MODEL = {"dim": 64, "mlp_dim": 128}

#: The rows of the comparison: a name, and the ``ViT`` options that build it.
VARIANTS = {
    "none": {"position": "none"},
    "learned": {"position": "learned"},
    "learned-2d": {"position": "learned-2d"},
    "sincos2d": {"position": "sincos2d"},
    "relative": {"position": "relative"},
    "relative-bias": {"position": "relative-bias"},
    "rope2d": {"position": "rope2d"},
    "cpe": {"position": "cpe"},
    "learned+registers": {"position": "learned", "registers": 4},
}

#: Registers in the ``"learned+registers"`` row (Darcet et al. use 4 for ViT-B and
#: larger; our choice for the tiny model).
REGISTERS = VARIANTS["learned+registers"]["registers"]

#: The two training budgets, in epochs (those of ``position_ablation``).
BUDGETS = (0.25, 0.75)

#: The new resolutions, without fine-tuning: the 28x28 garment centred on a 44x44
#: black canvas (8 px = 2 patches of border: an 11x11 grid, the same patches as at
#: 28 px), and the image upscaled 2x to 56x56 (a 14x14 grid of finer patches).
TRANSFERS = {
    "canvas44": (44, lambda x: place_on_canvas(x, 44)),
    "upscaled56": (56, lambda x: resize_images(x, 56)),
}

#: New patch sizes for the patch-embedding resize, each on the same 7x7 grid (images
#: of 7 x patch size pixels): 14, 42 and 56 px.
PATCH_SIZES = (2, 6, 8)


def _class_token_reads(model, images: torch.Tensor) -> dict:
    # the class token's attention in the last block, averaged over heads and images,
    # split between the patches that show clothing (mean > 0.1, as in
    # 11_looking_inside.ipynb), the background patches, the registers and itself
    weights = model.attention_maps(images)[-1][:, :, 0].mean(dim=1)  # (B, T)
    p = model.num_prefix_tokens
    on_object = patchify(images, model.patch_size).mean(dim=-1) > 0.1  # (B, N)
    patches = weights[:, p:]
    return {
        "clothing": round((patches * on_object).sum(1).mean().item(), 4),
        "background": round((patches * ~on_object).sum(1).mean().item(), 4),
        "registers": round(weights[:, 1:p].sum(1).mean().item(), 4),
        "itself": round(weights[:, 0].mean().item(), 4),
        "clothing_patches": round(on_object.float().mean().item(), 4),
    }


def _probe(transfer_images: int, flexi: bool):
    test_x, test_y = load_fashion_mnist("test")
    x = test_x[:transfer_images, None].float() / 255.0
    y = test_y[:transfer_images]

    def probe(model) -> dict:
        out = {"same_images_28": accuracy(model, x, y)}
        for name, (size, transform) in TRANSFERS.items():
            out[name] = accuracy(at_resolution(model, size), transform(x), y)
        if flexi:
            out["patch_size"] = {
                f"{method}_{p}": accuracy(
                    with_patch_size(model, p, method), resize_images(x, 7 * p), y
                )
                for p in PATCH_SIZES
                for method in ("pi", "bilinear")
            }
        out["class_token_reads"] = _class_token_reads(model, x[:256])
        return out

    return probe


def _summary(values: list[float]) -> dict:
    return {
        "mean": round(statistics.mean(values), 4),
        "std": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
    }


def summarise(runs: list[dict], budgets, variants) -> dict:
    """Mean, standard deviation, min and max over the seeds of every column, per
    budget and variant: ``summary[f"{epochs:g}"][variant][column]``."""
    columns = ("test_accuracy", "same_images_28", *TRANSFERS)
    summary = {}
    for epochs in budgets:
        rows = {}
        for name in variants:
            mine = [r for r in runs if r["variant"] == name and r["epochs"] == epochs]
            rows[name] = {c: _summary([r[c] for r in mine]) for c in columns}
            if "patch_size" in mine[0]:
                rows[name]["patch_size"] = {
                    k: _summary([r["patch_size"][k] for r in mine])
                    for k in mine[0]["patch_size"]
                }
        summary[f"{epochs:g}"] = rows
    return summary


def update(record: dict, new: dict) -> dict:
    """``record`` with the runs of ``new``'s variants replaced by ``new``'s (rerun
    after a fix), the summary recomputed, the time added and the update listed under
    ``"updates"``. Both must come from the same budgets, seeds and recipe."""
    for key in ("what", "model", "budget", "recipe", "transfers", "patch_sizes"):
        if record[key] != new[key]:
            raise ValueError(
                f"cannot update: {key!r} differs ({record[key]!r} against "
                f"{new[key]!r}); rerun every variant instead"
            )
    rerun = list(new["variants"])
    variants = list(record["variants"])
    missing = sorted(set(rerun) - set(variants))
    if missing:
        raise ValueError(f"cannot update: {missing} are not in the record")
    kept = [r for r in record["runs"] if r["variant"] not in rerun]
    order = {name: i for i, name in enumerate(variants)}
    runs = sorted(
        kept + new["runs"],
        key=lambda r: (r["epochs"], order[r["variant"]], r["seed"]),
    )
    budgets = record["budget"]["epochs"]
    merged = {**record, "runs": runs, "summary": summarise(runs, budgets, variants)}
    merged["transfer_rules"] = {**record["transfer_rules"], **new["transfer_rules"]}
    merged["wall_seconds"] = round(record["wall_seconds"] + new["wall_seconds"], 1)
    merged["updates"] = record.get("updates", []) + [
        {"variants": rerun, "wall_seconds": new["wall_seconds"]}
    ]
    return merged


def _one_run(job: tuple, progress: Progress | None = None) -> dict:
    # one (budget, variant, seed) run on one thread, so that a run gives the same
    # numbers whether it runs alone or beside others
    epochs, name, seed, train_limit, transfer_images, lr = job
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        options = VARIANTS[name]
        probe = _probe(transfer_images, flexi=options["position"] == "learned")
        info = train_short_run(
            epochs, lr, seed, train_limit, probe, progress, **MODEL, **options
        )
    finally:
        torch.set_num_threads(threads)
    return {
        "epochs": epochs,
        "variant": name,
        "seed": seed,
        "test_accuracy": info["test_accuracy"],
        **info["probe"],
        "recipe": describe_recipe(info),
        "train_seconds": info["train_seconds"],
        "final_train_loss": info["final_train_loss"],
    }


def run(
    variants=tuple(VARIANTS),
    seeds=(0, 1, 2),
    budgets=BUDGETS,
    train_limit: int = 0,
    transfer_images: int = 1000,
    lr: float = 2e-3,
    jobs: int = 1,
    log=print,
) -> dict:
    """Train one model per budget, variant and seed and measure it, ``jobs`` runs at a
    time, each on one thread; return the results record (every run, and a summary per
    budget and variant)."""
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise ValueError(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    if type(jobs) is not int or jobs < 1:
        raise ValueError(f"jobs must be a positive int, got {jobs!r}")
    start = time.perf_counter()
    todo = [
        (epochs, name, seed, train_limit, transfer_images, lr)
        for epochs in budgets
        for name in variants
        for seed in seeds
    ]
    steps = {epochs: short_run_steps(epochs, train_limit) for epochs in budgets}
    bar = Progress(sum(steps[job[0]] for job in todo), log=log)
    if jobs == 1:
        # one run at a time: the bar advances with every step
        results = (_one_run(job, bar) for job in todo)
    else:
        # runs in other processes: the bar advances by a run's steps when it ends
        pool = ProcessPoolExecutor(
            jobs, mp_context=multiprocessing.get_context("spawn")
        )
        results = pool.map(_one_run, todo)
    runs = []
    try:
        for r in results:
            # the run's last losses, for the bar only (not part of the record)
            loss = r.pop("final_train_loss")
            runs.append(r)
            if jobs > 1:
                batch = SHORT_RUN_RECIPE["batch_size"]
                bar.update(steps[r["epochs"]], steps[r["epochs"]] * batch, loss)
            bar.note(
                f"{r['epochs']:g} epochs, {r['variant']:18s} seed {r['seed']}: test "
                f"accuracy {r['test_accuracy']:.4f}, canvas44 {r['canvas44']:.4f}, "
                f"upscaled56 {r['upscaled56']:.4f}"
            )
    finally:
        bar.close()
        if jobs > 1:
            pool.shutdown()
    recipes = {r.pop("recipe") for r in runs}
    if len(recipes) != 1:
        raise RuntimeError(f"the runs recorded different recipes: {sorted(recipes)}")
    return {
        "what": (
            "test accuracy on all 10,000 Fashion-MNIST test images; the transfer "
            f"columns on the first {transfer_images:,} of them, without fine-tuning"
        ),
        "model": {**REFERENCE_MODEL, **MODEL},
        "variants": {name: VARIANTS[name] for name in variants},
        "budget": {
            "epochs": list(budgets),
            "train_images": train_limit or 60000,
            "seeds": list(seeds),
        },
        "recipe": recipes.pop(),
        "threads_per_run": 1,
        "jobs": jobs,
        "transfers": {
            "canvas44": "the 28x28 image centred on a 44x44 black canvas (11x11 grid)",
            "upscaled56": "the image upscaled 2x, bilinear (14x14 grid)",
        },
        "transfer_rules": {
            name: TRANSFER_RULES[VARIANTS[name]["position"]] for name in variants
        },
        "patch_sizes": list(PATCH_SIZES),
        "torch": torch.__version__,
        "wall_seconds": round(time.perf_counter() - start, 1),
        "runs": runs,
        "summary": summarise(runs, budgets, variants),
        "paper_table_8": PAPER_TABLE_8,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        prog="python -m vitbook.experiments.position_encodings",
        description=__doc__.split("\n\n")[0].replace("\n", " "),
    )
    add_budget_flags(parser, BUDGETS, lr=2e-3)
    parser.add_argument(
        "--transfer-images",
        type=checks.arg_type(checks.int_at_least, 1, 10000),
        default=1000,
        help="test images for the resolution and patch-size columns",
    )
    parser.add_argument(
        "--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS)
    )
    parser.add_argument(
        "--jobs",
        type=checks.arg_type(checks.positive_int),
        default=1,
        help="runs at a time, one thread each",
    )
    checks.add_output_flags(parser, "position_encodings.json", "the results record")
    parser.add_argument(
        "--update",
        action="store_true",
        help=(
            "rerun only --variants and replace their runs in the record at --out "
            "(which must exist; it is rewritten)"
        ),
    )
    args = parser.parse_args(argv)
    checks.distinct_flags(parser, args, "epochs", "variants")
    if args.update:
        # the record to update is read now, not after the runs
        if not args.out.is_file():
            parser.error(f"--update needs the record to update at --out {args.out}")
        previous = json.loads(args.out.read_text())
        args.overwrite = True
    checks.checked_output(parser, args)
    record = run(
        tuple(args.variants),
        tuple(range(args.seeds)),
        tuple(args.epochs),
        args.train_limit,
        args.transfer_images,
        args.lr,
        args.jobs,
        log=lambda s: print(s, flush=True),
    )
    if args.update:
        record = update(previous, record)
    checks.write_record(args.out, record)
    for epochs, rows in record["summary"].items():
        for name, row in rows.items():
            acc = row["test_accuracy"]
            print(f"{epochs} epochs, {name:18s} {acc['mean']:.4f} ± {acc['std']:.4f}")
    return record


if __name__ == "__main__":
    main()
