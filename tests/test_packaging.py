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


CPU_INDEX = "https://download.pytorch.org/whl/cpu"
CUDA = re.compile(r"cuda|cudnn|nvidia|^pytorch$|^pytorch-gpu$")  # conda packages that bring (or are) a GPU build


def _floors(reqs) -> dict[str, str]:
    """{name: version floor} of requirements written name>=floor (pip or conda spelling)."""
    out = {}
    for r in reqs:
        m = re.match(r"^([A-Za-z0-9_.\-]+)\s*>=\s*([0-9][0-9.]*)", r.strip())
        if m:
            out[_name(m[1])] = m[2]
    return out


def test_the_readme_cpu_route_agrees_with_pyproject_and_conda():
    """Issue 23.8: the README's CPU-only install (PyTorch's CPU wheel index, then the package) asks for the torch
    and torchvision floors pyproject asks for and installs the package without upgrading torch back to the CUDA
    build; environment.yml and Binder's take conda-forge's CPU build at the same floors and nothing from CUDA."""
    text = (ROOT / "README.md").read_text()
    head = "\n".join(ln for ln in text.splitlines() if ln.strip())
    assert CPU_INDEX not in "\n".join(head.splitlines()[:8]), "the first two commands stay the plain ones"
    lines = [ln for ln in text.splitlines() if ln.startswith("python3 -m venv") and CPU_INDEX in ln]
    assert len(lines) == 1, "one CPU install command in the README"
    steps = [s.strip() for s in lines[0].split("&&")]
    torch_step = next(s for s in steps if CPU_INDEX in s)
    assert f"pip install --index-url {CPU_INDEX} " in torch_step and "--extra-index-url" not in torch_step
    pinned = _floors(re.findall(r"'([^']+)'", torch_step))
    wanted = _floors(_pyproject()["dependencies"])
    assert pinned == {k: wanted[k] for k in ("torch", "torchvision")}, (pinned, wanted)
    package = steps[steps.index(torch_step) + 1]
    assert re.fullmatch(r"\.venv/bin/pip install -e \.", package), package  # no --upgrade: the CPU torch stays
    assert steps[-1] == ".venv/bin/explorer lab" and steps[0] == "python3 -m venv .venv"
    assert "'.[test]'" in text and "test" in _pyproject()["optional-dependencies"]
    for path in (ROOT / "environment.yml", ROOT / "binder" / "environment.yml"):
        deps = [d for d in yaml.safe_load(path.read_text())["dependencies"] if isinstance(d, str)]
        assert not [d for d in deps if CUDA.search(_name(d))], f"{path.name} asks for a CUDA build"
        floors = _floors(deps)
        assert floors.get("pytorch-cpu") == wanted["torch"], (path, floors)
        same = {k: v for k, v in wanted.items() if k != "torch"}
        assert {k: floors.get(k) for k in same} == same, (path, floors)


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
