"""benchmarks/bench_gpu.py runs on the CPU as a smoke test (--device cpu --quick), so the GPU script cannot rot."""
import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_gpu.py"


def test_gpu_script_runs_every_row_on_the_cpu(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH.parent))  # its sibling benchmarks (bench_saliency, bench_landscape ...)
    spec = importlib.util.spec_from_file_location("bench_gpu", BENCH)
    mod = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_gpu", mod)
    spec.loader.exec_module(mod)
    out = mod.main(["--device", "cpu", "--quick", "--no-tests", "--out", str(tmp_path / "gpu.md")])
    text = out.read_text()
    assert "device cpu" in text and "torch built for CUDA" in text
    for row in ("| Grad-CAM |", "| Score-CAM |", "| loss-landscape slice |", "| Hessian top-3 eigenvalues |",
                "| codes |", "| phase sweep (CPU trainings) |"):
        assert row in text
    assert "nan" not in text.lower()
    assert mod.CUDA_TESTS and all((BENCH.parents[1] / t.split("::")[0]).exists() for t in mod.CUDA_TESTS)
