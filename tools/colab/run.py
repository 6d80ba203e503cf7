"""Step 4 of the Colab check: running each notebook alone on a kernel of the fresh venv.

Copies a notebook into an empty folder, runs its code cells in order between two probe
cells (where the set-up cell finds ``vitbook``; which Python and which ``vitbook`` the
kernel used), and turns errors and probe findings into a record per notebook; runs the
notebooks of a plan one or several at a time.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from tools.colab.environment import KERNEL_NAME, kernel_env

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
#: Run before the notebook: what the set-up cell's ``find_spec("vitbook")`` sees.
PROBE_BEFORE = (
    "import importlib.util as _u\n"
    'print(getattr(_u.find_spec("vitbook"), "origin", None))\n'
    "del _u"
)
#: Run after it: the kernel's Python and the vitbook the notebook imported.
PROBE_AFTER = (
    "import json as _j, sys as _s\n"
    "print(_j.dumps([_s.executable, "
    'getattr(_s.modules.get("vitbook"), "__file__", None)]))'
)


def stdout_of(cell) -> str:
    """The text a cell printed."""
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def cell_error(cell) -> str | None:
    """The traceback of a cell's error output, without colours, or None."""
    for output in cell.outputs:
        if output.output_type == "error":
            return ANSI.sub("", "\n".join(output.traceback))
    return None


def probe_problems(before: str, after: str, venv: Path) -> list[str]:
    """Check the probes: vitbook came from the venv, and so did the kernel's Python."""
    problems = []
    origin = before.strip()
    if origin == "None":
        problems.append(
            "vitbook is not importable in the fresh environment, so the set-up cell "
            "tried to pip-install it from GitHub"
        )
    elif not origin.startswith(str(venv)):
        problems.append(f"the set-up cell found vitbook outside the venv: {origin}")
    executable, module = json.loads(after.strip().splitlines()[-1])
    if not executable.startswith(str(venv)):
        problems.append(f"the kernel ran {executable}, not the fresh venv's Python")
    if module and not module.startswith(str(venv)):
        problems.append(f"the notebook imported vitbook from {module}, not the wheel")
    return problems


def execute_cells(client, cells: list, first: int) -> list[str]:
    """Run the code cells in order; return the problems (it stops at an error).

    ``cells`` are the notebook's, which the client's notebook holds from index ``first``
    on (after the probe), so the index reported is the notebook's own.
    """
    from nbclient.exceptions import CellExecutionError

    for index, cell in enumerate(cells):
        if cell.cell_type != "code":
            continue
        where = f"cell {index} (of all cells, from 0; it starts {cell.source[:60]!r})"
        try:
            client.execute_cell(cell, first + index)
        except CellExecutionError:
            return [f"{where} raised:\n{cell_error(cell) or '(no traceback)'}"]
        tags = cell.metadata.get("tags", [])
        if "raises-exception" in tags and cell_error(cell) is None:
            return [f"{where} is tagged raises-exception but raised nothing"]
    return []


def kernel_log(folder: Path) -> Path:
    """Where the kernel's stderr goes: beside the notebook's folder, not in it."""
    return folder.with_name(folder.name + ".kernel.log")


def run_notebook(source: str, folder: Path, plan: dict) -> dict:
    """Copy ``source`` alone into the empty ``folder`` and run it there;
    return the record."""
    import nbformat
    from jupyter_client import KernelManager
    from nbclient import NotebookClient

    notebook = folder / Path(source).name
    shutil.copyfile(source, notebook)
    nb = nbformat.read(notebook, as_version=4)
    # The kernel talks over Unix sockets in its folder, not TCP ports:
    # two kernels started at once can otherwise both be handed the same free port,
    # and one dies at bind.
    manager = KernelManager(
        kernel_name=KERNEL_NAME, transport="ipc", ip=str(folder / "kernel")
    )
    client = NotebookClient(
        nb,
        km=manager,
        timeout=plan["timeout"],
        kernel_name=KERNEL_NAME,
        resources={"metadata": {"path": str(folder)}},
        extra_arguments=["--HistoryManager.hist_file=:memory:"],
    )
    env = kernel_env(Path(plan["python"]), Path(plan["home"]), plan["offline_env"])
    cells = list(nb.cells)
    before, after = (nbformat.v4.new_code_cell(p) for p in (PROBE_BEFORE, PROBE_AFTER))
    nb.cells = [before, *cells, after]  # nbclient stores each cell back by its index
    start = time.perf_counter()
    with open(kernel_log(folder), "w") as log:  # the kernel's stderr, beside the folder
        with client.setup_kernel(env=env, stderr=log):
            client.execute_cell(before, 0)
            problems = execute_cells(client, cells, first=1)
            client.execute_cell(after, len(nb.cells) - 1)
    seconds = time.perf_counter() - start
    nb.cells = cells
    nbformat.write(nb, notebook)
    problems += probe_problems(stdout_of(before), stdout_of(after), Path(plan["venv"]))
    return {
        "notebook": notebook.name,
        "seconds": seconds,
        "problems": problems,
        "vitbook": stdout_of(before).strip(),
    }


def run_safely(source: str, plan: dict) -> dict:
    """``run_notebook`` in a new empty folder; a failure to run becomes a record too."""
    folder = Path(tempfile.mkdtemp(prefix=Path(source).stem + "-", dir=plan["runs"]))
    start = time.perf_counter()
    try:
        return run_notebook(source, folder, plan)
    except Exception as error:  # noqa: BLE001 - reported, never hidden
        log = kernel_log(folder)
        stderr = log.read_text()[-2000:] if log.exists() else ""
        return {
            "notebook": Path(source).name,
            "seconds": time.perf_counter() - start,
            "problems": [
                f"could not run: {type(error).__name__}: {error}\n"
                f"the kernel's stderr ends:\n{stderr}"
            ],
        }


def report_line(record: dict) -> str:
    """One line of the table: status, seconds, notebook."""
    status = "FAIL" if record["problems"] else "ok"
    return f"  {status:4}  {record['seconds']:6.1f} s  {record['notebook']}"


def run_all(plan: dict) -> list[dict]:
    """Run every notebook of the plan, ``plan['jobs']`` at a time; records in its order.

    With several at a time, the last notebooks start first: the later chapters train
    and take longest, and started last they would leave one core idle at the end.
    """
    notebooks = plan["notebooks"]
    if plan["jobs"] == 1:
        records = []
        for source in notebooks:
            records.append(run_safely(source, plan))
            print(report_line(records[-1]), flush=True)
        return records
    by_source = {}
    with ProcessPoolExecutor(max_workers=plan["jobs"]) as pool:
        futures = {pool.submit(run_safely, s, plan): s for s in reversed(notebooks)}
        for future in as_completed(futures):
            by_source[futures[future]] = future.result()
            print(report_line(by_source[futures[future]]), flush=True)
    return [by_source[s] for s in notebooks]
