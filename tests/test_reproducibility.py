"""The two mechanisms that make stored outputs pass on every machine: the pinned CPU
kernel path (tools/kernel_path.py) and the tolerance a cell may declare
(tools/tolerance.py). Each is tested for what it lets through and for what it must
still refuse."""

from __future__ import annotations

import re
import subprocess
import sys

import nbformat
import pytest
import torch

from tools import kernel_path
from tools.toc import ROOT
from tools.tolerance import agree, cell_tolerance, reconcile

# ---- the kernel path


def test_the_session_computes_on_the_chosen_kernel_path():
    # the root conftest.py pinned it before torch was imported; without the pin this
    # AVX-512 machine would report AVX512
    path = kernel_path.chosen()
    if path == "native" or not kernel_path.is_x86():
        pytest.skip("no pinned path on this machine")
    expected = kernel_path.PATHS[path]["ATEN_CPU_CAPABILITY"].upper()
    assert torch.backends.cpu.get_cpu_capability() == expected


def test_pin_sets_the_three_variables_of_the_path(monkeypatch):
    if not kernel_path.is_x86():
        pytest.skip("nothing is pinned off x86-64")
    monkeypatch.delenv(kernel_path.CHOICE, raising=False)
    environ = {}
    assert kernel_path.pin(environ) == kernel_path.PINNED == "avx2"
    assert environ == {
        "ATEN_CPU_CAPABILITY": "avx2",
        "MKL_CBWR": "AVX2",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
    }
    monkeypatch.setenv(kernel_path.CHOICE, "native")
    environ = {}
    assert kernel_path.pin(environ) == "native" and environ == {}


def test_a_path_that_is_not_one_is_refused_by_name(monkeypatch):
    monkeypatch.setenv(kernel_path.CHOICE, "avx3")
    with pytest.raises(ValueError, match="VITBOOK_KERNEL_PATH='avx3' is not a kernel"):
        kernel_path.pin({})


def test_a_path_the_cpu_cannot_run_is_refused_when_asked_for(monkeypatch):
    monkeypatch.setattr(kernel_path, "is_x86", lambda: True)
    monkeypatch.setattr(kernel_path, "cpu_flags", lambda: {"sse4_2"})
    monkeypatch.setenv(kernel_path.CHOICE, "avx512")
    with pytest.raises(RuntimeError, match="cannot run the avx512 kernels; it runs"):
        kernel_path.pin({})
    # without AVX2 and nothing asked for: unpinned, with a warning, nothing set
    monkeypatch.delenv(kernel_path.CHOICE)
    environ = {}
    with pytest.warns(RuntimeWarning, match="cannot run the avx2 kernels"):
        assert kernel_path.pin(environ) == "native"
    assert environ == {}


def test_the_second_path_is_avx512_where_there_is_one_else_default(monkeypatch):
    monkeypatch.setattr(kernel_path, "is_x86", lambda: True)
    monkeypatch.setattr(kernel_path, "cpu_flags", lambda: {"avx2", "fma"})
    assert kernel_path.second() == "default"
    flags = {"avx2", "fma", "avx512f", "avx512bw"}
    monkeypatch.setattr(kernel_path, "cpu_flags", lambda: flags)
    assert kernel_path.second() == "avx512"


def test_the_training_notebooks_are_the_ones_that_train():
    names = {p.name for p in kernel_path.training_notebooks()}
    assert "08_position_embeddings.ipynb" in names and "10_training.ipynb" in names
    assert "01_images_as_tensors.ipynb" not in names


# ---- the declared tolerance


@pytest.mark.parametrize(
    ("test", "stored", "tolerance", "expected"),
    [
        ("accuracy 0.962 +- 0.009", "accuracy 0.959 +- 0.007", 0.005, True),
        ("accuracy 0.962 +- 0.009", "accuracy 0.959 +- 0.007", 0.002, False),
        ("accuracy 0.962", "accuracy 0.962", 0.0, True),
        ("accuracy 0.962", "accuracy 0.963", 0.0, False),
        ("gain -0.02", "gain +0.01", 0.05, True),  # a number keeps its sign
        ("gain -0.02", "gain +0.04", 0.05, False),
        ("21 models", "22 models", 0.5, False),
        ("accuracy 0.962", "loss 0.962", 0.5, False),  # a word differs
        ("0.962 0.5", "0.962", 0.5, False),  # a number more
        (" 0.96", "0.960", 0.5, False),  # the layout differs
        ("1.0e-03", "2.0e-03", 0.01, True),
    ],
)
def test_texts_agree_when_only_numbers_move_within_the_tolerance(
    test, stored, tolerance, expected
):
    assert agree(test, stored, tolerance) is expected


def test_a_cell_tolerance_must_be_a_number_at_least_zero():
    assert cell_tolerance({}) is None
    assert cell_tolerance({"vitbook": {"tolerance": 0.02}}) == 0.02
    with pytest.raises(TypeError, match="must be a number, got '0.02'"):
        cell_tolerance({"vitbook": {"tolerance": "0.02"}})
    with pytest.raises(ValueError, match="must be >= 0, got -0.1"):
        cell_tolerance({"vitbook": {"tolerance": -0.1}})


def test_a_glued_value_is_compared_within_the_tolerance_too():
    glue = "application/papermill.record/text/plain"
    stored = [nbformat.v4.new_output("display_data", data={glue: "'0.709'"})]
    close = [nbformat.v4.new_output("display_data", data={glue: "'0.708'"})]
    far = [nbformat.v4.new_output("display_data", data={glue: "'0.650'"})]
    assert reconcile(close, stored, 0.02) == stored
    assert reconcile(far, stored, 0.02) == far


def test_reconcile_takes_the_stored_text_only_where_it_agrees():
    stored = [
        nbformat.v4.new_output("stream", name="stdout", text="acc 0.950\n"),
        nbformat.v4.new_output("display_data", data={"text/plain": "'0.950'"}),
    ]
    close = [
        nbformat.v4.new_output("stream", name="stdout", text="acc 0.953\n"),
        nbformat.v4.new_output("display_data", data={"text/plain": "'0.947'"}),
    ]
    far = [
        nbformat.v4.new_output("stream", name="stdout", text="acc 0.970\n"),
        nbformat.v4.new_output("display_data", data={"text/plain": "'0.950'"}),
    ]
    assert reconcile(close, stored, 0.005) == stored
    result = reconcile(far, stored, 0.005)
    assert result[0].text == "acc 0.970\n"  # left as it came: the comparison fails
    assert result[0].output_type == "stream"  # still a NotebookNode for nbval


def _cell(source: str, stored: str, tolerance: float | None = None):
    cell = nbformat.v4.new_code_cell(source, execution_count=1)
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=stored)]
    if tolerance is not None:
        cell.metadata["vitbook"] = {"tolerance": tolerance}
    return cell


def _glue_cell(value: float, stored: str, tolerance: float):
    """A cell that glues ``value`` with vitbook.glue, with ``stored`` stored."""
    mime = "application/papermill.record/text/plain"
    cell = nbformat.v4.new_code_cell(
        f"import vitbook\nvitbook.glue('x', {value!r}, '.3f');", execution_count=1
    )
    cell.outputs = [
        nbformat.v4.new_output(
            "display_data",
            data={mime: stored},
            metadata={"scrapbook": {"name": "x", "mime_prefix": mime[:-10]}},
        )
    ]
    cell.metadata["vitbook"] = {"tolerance": tolerance}
    return cell


def test_strict_nbval_honours_a_declared_tolerance_and_nothing_more(tmp_path):
    """A real nbval run on a notebook whose stored outputs are a little off."""
    capability = kernel_path.PATHS.get(kernel_path.chosen(), {})
    capability = capability.get("ATEN_CPU_CAPABILITY", "").upper() or "native"
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nb.cells = [
        # 0: within the tolerance: passes
        _cell('print("accuracy 0.500")', "accuracy 0.503\n", 0.005),
        # 1: beyond it: fails
        _cell('print("accuracy 0.500")', "accuracy 0.510\n", 0.005),
        # 2: the same small change without a tolerance: fails
        _cell('print("accuracy 0.500")', "accuracy 0.501\n"),
        # 3: within the tolerance, but a word differs: fails
        _cell('print("accuracy 0.500")', "precision 0.500\n", 0.005),
        # 4: a glued value within the tolerance: passes
        _glue_cell(0.708, "'0.709'", 0.005),
        # 5: the kernel nbval starts computes on the pinned path
        _cell(
            "import torch\nprint(torch.backends.cpu.get_cpu_capability())",
            f"{capability}\n" if capability != "native" else "",
        ),
    ]
    path = tmp_path / "tolerance.ipynb"
    nbformat.write(nb, path)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "conftest", "--nbval"]
        + ["--nbval-current-env", "-p", "no:cacheprovider", "-rA", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    outcome = {
        int(cell): result
        for result, cell in re.findall(
            r"^(PASSED|FAILED) \S+::Cell (\d)", run.stdout, re.M
        )
    }
    expected = {0: "PASSED", 1: "FAILED", 2: "FAILED", 3: "FAILED", 4: "PASSED"}
    if capability != "native":
        expected[5] = "PASSED"
    assert {k: outcome.get(k) for k in expected} == expected, run.stdout[-3000:]
