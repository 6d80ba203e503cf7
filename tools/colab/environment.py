"""Step 2 of the Colab check: the fresh environment the kernels run in.

Reads the pins of requirements.txt, makes a venv holding only what Colab preinstalls
(COLAB_PACKAGES) at those versions, installs the wheel on top without letting it change
any of them, writes the kernelspec of that venv's Python, and builds the kernel's
environment variables (the caller's, less what a Colab kernel would not have).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from tools.colab.common import ROOT, CheckError, run_command

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


def kernel_env(python: Path, home: Path, offline_env: dict) -> dict:
    """The kernel's environment: the caller's, less DROPPED_ENV, with an empty HOME."""
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
    env.update(offline_env)
    env["HOME"] = str(home)
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    return env
