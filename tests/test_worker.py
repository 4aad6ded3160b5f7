"""Inside a worker: malloc's heap kept through a task where MALLOC_TRIM_THRESHOLD_ (a Dask nanny's setting) would
make every large block a fresh mmap, and the environment's setting back after it (counted in page faults)."""
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

CODE = """
import resource
import numpy as np
from explorer.worker import heap_kept

def faults(n=10):
    start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(n):
        np.ones(2 << 20)  # 16 MB, freed at once
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start

before = faults()
with heap_kept():
    faults(1)  # the first block is new memory
    inside = faults()
print(before, inside, faults())
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")
def test_a_task_reuses_the_heap_where_the_environment_trims_it_and_the_setting_comes_back():
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "65536",
           "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True, check=True)
    before, inside, after = map(int, run.stdout.split())
    assert before >= 100 and after >= before // 2, (before, after)  # each block fresh memory (its pages fault)
    assert inside <= before // 20, f"{inside} page faults for 10 blocks reused from the heap ({before} outside)"
