"""What every part of the Colab check shares: the repository root, its error, its voice.

``CheckError`` means the check could not be set up (exit status 2); ``say`` prints a
progress line; ``run_command`` runs a command and turns a failure into a CheckError.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class CheckError(RuntimeError):
    """The check could not be set up (build, install, network): exit status 2."""


def say(message: str) -> None:
    """One progress line, flushed at once (the inner run prints in between)."""
    print(f"colab-check: {message}", flush=True)


def run_command(command: list, what: str, **kwargs) -> subprocess.CompletedProcess:
    """Run ``command``; on failure raise a CheckError
    naming ``what`` with its output."""
    result = subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, **kwargs
    )
    if result.returncode != 0:
        raise CheckError(
            f"{what} failed (exit {result.returncode}): {' '.join(map(str, command))}\n"
            f"{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
    return result
