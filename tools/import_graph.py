"""Which module of ``vitbook`` imports which: ``python -m tools.import_graph``.

Read from the source (every ``import``, also those inside functions), not by importing
anything. ``tests/test_import_graph.py`` checks that the graph has no cycle and that no
module of the library imports ``vitbook.experiments``, the scripts that use it.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tools.toc import ROOT

PACKAGE = ROOT / "vitbook"


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute module a ``from ... import`` names."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(path: Path, package: Path = PACKAGE) -> set[str]:
    """The ``vitbook`` modules that the file at ``path`` imports."""
    module = module_name(path, package)
    modules = {module_name(p, package) for p in package.rglob("*.py")}
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(node, module, path.name == "__init__.py")
            # "from . import checks" names a module; "from .model import ViT" names
            # something inside one
            names = [
                f"{source}.{a.name}" if f"{source}.{a.name}" in modules else source
                for a in node.names
            ]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Every module of the package -> the package's modules it imports."""
    return {
        module_name(p, package): imports_of(p, package)
        for p in sorted(package.rglob("*.py"))
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles of ``graph`` (empty when there is none)."""
    found, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def main() -> int:
    graph = import_graph()
    for module, imported in graph.items():
        short = sorted(m.removeprefix("vitbook.") for m in imported)
        print(
            f"{module.removeprefix('vitbook.') or 'vitbook'}: {', '.join(short) or '-'}"
        )
    loops = cycles(graph)
    print(f"cycles: {loops or 'none'}")
    return 1 if loops else 0


if __name__ == "__main__":
    raise SystemExit(main())
