"""The first minute of a workshop in a fresh kernel, without a browser (issue 27): Run All of the tour to the trained
accuracy, the first codes map (PCA), the first UMAP map, every tab visited, and the kernel's peak memory.

    taskset -c 0 python benchmarks/bench_first_minute.py --load both     # one core, as a Binder pod has
    python benchmarks/bench_first_minute.py --quick                      # a 1-epoch tour: a check that it runs

Each condition gets a fresh kernel (nbclient, as tests/test_notebooks.py runs notebooks; OMP_WAIT_POLICY=PASSIVE
and EXPLORER_DEVICE=cpu as `explorer lab` starts them). The clock of Run All starts once the kernel is up (as
bench_browser.py's does); the trained accuracy is there when the tour shows its session. The kernel and the
competing load (benchmarks/load.py: one process spinning, on core 0) inherit this process's CPU affinity, so under
`taskset -c 0` all of it shares one core. Goals (issue 27): on one core with the load, Run All under 20 s and the
kernel's peak memory after visiting every tab under 1.5 GB. Not what the page draws: bench_browser.py for that.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

try:
    from load import competing_load, load_average
except ImportError:  # run as a module
    from benchmarks.load import competing_load, load_average

TOUR = Path(__file__).resolve().parents[1] / "notebooks" / "00_tour.ipynb"
CODES_TAB = 2  # explorer.app.LABS: Gallery, Saliency, Neural codes, Loss landscape, Geometry
# The views' jobs: the executor's running set (a benchmark may read it; the package's views use busy(owner)).
IDLE = "s = tour.session; print(s is not None and not s.jobs()._running)"
MAP_DONE = f"p = tour.tabs.children[{CODES_TAB}].children; print(bool(p) and p[0].maps.map_ is not None)"


class Kernel:
    """A fresh kernel that runs code cells; `until(code)` polls a cell printing True (the kernel's loop runs the
    executor's callbacks between cells, as between a user's clicks)."""

    def __init__(self, client: NotebookClient):
        self.client, self.n = client, 0

    def run(self, source: str) -> str:
        cell = nbformat.v4.new_code_cell(source)
        self.client.nb.cells.append(cell)
        self.client.execute_cell(cell, len(self.client.nb.cells) - 1)
        return "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream").strip()

    def until(self, code: str, timeout: float = 600.0, every: float = 0.1) -> float:
        """Seconds until `code` prints True (TimeoutError after `timeout`)."""
        start = time.perf_counter()
        while time.perf_counter() - start < timeout:
            if self.run(code).endswith("True"):
                return time.perf_counter() - start
            time.sleep(every)
        raise TimeoutError(f"not done after {timeout:.0f} s: {code}")


def first_minute(quick: bool) -> dict:
    """{'kernel start', 'Run All to accuracy', 'first map (PCA)', 'first UMAP', 'every tab', 'peak MiB'} of one
    fresh kernel (quick: a 1-epoch tour)."""
    nb = nbformat.read(TOUR, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code"]
    if quick:
        cells = [nbformat.v4.new_code_cell(c.source.replace("epochs=15", "epochs=1")) for c in cells]
    nb.cells = []
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        client = NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": tmp}})
        t = time.perf_counter()
        with client.setup_kernel():
            out["kernel start"] = time.perf_counter() - t
            k = Kernel(client)
            t = time.perf_counter()
            for c in cells:  # Run All
                k.client.nb.cells.append(c)
                k.client.execute_cell(c, len(k.client.nb.cells) - 1)
            k.until("print(tour.session is not None)")
            out["Run All to accuracy"] = time.perf_counter() - t
            out["accuracy"] = k.run("print(f'{tour.session.evaluate(\"test\").accuracy:.3f}')")
            t = time.perf_counter()
            k.run(f"tour.tabs.selected_index = {CODES_TAB}")
            k.until(MAP_DONE)
            out["first map (PCA)"] = time.perf_counter() - t
            t = time.perf_counter()
            k.run(f"tour.tabs.children[{CODES_TAB}].children[0].maps.method.value = 'UMAP'")
            k.until(MAP_DONE)
            out["first UMAP"] = time.perf_counter() - t
            t = time.perf_counter()
            for i in range(int(k.run("print(len(tour.tabs.children))"))):
                k.run(f"tour.tabs.selected_index = {i}")
                k.until(IDLE)
            out["every tab"] = time.perf_counter() - t
            out["peak MiB"] = float(k.run("import resource; "
                                          "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--load", choices=("quiet", "loaded", "both"), default="both")
    ap.add_argument("--quick", action="store_true", help="a 1-epoch tour: a check that it runs")
    a = ap.parse_args()
    os.environ.setdefault("EXPLORER_DEVICE", "cpu")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as `explorer lab` starts its kernels (cli.environment)
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    print(f"cores this process and its kernel may use: {cores}; load before {load_average():.1f}", flush=True)
    rows = []
    for cond in (("quiet", "loaded") if a.load == "both" else (a.load,)):
        with competing_load() if cond == "loaded" else contextlib.nullcontext():
            r = first_minute(a.quick)
            r["load"] = load_average()
        print(f"{cond}: {r}", flush=True)
        rows.append((cond, r))
    keys = ["kernel start", "Run All to accuracy", "first map (PCA)", "first UMAP", "every tab"]
    print("\n| condition | " + " s | ".join(keys) + " s | accuracy | kernel peak MiB | load |\n|"
          + "---|" * (len(keys) + 4))
    for cond, r in rows:
        cells = " | ".join(f"{r[k]:.1f}" if k in r else "-" for k in keys)
        print(f"| {cond} | {cells} | {r['accuracy']} | {r['peak MiB']:.0f} | {r['load']:.1f} |")


if __name__ == "__main__":
    main()
