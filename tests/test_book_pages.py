"""The HTML book as a document: numbered figures, citations that resolve,
lint config."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from conftest import ROOT, config, load_notebook, toc_entries, toc_notebooks
from tools.colab.environment import requirement_pins

NOTEBOOKS = toc_notebooks()
IDS = [p.stem for p in NOTEBOOKS]
CITE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]+)`")


def figure_cells(nb: dict) -> list[tuple[int, dict]]:
    """(index, cell) of every code cell with a PNG among its outputs."""
    return [
        (i, c)
        for i, c in enumerate(nb["cells"])
        if c["cell_type"] == "code"
        and any("image/png" in o.get("data", {}) for o in c.get("outputs", []))
    ]


def display_outputs(cell: dict) -> list[dict]:
    return [
        o
        for o in cell.get("outputs", [])
        if o["output_type"] in ("display_data", "execute_result")
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_every_figure_has_a_numbered_caption_and_alt_text(path):
    missing, doubled = [], []
    for index, cell in figure_cells(load_notebook(path)):
        options = cell["metadata"].get("mystnb", {})
        figure = options.get("figure", {})
        alt = options.get("image", {}).get("alt", "").strip()
        if not (figure.get("caption", "").strip() and figure.get("name") and alt):
            missing.append(index)
        # myst-nb wraps every display output of a captioned cell in the same figure
        if len(display_outputs(cell)) != 1:
            doubled.append(index)
    assert missing == [], (
        f"{path.name}: cells {missing} draw a figure without a caption, a name or alt"
        ' text; add cell metadata {"mystnb": {"figure": {"caption": ..., "name":'
        ' "fig-NN-..."}, "image": {"alt": ...}}}'
    )
    assert doubled == [], (
        f"{path.name}: cells {doubled} draw more than one output, so the caption would"
        " repeat under each; draw one figure per cell"
    )


def test_figure_names_are_unique_across_the_book():
    names = [
        cell["metadata"]["mystnb"]["figure"]["name"]
        for path in NOTEBOOKS
        for _, cell in figure_cells(load_notebook(path))
        if "name" in cell["metadata"].get("mystnb", {}).get("figure", {})
    ]
    assert len(names) == len(set(names)), sorted(
        n for n in set(names) if names.count(n) > 1
    )


def bib_keys() -> set[str]:
    text = (ROOT / "references.bib").read_text()
    return set(re.findall(r"^@\w+\{([^,]+),", text, re.MULTILINE))


def cited_keys() -> dict[str, set[str]]:
    """Every key cited in each page's Markdown:
    notebooks' Markdown cells and .md pages."""
    cited = {}
    for entry in toc_entries():
        notebook = ROOT / f"{entry}.ipynb"
        if notebook.exists():
            text = "\n".join(
                "".join(c["source"])
                for c in load_notebook(notebook)["cells"]
                if c["cell_type"] == "markdown"
            )
        else:
            text = (ROOT / f"{entry}.md").read_text()
        cited[entry] = {
            key.strip() for keys in CITE.findall(text) for key in keys.split(",")
        }
    return cited


def test_the_bibliography_is_configured_and_listed_in_the_book():
    assert config()["bibtex_bibfiles"] == ["references.bib"]
    pages = [e for e in toc_entries() if (ROOT / f"{e}.md").exists()]
    assert any("{bibliography}" in (ROOT / f"{p}.md").read_text() for p in pages), (
        "no page of _toc.yml holds the {bibliography} directive"
    )


def test_every_citation_resolves_and_every_work_is_cited():
    keys, cited = bib_keys(), cited_keys()
    unknown = {page: sorted(c - keys) for page, c in cited.items() if c - keys}
    assert unknown == {}, f"cited but not in references.bib: {unknown}"
    uncited = keys - set().union(*cited.values())
    assert uncited == set(), f"in references.bib but cited nowhere: {sorted(uncited)}"


def test_the_notation_page_is_in_the_book():
    assert "book/notation" in toc_entries()


def test_pre_commit_runs_the_pinned_ruff_on_python_and_notebooks():
    import yaml

    hooks = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())["repos"]
    ruff = next(r for r in hooks if r["repo"].endswith("/ruff-pre-commit"))
    pin = requirement_pins().get("ruff")
    assert pin, "requirements.txt pins no ruff"
    assert ruff["rev"] == f"v{pin}", (
        f".pre-commit-config.yaml runs ruff {ruff['rev']}, requirements.txt pins "
        f"{pin}: make them agree"
    )
    for hook in ruff["hooks"]:
        assert "jupyter" in hook.get("types_or", []), f"{hook['id']} skips notebooks"


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]])
def test_the_code_base_passes_ruff(command):
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *command, "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def gallery_cells(nb: dict) -> list[tuple[int, dict]]:
    """(index, cell) of every code cell that shows a no-kernel explorer gallery."""
    return [
        (i, c)
        for i, c in enumerate(nb["cells"])
        if c["cell_type"] == "code"
        and any(
            "vb-gallery" in "".join(o.get("data", {}).get("text/html", ""))
            for o in c.get("outputs", [])
        )
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_every_explorer_gallery_has_a_numbered_caption(path):
    missing = [
        index
        for index, cell in gallery_cells(load_notebook(path))
        if not (
            cell["metadata"].get("mystnb", {}).get("figure", {}).get("caption")
            and cell["metadata"]["mystnb"]["figure"].get("name")
        )
    ]
    assert missing == [], (
        f"{path.name}: cells {missing} show an explorer gallery without a caption or "
        'a name; add {"mystnb": {"figure": {"caption": ..., "name": "fig-NN-..."}}}'
    )


def chapter_prefix(path) -> str:
    """The figure-name prefix of a page: fig-04- for 04_..., fig-00- for the intro."""
    number = path.stem.split("_", 1)[0]
    return f"fig-{number if number.isdigit() else '00'}-"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_figure_names_carry_their_chapter_number(path):
    nb = load_notebook(path)
    names = [
        cell["metadata"].get("mystnb", {}).get("figure", {}).get("name", "")
        for _, cell in figure_cells(nb) + gallery_cells(nb)
    ]
    wrong = [n for n in names if n and not n.startswith(chapter_prefix(path))]
    assert wrong == [], (
        f"{path.name}: figure names {wrong} should start with {chapter_prefix(path)}"
    )


def png_outputs(nb: dict):
    """(cell index, PIL image) of every stored PNG, gallery frames included."""
    import base64
    import io

    from PIL import Image

    for i, cell in enumerate(nb["cells"]):
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            blobs = [data["image/png"]] if "image/png" in data else []
            blobs += re.findall(
                r"data:image/png;base64,([A-Za-z0-9+/=]+)",
                "".join(data.get("text/html", "")),
            )
            for blob in blobs:
                yield i, Image.open(io.BytesIO(base64.b64decode(blob)))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_every_stored_figure_is_a_png_at_the_books_resolution(path):
    from vitbook.plots import BOOK_DPI

    nb = load_notebook(path)
    low = [
        (i, round(image.info.get("dpi", (0, 0))[0]))
        for i, image in png_outputs(nb)
        if image.info.get("dpi", (0, 0))[0] < BOOK_DPI - 0.5
    ]
    assert low == [], (
        f"{path.name}: (cell, dpi) of figures below {BOOK_DPI} dpi: {low}; call "
        "vitbook.plots.use_book_style() before drawing, then run tools/run_notebooks.py"
    )
    jpeg = [
        i
        for i, cell in enumerate(nb["cells"])
        for out in cell.get("outputs", [])
        if "image/jpeg" in out.get("data", {})
        or "data:image/jpeg" in "".join(out.get("data", {}).get("text/html", ""))
    ]
    assert jpeg == [], f"{path.name}: cells {jpeg} store JPEG figures; use PNG"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_no_stored_output_warns_that_figure_text_is_too_small(path):
    noisy = [
        i
        for i, cell in enumerate(load_notebook(path)["cells"])
        for out in cell.get("outputs", [])
        if "FigureLegibilityWarning" in "".join(out.get("text", ""))
    ]
    assert noisy == [], (
        f"{path.name}: cells {noisy} draw figures whose text is under 7 pt at the "
        "page width (see the warning in their output): enlarge the text or narrow "
        "the figure"
    )
