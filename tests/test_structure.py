"""The book's structure: the table of contents, stored outputs,
Colab install cells and links.

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
from tools.tolerance import cell_tolerance

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
                f"{path.name} cell {i} output shows a machine path: "
                f"{MACHINE_PATH.search(text).group(0)}"
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
        f'{path.name}: the first code cell must set REPO_URL = "..." and install '
        "vitbook from it"
    )
    assert match.group(1) == config()["repository"]["url"], (
        f"{path.name} installs from {match.group(1)}, but _config.yml says "
        f"{config()['repository']['url']}; "
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
            f"{path.name} reads a path relative to the repository; "
            f"notebooks must run alone in Colab:\n{source}"
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


def markdown_cells(nb: dict) -> list[tuple[int, str]]:
    return [
        (i, "".join(c["source"]))
        for i, c in enumerate(nb["cells"])
        if c["cell_type"] == "markdown"
    ]


#: Phrases that send the reader hunting for a number instead of stating it.
HUNTING = re.compile(
    r"printed (above|below|first|earlier|in section)|the (value|number|count|share)s? "
    r"(printed|shown) above|as printed\b",
    re.IGNORECASE,
)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_prose_states_its_numbers_instead_of_pointing_at_outputs(path):
    found = [
        (i, m.group(0))
        for i, text in markdown_cells(load_notebook(path))
        for m in HUNTING.finditer(text)
    ]
    assert found == [], (
        f"{path.name}: (cell, phrase) {found}: glue the number "
        '(vitbook.glue("name", value, ".3f")) and write {glue:text}`name` instead'
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_a_declared_tolerance_is_told_to_the_reader(path):
    """A cell whose numbers may move across machines (tools/tolerance.py) says so where
    the reader meets them: "±0.02" in a markdown cell within three cells of it."""
    cells = load_notebook(path)["cells"]
    unsaid = []
    for i, cell in enumerate(cells):
        tolerance = cell_tolerance(cell.get("metadata", {}))
        if tolerance is None:
            continue
        near = cells[max(0, i - 3) : i + 4]
        said = " ".join(
            "".join(c["source"]) for c in near if c["cell_type"] == "markdown"
        )
        if f"±{tolerance:g}" not in said:
            unsaid.append((i, tolerance))
    assert unsaid == [], (
        f"{path.name}: (cell, tolerance) {unsaid} declare a tolerance that no nearby "
        "sentence tells the reader; write e.g. 'these reproduce to ±0.02 across "
        "machines'"
    )


GLUE_ROLE = re.compile(r"\{glue(?::text)?\}`([^`:]+)(?::[^`]*)?`")


def glued_names(nb: dict) -> list[str]:
    return [
        out["metadata"]["scrapbook"]["name"]
        for cell in code_cells(nb)
        for out in cell.get("outputs", [])
        if "scrapbook" in out.get("metadata", {})
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_every_glued_number_is_quoted_and_every_quote_is_glued(path):
    nb = load_notebook(path)
    glued = glued_names(nb)
    quoted = {
        name for _, text in markdown_cells(nb) for name in GLUE_ROLE.findall(text)
    }
    twice = sorted({n for n in glued if glued.count(n) > 1})
    assert twice == [], f"{path.name} glues these names more than once: {twice}"
    assert quoted - set(glued) == set(), (
        f"{path.name} quotes {sorted(quoted - set(glued))}, which no stored output "
        "glues; run tools/run_notebooks.py, or glue them"
    )
    assert set(glued) - quoted == set(), (
        f"{path.name} glues {sorted(set(glued) - quoted)} but never quotes them"
    )


#: A comment after nothing but closing brackets: the formatter wrapped a statement and
#: left its comment on the last line. It belongs on its own line above the statement.
STRANDED_COMMENT = re.compile(r"^\s*[)\]}][)\]},:\s]*#")


def stranded_comments(source: str) -> list[str]:
    return [
        line.strip() for line in source.splitlines() if STRANDED_COMMENT.match(line)
    ]


def python_files() -> list[Path]:
    skip = {".venv", "_build", "build", "dist", ".git"}
    return sorted(
        p for p in ROOT.rglob("*.py") if not skip & set(p.relative_to(ROOT).parts)
    )


def test_no_comment_is_stranded_on_a_closing_bracket():
    found = {}
    for path in python_files():
        lines = stranded_comments(path.read_text())
        if lines:
            found[str(path.relative_to(ROOT))] = lines
    for path in NOTEBOOKS:
        for i, cell in enumerate(code_cells(load_notebook(path))):
            lines = stranded_comments("".join(cell["source"]))
            if lines:
                found[f"{path.name} code cell {i}"] = lines
    assert found == {}, (
        "comments the formatter left on a closing bracket; put each on its own line "
        f"above the statement it explains: {found}"
    )


#: Code that exists only to make nbval's text comparison pass, or that prints IPython's
#: settings into the book, instead of printing what the reader should see.
TEST_WORKAROUNDS = re.compile(r"\+ 0\.0\b|\"< 1e-\d\" if|%xmode")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_no_code_exists_only_to_please_the_test_runner(path):
    found = [
        (i, m.group(0))
        for i, cell in enumerate(code_cells(load_notebook(path)))
        for m in TEST_WORKAROUNDS.finditer("".join(cell["source"]))
    ]
    assert found == [], (
        f"{path.name}: (code cell, code) {found}: print the value itself (the nbval "
        "sanitizer in tests/nbval_sanitize.cfg evens out float noise), and show an "
        "error with try/except ... as error: print(error)"
    )
