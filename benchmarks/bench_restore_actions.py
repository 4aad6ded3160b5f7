"""Restoring views with several buttons (digits, cnn, 1 epoch): the trust view's sanity curves and metrics (2 images),
the codes' table over training, a unit's top images and facets. The restore runs those handlers again: what it adds
to opening the tour, against what pressing them took (the ratio should be about 1), and against a file without the
views' handlers (as saved before: nothing run again, the views listed to press).

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/bench_restore_actions.py
"""
import tempfile
import time
from pathlib import Path

import torch

from explorer.app import Tour, open_tour


def main(repeats: int = 2) -> None:
    folder = Path(tempfile.mkdtemp())
    tour = Tour(epochs=1, device="cpu")
    tour.train()
    for title in ("Saliency", "Neural codes", "Geometry"):
        tour.tabs.selected_index = list(tour.labs).index(title)
    p = {t: tab.children[0] for t, tab in zip(tour.labs, tour.tabs.children) if tab.children}
    trust, tables, features = p["Saliency"].trust, p["Neural codes"].tables, p["Geometry"].features
    trust.trust_n.value = 2
    t0 = time.perf_counter()
    for press in (trust.sanity, trust.metrics, tables.over_training, features.show_top, features.facets):
        press()
    pressed = time.perf_counter() - t0
    tour.save(folder / "new.pt")
    blob = torch.load(folder / "new.pt", weights_only=True)
    for lab in blob["meta"]["labs"].values():
        lab.pop("acts", None)
    torch.save(blob, folder / "old.pt")
    took = {"old.pt": [], "new.pt": []}
    for _ in range(repeats):
        for name in took:
            t0 = time.perf_counter()
            r = open_tour(folder / name, device="cpu").restored_
            took[name].append(time.perf_counter() - t0)
            print(f"{name}: {took[name][-1]:.2f} s, to press {len(r.press)}, differences {len(r.differences)}, "
                  f"problems {len(r.problems)}")
    new, old = min(took["new.pt"]), min(took["old.pt"])
    print(f"pressing the 5 handlers: {pressed:.2f} s; restore {new:.2f} s, without the handlers {old:.2f} s; "
          f"(restore - without) / pressing = {(new - old) / pressed:.2f}")


if __name__ == "__main__":
    main()
