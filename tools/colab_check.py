"""Colab that just works: run each notebook of the book alone, as a Colab reader would.

    python tools/colab_check.py                        # every notebook of _toc.yml
    python tools/colab_check.py book/02_patches.ipynb  # only these
    python tools/colab_check.py --jobs 1 --keep        # one at a time; keep the files

In order, it

1. builds a wheel of this repository (``pip wheel --no-deps``) from a clean copy of its
   files (``git ls-files``: committed, plus new files git does not ignore), and checks
   that the wheel holds the data the notebooks load through the package:
   ``vitbook/weights/*.pt``, ``vitbook/weights/*.json`` and ``vitbook/results/*.json``;
2. makes a fresh virtual environment holding only what Colab preinstalls - torch,
   torchvision, numpy,
   matplotlib, pillow, ipywidgets, scikit-image, scikit-learn, and ipykernel for the
   kernel - at the versions pinned in requirements.txt, then installs the wheel on top
   and checks that this changed none of those packages (the package must never fight
   Colab's pins). No jupyter-book, nbval, pytest or editable install;
3. cuts the network off (a new network namespace, ``unshare --net``, with only the
   loopback up, over which the kernel talks to this script; a connection to pypi.org is
   checked to fail), then, for each notebook, copies it alone into an empty folder and
   runs it there top to bottom, on a kernel of the fresh environment's Python. Each
   notebook's set-up cell must find ``vitbook`` already installed (so it skips its
   ``pip install`` from GitHub), and the ``vitbook`` it imports must be the wheel's.
   Cells tagged ``raises-exception`` must raise; any other error fails the check, naming
   the notebook, the cell index and the traceback.

It prints a table of seconds per notebook and the total, and exits 0 when every notebook
ran to the end, 1 when one failed, 2 when the check itself could not be set up.

Fashion-MNIST (the notebooks from 09_whole_vit.ipynb to 13_beyond_absolute.ipynb): with
no network, ``vitbook.load_fashion_mnist`` finds
the data only in ``/usr/share/datasets/fashion-mnist/``, installed by the Debian package
``dataset-fashion-mnist`` (``apt-get install dataset-fashion-mnist``; .ci/run does it).
That folder stands in for Colab's download. The kernels get an empty HOME (so no
``~/.cache/vitbook``) and no ``$VITBOOK_FASHION_MNIST``, ``$PYTHONPATH`` or virtual
environment of the caller.

Where no network namespace can be made (``unshare`` refused, e.g. not root and user
namespaces disabled), it says so and falls back to pointing the kernels' proxy variables
at a dead port and disabling pip's index: that stops pip, git and urllib, but not a raw
socket, so the check is then weaker, and the summary says it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tools.colab.common import ROOT, CheckError, say  # noqa: E402
from tools.colab.environment import (  # noqa: E402
    colab_requirements,
    install_wheel,
    make_environment,
    write_kernelspec,
)
from tools.colab.network import cut_off_problem, isolation, loopback_up, resolve  # noqa: E402
from tools.colab.run import report_line, run_all  # noqa: E402
from tools.colab.wheel import NOTEBOOK_DATA, make_wheel  # noqa: E402
from vitbook.checks import arg_type, positive_int  # noqa: E402

# The check runs in two processes: ``main`` builds and installs (``prepare``), then
# ``run_offline`` starts this very script again, cut off from the network, as
# ``colab_check.py --inner plan.json``; that child's ``main`` calls ``inner_main``,
# which runs the notebooks and writes their records for the parent to ``summarize``.


def check_runner() -> None:
    """This Python drives the kernels and reads _toc.yml: it needs these modules."""
    import importlib.util

    needed = ("nbclient", "nbformat", "yaml")
    missing = [m for m in needed if importlib.util.find_spec(m) is None]
    if missing:
        raise CheckError(
            f"this Python ({sys.executable}) lacks {', '.join(missing)}: run the check "
            "from the book's environment (pip install -r requirements.txt)"
        )


def prepare(args: argparse.Namespace, work: Path) -> dict:
    """Build, install and write the plan for the offline part; return the plan."""
    timings = {}
    start = time.perf_counter()
    wheel = make_wheel(work)
    timings["build the wheel"] = time.perf_counter() - start
    say(f"built {wheel.name}; its RECORD lists {', '.join(NOTEBOOK_DATA)}")
    start = time.perf_counter()
    python = make_environment(sys.executable, work / "venv")
    timings["fresh venv + Colab's packages"] = time.perf_counter() - start
    say(f"fresh venv with {', '.join(colab_requirements())}")
    start = time.perf_counter()
    added = install_wheel(python, wheel)
    timings["install the wheel"] = time.perf_counter() - start
    say(f"installed the wheel; Colab's packages unchanged; added: {', '.join(added)}")
    write_kernelspec(python, work / "jupyter")
    (work / "home").mkdir()
    (work / "runs").mkdir()
    return {
        "python": str(python),
        "venv": str((work / "venv").resolve()),
        "jupyter": str(work / "jupyter"),
        "home": str(work / "home"),
        "runs": str(work / "runs"),
        "results": str(work / "results.json"),
        "notebooks": [str(p) for p in args.notebooks],
        "jobs": args.jobs,
        "timeout": args.timeout,
        "pypi_ip": resolve("pypi.org"),
        "timings": timings,
    }


def run_offline(plan: dict, work: Path) -> dict:
    """Run the notebooks in a child process without network; return its results."""
    prefix, kind, offline_env = isolation()
    plan.update(isolation=kind, in_namespace=bool(prefix), offline_env=offline_env)
    plan_path = work / "plan.json"
    plan_path.write_text(json.dumps(plan, indent=1))
    command = [*prefix, sys.executable, str(Path(__file__).resolve())]
    start = time.perf_counter()
    child = subprocess.run([*command, "--inner", str(plan_path)])
    plan["timings"]["offline run, start to exit"] = time.perf_counter() - start
    if child.returncode != 0 or not Path(plan["results"]).exists():
        raise CheckError(f"the offline run stopped (exit {child.returncode})")
    return json.loads(Path(plan["results"]).read_text())


def inner_main(plan_path: Path) -> int:
    """The part that runs without network: check that, then run the notebooks."""
    plan = json.loads(plan_path.read_text())
    if plan["in_namespace"]:
        loopback_up()
        problem = cut_off_problem(plan["pypi_ip"])
        if problem:
            print(
                f"colab-check: the network is not cut off: {problem}", file=sys.stderr
            )
            return 2
        say("network cut off: pypi.org unreachable, loopback up")
    os.environ["JUPYTER_PATH"] = plan["jupyter"]
    start = time.perf_counter()
    records = run_all(plan)
    result = {"records": records, "seconds": time.perf_counter() - start}
    Path(plan["results"]).write_text(json.dumps(result, indent=1))
    return 0


def summarize(plan: dict, result: dict) -> int:
    """Print the failures, the table and the total; return the exit status."""
    records = result["records"]
    for record in records:
        for problem in record["problems"]:
            print(f"\nFAILED {record['notebook']}: {problem}", file=sys.stderr)
    print("\nseconds per notebook (kernel start to last cell, alone, offline):")
    for record in records:
        print(report_line(record))
    for what, seconds in plan["timings"].items():
        print(f"  {'':4}  {seconds:6.1f} s  ({what})")
    jobs = plan["jobs"]
    print(
        f"  {'':4}  {result['seconds']:6.1f} s  "
        f"(of that, the notebooks, {jobs} at a time)"
    )
    print(f"network: {plan['isolation']}")
    origins = sorted({r.get("vitbook", "?") for r in records})
    print(f"the set-up cells found vitbook at: {', '.join(origins)}")
    failed = [r["notebook"] for r in records if r["problems"]]
    if failed:
        print(f"colab-check: FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    say(f"all {len(records)} notebooks ran alone, offline, from the wheel")
    return 0


def default_notebooks() -> list[Path]:
    """The notebooks of _toc.yml, in reading order."""
    sys.path.insert(0, str(ROOT))
    from tools.toc import toc_notebooks

    return toc_notebooks()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "notebooks", nargs="*", type=Path, help="notebooks (default: all of _toc.yml)"
    )
    parser.add_argument(
        "--jobs",
        type=arg_type(positive_int),
        default=2,
        help="notebooks run at a time (default: 2)",
    )
    parser.add_argument(
        "--timeout",
        type=arg_type(positive_int),
        default=300,
        help="seconds a cell may take (300)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the work folder (printed) to inspect"
    )
    parser.add_argument("--inner", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        check_runner()
    except CheckError as error:
        parser.error(str(error))
    args.notebooks = [p.resolve() for p in args.notebooks] or default_notebooks()
    for path in args.notebooks:
        if not path.is_file():
            parser.error(f"no notebook {path}")
    return args


def clean_up(work: Path, keep: bool) -> None:
    """Delete the work folder (venv, copies, executed notebooks)
    unless asked to keep it."""
    if keep:
        say(f"kept {work}")
        return
    start = time.perf_counter()
    shutil.rmtree(work, ignore_errors=True)
    say(f"deleted {work} in {time.perf_counter() - start:.1f} s")


def main(argv: list[str] | None = None) -> int:
    """Run the whole check; see the module docstring."""
    args = parse_args(argv)
    if args.inner:
        return inner_main(args.inner)
    start = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="colab-check-"))
    try:
        plan = prepare(args, work)
        status = summarize(plan, run_offline(plan, work))
    except CheckError as error:
        print(f"colab-check: {error}", file=sys.stderr)
        status = 2
    finally:
        clean_up(work, args.keep)
    say(f"total {time.perf_counter() - start:.1f} s (build, install, run, clean up)")
    return status


if __name__ == "__main__":
    sys.exit(main())
