"""Exit mid-way while a training and several jobs run on daemon threads, many times: does the interpreter's exit
crash (rc 134, "double free or corruption"; issue 22.10)?

    python tools/stress_exit.py --runs 20            # as panels run today: daemon threads, nothing stops them
    python tools/stress_exit.py --runs 20 --orderly  # explorer.shutdown.stop_at_exit: stopped and joined first

Each run is a child process: it opens the default session, starts a training and four jobs (Hessian spectrum, CKA,
linear regions, a codes map) on daemon threads as the panels' runner does (prepare() here, compute() there), waits
a random 0.3-2.5 s and returns from main while they run. Prints each run's rc and the count that crashed.
"""
from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import threading
import time


def child(orderly: bool, seed: int) -> None:
    """One run: a training and jobs on daemon threads, then exit while they run."""
    from explorer import Session
    from explorer.codes import lab as codes
    from explorer.geometry import cka_job, regions_job
    from explorer.jobs import Cancelled
    from explorer.landscape import lab as landscape
    from explorer.shutdown import stop_at_exit

    s = Session.open("digits", "cnn", device="cpu", epochs=0, seed=0)
    stop, threads, asked = threading.Event(), [], [0.0]

    def progress(done, total, info=None):
        if stop.is_set():
            raise Cancelled("stopped at exit")

    def start(name, target, *args, **kwargs):
        def run():
            try:
                target(*args, **kwargs)
            except Cancelled:
                pass
            if stop.is_set():
                print(f"{name} stopped after {time.perf_counter() - asked[0]:.2f} s", file=sys.stderr)
        t = threading.Thread(target=run, daemon=True, name=name)
        t.start()
        threads.append(t)

    if orderly:  # and say how long stopping took, and what still ran after it
        import atexit

        stop_at_exit(lambda: threads, [lambda: asked.__setitem__(0, time.perf_counter()), stop])
        atexit.register(lambda: print(f"stopped in {time.perf_counter() - asked[0]:.2f} s, "
                                      f"{sum(t.is_alive() for t in threads)} still running", file=sys.stderr))
    import copy

    train_session = Session(copy.deepcopy(s.model), s.data)  # the Tour trains a new session's own model
    start("training", train_session.train, epochs=200, seed=seed, progress=progress)
    for job in (landscape.spectrum_job(s, 3, seed, trace_iters=400), cka_job(s, None, "test", 1000, False),
                regions_job(s, (0, 1, 2), "test", 200), codes.map_job(s, None, "test", "t-SNE", seed, 1500)):
        start(job.title or str(job.key[0]), job.compute, job.prepare(), progress)
    time.sleep(random.Random(seed).uniform(0.3, 2.5))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--orderly", action="store_true", help="stop and join the threads at exit (stop_at_exit)")
    p.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child is not None:
        child(args.orderly, args.child)
        return 0
    crashed = 0
    for i in range(args.runs):
        start = time.perf_counter()
        cmd = [sys.executable, __file__, "--child", str(i)] + (["--orderly"] if args.orderly else [])
        r = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ), timeout=600)
        tail = (r.stderr.strip().splitlines() or [""])[-1][:160]
        crashed += r.returncode != 0
        print(f"run {i:2d}: rc {r.returncode:4d} in {time.perf_counter() - start:4.1f} s  {tail}", flush=True)
    print(f"{crashed} of {args.runs} runs exited with rc != 0 ({'orderly' if args.orderly else 'plain'} exit)")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
