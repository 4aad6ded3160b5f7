"""An orderly exit (issue 22.10): work on daemon threads is stopped and joined before Python finalises, so a thread
inside torch never meets a finalising interpreter ("terminate called without an active exception", rc 134)."""
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from explorer.shutdown import stop_now

ROOT = Path(__file__).resolve().parents[1]


def test_exit_while_torch_runs_on_daemon_threads_is_orderly():
    """Three daemon threads in torch matrix products when the script ends: the hook stops and joins them (without
    it, this script ends with rc 134 every time on CPython 3.11: tools/stress_exit.py)."""
    script = textwrap.dedent("""
        import threading, time, torch
        from explorer.shutdown import stop_at_exit
        stop, started = threading.Event(), threading.Barrier(4)
        def work():
            a = torch.randn(300, 300)
            started.wait()
            while not stop.is_set():
                a = torch.tanh(a @ a)
            print("stopped", flush=True)
        threads = [threading.Thread(target=work, daemon=True) for _ in range(3)]
        for t in threads:
            t.start()
        stop_at_exit(threads, stop)
        started.wait()
        time.sleep(0.2)
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                       env={"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PATH": ""})
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["stopped"] * 3 and r.stderr == ""


def test_stop_now_stops_joins_and_names_the_stragglers():
    stop, stuck = threading.Event(), threading.Event()
    polite = threading.Thread(target=stop.wait, daemon=True, name="polite")
    deaf = threading.Thread(target=stuck.wait, daemon=True, name="deaf")  # never looks at stop
    later = []
    for t in (polite, deaf):
        t.start()
    left = stop_now(lambda: [polite, *later], stop, timeout=5)  # a callable: the threads of the moment
    assert left == [] and not polite.is_alive() and stop.is_set()
    assert [t.name for t in stop_now([deaf], timeout=0.1)] == ["deaf"]
    stuck.set()
    deaf.join()


def test_stop_now_cancels_an_executors_queue_and_waits_for_its_running_job():
    stop = threading.Event()
    pool = ThreadPoolExecutor(1)
    running = pool.submit(stop.wait)
    queued = pool.submit(time.sleep, 60)
    assert stop_now(pool, [stop], timeout=5) == []
    assert running.result() is True and queued.cancelled()


def test_a_withdrawn_hook_does_nothing():
    script = textwrap.dedent("""
        import threading
        from explorer.shutdown import stop_at_exit
        withdraw = stop_at_exit([], lambda: print("withdrawn hook ran"))
        withdraw()
        stop_at_exit([], lambda: print("kept hook ran"))
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                       env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert r.returncode == 0 and r.stdout.strip() == "kept hook ran", r.stderr
