"""glue: the numbers a chapter's prose quotes, written the way myst-nb reads them."""

from __future__ import annotations

import pytest

import vitbook
from vitbook.glue import GLUE_PREFIX


def test_glue_returns_the_formatted_text_outside_ipython():
    assert vitbook.glue("share", 0.97234, ".3f") == "0.972"
    assert vitbook.glue("count", 19110, ",") == "19,110"
    assert vitbook.glue("name", "patch 47") == "patch 47"


def test_glue_displays_what_myst_nb_reads(monkeypatch):
    shown = []

    class Shell:
        pass

    import IPython
    import IPython.display

    monkeypatch.setattr(IPython, "get_ipython", lambda: Shell())
    monkeypatch.setattr(
        IPython.display, "display", lambda *a, **k: shown.append((a, k))
    )
    vitbook.glue("rel_error", 0.5123, ".2f")
    ((args, kwargs),) = shown
    assert args == ({GLUE_PREFIX + "text/plain": "0.51"},)
    assert kwargs["raw"] is True
    # myst-nb finds glued values by this metadata, and hides them from the output
    assert kwargs["metadata"] == {
        "scrapbook": {"name": "rel_error", "mime_prefix": GLUE_PREFIX}
    }


def test_myst_nb_reads_the_output_glue_writes():
    myst_glue = pytest.importorskip("myst_nb.ext.glue")
    import nbformat

    output = nbformat.v4.new_output(
        "display_data",
        data={GLUE_PREFIX + "text/plain": "0.51"},
        metadata={"scrapbook": {"name": "rel_error", "mime_prefix": GLUE_PREFIX}},
    )
    cell = nbformat.v4.new_code_cell("", outputs=[output])
    ((key, data),) = myst_glue.extract_glue_data_cell(cell)
    assert key == "rel_error" and data["data"] == {"text/plain": "0.51"}
    assert cell.outputs == []  # not shown in the page


@pytest.mark.parametrize("bad", ["", "2fast", "with space", "a.b", 7])
def test_glue_refuses_names_the_role_cannot_quote(bad):
    with pytest.raises(ValueError, match="glue name"):
        vitbook.glue(bad, 1)
