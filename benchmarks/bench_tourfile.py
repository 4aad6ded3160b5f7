"""Save, restore and export a tour (digits, cnn, 1 epoch, every lab open): seconds and sizes, and restore / building
the labs (a restore computes the results again: it should cost about what opening the labs did, not more).

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/bench_tourfile.py
"""
import os
import tempfile
import time

from explorer.app import LABS, Tour, open_tour


def main() -> None:
    folder = tempfile.mkdtemp()
    tour = Tour(epochs=1, device="cpu")
    tour.train()
    t0 = time.perf_counter()
    for i in range(len(LABS)):
        tour.tabs.selected_index = i
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    tour.save(os.path.join(folder, "tour.pt"))
    save = time.perf_counter() - t0
    t0 = time.perf_counter()
    again = open_tour(os.path.join(folder, "tour.pt"), device="cpu")
    restore = time.perf_counter() - t0
    t0 = time.perf_counter()
    tour.export_html(os.path.join(folder, "tour.html"))
    export = time.perf_counter() - t0
    mb = {f: os.path.getsize(os.path.join(folder, f)) / 2**20 for f in ("tour.pt", "tour.html")}
    print(f"labs built {build:.2f} s | save {save:.2f} s, {mb['tour.pt']:.2f} MB | open {restore:.2f} s "
          f"(x{restore / build:.2f} of building the labs), differences {again.restored_.differences} | "
          f"HTML export {export:.2f} s, {mb['tour.html']:.2f} MB | load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
