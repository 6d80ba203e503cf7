"""Chapter numbers that cannot go stale: every "chapter N" in the book, the package,
the tools, the tests and the docs is a link to (or, in code, the name of) the chapter's
file, and N is that file's position in _toc.yml. The checks live in
tools/chapter_refs.py; the tests below also prove that each kind of mistake is
caught."""

from __future__ import annotations

import pytest

from tools.chapter_refs import (
    Report,
    chapter_positions,
    check_all,
    check_markdown,
    check_tables,
)

POSITIONS = chapter_positions()


def test_every_chapter_reference_in_the_repository_is_right():
    report = check_all()
    assert report.checked > 500, (
        "the checks found too few references: is the scan broken?"
    )
    assert not report.problems, "\n".join(report.problems)


def test_numbers_are_positions_in_the_toc():
    assert POSITIONS["intro.ipynb"] == 0
    numbered = sorted(POSITIONS.items(), key=lambda item: item[1])[1:]
    assert [n for _, n in numbered] == list(range(1, len(numbered) + 1))
    assert all(int(name[:2]) == n for name, n in numbered)


def problems_of(text: str, page: str | None = "05_dot_products.ipynb") -> list[str]:
    report = Report()
    check_markdown(text, "example", page, POSITIONS, report)
    return report.problems


@pytest.mark.parametrize(
    "text",
    [
        "as in [chapter 4](04_linear_projection.ipynb)",
        "chapters [1](01_images_as_tensors.ipynb)–[3](03_flattening.ipynb)",
        "[The previous chapter](04_linear_projection.ipynb) built it",
        "[the next chapter](06_redundancy.ipynb) asks",
        "later, in [chapter 9](09_whole_vit.ipynb), the blocks",
        "| 4 | [The linear projection](book/04_linear_projection.ipynb) | x E + b |",
    ],
)
def test_right_references_pass(text):
    assert problems_of(text) == []


@pytest.mark.parametrize(
    "text, words",
    [
        ("as in [chapter 5](04_linear_projection.ipynb)", "is chapter 4"),
        ("as in [Chapter\n3](04_linear_projection.ipynb)", "is chapter 4"),
        (
            "chapters [7](07_why_position.ipynb) and [9](08_position_embeddings.ipynb)",
            "is chapter 8",
        ),
        ("as chapter 4 showed", "without a link"),
        ("Chapters 1–3 go quickly", "without a link"),
        ("[The previous chapter](03_flattening.ipynb) built it", "is chapter 3"),
        ("[the next chapter](07_why_position.ipynb) asks", "is chapter 7"),
        ("the [previous chapter](03_flattening.ipynb) built it", "is chapter 3"),
        ("the blocks of [chapter 9](09_whole_vit.ipynb)", "refers forward"),
        ("Next: [the training](10_training.ipynb)", "is chapter 10"),
        (
            "the next one trains it, [chapter 9](09_whole_vit.ipynb) too",
            "refers forward",
        ),
        ("see [chapter 9](09_old_name.ipynb)", "not in _toc.yml"),
        (
            "| 9 | [The linear projection](book/04_linear_projection.ipynb) | x |",
            "row numbers",
        ),
    ],
)
def test_wrong_references_fail(text, words):
    found = problems_of(text)
    assert any(words in problem for problem in found), found


def test_a_chapter_column_must_hold_links():
    report = Report()
    table = (
        "| symbol | chapter |\n|---|---|\n"
        "| D | 4 |\n| E | [4](04_linear_projection.ipynb) |"
    )
    check_tables(table, "example", POSITIONS, report)
    assert len(report.problems) == 1 and "'4'" in report.problems[0]


def test_forward_references_are_allowed_on_the_intro():
    assert (
        problems_of("[chapter 9](09_whole_vit.ipynb) assembles it", "intro.ipynb") == []
    )
