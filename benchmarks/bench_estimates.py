"""Estimates vs measured: each job's estimate (session.estimate) against its run, with the load of the moment.

Run: python benchmarks/bench_estimates.py [--models cnn,resnet18] [--threads N] [--cold-umap] [--only dff]

cnn: the default tour (digits, the CNN; the first training from fresh weights, 15 epochs, estimated as the Tour
does: explorer.estimates.training) and the labs on the trained model. resnet18: torchvision's resnet18 with seeded
random weights (num_classes=10) on random 224 x 224 images made with explorer.data.from_arrays (few images and
points, so a case takes a minute or two on a CPU: the estimate must scale to them). --cold-umap adds the first UMAP
of a process whose numba cache is empty (a subprocess with its own NUMBA_CACHE_DIR: a few minutes). Each row: the
job, the model, the estimate, the measured seconds, their ratio and os.getloadavg()[0] after the run. --only dff:
the DFF job alone (the saliency lab's Factorize: 1-8 images, the forward and the NMF) after the model's session.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import torch

ROWS = []


def load() -> float:
    return os.getloadavg()[0]


def row(job: str, model: str, estimate: float, measured: float) -> None:
    ROWS.append((job, model, estimate, measured, estimate / measured, load()))
    f = lambda v: f"{v:.2f}" if v >= 0.1 else f"{v:.4f}"  # noqa: E731 - a job of milliseconds in 4 decimals
    print(f"| {job} | {model} | {f(estimate)} | {f(measured)} | {estimate / measured:.2f} | {ROWS[-1][5]:.1f} |",
          flush=True)


def case(session, job, name: str, model: str):
    """The job's estimate, then its run (session.run: prepare and compute, as the panels run it)."""
    est = session.estimate(job)
    start = time.perf_counter()
    out = session.run(job)
    row(name, model, est.seconds, time.perf_counter() - start)
    return out


def tour():
    """The default tour's first training, as the Tour estimates it (fresh weights, no session memo)."""
    from explorer import Session
    from explorer.estimates import training

    s = Session.open("digits", "cnn", device="cpu", seed=0)
    est = training(s.model, s.data, 15)
    start = time.perf_counter()
    s.train(epochs=15, seed=0)
    row("training, 15 epochs (the tour's first)", "cnn", est.seconds, time.perf_counter() - start)
    return s


def labs(s, model: str, slices=((21, 512), (7, 512)), spectrum=(3, 256, 50)):
    """The codes map (PCA, the first UMAP of the process, a second), slices of (n, n_eval) and the spectrum of
    (k, n, trace_iters) on the session's model."""
    from explorer.codes import lab as codes
    from explorer.landscape import lab as land

    k, n_h, trace_iters = spectrum
    layers = codes.default_layers(s)
    case(s, codes.map_job(s, layers, method="PCA"), "codes map: extraction + PCA", model)
    case(s, codes.map_job(s, layers, method="UMAP"), "codes map: UMAP, first of the process", model)
    case(s, codes.map_job(s, layers, method="UMAP", seed=1), "codes map: UMAP, second", model)
    axes = s.run(land.axes_job(s, "random"))
    for n, n_eval in slices:
        case(s, land.slice_job(s, axes, n=n, n_eval=n_eval), f"slice {n} x {n} on {n_eval} inputs", model)
    case(s, land.spectrum_job(s, k, n=n_h, trace_iters=trace_iters),
         f"Hessian spectrum (k {k}, {n_h} inputs, {trace_iters} trace samples)", model)


def dff(s, model: str, layer: str, counts=(1, 4, 8), components: int = 4, repeat: int = 5):
    """The DFF job (the lab's Factorize) on the first n test images for each n, as the DFF tab runs it: the median
    estimate and the median run of `repeat` jobs (each its own seed: no memo; a shared machine's noise)."""
    import statistics

    from explorer.saliency.dff import dff_job

    x = s.data.inputs("test")
    s.run(dff_job(s, x[:1], layer, 1, seed=99))  # untimed: the executor's first job probes its threads (40 ms)
    for n in counts:
        est, took = [], []
        for seed in range(repeat):
            job = dff_job(s, x[:n], layer, components, top_k=3, seed=100 * n + seed)
            est.append(s.estimate(job).seconds)
            start = time.perf_counter()
            s.run(job)
            took.append(time.perf_counter() - start)
        row(f"DFF, {components} concepts of {layer}, {n} images (median of {repeat})", model,
            statistics.median(est), statistics.median(took))


def resnet(n_train: int = 32, n_test: int = 16, epochs: int = 1):
    import torchvision

    from explorer import Session
    from explorer.data import from_arrays
    from explorer.estimates import training

    g = torch.Generator().manual_seed(0)
    data = from_arrays(torch.rand(n_train, 3, 224, 224, generator=g), torch.arange(n_train) % 10,
                       torch.rand(n_test, 3, 224, 224, generator=g), torch.arange(n_test) % 10, name="random-224")
    torch.manual_seed(0)
    s = Session(torchvision.models.resnet18(weights=None, num_classes=10).eval(), data)
    if not epochs:
        return s
    est = training(s.model, s.data, epochs, batch_size=16)
    start = time.perf_counter()
    s.train(epochs=epochs, batch_size=16)
    row(f"training, {epochs} epoch(s) of {n_train} images, batch 16", "resnet18", est.seconds,
        time.perf_counter() - start)
    return s


def cold_umap(model: str = "cnn") -> None:
    """The first UMAP of a fresh process whose numba cache is empty (its own NUMBA_CACHE_DIR)."""
    code = ("import time; from explorer import Session; from explorer.codes import lab;"
            "s = Session.open('digits', 'cnn', device='cpu', epochs=2); l = lab.default_layers(s);"
            "s.run(lab.map_job(s, l)); j = lab.map_job(s, l, method='UMAP'); e = s.estimate(j).seconds;"
            "t = time.perf_counter(); s.run(j); print(e, time.perf_counter() - t)")
    with tempfile.TemporaryDirectory() as cache:
        out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "NUMBA_CACHE_DIR": cache},
                             capture_output=True, text=True, check=True).stdout.split()
    row("codes map: UMAP, first of a process, empty numba cache", model, float(out[-2]), float(out[-1]))


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--models", default="cnn,resnet18")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    p.add_argument("--cold-umap", action="store_true")
    p.add_argument("--only", choices=["dff"], help="only these jobs (after the model's session)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, load {load():.1f}\n")
    print("| job | model | estimate s | measured s | ratio | load |\n|---|---|---|---|---|---|")
    models = args.models.split(",")
    if args.only == "dff":
        if "cnn" in models:
            dff(tour(), "cnn", "relu3")
        if "resnet18" in models:
            dff(resnet(epochs=0), "resnet18", "layer4", counts=(2, 4, 8))
    elif "cnn" in models:
        labs(tour(), "cnn")
    if "resnet18" in models and args.only is None:
        labs(resnet(), "resnet18", slices=((5, 8), (3, 16)), spectrum=(1, 2, 5))
    if args.cold_umap:
        cold_umap()
    bad = [r for r in ROWS if not 0.5 <= r[4] <= 2]
    print(f"\n{len(ROWS) - len(bad)} of {len(ROWS)} within 0.5x-2x" + (
        "; outside: " + ", ".join(f"{r[0]} ({r[1]}) {r[4]:.2f}x" for r in bad) if bad else ""))


if __name__ == "__main__":
    main()
