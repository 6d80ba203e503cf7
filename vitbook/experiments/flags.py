"""The command-line flags the experiment scripts share."""

from __future__ import annotations

import argparse

from .. import checks

__all__ = ["add_budget_flags", "add_seeds_flag", "add_train_limit_flag"]


def add_train_limit_flag(parser: argparse.ArgumentParser) -> None:
    """``--train-limit N``: train on the first N images only (0: all); every script
    that trains has it."""
    parser.add_argument(
        "--train-limit",
        type=checks.arg_type(checks.nonnegative_int),
        default=0,
        help="only the first N training images (0: all)",
    )


def add_seeds_flag(parser: argparse.ArgumentParser, default: int = 3) -> None:
    """``--seeds N``: each run with seeds 0 .. N-1 (the experiments' flag)."""
    parser.add_argument(
        "--seeds",
        type=checks.arg_type(checks.positive_int),
        default=default,
        help="seeds 0 .. N-1 of every run",
    )


def add_budget_flags(
    parser: argparse.ArgumentParser, budgets: tuple[float, ...], lr: float
) -> None:
    """``--epochs`` (the budgets), ``--seeds``, ``--lr`` and ``--train-limit``: the
    flags of the short experiments that compare rows at several budgets."""
    parser.add_argument(
        "--epochs",
        type=checks.arg_type(checks.positive_number),
        nargs="+",
        default=list(budgets),
        help="the training budgets, in epochs per run",
    )
    add_seeds_flag(parser)
    parser.add_argument(
        "--lr", type=checks.arg_type(checks.positive_number), default=lr
    )
    add_train_limit_flag(parser)
