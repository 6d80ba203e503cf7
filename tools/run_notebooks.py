"""Re-execute the book's notebooks in place, the same way every time,
so stored outputs are fresh.

    python tools/run_notebooks.py                 # every notebook in _toc.yml
    python tools/run_notebooks.py book/02_patches.ipynb

Each notebook runs from a clean kernel of this Python, in its own folder, top to bottom,
on the CPU kernel path and the one thread the test session uses.
Before running, the install cell's ``REPO_URL`` is set to ``repository.url`` of
``_config.yml`` (the one place that names the repository). Afterwards, execution
timestamps and widget state are dropped, so a re-run changes only what the code changed.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tools import kernel_path  # noqa: E402
from tools.toc import ROOT, config, toc_notebooks  # noqa: E402
from vitbook.checks import arg_type, positive_int  # noqa: E402

REPO_URL_LINE = re.compile(r'^REPO_URL = "[^"]*"$', re.MULTILINE)


def repository_url() -> str:
    return config()["repository"]["url"]


def run(path: Path, timeout: int) -> float:
    nb = nbformat.read(path, as_version=4)
    url = repository_url()
    for cell in nb.cells:
        if cell.cell_type == "code" and REPO_URL_LINE.search(cell.source):
            cell.source = REPO_URL_LINE.sub(f'REPO_URL = "{url}"', cell.source)
    start = time.perf_counter()
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,
    )
    client.execute()
    elapsed = time.perf_counter() - start
    nb.metadata.pop("widgets", None)
    nb.metadata["kernelspec"] = {
        "display_name": "Python 3",
        "language": "python",
        "name": "python3",
    }
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nbformat.write(nb, path)
    return elapsed


def notebook_path(text: str) -> Path:
    """A notebook given on the command line: an existing ``.ipynb`` file."""
    path = Path(text)
    if path.suffix != ".ipynb":
        raise argparse.ArgumentTypeError(f"{text!r} is not a notebook (.ipynb)")
    if not path.is_file():
        raise argparse.ArgumentTypeError(
            f"no notebook {text!r}; give a path such as book/02_patches.ipynb"
        )
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "notebooks",
        nargs="*",
        type=notebook_path,
        help="notebooks to run (default: all in _toc.yml)",
    )
    parser.add_argument(
        "--timeout",
        type=arg_type(positive_int),
        default=600,
        help="seconds a cell may take",
    )
    args = parser.parse_args(argv)
    # The kernel must be this Python, whatever the `python3` kernelspec on PATH says.
    os.environ["PATH"] = (
        str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
    )
    os.environ.setdefault("PYTHONHASHSEED", "0")
    # The kernels compute as the test session's do: on the pinned CPU kernel path
    # (tools/kernel_path.py), with one thread.
    path_name = kernel_path.pin()
    os.environ.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    print(f"CPU kernel path: {path_name}, one thread")
    notebooks = [p.resolve() for p in args.notebooks] or toc_notebooks()
    for path in notebooks:
        seconds = run(path, args.timeout)
        print(f"{seconds:6.1f} s  {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
