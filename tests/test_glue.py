"""glue: the numbers a chapter's prose quotes, written the way myst-nb reads them."""

from __future__ import annotations

import pytest

import vitbook
from vitbook.glue import GLUE_PREFIX


def test_glue_returns_nothing_so_a_cell_ending_with_it_shows_nothing():
    assert vitbook.glue("share", 0.97234, ".3f") is None


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
    assert args == ({GLUE_PREFIX + "text/plain": "'0.51'"},)
    assert kwargs["raw"] is True
    # myst-nb finds glued values by this metadata, and hides them from the output
    assert kwargs["metadata"] == {
        "scrapbook": {"name": "rel_error", "mime_prefix": GLUE_PREFIX}
    }


def test_myst_nb_pastes_exactly_the_text_glue_wrote(monkeypatch):
    myst_glue = pytest.importorskip("myst_nb.ext.glue")
    from myst_nb.core.variables import format_plain_text

    outputs = []

    class Shell:
        pass

    import IPython
    import IPython.display

    monkeypatch.setattr(IPython, "get_ipython", lambda: Shell())
    monkeypatch.setattr(
        IPython.display,
        "display",
        lambda data, raw, metadata: outputs.append(
            {"output_type": "display_data", "data": data, "metadata": metadata}
        ),
    )
    import nbformat

    texts = {"count": "6,975", "zero": "0.000", "list": "1, 2, 5, 6", "share": "97%"}
    for name, text in texts.items():
        vitbook.glue(name, text)
    cell = nbformat.v4.new_code_cell(
        "", outputs=[nbformat.from_dict(o) for o in outputs]
    )
    found = dict(myst_glue.extract_glue_data_cell(cell))
    assert cell.outputs == []  # not shown in the page
    # what the {glue:text} role pastes is the very text, not a tuple or a rounded float
    for name, text in texts.items():
        assert format_plain_text(found[name]["data"]["text/plain"], "s") == text


@pytest.mark.parametrize(
    "bad, error",
    [
        ("", ValueError),
        ("2fast", ValueError),
        ("with space", ValueError),
        ("a.b", ValueError),
        (7, TypeError),
    ],
)
def test_glue_refuses_names_the_role_cannot_quote(bad, error):
    with pytest.raises(error, match="glue name"):
        vitbook.glue(bad, 1)
