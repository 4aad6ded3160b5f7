"""The panels' structure (issue 21): one place starts threads for jobs, no view imports or holds another view, every
lab view runs its jobs through the session's executor."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "explorer"
PANELS = ROOT / "panels"
SHARED = {"_common", "_images", "_jobbar", "_view", "export", "figures", "knobs", "state", "colouring",
          "bokehjs", "_throttle", "kernelmap"}  # not views


def panel_imports(path: Path) -> list[str]:
    """The modules of explorer/panels a lab's file imports, as paths relative to panels/ ('codes.map', '_view')."""
    lab, out = path.parent.name, []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            out.append(f"{lab}.{node.module}")
        elif isinstance(node, ast.ImportFrom) and node.level == 2:
            out.append(node.module or "")
    return out


def test_one_place_starts_threads_for_jobs():
    starters = sorted(str(p.relative_to(ROOT)) for p in ROOT.rglob("*.py")
                      if "threading.Thread(" in p.read_text() or "ThreadPoolExecutor(" in p.read_text())
    # engines.py bounds a Dask handshake on distributed's own IO loop (LoopRunner), not on a thread of its own
    assert starters == ["executor.py"], starters


def test_no_view_imports_another_view():
    views = [p for p in PANELS.glob("*/*.py") if p.stem not in SHARED and p.stem != "__init__"]
    assert len(views) >= 18
    bad = {}
    for p in views:
        for m in panel_imports(p):
            if m.split(".")[-1] not in SHARED:
                bad.setdefault(str(p.relative_to(PANELS)), []).append(m)
    assert not bad, f"views importing views: {bad}"


def test_no_view_takes_another_view_or_forwards_attributes():
    """A view's constructor takes the lab's state (and widgets such as the error line), never another view; the
    lab panel forwards no attribute lookups to its views."""
    for p in PANELS.rglob("*.py"):
        tree = ast.parse(p.read_text())
        for c in ast.walk(tree):
            if isinstance(c, ast.ClassDef):
                names = {f.name for f in c.body if isinstance(f, ast.FunctionDef)}
                assert "__getattr__" not in names or c.name == "_Watch", f"{p.name}:{c.name} forwards attributes"
                init = next((f for f in c.body if isinstance(f, ast.FunctionDef) and f.name == "__init__"), None)
                args = [a.arg for a in init.args.args] if init else []
                assert not {"maps", "compare", "ranking", "slices", "choice"} & set(args), (p.name, c.name, args)
