"""Every notebook in notebooks/ runs top to bottom, offline, on the CPU, and saves small (BokehJS comes from the
page's extension, not from an output: issue 23.6); the workshop notebooks are what tools/make_notebooks.py writes."""
import importlib.util
from pathlib import Path

import pytest

from explorer import cli

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert any(p.name == "00_tour.ipynb" for p in NOTEBOOKS)


def test_notebooks_are_what_the_generator_writes():
    # hand edits to a notebook were lost the next time the generator ran (issue 23.9: geometry exercise 3)
    nbformat = pytest.importorskip("nbformat")
    tool = Path(__file__).resolve().parents[1] / "tools" / "make_notebooks.py"
    spec = importlib.util.spec_from_file_location("make_notebooks", tool)
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    for name, cells in make.NOTEBOOKS.items():
        saved = nbformat.read(make.HERE / f"{name}.ipynb", as_version=4)
        wanted = make.notebook(cells)
        assert [(c.cell_type, c.id, c.source) for c in saved.cells] == \
            [(c.cell_type, c.id, c.source) for c in wanted.cells], f"{name}: run tools/make_notebooks.py"
        assert not any("print(Table(" in c.source for c in wanted.cells), f"{name}: show a Table, not its list"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("jupyter_bokeh")
    from explorer.panels.bokehjs import install

    monkeypatch.setenv("EXPLORER_DEVICE", "cpu")
    install(tmp_path / "data")  # as `explorer lab` does (cli.environment): the kernel sees it on JUPYTER_PATH
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "data"))
    policy = cli.environment(data_dir=tmp_path / "data")["OMP_WAIT_POLICY"]
    monkeypatch.setenv("OMP_WAIT_POLICY", policy)  # as in the kernel `explorer lab` starts
    nb = nbformat.read(path, as_version=4)
    # saved as JupyterLab saves by default: outputs, no widget state
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", store_widget_state=False,
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    nbformat.write(nb, tmp_path / path.name)
    size = (tmp_path / path.name).stat().st_size
    assert size < 2_000_000, f"{path.name} saves to {size / 1e6:.1f} MB"
