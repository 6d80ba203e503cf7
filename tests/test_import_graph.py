"""The package's layout: the library (``vitbook.*``) never imports the experiment
scripts (``vitbook.experiments.*``), no module imports itself through others, and each
script is named after the record it writes."""

from __future__ import annotations

from tools.import_graph import PACKAGE, cycles, import_graph


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    assert "vitbook.recipes" in graph and "vitbook.experiments.fashion_vit" in graph
    assert cycles(graph) == []


def test_the_library_never_imports_the_experiments():
    graph = import_graph()
    library = {
        m: i for m, i in graph.items() if not m.startswith("vitbook.experiments")
    }
    assert len(library) > 15
    upward = {
        module: sorted(i for i in imported if i.startswith("vitbook.experiments"))
        for module, imported in library.items()
    }
    assert {m: i for m, i in upward.items() if i} == {}


def test_a_cycle_is_found(tmp_path):
    # the control: a package whose two modules import each other
    package = tmp_path / "vitbook"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from .b import f\n")
    (package / "b.py").write_text("def f():\n    from . import a\n")
    graph = import_graph(package)
    assert graph["vitbook.a"] == {"vitbook.b"} and graph["vitbook.b"] == {"vitbook.a"}
    assert cycles(graph) == [["vitbook.a", "vitbook.b", "vitbook.a"]]


def test_each_script_is_named_after_what_it_writes():
    scripts = {
        p.stem
        for p in (PACKAGE / "experiments").glob("*.py")
        if p.stem not in ("__init__", "flags", "bench")  # bench writes nothing shipped
    }
    records = {p.stem for p in (PACKAGE / "results").glob("*.json")}
    checkpoints = {p.stem for p in (PACKAGE / "weights").glob("*.json")}
    # every record has its script; fashion_vit_shift is fashion_vit with other flags
    assert records <= scripts
    assert checkpoints - {"fashion_vit_shift"} <= scripts
    assert scripts == records | (checkpoints - {"fashion_vit_shift"})
