"""Shared test helpers: the repository root and the notebooks listed in _toc.yml. (The
session's environment, threads and kernel path, is set in the root conftest.py.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tools.toc import ROOT, colab_link, config, toc_entries, toc_notebooks  # noqa: F401


def load_notebook(path: Path) -> dict:
    return json.loads(path.read_text())


REPO_URL_LINE = re.compile(r'^REPO_URL = "([^"]*)"$', re.MULTILINE)
