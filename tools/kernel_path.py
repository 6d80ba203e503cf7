"""Which CPU kernels torch uses, pinned so that x86-64 machines compute the same bits.

torch picks its vectorised kernels (ATen), its BLAS code path (MKL) and its oneDNN
instructions by the CPU it finds: AVX-512 where there is AVX-512, else AVX2. A sum
added in 16-float steps instead of 8 differs in the last bit, and a training run
turns a last-bit difference into a different model. The book's stored outputs are
made and checked on one path, ``PINNED``; three variables select it, and they must be
set before torch is imported (the test session and ``tools/run_notebooks.py`` set them
for every kernel they start). What the pin guarantees is the same kernels; exactly
equal results also need the same torch (requirements.txt pins it), and MKL documents
its reproducibility setting for Intel CPUs (on others it may take another branch).
We checked it between AMD machines: outputs stored without AVX-512 pass with it. A
CPU without AVX2 (some Celerons, Pentiums and Atoms) runs unpinned, with a warning:
there the declared tolerances (``tools/tolerance.py``) carry the training cells.

    python -m tools.kernel_path            # the paths this machine can run
    python -m tools.kernel_path --second   # a path other than the pinned one, for CI
    python -m tools.kernel_path --notebooks  # the notebooks that train

``VITBOOK_KERNEL_PATH`` chooses another path (``default``, ``avx2``, ``avx512``) or
``native`` (whatever torch picks: no variable set).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import warnings
from pathlib import Path

#: The path the stored outputs are made and checked on: nearly every x86-64 desktop,
#: laptop and server CPU of the last ten years runs it.
PINNED = "avx2"

#: For each path, the variables that select it in ATen, MKL and oneDNN.
PATHS = {
    "default": {
        "ATEN_CPU_CAPABILITY": "default",
        "MKL_CBWR": "COMPATIBLE",
        "ONEDNN_MAX_CPU_ISA": "SSE41",
    },
    "avx2": {
        "ATEN_CPU_CAPABILITY": "avx2",
        "MKL_CBWR": "AVX2",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
    },
    "avx512": {
        "ATEN_CPU_CAPABILITY": "avx512",
        "MKL_CBWR": "AVX512",
        "ONEDNN_MAX_CPU_ISA": "AVX512_CORE",
    },
}
#: What a path needs from the CPU (flags of /proc/cpuinfo).
NEEDS = {"default": set(), "avx2": {"avx2", "fma"}, "avx512": {"avx512f", "avx512bw"}}
CHOICE = "VITBOOK_KERNEL_PATH"


def is_x86() -> bool:
    return platform.machine().lower() in {"x86_64", "amd64"}


def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux); empty where they cannot be read."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    match = re.search(r"^flags\s*:\s*(.*)$", text, re.MULTILINE)
    return set(match.group(1).split()) if match else set()


def supported() -> list[str]:
    """The paths this machine can run, slowest first (none off x86-64)."""
    if not is_x86():
        return []
    flags = cpu_flags()
    return [name for name, need in NEEDS.items() if need <= flags]


def asked() -> bool:
    """Whether ``$VITBOOK_KERNEL_PATH`` names a path (else ``PINNED`` is meant)."""
    return bool(os.environ.get(CHOICE, "").strip())


def chosen() -> str:
    """The path asked for: ``$VITBOOK_KERNEL_PATH``, else ``PINNED``."""
    name = os.environ.get(CHOICE, "").strip().lower() or PINNED
    if name != "native" and name not in PATHS:
        raise ValueError(
            f"{CHOICE}={name!r} is not a kernel path; use one of "
            f"{', '.join(PATHS)} or native (no pin)"
        )
    return name


def pin(environ=os.environ) -> str:
    """Set the variables of the chosen path in ``environ``; return the path's name.

    Off x86-64 (an arm64 laptop) there is nothing to pin: the name is ``native``. So
    it is on a CPU without ``PINNED``'s instructions, with a warning. A path asked for
    by ``$VITBOOK_KERNEL_PATH`` that the CPU cannot run is refused, naming the ones it
    can.
    """
    name = chosen()
    if name == "native" or not is_x86():
        return "native"
    if name not in supported() and not asked():
        warnings.warn(
            f"this CPU cannot run the {name} kernels the book's outputs were made on; "
            "running unpinned: cells whose numbers come from training are compared "
            "within their declared tolerances, and others may differ in the last digit",
            RuntimeWarning,
            stacklevel=2,
        )
        return "native"
    if name not in supported():
        raise RuntimeError(
            f"{CHOICE}={name!r}: this CPU cannot run the {name} kernels; it runs "
            f"{', '.join(supported())}"
        )
    environ.update(PATHS[name])
    return name


def second() -> str:
    """A path other than ``PINNED`` that this machine runs: AVX-512 where the CPU has
    it, else the unvectorised ``default``."""
    others = [p for p in supported() if p != PINNED]
    if not others:
        raise RuntimeError("this machine runs no kernel path other than the pinned one")
    return others[-1]


def training_notebooks() -> list[Path]:
    """The notebooks of _toc.yml whose cells train a model (their outputs depend on
    the kernel path the most)."""
    from tools.toc import toc_notebooks

    return [p for p in toc_notebooks() if "train_classifier(" in p.read_text()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--second", action="store_true", help="print a second path")
    group.add_argument(
        "--notebooks", action="store_true", help="print the notebooks that train"
    )
    args = parser.parse_args(argv)
    if args.second:
        print(second())
    elif args.notebooks:
        from tools.toc import ROOT

        print(" ".join(str(p.relative_to(ROOT)) for p in training_notebooks()))
    else:
        print(" ".join(supported()) or "none (not x86-64): nothing to pin")
    return 0


if __name__ == "__main__":
    sys.exit(main())
