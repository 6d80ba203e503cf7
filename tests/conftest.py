"""Shared test helpers: the repository root and the notebooks listed in _toc.yml; one
CPU thread per pytest-xdist worker."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

from tools.toc import ROOT, colab_link, config, toc_entries, toc_notebooks  # noqa: F401


def load_notebook(path: Path) -> dict:
    return json.loads(path.read_text())


REPO_URL_LINE = re.compile(r'^REPO_URL = "([^"]*)"$', re.MULTILINE)


def pytest_configure(config):  # noqa: F811 (pytest passes the argument by this name)
    # The suite runs on pytest-xdist workers (pyproject.toml: one per core). Each
    # worker, and every notebook kernel it starts (they inherit its environment), gets
    # one CPU thread: two workers of two threads each on two cores spend their time
    # waiting for each other (measured: 162 s against 112 s for the whole suite).
    if not hasattr(config, "workerinput"):  # the controller, or a run without xdist
        return
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
