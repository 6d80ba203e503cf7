"""The test session's environment, for every test and notebook, wherever pytest is
pointed (``pytest``, ``pytest book/08_position_embeddings.ipynb``):

- the CPU kernel path is pinned before torch is imported (``tools/kernel_path.py``), so
  every x86-64 machine computes the stored outputs' bits;
- each pytest-xdist worker, and every notebook kernel it starts, gets one CPU thread;
- strict nbval honours the tolerance a cell declares in its metadata
  (``tools/tolerance.py``) and compares every other output exactly;
- the longest work is handed out first (pyproject.toml turns xdist's own reordering,
  by test count, off), so that no worker is left alone with a long notebook at the end.
"""

from __future__ import annotations

import os
import sys

import pytest

from tools import kernel_path
from tools.tolerance import cell_tolerance, reconcile

KERNEL_PATH = pytest.StashKey[str]()


def pytest_configure(config):
    # before any test imports torch, and before the workers and kernels start (they
    # inherit this environment)
    path = kernel_path.pin()
    config.stash[KERNEL_PATH] = path
    if "torch" in sys.modules and path != "native":
        wanted = kernel_path.PATHS[path]["ATEN_CPU_CAPABILITY"].upper()
        got = sys.modules["torch"].backends.cpu.get_cpu_capability()
        if got != wanted:
            raise RuntimeError(
                f"torch was imported before the kernel path was pinned ({got}, not "
                f"{wanted}); do not import torch in a pytest plugin"
            )
    _honour_declared_tolerances()
    # The suite runs on pytest-xdist workers (pyproject.toml: one per core). Each
    # worker, and every notebook kernel it starts, gets one CPU thread: two workers
    # of two threads each on two cores spend their time waiting for each other
    # (measured: 162 s against 112 s for the whole suite).
    if not hasattr(config, "workerinput"):  # the controller, or a run without xdist
        return
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


#: The test modules that take longest (measured: 10 to 25 s each on the 2-core machine,
#: against a second or two for the others), the longest last.
SLOW_TEST_MODULES = (
    "test_widgets.py",
    "test_convert.py",
    "test_experiment_scripts.py",
    "test_browser.py",
)


def pytest_collection_modifyitems(session, config, items):
    """Longest first: the slow test modules, then the notebooks by the length of their
    code, then the other test modules by their number of tests. pytest-xdist hands out
    a module or notebook whole, in this order, to whichever worker is free, so the suite
    ends about when the total work does, not with one worker alone on a long module."""
    scopes: dict[str, list] = {}
    for item in items:
        scopes.setdefault(item.nodeid.rsplit("::", 1)[0], []).append(item)

    def weight(scope: str) -> tuple[int, int]:
        members = scopes[scope]
        if scope.endswith(SLOW_TEST_MODULES):
            return (2, SLOW_TEST_MODULES.index(scope.rsplit("/", 1)[-1]))
        if scope.endswith(".ipynb"):
            code = sum(len(getattr(i, "cell", {}).get("source", "")) for i in members)
            return (1, code)
        return (0, len(members))

    order = sorted(scopes, key=weight, reverse=True)
    items[:] = [item for scope in order for item in scopes[scope]]


def pytest_report_header(config):
    path = config.stash.get(KERNEL_PATH, "native")
    how = "pinned" if path == kernel_path.PINNED else f"chosen by ${kernel_path.CHOICE}"
    return f"CPU kernel path: {path} ({how}; tools/kernel_path.py)"


def _honour_declared_tolerances():
    """Let strict nbval compare a cell that declares a tolerance number by number."""
    try:
        from nbval.plugin import IPyNbCell
    except ImportError:  # nbval not installed: no notebooks are collected
        return
    original = IPyNbCell.compare_outputs
    if getattr(original, "honours_tolerance", False):
        return

    def compare_outputs(self, test, ref, skip_compare=None):
        tolerance = cell_tolerance(self.cell.metadata)
        if tolerance is not None:
            test = reconcile(test, ref, tolerance)
        return original(self, test, ref, skip_compare)

    compare_outputs.honours_tolerance = True
    IPyNbCell.compare_outputs = compare_outputs
