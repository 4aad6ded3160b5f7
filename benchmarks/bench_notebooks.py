"""Wall time of every bundled notebook run headless (as tests/test_notebooks.py runs them), cell by cell.

    python benchmarks/bench_notebooks.py [NAME ...] [--cells]

Goal (issue 23): each notebook under 120 s on the 2-core CPU machine. Prints the load average before and after.
The kernel gets OMP_WAIT_POLICY=PASSIVE as `explorer lab` gives it; `OMP_WAIT_POLICY=ACTIVE python ...` for the old.
"""
import argparse
import os
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def run(path, show_cells):
    """Execute one notebook in a fresh kernel; return its wall time and each code cell's."""
    nb = nbformat.read(path, as_version=4)
    cells = []
    with tempfile.TemporaryDirectory() as tmp:
        client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": tmp}})
        t0 = time.perf_counter()
        with client.setup_kernel():
            for i, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                t = time.perf_counter()
                client.execute_cell(cell, i)
                cells.append((i, time.perf_counter() - t, cell.source.splitlines()[0][:60]))
        total = time.perf_counter() - t0
    print(f"{path.name}: {total:.1f} s (kernel start included), load {os.getloadavg()[0]:.1f}", flush=True)
    if show_cells:
        for i, dt, first in cells:
            print(f"    cell {i:2d} {dt:6.1f} s  {first}", flush=True)
    return total


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("names", nargs="*", help="substrings of notebook names (default: all)")
    parser.add_argument("--cells", action="store_true", help="print every code cell's time")
    args = parser.parse_args()
    os.environ.setdefault("EXPLORER_DEVICE", "cpu")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as `explorer lab` starts its kernels (cli.environment)
    print(f"load before: {os.getloadavg()[0]:.1f}", flush=True)
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        if not args.names or any(n in path.name for n in args.names):
            run(path, args.cells)


if __name__ == "__main__":
    main()
