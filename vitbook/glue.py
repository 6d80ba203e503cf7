"""Numbers for the prose: ``glue`` a value in a code cell, quote it in Markdown.

A chapter never says "the value printed above". Each number a sentence states is glued
in the code cell that computes it, ``glue("share", f"{share:.3f}")``, and the sentence
quotes it with myst-nb's role, ``{glue:text}`share```. When the book is built, myst-nb
pastes the text the code produced into the sentence, and nbval compares the glued text
with the stored one like any other output, so a number in the prose cannot drift away
from the code.

``glue`` writes the same output as ``myst_nb.glue(name, text, display=False)``, without
needing myst-nb: the notebooks run in Colab too, where it is not installed. Jupyter and
Colab show nothing for it; the value is printed by the cell as well. The text is stored
as a quoted Python string, the way IPython shows a string, because myst-nb reads glued
text back with ``ast.literal_eval``: "6,975" unquoted would come back as a tuple.
"""

from __future__ import annotations

import re

__all__ = ["GLUE_PREFIX", "glue"]

#: The MIME prefix myst-nb reads glued values from (and frontends do not display).
GLUE_PREFIX = "application/papermill.record/"

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def glue(name: str, value: object, fmt: str = "") -> str:
    """Glue ``format(value, fmt)`` under ``name``
    for ``{glue:text}`name``` in the prose.

    Returns the text, so a cell can print the same string it glues. Outside IPython
    (plain Python, tests) nothing is displayed.
    """
    if not isinstance(name, str):
        raise TypeError(f"glue name must be a str, got {type(name).__name__} {name!r}")
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"glue name must be letters, digits, '_' or '-', starting with a letter or "
            f"'_' (it is quoted as {{glue:text}}`name`), got {name!r}"
        )
    if not isinstance(fmt, str):
        raise TypeError(
            f"fmt must be a format spec str such as '.3f', got {type(fmt).__name__} "
            f"{fmt!r}"
        )
    try:
        text = format(value, fmt)
    except (TypeError, ValueError) as error:
        # the same type: a wrong value type stays a TypeError
        raise type(error)(
            f"fmt {fmt!r} cannot format value {value!r} ({type(value).__name__}): "
            f"{error}; round a float with fmt='.3f', a tensor first with .item()"
        ) from None
    try:
        from IPython import get_ipython
    except ImportError:
        return
    if get_ipython() is not None:
        from IPython.display import display

        # the text as a Python literal, as IPython shows a string: myst-nb reads the
        # value back with ast.literal_eval, which would turn "6,975" into a tuple
        display(
            {GLUE_PREFIX + "text/plain": repr(text)},
            raw=True,
            metadata={"scrapbook": {"name": name, "mime_prefix": GLUE_PREFIX}},
        )
