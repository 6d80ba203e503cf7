"""Performance figures, measured in one run on one machine:
``python -m vitbook.experiments.bench --help``.

1. Training throughput of ``vitbook.ViT`` against a ViT of the same size built on
   ``torch.nn.TransformerEncoder`` (pre-norm, GELU), alternated several times.
2. Achieved training FLOP/s (FLOPs counted by ``torch.utils.flop_counter``) against a
   large float32 matrix multiply on the same machine.
3. Optionally, the time of each notebook under the README's test command (strict nbval).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .. import checks
from ..embedding import PatchEmbedding
from ..model import ViT, count_flops
from ..training import Progress

__all__ = ["TorchEncoderViT", "main"]


class TorchEncoderViT(nn.Module):
    """The same ViT as ``vitbook.ViT`` (class token, learned positions, pre-norm, GELU),
    with ``nn.TransformerEncoder`` as its encoder: ``(B, C, S, S)`` ->
    ``(B, num_classes)``."""

    def __init__(
        self, image_size, patch_size, num_classes, dim, depth, heads, mlp_dim, channels
    ):
        super().__init__()
        self.patch_embed = PatchEmbedding(patch_size, channels, dim)
        n = (image_size // patch_size) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + n, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(
            dim,
            heads,
            mlp_dim,
            dropout=0.0,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(images)  # (B, N, D)
        x = (
            torch.cat([self.cls_token.expand(len(x), -1, -1), x], dim=1)
            + self.pos_embed
        )
        return self.head(self.norm(self.encoder(x))[:, 0])


def _step(model: nn.Module, optimizer, x: torch.Tensor, y: torch.Tensor) -> None:
    loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def _images_per_second(model, optimizer, x, y, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        _step(model, optimizer, x, y)
    return steps * len(x) / (time.perf_counter() - start)


def training_flops(config: dict, batch_size: int) -> int:
    """FLOPs of one training step (forward and backward)
    of ``ViT(**config)`` on a batch."""
    torch.manual_seed(0)
    model = ViT(**config)
    x = torch.rand(
        batch_size, config["channels"], config["image_size"], config["image_size"]
    )
    return count_flops(model, x, backward=True)


def matmul_flops_per_second(size: int = 2048, repeats: int = 10) -> float:
    """The FLOP/s of a large float32 matrix multiply,
    ``size x size`` by ``size x size``."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b  # warm up
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return repeats * 2 * size**3 / (time.perf_counter() - start)


def notebook_times(root: Path) -> dict[str, float]:
    """Seconds each notebook of _toc.yml takes under strict nbval
    (`pytest -n 1 <notebook>`: on one worker with one CPU thread, as in the suite)."""
    sys.path.insert(0, str(root))
    from tools.toc import toc_notebooks

    times = {}
    notebooks = toc_notebooks()
    bar = Progress(len(notebooks), "notebooks")
    for path in notebooks:
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-n", "1"]
            + [str(path.relative_to(root))],
            cwd=root,
            check=True,
            capture_output=True,
        )
        times[path.name] = round(time.perf_counter() - start, 1)
        bar.update(1)
        bar.note(f"{path.name}: {times[path.name]} s")
    bar.close()
    return times


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        prog="python -m vitbook.experiments.bench",
        description=__doc__.split("\n\n")[0].replace("\n", " "),
    )
    parser.add_argument(
        "--batch-size", type=checks.arg_type(checks.positive_int), default=128
    )
    parser.add_argument(
        "--steps",
        type=checks.arg_type(checks.positive_int),
        default=10,
        help="training steps per timing",
    )
    parser.add_argument(
        "--rounds",
        type=checks.arg_type(checks.positive_int),
        default=5,
        help="alternations of the two models",
    )
    parser.add_argument(
        "--notebooks", action="store_true", help="also time every notebook under nbval"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="write the results as JSON here"
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace --out if it exists"
    )
    args = parser.parse_args(argv)
    if args.out is not None:
        # checked before the timings, which take minutes
        checks.checked_output(parser, args)

    from ..recipes import REFERENCE_MODEL

    config = {
        k: REFERENCE_MODEL[k]
        for k in (
            "image_size",
            "patch_size",
            "num_classes",
            "dim",
            "depth",
            "heads",
            "mlp_dim",
            "channels",
        )
    }
    torch.manual_seed(0)
    ours = ViT(**config, mean=0.0, std=1.0)
    theirs = TorchEncoderViT(**config)
    count = sum(p.numel() for p in ours.parameters())
    assert count == sum(p.numel() for p in theirs.parameters()), (
        "the two models must be the same size"
    )
    x = torch.rand(
        args.batch_size, config["channels"], config["image_size"], config["image_size"]
    )
    y = torch.randint(0, config["num_classes"], (args.batch_size,))
    optimizers = {m: torch.optim.AdamW(m.parameters(), 1e-3) for m in (ours, theirs)}
    for model in (ours, theirs):  # warm up
        model.train()
        _images_per_second(model, optimizers[model], x, y, 2)
    speeds = {"vitbook.ViT": [], "nn.TransformerEncoder": []}
    # advanced between timings, never inside one
    bar = Progress(2 * args.rounds * args.steps, "steps timed")
    for _ in range(args.rounds):
        for name, model in (("vitbook.ViT", ours), ("nn.TransformerEncoder", theirs)):
            speed = _images_per_second(model, optimizers[model], x, y, args.steps)
            speeds[name].append(speed)
            bar.update(args.steps, args.steps * args.batch_size)
    bar.close()
    median = {k: statistics.median(v) for k, v in speeds.items()}
    ratios = [
        a / b for a, b in zip(speeds["vitbook.ViT"], speeds["nn.TransformerEncoder"])
    ]

    flops_per_step = training_flops(config, args.batch_size)
    achieved = flops_per_step * median["vitbook.ViT"] / args.batch_size
    peak = matmul_flops_per_second()
    results = {
        "machine": (
            f"{platform.processor() or platform.machine()}, "
            f"{torch.get_num_threads()} threads, torch {torch.__version__}"
        ),
        "model": {**config, "parameters": count, "batch_size": args.batch_size},
        "images_per_second": {k: round(v, 1) for k, v in median.items()},
        "throughput_ratio_median": round(statistics.median(ratios), 3),
        "throughput_ratios": [round(r, 3) for r in ratios],
        "training_gflop_per_step": round(flops_per_step / 1e9, 2),
        "achieved_gflop_per_second": round(achieved / 1e9, 1),
        "matmul_gflop_per_second": round(peak / 1e9, 1),
        "fraction_of_matmul": round(achieved / peak, 3),
    }
    print(f"machine: {results['machine']}")
    print(f"model: {count:,} parameters, batch {args.batch_size}")
    for name, value in results["images_per_second"].items():
        print(f"  {name:22s} {value:8.1f} training images/s (median of {args.rounds})")
    print(
        "  ratio vitbook / nn.TransformerEncoder: "
        f"{results['throughput_ratio_median']:.3f} "
        f"(per round: {results['throughput_ratios']})"
    )
    print(
        f"  training FLOP/s {results['achieved_gflop_per_second']} GFLOP/s = "
        f"{results['fraction_of_matmul']:.1%} of a 2048^2 float32 matmul "
        f"({results['matmul_gflop_per_second']} GFLOP/s)"
    )
    if args.notebooks:
        # vitbook/experiments/bench.py -> the repository
        root = Path(__file__).resolve().parents[2]
        results["notebook_seconds"] = notebook_times(root)
        for name, seconds in results["notebook_seconds"].items():
            print(f"  {name:34s} {seconds:6.1f} s under strict nbval")
    if args.out:
        checks.write_record(args.out, results)
    return results


if __name__ == "__main__":
    main()
