"""Colab that just works: run each notebook of the book alone, as a Colab reader would.

    python tools/colab_check.py                        # every notebook of _toc.yml
    python tools/colab_check.py book/02_patches.ipynb  # only these
    python tools/colab_check.py --jobs 1 --keep        # one at a time; keep the files

In order, it

1. builds a wheel of this repository (``pip wheel --no-deps``) from a clean copy of its
   files (``git ls-files``: committed, plus new files git does not ignore), and checks
   that the wheel holds the data the notebooks load through the package:
   ``vitbook/weights/*.pt``, ``vitbook/weights/*.json`` and ``vitbook/results/*.json``;
2. makes a fresh virtual environment holding only what Colab preinstalls - torch,
   torchvision, numpy,
   matplotlib, pillow, ipywidgets, scikit-image, scikit-learn, and ipykernel for the
   kernel - at the versions pinned in requirements.txt, then installs the wheel on top
   and checks that this changed none of those packages (the package must never fight
   Colab's pins). No jupyter-book, nbval, pytest or editable install;
3. cuts the network off (a new network namespace, ``unshare --net``, with only the
   loopback up, over which the kernel talks to this script; a connection to pypi.org is
   checked to fail), then, for each notebook, copies it alone into an empty folder and
   runs it there top to bottom, on a kernel of the fresh environment's Python. Each
   notebook's set-up cell must find ``vitbook`` already installed (so it skips its
   ``pip install`` from GitHub), and the ``vitbook`` it imports must be the wheel's.
   Cells tagged ``raises-exception`` must raise; any other error fails the check, naming
   the notebook, the cell index and the traceback.

It prints a table of seconds per notebook and the total, and exits 0 when every notebook
ran to the end, 1 when one failed, 2 when the check itself could not be set up.

Fashion-MNIST (chapters 9-12): with no network, ``vitbook.load_fashion_mnist`` finds
the data only in ``/usr/share/datasets/fashion-mnist/``, installed by the Debian package
``dataset-fashion-mnist`` (``apt-get install dataset-fashion-mnist``; .ci/run does it).
That folder stands in for Colab's download. The kernels get an empty HOME (so no
``~/.cache/vitbook``) and no ``$VITBOOK_FASHION_MNIST``, ``$PYTHONPATH`` or virtual
environment of the caller.

Where no network namespace can be made (``unshare`` refused, e.g. not root and user
namespaces disabled), it says so and falls back to pointing the kernels' proxy variables
at a dead port and disabling pip's index: that stops pip, git and urllib, but not a raw
socket, so the check is then weaker, and the summary says it.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from vitbook.checks import arg_type, positive_int  # noqa: E402

#: What Colab preinstalls that the notebooks use (pillow too, which matplotlib needs),
#: plus ipykernel, which any kernel needs. Their versions come from requirements.txt.
COLAB_PACKAGES = (
    "torch",
    "torchvision",
    "timm",
    "transformers",
    "numpy",
    "matplotlib",
    "pillow",
    "ipywidgets",
    "scikit-image",
    "scikit-learn",
    "ipykernel",
)

#: Files the notebooks load through the package: each pattern must match a file in the
#: source, and every such file must be in the wheel.
NOTEBOOK_DATA = (
    "vitbook/weights/*.pt",
    "vitbook/weights/*.json",
    "vitbook/results/*.json",
)

KERNEL_NAME = "colab-check"

#: Variables of the caller that a Colab kernel would not have.
DROPPED_ENV = (
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "PYTHONUSERBASE",
    "VIRTUAL_ENV",
    "VITBOOK_FASHION_MNIST",
    "XDG_CACHE_HOME",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "MPLCONFIGDIR",
    "IPYTHONDIR",
    "JUPYTER_PATH",
    "JUPYTER_CONFIG_DIR",
    "JUPYTER_DATA_DIR",
)

#: The fallback when no network namespace can be made: every proxy to a closed port.
DEAD_PROXY = "http://127.0.0.1:9"
FALLBACK_ENV = {
    "http_proxy": DEAD_PROXY,
    "https_proxy": DEAD_PROXY,
    "HTTP_PROXY": DEAD_PROXY,
    "HTTPS_PROXY": DEAD_PROXY,
    "all_proxy": DEAD_PROXY,
    "ALL_PROXY": DEAD_PROXY,
    "no_proxy": "",
    "NO_PROXY": "",
    "PIP_NO_INDEX": "1",
    "PIP_FIND_LINKS": "",
}

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class CheckError(RuntimeError):
    """The check could not be set up (build, install, network): exit status 2."""


def say(message: str) -> None:
    """One progress line, flushed at once (the inner run prints in between)."""
    print(f"colab-check: {message}", flush=True)


def run_command(command: list, what: str, **kwargs) -> subprocess.CompletedProcess:
    """Run ``command``; on failure raise a CheckError
    naming ``what`` with its output."""
    result = subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, **kwargs
    )
    if result.returncode != 0:
        raise CheckError(
            f"{what} failed (exit {result.returncode}): {' '.join(map(str, command))}\n"
            f"{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
    return result


# --- 1. the wheel --------------------------------------------------------------------


def copy_source(dest: Path, root: Path = ROOT) -> Path:
    """Copy the repository's files (git's view: tracked plus untracked, not ignored)
    to ``dest``.

    Building from a copy keeps the checkout's stale ``build/`` and ``*.egg-info`` out of
    the wheel, and the checkout unchanged.
    """
    listing = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others"]
        + ["--exclude-standard"],
        capture_output=True,
        text=True,
    )
    if listing.returncode != 0:
        raise CheckError(
            f"cannot list the repository's files with git in {root}: "
            f"{listing.stderr.strip()}. Run the check from a git clone."
        )
    for name in filter(None, listing.stdout.split("\0")):
        source = root / name
        if source.is_file():  # a tracked file deleted in the working tree is skipped
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


def build_wheel(source: Path, dest: Path, isolated: bool = True) -> Path:
    """Build the package in ``source`` into a wheel in ``dest``; return its path."""
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dest]
    if not isolated:
        command.append("--no-build-isolation")
    run_command([*command, source], "building the wheel")
    wheels = sorted(dest.glob("vitbook-*.whl"))
    if len(wheels) != 1:
        raise CheckError(f"expected one vitbook wheel in {dest}, found {wheels}")
    return wheels[0]


def wheel_record(wheel: Path) -> set[str]:
    """The files the wheel's metadata (``*.dist-info/RECORD``) lists."""
    with zipfile.ZipFile(wheel) as archive:
        records = [n for n in archive.namelist() if n.endswith(".dist-info/RECORD")]
        if len(records) != 1:
            raise CheckError(f"{wheel.name} has no single .dist-info/RECORD: {records}")
        lines = archive.read(records[0]).decode().splitlines()
    return {line.rsplit(",", 2)[0] for line in lines if line}


def expected_data(source: Path) -> dict[str, list[str]]:
    """For each NOTEBOOK_DATA pattern, the matching files of ``source``, relative."""
    return {
        pattern: sorted(p.relative_to(source).as_posix() for p in source.glob(pattern))
        for pattern in NOTEBOOK_DATA
    }


def wheel_data_problems(wheel: Path, source: Path) -> list[str]:
    """What is wrong with the wheel's package data; empty when all is there."""
    listed = wheel_record(wheel)
    problems = []
    for pattern, files in expected_data(source).items():
        if not files:
            problems.append(f"no file in the source matches {pattern}")
        for name in files:
            if name not in listed:
                problems.append(
                    f"{name} is not in {wheel.name}: list it under "
                    "[tool.setuptools.package-data] in pyproject.toml"
                )
    return problems


def make_wheel(work: Path, root: Path = ROOT) -> Path:
    """Build a fresh wheel from a copy of ``root`` and check its package data."""
    source = copy_source(work / "src", root)
    wheel = build_wheel(source, work / "wheel")
    problems = wheel_data_problems(wheel, source)
    if problems:
        raise CheckError("the wheel lacks package data:\n  " + "\n  ".join(problems))
    return wheel


# --- 2. the fresh environment --------------------------------------------------------


def normalize(name: str) -> str:
    """A distribution name in PEP 503 normal form
    (``Scikit_Image`` -> ``scikit-image``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_pins(path: Path = ROOT / "requirements.txt") -> dict[str, str]:
    """The ``name==version`` pins of a requirements file, by normalized name."""
    pins = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#]+)", line)
        if match:
            pins[normalize(match[1])] = match[2]
    return pins


def colab_requirements(path: Path = ROOT / "requirements.txt") -> list[str]:
    """``name==version`` for each of COLAB_PACKAGES,
    the version from requirements.txt."""
    pins = requirement_pins(path)
    missing = [name for name in COLAB_PACKAGES if name not in pins]
    if missing:
        raise CheckError(
            f"{path.name} pins no version of {', '.join(missing)}: add a "
            "`name==version` line for each, so the check installs what the book pins"
        )
    return [f"{name}=={pins[name]}" for name in COLAB_PACKAGES]


def installed(python: Path) -> dict[str, str]:
    """The distributions installed for ``python``: normalized name -> version."""
    listing = run_command(
        [python, "-m", "pip", "list", "--format=json"], "listing the fresh environment"
    )
    return {normalize(d["name"]): d["version"] for d in json.loads(listing.stdout)}


def make_environment(base_python: str, venv: Path) -> Path:
    """A fresh venv in ``venv`` with Colab's packages; return its Python."""
    run_command([base_python, "-m", "venv", venv], "creating the virtual environment")
    python = venv / "bin" / "python"
    run_command(
        [python, "-m", "pip", "install", "-q", *colab_requirements()],
        "installing Colab's packages (needs the package index)",
    )
    return python


def install_wheel(python: Path, wheel: Path) -> list[str]:
    """Install the wheel; raise if it changed a package;
    return the packages it added."""
    before = installed(python)
    run_command(
        [python, "-m", "pip", "install", "-q", wheel], f"installing {wheel.name}"
    )
    after = installed(python)
    changed = [
        f"{name} {before[name]} -> {after.get(name, 'removed')}"
        for name in before
        if after.get(name) != before[name]
    ]
    if changed:
        raise CheckError(
            f"installing {wheel.name} changed Colab's packages: {', '.join(changed)}. "
            "Loosen the package's dependencies in pyproject.toml (lower bounds only)."
        )
    return sorted(set(after) - set(before))


def write_kernelspec(python: Path, jupyter_dir: Path) -> None:
    """A kernelspec named KERNEL_NAME running ipykernel on ``python``,
    under ``jupyter_dir``."""
    folder = jupyter_dir / "kernels" / KERNEL_NAME
    folder.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (colab-check)",
        "language": "python",
    }
    (folder / "kernel.json").write_text(json.dumps(spec, indent=1))


# --- 3. the network ------------------------------------------------------------------


def reachable(host: str, port: int = 443, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to ``host:port`` opens."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def resolve(host: str) -> str | None:
    """``host``'s first IPv4 address, or None where it does not resolve."""
    try:
        return socket.getaddrinfo(host, 443, socket.AF_INET)[0][4][0]
    except OSError:
        return None


def namespace_prefix() -> list[str] | None:
    """The ``unshare`` command that makes a network namespace here,
    or None if none does."""
    if shutil.which("unshare") is None:
        return None
    for prefix in (["unshare", "--net"], ["unshare", "--net", "--map-root-user"]):
        probe = subprocess.run([*prefix, "true"], capture_output=True)
        if probe.returncode == 0:
            return prefix
    return None


def loopback_up() -> None:
    """Bring up ``lo`` in this (new) network namespace: the kernels use 127.0.0.1."""
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(sock, siocgifflags, request))[1]
        fcntl.ioctl(sock, siocsifflags, struct.pack("16sH22x", b"lo", flags | iff_up))


def cut_off_problem(pypi_ip: str | None) -> str | None:
    """Why the network is not cut off here (None when pypi.org cannot be reached)."""
    if reachable("pypi.org"):
        return "pypi.org is reachable"
    if pypi_ip and reachable(pypi_ip):
        return f"pypi.org's address {pypi_ip} is reachable"
    if not reachable_locally():
        return "the loopback does not work, so no kernel could start"
    return None


def reachable_locally() -> bool:
    """Whether a TCP connection over 127.0.0.1 works (the kernels need it)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        return reachable("127.0.0.1", server.getsockname()[1])


# --- 4. running one notebook ---------------------------------------------------------

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


def kernel_env(python: Path, home: Path, offline_env: dict) -> dict:
    """The kernel's environment: the caller's, less DROPPED_ENV, with an empty HOME."""
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
    env.update(offline_env)
    env["HOME"] = str(home)
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    return env


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


def inner_main(plan_path: Path) -> int:
    """The part that runs without network: check that, then run the notebooks."""
    plan = json.loads(plan_path.read_text())
    if plan["in_namespace"]:
        loopback_up()
        problem = cut_off_problem(plan["pypi_ip"])
        if problem:
            print(
                f"colab-check: the network is not cut off: {problem}", file=sys.stderr
            )
            return 2
        say("network cut off: pypi.org unreachable, loopback up")
    os.environ["JUPYTER_PATH"] = plan["jupyter"]
    start = time.perf_counter()
    records = run_all(plan)
    result = {"records": records, "seconds": time.perf_counter() - start}
    Path(plan["results"]).write_text(json.dumps(result, indent=1))
    return 0


# --- the whole check -----------------------------------------------------------------


def isolation() -> tuple[list[str], str, dict]:
    """How to cut the network off: (command prefix, kind, extra kernel environment)."""
    prefix = namespace_prefix()
    if prefix:
        return prefix, f"cut off ({' '.join(prefix)})", {}
    say(
        "WARNING: `unshare --net` is refused here (run as root, or allow user "
        "namespaces, for the full check); falling back to dead proxies and no pip "
        "index, which stop pip, git and urllib but not a raw socket"
    )
    return [], "NOT cut off: only proxies and pip's index blocked", FALLBACK_ENV


def check_runner() -> None:
    """This Python drives the kernels and reads _toc.yml: it needs these modules."""
    import importlib.util

    needed = ("nbclient", "nbformat", "yaml")
    missing = [m for m in needed if importlib.util.find_spec(m) is None]
    if missing:
        raise CheckError(
            f"this Python ({sys.executable}) lacks {', '.join(missing)}: run the check "
            "from the book's environment (pip install -r requirements.txt)"
        )


def prepare(args: argparse.Namespace, work: Path) -> dict:
    """Build, install and write the plan for the offline part; return the plan."""
    timings = {}
    start = time.perf_counter()
    wheel = make_wheel(work)
    timings["build the wheel"] = time.perf_counter() - start
    say(f"built {wheel.name}; its RECORD lists {', '.join(NOTEBOOK_DATA)}")
    start = time.perf_counter()
    python = make_environment(sys.executable, work / "venv")
    timings["fresh venv + Colab's packages"] = time.perf_counter() - start
    say(f"fresh venv with {', '.join(colab_requirements())}")
    start = time.perf_counter()
    added = install_wheel(python, wheel)
    timings["install the wheel"] = time.perf_counter() - start
    say(f"installed the wheel; Colab's packages unchanged; added: {', '.join(added)}")
    write_kernelspec(python, work / "jupyter")
    (work / "home").mkdir()
    (work / "runs").mkdir()
    return {
        "python": str(python),
        "venv": str((work / "venv").resolve()),
        "jupyter": str(work / "jupyter"),
        "home": str(work / "home"),
        "runs": str(work / "runs"),
        "results": str(work / "results.json"),
        "notebooks": [str(p) for p in args.notebooks],
        "jobs": args.jobs,
        "timeout": args.timeout,
        "pypi_ip": resolve("pypi.org"),
        "timings": timings,
    }


def run_offline(plan: dict, work: Path) -> dict:
    """Run the notebooks in a child process without network; return its results."""
    prefix, kind, offline_env = isolation()
    plan.update(isolation=kind, in_namespace=bool(prefix), offline_env=offline_env)
    plan_path = work / "plan.json"
    plan_path.write_text(json.dumps(plan, indent=1))
    command = [*prefix, sys.executable, str(Path(__file__).resolve())]
    start = time.perf_counter()
    child = subprocess.run([*command, "--inner", str(plan_path)])
    plan["timings"]["offline run, start to exit"] = time.perf_counter() - start
    if child.returncode != 0 or not Path(plan["results"]).exists():
        raise CheckError(f"the offline run stopped (exit {child.returncode})")
    return json.loads(Path(plan["results"]).read_text())


def summarize(plan: dict, result: dict) -> int:
    """Print the failures, the table and the total; return the exit status."""
    records = result["records"]
    for record in records:
        for problem in record["problems"]:
            print(f"\nFAILED {record['notebook']}: {problem}", file=sys.stderr)
    print("\nseconds per notebook (kernel start to last cell, alone, offline):")
    for record in records:
        print(report_line(record))
    for what, seconds in plan["timings"].items():
        print(f"  {'':4}  {seconds:6.1f} s  ({what})")
    jobs = plan["jobs"]
    print(
        f"  {'':4}  {result['seconds']:6.1f} s  "
        f"(of that, the notebooks, {jobs} at a time)"
    )
    print(f"network: {plan['isolation']}")
    origins = sorted({r.get("vitbook", "?") for r in records})
    print(f"the set-up cells found vitbook at: {', '.join(origins)}")
    failed = [r["notebook"] for r in records if r["problems"]]
    if failed:
        print(f"colab-check: FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    say(f"all {len(records)} notebooks ran alone, offline, from the wheel")
    return 0


def default_notebooks() -> list[Path]:
    """The notebooks of _toc.yml, in reading order."""
    sys.path.insert(0, str(ROOT))
    from tools.toc import toc_notebooks

    return toc_notebooks()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "notebooks", nargs="*", type=Path, help="notebooks (default: all of _toc.yml)"
    )
    parser.add_argument(
        "--jobs",
        type=arg_type(positive_int),
        default=2,
        help="notebooks run at a time (default: 2)",
    )
    parser.add_argument(
        "--timeout",
        type=arg_type(positive_int),
        default=300,
        help="seconds a cell may take (300)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the work folder (printed) to inspect"
    )
    parser.add_argument("--inner", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        check_runner()
    except CheckError as error:
        parser.error(str(error))
    args.notebooks = [p.resolve() for p in args.notebooks] or default_notebooks()
    for path in args.notebooks:
        if not path.is_file():
            parser.error(f"no notebook {path}")
    return args


def clean_up(work: Path, keep: bool) -> None:
    """Delete the work folder (venv, copies, executed notebooks)
    unless asked to keep it."""
    if keep:
        say(f"kept {work}")
        return
    start = time.perf_counter()
    shutil.rmtree(work, ignore_errors=True)
    say(f"deleted {work} in {time.perf_counter() - start:.1f} s")


def main(argv: list[str] | None = None) -> int:
    """Run the whole check; see the module docstring."""
    args = parse_args(argv)
    if args.inner:
        return inner_main(args.inner)
    start = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="colab-check-"))
    try:
        plan = prepare(args, work)
        status = summarize(plan, run_offline(plan, work))
    except CheckError as error:
        print(f"colab-check: {error}", file=sys.stderr)
        status = 2
    finally:
        clean_up(work, args.keep)
    say(f"total {time.perf_counter() - start:.1f} s (build, install, run, clean up)")
    return status


if __name__ == "__main__":
    sys.exit(main())
