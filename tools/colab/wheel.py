"""Step 1 of the Colab check: the wheel.

Copies the repository's files (git's view) to a clean folder, builds a wheel of the
package from there, and checks that the wheel's RECORD lists the data the notebooks
load through the package (NOTEBOOK_DATA).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tools.colab.common import ROOT, CheckError, run_command

#: Files the notebooks load through the package: each pattern must match a file in the
#: source, and every such file must be in the wheel.
NOTEBOOK_DATA = (
    "vitbook/weights/*.pt",
    "vitbook/weights/*.json",
    "vitbook/results/*.json",
)


def copy_source(dest: Path, root: Path = ROOT) -> Path:
    """Copy the repository's files (git's view: tracked plus untracked, not ignored)
    to ``dest``.

    Building from a copy keeps the checkout's stale ``build/`` and ``*.egg-info`` out of
    the wheel, and the checkout unchanged.
    """
    listing = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others"]
        + ["--exclude-standard"],
        capture_output=True,
        text=True,
    )
    if listing.returncode != 0:
        raise CheckError(
            f"cannot list the repository's files with git in {root}: "
            f"{listing.stderr.strip()}. Run the check from a git clone."
        )
    for name in filter(None, listing.stdout.split("\0")):
        source = root / name
        if source.is_file():  # a tracked file deleted in the working tree is skipped
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


def build_wheel(source: Path, dest: Path, isolated: bool = True) -> Path:
    """Build the package in ``source`` into a wheel in ``dest``; return its path."""
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dest]
    if not isolated:
        command.append("--no-build-isolation")
    run_command([*command, source], "building the wheel")
    wheels = sorted(dest.glob("vitbook-*.whl"))
    if len(wheels) != 1:
        raise CheckError(f"expected one vitbook wheel in {dest}, found {wheels}")
    return wheels[0]


def wheel_record(wheel: Path) -> set[str]:
    """The files the wheel's metadata (``*.dist-info/RECORD``) lists."""
    with zipfile.ZipFile(wheel) as archive:
        records = [n for n in archive.namelist() if n.endswith(".dist-info/RECORD")]
        if len(records) != 1:
            raise CheckError(f"{wheel.name} has no single .dist-info/RECORD: {records}")
        lines = archive.read(records[0]).decode().splitlines()
    return {line.rsplit(",", 2)[0] for line in lines if line}


def expected_data(source: Path) -> dict[str, list[str]]:
    """For each NOTEBOOK_DATA pattern, the matching files of ``source``, relative."""
    return {
        pattern: sorted(p.relative_to(source).as_posix() for p in source.glob(pattern))
        for pattern in NOTEBOOK_DATA
    }


def wheel_data_problems(wheel: Path, source: Path) -> list[str]:
    """What is wrong with the wheel's package data; empty when all is there."""
    listed = wheel_record(wheel)
    problems = []
    for pattern, files in expected_data(source).items():
        if not files:
            problems.append(f"no file in the source matches {pattern}")
        for name in files:
            if name not in listed:
                problems.append(
                    f"{name} is not in {wheel.name}: list it under "
                    "[tool.setuptools.package-data] in pyproject.toml"
                )
    return problems


def make_wheel(work: Path, root: Path = ROOT) -> Path:
    """Build a fresh wheel from a copy of ``root`` and check its package data."""
    source = copy_source(work / "src", root)
    wheel = build_wheel(source, work / "wheel")
    problems = wheel_data_problems(wheel, source)
    if problems:
        raise CheckError("the wheel lacks package data:\n  " + "\n  ".join(problems))
    return wheel
