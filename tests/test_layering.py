"""The core imports no widget, bokeh or umap module; the panels and app are the only widget users."""
import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "explorer"
UI = ("ipywidgets", "bokeh", "jupyter_bokeh", "umap", "IPython")


def test_import_explorer_is_light():
    code = (f"import sys, explorer; ui = set({UI!r}); "
            "print(','.join(sorted({m.split('.')[0] for m in sys.modules} & ui)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"import explorer pulled in {out}"


def test_core_modules_never_import_ui_at_top_level():
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] in ("panels",) or rel.name == "app.py":
            continue
        tree = ast.parse(path.read_text())
        for node in tree.body:  # module level only: lazy imports inside functions are allowed
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for n in names:
                assert n.split(".")[0] not in UI, f"{rel} imports {n} at module level"
                assert not n.startswith(("explorer.panels", "explorer.app")) and not (
                    isinstance(node, ast.ImportFrom) and node.level and (n or "").startswith(("panels", "app"))
                ), f"{rel} (core) imports the UI layer"
