"""Floors: the core imports no widget, bokeh or umap module; no import circle among explorer's modules; no module
imports one on a higher floor (core < labs < panels < app). Read from the source by an AST walk, lazy imports too."""
import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "explorer"
UI = ("ipywidgets", "bokeh", "jupyter_bokeh", "umap", "IPython")
# Lowest first. A module may import from its own floor and the floors below; its floor is that of the longest entry
# naming it or a package above it ("" is explorer/__init__.py). Within a floor the no-circle rule orders modules.
FLOORS = (
    ("device", "layers", "jobs", "executor", "weights", "table", "optim", "checkpoints", "worker", "engines",
     "shutdown", "_html"),  # the base
    ("capture", "models", "testing"),  # testing: seeded torchvision stand-ins for the tests and benchmarks
    ("data",),
    ("train", "estimates"),
    ("session",),
    ("saliency.methods", "codes", "landscape"),  # the labs' computations
    ("saliency.evaluation", "geometry", "playground", "codes.grokking"),  # built on the methods; geometry reads
    # codes; the playground trains and draws exact regions (geometry); grokking draws the regions over checkpoints
    ("saliency", "dataset"),  # the saliency lab's jobs, costs, overlays and exports; whole-dataset jobs
    ("panels",),
    ("app", "cli", "__main__", ""),
)


def modules(root: Path = PACKAGE) -> dict[str, Path]:
    """Dotted names below explorer ('' for the package itself, 'saliency.methods.base', ...) -> files."""
    out = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports(root: Path = PACKAGE) -> dict[str, set[str]]:
    """For each module, the explorer modules it imports anywhere in its file (at the top or inside a function)."""
    mods = modules(root)
    graph = {}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name.removeprefix("explorer").lstrip(".") for a in node.names
                           if a.name.split(".")[0] == "explorer"]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".") if package else []
                    base = base[:len(base) - (node.level - 1)]
                    source = ".".join(base + ([node.module] if node.module else []))
                elif (node.module or "").split(".")[0] == "explorer":
                    source = node.module.removeprefix("explorer").lstrip(".")
                else:
                    continue
                subs = [f"{source}.{a.name}".lstrip(".") for a in node.names
                        if f"{source}.{a.name}".lstrip(".") in mods]
                targets = subs + ([source] if len(subs) < len(node.names) else [])  # names from the package itself
            else:
                continue
            for t in targets:
                while t not in mods and "." in t:
                    t = t.rpartition(".")[0]
                if t in mods and t != name:
                    found.add(t)
        graph[name] = found
    return graph


def floor(name: str) -> int:
    """The floor of a module (an AssertionError for a module the table does not place)."""
    best = None
    for level, entries in enumerate(FLOORS):
        for entry in entries:
            if name == entry or (entry and name.startswith(entry + ".")) or (not entry and not name):
                if best is None or len(entry) > len(best[1]):
                    best = (level, entry)
    assert best is not None, f"explorer.{name} is on no floor: add it to FLOORS in tests/test_layering.py"
    return best[0]


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a path [a, b, ..., a], or None (depth-first search)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = "done"
        return None
    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_circle():
    found = cycle(imports())
    assert found is None, "import circle: " + " -> ".join(f"explorer.{n}".rstrip(".") for n in found)


def test_no_import_from_a_lower_floor_up():
    up = [f"explorer.{a} (floor {floor(a)}) imports explorer.{b} (floor {floor(b)})"
          for a, targets in sorted(imports().items()) for b in sorted(targets) if floor(b) > floor(a)]
    assert not up, "upward imports:\n" + "\n".join(up)


def test_the_walk_sees_what_it_must():
    """The checker itself: relative, absolute, lazy and package imports all found, on known modules."""
    graph = imports()
    assert {"layers"} <= graph["capture"] and "checkpoints" in graph["models"]
    assert "saliency.methods.registry" in graph["saliency.methods.explainer"]  # a top-level relative import
    assert "models" in graph["data.folders"]  # a lazy import inside a function, two dots up
    assert "session" in graph["saliency.lab"] and "session" in graph["app"]  # lazy in a function; top level
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert floor("saliency.methods.gradcam") < floor("saliency.evaluation.rank") < floor("saliency.lab")
    assert floor("") == floor("app") > floor("panels.codes.map") > floor("session") > floor("data.sources")


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
