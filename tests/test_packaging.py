"""Packaging: Binder's and conda's dependency lists agree with pyproject; the README opens with two commands."""
import re
from pathlib import Path

import pytest
import yaml

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAME = {"torch": "pytorch-cpu"}  # conda-forge's CPU build of torch


def _name(req: str) -> str:
    return re.split(r"[<>=!~ \[;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _conda(path):
    deps = yaml.safe_load(path.read_text())["dependencies"]
    return {_name(d) for d in deps if isinstance(d, str)}


def test_binder_and_environment_match_pyproject():
    runtime = {CONDA_NAME.get(_name(d), _name(d)) for d in _pyproject()["dependencies"]}
    binder = _conda(ROOT / "binder" / "environment.yml") - {"python", "pip"}
    assert binder == runtime, f"binder lacks {runtime - binder}, has extra {binder - runtime}"
    assert runtime <= _conda(ROOT / "environment.yml")
    assert "pip install --no-deps --no-cache-dir ." in (ROOT / "binder" / "postBuild").read_text()


def test_readme_opens_with_the_two_commands():
    lines = [ln for ln in (ROOT / "README.md").read_text().splitlines() if ln.strip()]
    commands = [ln for ln in lines[:8] if ln.startswith("python3 -m venv")]
    assert len(commands) == 2
    assert commands[0].endswith("explorer lab") and "pytest" in commands[1]
    assert re.search(r"^test_cmd=.*README\.md", (ROOT / ".ci" / "run").read_text(), re.M)


def test_notebooks_ship_with_the_package():
    assert (ROOT / "explorer" / "notebooks" / "00_tour.ipynb").exists()
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "notebooks/*.ipynb" in package_data["explorer"]
    assert (ROOT / "notebooks" / "00_tour.ipynb").resolve() == (ROOT / "explorer" / "notebooks" / "00_tour.ipynb")


def test_readme_pictures_exist():
    import re

    text = (ROOT / "README.md").read_text()
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert pictures and all((ROOT / p).is_file() for p in pictures), pictures
