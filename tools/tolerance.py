"""Stored outputs that may move within a declared tolerance, and no further.

A cell whose printed numbers come out of a training run can declare, in its
metadata, how far they may move across machines::

    {"vitbook": {"tolerance": 0.02}}

Strict nbval then still compares the cell's text outputs, with one difference: two
texts agree when they are the same once every number is taken out, and each number
is within the tolerance of the stored one. Anything else (a number further off, a
word, a count of numbers, a column's width) is a difference, as for every other cell.
The tolerance is absolute: the numbers it is meant for are accuracies and losses.
"""

from __future__ import annotations

import copy
import math
import re

NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
KEY = "vitbook"


def cell_tolerance(metadata: dict) -> float | None:
    """The tolerance a cell declares (a finite number >= 0), or None."""
    value = metadata.get(KEY, {}).get("tolerance")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"metadata {KEY}.tolerance must be a number, got {value!r}; write e.g. 0.02"
        )
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"metadata {KEY}.tolerance must be >= 0, got {value!r}")
    return float(value)


def agree(test: str, reference: str, tolerance: float) -> bool:
    """Whether ``test`` reads as ``reference`` with every number moved by at most
    ``tolerance``."""
    if NUMBER.split(test) != NUMBER.split(reference):
        return False
    numbers = zip(NUMBER.findall(test), NUMBER.findall(reference))
    # a little slack for the decimal rounding of the tolerance itself
    return all(abs(float(a) - float(b)) <= tolerance * (1 + 1e-9) for a, b in numbers)


def reconcile(test: list, reference: list, tolerance: float) -> list:
    """The test outputs, with each text that agrees with the reference's text in the
    same place (same output type, stream and MIME type) replaced by that text, so that
    an exact comparison afterwards fails only where they do not agree."""
    if len(test) != len(reference):
        return test
    result = []
    for output, old in zip(test, reference):
        # a copy of the same class (nbval reads NotebookNode attributes)
        new = copy.deepcopy(output)
        same_kind = all(new.get(k) == old.get(k) for k in ("output_type", "name"))
        if same_kind and isinstance(new.get("text"), str):
            if agree(new["text"], old.get("text", ""), tolerance):
                new["text"] = old["text"]
        if same_kind and isinstance(new.get("data"), dict):
            for mime, text in new["data"].items():
                stored = old.get("data", {}).get(mime)
                # text/plain, text/html, and a glued value's
                # application/papermill.record/text/plain; never an image
                if "text/" in mime and isinstance(text, str):
                    if isinstance(stored, str) and agree(text, stored, tolerance):
                        new["data"][mime] = stored
        result.append(new)
    return result
