"""Every reference to a chapter, found and checked against _toc.yml.

A chapter's number is its position in _toc.yml: the introduction is 0, the chapters
count from 1, and the pages after them (notation, references) have none. Its file name
starts with that number (``10_training.ipynb`` is chapter 10). Checked here:

* the file names: numbered in toc order, each name unique; every ``NN_name.ipynb``
  named anywhere in the book, the package, the tools, the tests or the docs exists;
* every Markdown link to a chapter whose text holds a number ("[chapter 8](...)",
  "[8](...)"): the number is the linked file's position;
* "the next chapter", "the previous chapter" and "the first chapter", as link texts,
  and a link right after "Next:";
* the rows of a table that pair a bare number with a link to a chapter (the README's
  list of chapters), and the cells of a table column headed "chapter", which must hold
  number links only;
* no "chapter N" without its link (in code, a docstring or a comment, name the file);
* in a numbered chapter, a link forward to a later chapter says so: "the next chapter"
  or "later" (or "Next:") just before it.

``python -m tools.chapter_refs`` prints how many references were checked and every
problem; ``tests/test_chapter_references.py`` runs the same checks.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from tools.toc import ROOT, toc_entries

#: a chapter's file name: its number, an underscore, words
CHAPTER_FILE = re.compile(r"\b(\d\d)_[a-z0-9_]+\.ipynb\b")
#: a Markdown link (its text may run over lines): [text](target)
LINK = re.compile(r"\[([^\]\[]*)\]\(([^)\s]+)\)")
#: "chapter 8", "Chapters 1", "chapter\n12"
CHAPTER_NUMBER = re.compile(r"\bchapters?\s+(\d+)", re.IGNORECASE)
#: link texts that name a chapter relative to the page they are on
RELATIVE = {"next chapter": 1, "previous chapter": -1}
#: words that announce a forward reference just before its link
FORWARD_WORDS = re.compile(r"\blater\b|\bNext:", re.IGNORECASE)

#: files outside the notebooks whose text may name chapters
OTHER_TEXTS = ("README.md", "CONTRIBUTING.md", "book/references.md")
OTHER_GLOBS = ("docs/*.md", "vitbook/**/*.py", "tools/**/*.py", "tests/*.py", ".ci/*")
#: files that hold examples of bad references on purpose
EXAMPLES = ("tools/chapter_refs.py", "tests/test_chapter_references.py")


@dataclass
class Report:
    """What the checks looked at, and what they found wrong."""

    checked: int = 0
    problems: list[str] = field(default_factory=list)

    def check(self, ok: bool, where: str, message: str) -> None:
        self.checked += 1
        if not ok:
            self.problems.append(f"{where}: {message}")


def chapter_positions(root: Path = ROOT) -> dict[str, int]:
    """File name -> chapter number, from the order of _toc.yml (numbered pages only)."""
    entries = toc_entries()
    positions = {}
    for number, entry in enumerate(entries):
        name = Path(entry).name
        if number == 0 or CHAPTER_FILE.fullmatch(name + ".ipynb"):
            positions[name + ".ipynb"] = number
    return positions


def check_toc(report: Report) -> None:
    """The numbered files come first, in order, each named with its position."""
    entries = [Path(e).name for e in toc_entries()]
    numbered = [e for e in entries[1:] if re.match(r"\d\d_", e)]
    report.check(
        entries[1 : 1 + len(numbered)] == numbered,
        "_toc.yml",
        "every numbered chapter must come before the unnumbered pages (notation, "
        f"references); the order is {entries}",
    )
    for position, name in enumerate(numbered, start=1):
        report.check(
            int(name[:2]) == position,
            "_toc.yml",
            f"{name} is chapter {position} (its position in _toc.yml): rename it "
            f"{position:02d}_{name[3:]}",
        )


def _target(link_target: str) -> str:
    """The file a link points to, without folders or an anchor."""
    return link_target.split("#")[0].rsplit("/", 1)[-1]


def _cells(text: str) -> list[str]:
    return [c.strip() for c in text.strip().strip("|").split("|")]


def check_tables(text: str, where: str, positions: dict, report: Report) -> None:
    """Rows that pair a bare number with a chapter link; "chapter" columns."""
    column = None
    for line in text.splitlines():
        if not line.lstrip().startswith("|"):
            column = None
            continue
        cells = _cells(line)
        if re.fullmatch(r"[-:| ]+", line.strip()):
            continue
        headers = [c.lower() for c in cells]
        if column is None and "chapter" in headers:
            column = headers.index("chapter")
            continue
        if column is not None and column < len(cells):
            cell = cells[column]
            rest = LINK.sub("", cell)
            only_links = re.fullmatch(r"[\s,–-]*", rest) is not None
            report.check(
                only_links and (LINK.search(cell) or cell in ("–", "-", "")),
                where,
                f"the chapter column holds {cell!r}: write each chapter as a link, "
                "[8](08_position_embeddings.ipynb)",
            )
        links = [_target(t) for _, t in LINK.findall(line)]
        chapters = [t for t in links if t in positions]
        if cells and cells[0].isdigit() and chapters:
            report.check(
                int(cells[0]) == positions[chapters[0]],
                where,
                f"the row numbers {chapters[0]} {cells[0]}; it is chapter "
                f"{positions[chapters[0]]} in _toc.yml",
            )


def check_markdown(
    text: str, where: str, page: str | None, positions: dict, report: Report
) -> None:
    """Links, relative links, bare numbers and forward references in Markdown."""
    here = positions.get(page) if page else None
    for match in LINK.finditer(text):
        label, target = " ".join(match.group(1).split()), _target(match.group(2))
        if not CHAPTER_FILE.fullmatch(target):
            continue
        report.check(
            target in positions, where, f"a link to {target}, which is not in _toc.yml"
        )
        if target not in positions:
            continue
        number = CHAPTER_NUMBER.search(label)
        if label.isdigit() or number:
            said = int(label) if label.isdigit() else int(number.group(1))
            report.check(
                said == positions[target],
                where,
                f"[{label}]({target}): {target} is chapter {positions[target]}",
            )
        if here is None:
            continue
        relative = label.lower().removeprefix("the ")
        if relative in RELATIVE:
            report.check(
                positions[target] == here + RELATIVE[relative],
                where,
                f"[{label}]({target}) on chapter {here}: {target} is chapter "
                f"{positions[target]}",
            )
        if re.search(r"\bNext:\s*$", text[max(0, match.start() - 12) : match.start()]):
            report.check(
                positions[target] == here + 1,
                where,
                f"'Next: [{label}]({target})' on chapter {here}: {target} is chapter "
                f"{positions[target]}",
            )
        if label.lower() == "the first chapter":
            report.check(positions[target] == 1, where, f"[{label}]({target})")
        if here > 0 and positions[target] > here:
            before = text[max(0, match.start() - 60) : match.start()]
            before = before.split("\n\n")[-1]
            report.check(
                relative == "next chapter" or FORWARD_WORDS.search(before),
                where,
                f"[{label}]({target}) refers forward from chapter {here} to chapter "
                f"{positions[target]}: say so ('later, in ...', 'the next chapter')",
            )
    check_bare(LINK.sub("", text), where, report)
    check_tables(text, where, positions, report)


def check_bare(text: str, where: str, report: Report) -> None:
    """No "chapter N" left once the links are taken out."""
    for match in CHAPTER_NUMBER.finditer(text):
        report.check(
            False,
            where,
            f"'{' '.join(match.group(0).split())}' without a link: link it to the "
            "chapter's file (in code, name the file instead)",
        )


def check_file_names(text: str, where: str, positions: dict, report: Report) -> None:
    """Every chapter file named in the text exists in _toc.yml."""
    for match in CHAPTER_FILE.finditer(text):
        report.check(
            match.group(0) in positions,
            where,
            f"{match.group(0)} is not a chapter of _toc.yml",
        )


def _outputs(cell: dict) -> list[tuple[str, str]]:
    """(kind, text) of a code cell's outputs: "markdown" or "text"."""
    found = []
    for output in cell.get("outputs", []):
        if "text" in output:
            found.append(("text", "".join(output["text"])))
        data = output.get("data", {})
        if "text/markdown" in data:
            found.append(("markdown", "".join(data["text/markdown"])))
        elif "text/plain" in data:
            found.append(("text", "".join(data["text/plain"])))
    return found


def check_notebook(path: Path, positions: dict, report: Report) -> None:
    page = path.name
    cells = json.loads(path.read_text())["cells"]
    for index, cell in enumerate(cells):
        where = f"{page}, cell {index}"
        source = "".join(cell["source"])
        check_file_names(source, where, positions, report)
        if cell["cell_type"] == "markdown":
            check_markdown(source, where, page, positions, report)
            continue
        check_bare(source, where + " (code)", report)
        for kind, text in _outputs(cell):
            check_file_names(text, where, positions, report)
            if kind == "markdown":
                check_markdown(text, where + " (output)", page, positions, report)
            else:
                check_bare(text, where + " (output)", report)


def other_files(root: Path = ROOT) -> list[Path]:
    files = [root / name for name in OTHER_TEXTS if (root / name).exists()]
    for pattern in OTHER_GLOBS:
        files += sorted(root.glob(pattern))
    return [
        f
        for f in files
        if f.is_file() and f.relative_to(root).as_posix() not in EXAMPLES
    ]


def check_all(root: Path = ROOT) -> Report:
    """Every check, over the notebooks of _toc.yml and the other texts."""
    report = Report()
    check_toc(report)
    positions = chapter_positions(root)
    for entry in toc_entries():
        path = root / f"{entry}.ipynb"
        if path.exists():
            check_notebook(path, positions, report)
    for path in other_files(root):
        text = path.read_text()
        where = path.relative_to(root).as_posix()
        check_file_names(text, where, positions, report)
        if path.suffix == ".md":
            check_markdown(text, where, None, positions, report)
        else:
            check_bare(text, where, report)
    return report


def main() -> int:
    report = check_all()
    for problem in report.problems:
        print(problem)
    kinds = {
        "wrong numbers": " is chapter ",
        "bare numbers": "without a link",
        "unlinked table cells": "the chapter column",
        "unannounced forward references": "refers forward",
    }
    counts = {k: sum(w in p for p in report.problems) for k, w in kinds.items()}
    print(f"{report.checked} references checked, {len(report.problems)} problems")
    print(", ".join(f"{k}: {v}" for k, v in counts.items()))
    return 1 if report.problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
