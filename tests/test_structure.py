"""The book's structure: the table of contents, stored outputs, Colab install cells and links.

That each built page links Colab to its own notebook is checked in the browser
(tests/test_browser.py).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import (
    REPO_URL_LINE,
    ROOT,
    colab_link,
    config,
    load_notebook,
    toc_entries,
    toc_notebooks,
)

NOTEBOOKS = toc_notebooks()
IDS = [p.stem for p in NOTEBOOKS]
MACHINE_PATH = re.compile(
    r"(/root/|/tmp/|/work/|/home/|site-packages|\.venv|[A-Z]:\\\\)"
)
MEMORY_ADDRESS = re.compile(r"\bat 0x[0-9a-fA-F]{6,}")


def code_cells(nb: dict) -> list[dict]:
    return [
        c
        for c in nb["cells"]
        if c["cell_type"] == "code" and "".join(c["source"]).strip()
    ]


def test_every_book_notebook_is_in_the_toc_and_every_entry_exists():
    listed = set(toc_entries())
    on_disk = {
        str(p.relative_to(ROOT).with_suffix(""))
        for p in (ROOT / "book").rglob("*")
        if p.suffix in (".ipynb", ".md") and ".ipynb_checkpoints" not in p.parts
    }
    assert on_disk - listed == set(), (
        f"in book/ but not in _toc.yml: {sorted(on_disk - listed)}"
    )
    missing = [
        e
        for e in listed
        if not any((ROOT / f"{e}{ext}").exists() for ext in (".ipynb", ".md"))
    ]
    assert missing == [], f"_toc.yml lists files that do not exist: {missing}"
    assert len(NOTEBOOKS) >= 3


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_outputs_are_stored_and_clean(path: Path):
    nb = load_notebook(path)
    cells = code_cells(nb)
    assert any(c.get("outputs") for c in cells), f"{path.name} has no stored outputs"
    assert "widgets" not in nb["metadata"], (
        f"{path.name} stores widget state; run tools/run_notebooks.py"
    )
    for i, cell in enumerate(cells):
        tags = cell.get("metadata", {}).get("tags", [])
        for out in cell.get("outputs", []):
            if out["output_type"] == "error":
                assert "raises-exception" in tags, (
                    f"{path.name} cell {i} stored an unexpected error"
                )
            text = json.dumps({k: v for k, v in out.items() if k != "data"})
            text += json.dumps(
                {
                    k: v
                    for k, v in out.get("data", {}).items()
                    if not k.startswith("image/")
                }
            )
            text = re.sub(r"data:image/(png|jpeg);base64,[A-Za-z0-9+/=]+", "", text)
            assert not MACHINE_PATH.search(text), (
                f"{path.name} cell {i} output shows a machine path: {MACHINE_PATH.search(text).group(0)}"
            )
            assert not MEMORY_ADDRESS.search(text), (
                f"{path.name} cell {i} output shows a memory address"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_first_code_cell_installs_only_vitbook_from_the_configured_repository(
    path: Path,
):
    source = "".join(code_cells(load_notebook(path))[0]["source"])
    match = REPO_URL_LINE.search(source)
    assert match, (
        f'{path.name}: the first code cell must set REPO_URL = "..." and install vitbook from it'
    )
    assert match.group(1) == config()["repository"]["url"], (
        f"{path.name} installs from {match.group(1)}, but _config.yml says {config()['repository']['url']}; "
        "run tools/run_notebooks.py to update the install cells"
    )
    assert 'find_spec("vitbook") is None' in source, (
        "install only when `import vitbook` would fail"
    )
    installs = re.findall(r"pip\", \"install\"[^\n]*", source)
    assert len(installs) == 1 and "git+{REPO_URL}" in installs[0], (
        f"{path.name} installs something else: {installs}"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebooks_read_no_file_by_a_repository_path(path: Path):
    for cell in code_cells(load_notebook(path)):
        source = "".join(cell["source"])
        assert not re.search(r"[\"']\.\./|[\"'](book|vitbook|tests)/", source), (
            f"{path.name} reads a path relative to the repository; notebooks must run alone in Colab:\n{source}"
        )


def test_colab_links_in_the_config_point_at_real_notebooks():
    cfg = config()
    assert cfg["repository"]["url"].startswith("https://github.com/")
    assert cfg["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    for path in NOTEBOOKS:
        entry = str(path.relative_to(ROOT).with_suffix(""))
        link = colab_link(entry)
        repo_path = link.split(f"/blob/{cfg['repository']['branch']}/", 1)[1]
        assert (ROOT / repo_path).is_file(), (
            f"Colab link {link} names {repo_path}, which is not in the repository"
        )
