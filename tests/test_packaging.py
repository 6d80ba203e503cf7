"""The package installs anywhere Colab's torch and Python do, and carries its data.

Its dependencies and ``requires-python`` set lower bounds only (no ``==`` pins, no upper
bounds that would make pip downgrade Colab's torch or refuse a newer Python), and its
wheel lists the checkpoint and results the notebooks load through the package.
"""

from __future__ import annotations

import sys
import zipfile

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from tools.colab.environment import COLAB_PACKAGES, colab_requirements
from tools.colab.wheel import (
    build_wheel,
    copy_source,
    expected_data,
    wheel_data_problems,
    wheel_record,
)
from tools.toc import ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the book's Python is 3.11
    tomllib = pytest.importorskip("tomli")

LOWER_BOUNDS = {">=", ">"}


@pytest.fixture(scope="module")
def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def not_lower_bounds(specifiers: SpecifierSet) -> list[str]:
    """The specifiers that are not lower bounds (``==``, ``<``, ``~=``, ...)."""
    return [str(s) for s in specifiers if s.operator not in LOWER_BOUNDS]


def test_dependencies_have_lower_bounds_only(project):
    for line in project["dependencies"]:
        requirement = Requirement(line)
        assert requirement.url is None, f"{line}: a URL dependency cannot be resolved"
        assert requirement.specifier, f"{line}: give a lower bound, e.g. >=1.0"
        assert not not_lower_bounds(requirement.specifier), (
            f"{line}: only lower bounds (>=), so installing vitbook never downgrades "
            "a package Colab preinstalls"
        )


def test_requires_python_has_no_upper_bound(project):
    specifiers = SpecifierSet(project["requires-python"])
    assert not not_lower_bounds(specifiers), (
        f"requires-python = {project['requires-python']!r}: only a lower bound, so a "
        "newer Python can install the package"
    )
    assert "3.11" in specifiers and "3.99" in specifiers


def test_the_check_pins_every_colab_package():
    pinned = colab_requirements()
    assert [line.split("==")[0] for line in pinned] == list(COLAB_PACKAGES)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A wheel built from a copy of the repository, with the copy it came from."""
    source = copy_source(tmp_path_factory.mktemp("src"))
    wheel = build_wheel(source, tmp_path_factory.mktemp("wheel"), isolated=False)
    return wheel, source


def test_wheel_lists_the_package_data(built):
    wheel, source = built
    assert wheel_data_problems(wheel, source) == []
    listed = wheel_record(wheel)
    for pattern, files in expected_data(source).items():
        assert files, f"no file matches {pattern}"
        assert set(files) <= listed
    assert "vitbook/weights/fashion_vit.pt" in listed


def test_wheel_data_problems_names_what_is_missing(tmp_path):
    for name in ("weights/tiny.pt", "weights/tiny.json", "results/lost.json"):
        (tmp_path / "vitbook" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "vitbook" / name).write_bytes(b"{}")
    wheel = tmp_path / "vitbook-0.0.0-py3-none-any.whl"
    record = "vitbook/weights/tiny.pt,,\nvitbook/weights/tiny.json,,\n"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("vitbook-0.0.0.dist-info/RECORD", record)
    assert wheel_data_problems(wheel, tmp_path) == [
        f"vitbook/results/lost.json is not in {wheel.name}: list it under "
        "[tool.setuptools.package-data] in pyproject.toml"
    ]
