"""The panels-v2 limits: a lab's view file about 150 lines at most, every panel constructor under the old 55-83."""
import ast
from pathlib import Path

PANELS = Path(__file__).resolve().parents[1] / "explorer" / "panels"


def test_no_lab_view_file_over_150_lines():
    views = [p for p in PANELS.glob("*/*.py")]
    assert len(views) >= 20  # the labs' view files are there (a moved folder would make this vacuous)
    long = {str(p.relative_to(PANELS)): n for p in views if (n := len(p.read_text().splitlines())) > 150}
    assert not long, f"split these views: {long}"


def test_every_panel_constructor_is_shorter_than_before_the_rewrite():
    inits = {}
    for p in PANELS.rglob("*.py"):
        for c in ast.walk(ast.parse(p.read_text())):
            if isinstance(c, ast.ClassDef):
                inits.update({f"{p.relative_to(PANELS)}:{c.name}": f.end_lineno - f.lineno + 1 for f in c.body
                              if isinstance(f, ast.FunctionDef) and f.name == "__init__"})
    assert len(inits) >= 15
    long = {k: n for k, n in inits.items() if n >= 55}  # the shortest constructor before the rewrite was 55 lines
    assert not long, f"constructors as long as before panels-v2: {long}"
