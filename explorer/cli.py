"""The `explorer` command: open the tour in JupyterLab (`explorer lab`) or as a Voila app (`explorer app`)."""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

TOUR = "00_tour.ipynb"
# Federated labextensions Voila must not load. Voila 0.5.13 loads every labextension in the environment into its page,
# whose host bundles JupyterLab 4.2.5 packages; Notebook 7's interface switcher (@jupyter-notebook/lab-extension,
# a JupyterLab-only menu) consumes @jupyterlab/application ^4.6 etc. with no fallback of its own, so next to
# notebook 7.6 the page throws "The getter for the shared module is not a function" (cf. voila-dashboards/voila#1514).
VOILA_SKIP = ("@jupyter-notebook/lab-extension",)


def copy_notebooks(workdir: Path) -> list[Path]:
    """Copy the bundled notebooks into workdir, never overwriting a copy the user already has (and may have edited)."""
    workdir.mkdir(parents=True, exist_ok=True)
    copied = []
    for item in resources.files("explorer").joinpath("notebooks").iterdir():
        if item.name.endswith(".ipynb"):
            target = workdir / item.name
            if not target.exists():
                with resources.as_file(item) as src:
                    shutil.copyfile(src, target)
                copied.append(target)
    return copied


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def lab_command(workdir: Path, port: int | None, open_browser: bool) -> list[str]:
    """The JupyterLab command line that opens the tour in workdir."""
    cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={workdir}",
           f"--LabApp.default_url=/lab/tree/{TOUR}", "--LabApp.news_url=None"]
    if port:
        cmd.append(f"--port={port}")
    if not open_browser:
        cmd.append("--no-browser")
    if _is_root():
        cmd.append("--allow-root")
    return cmd


def app_command(workdir: Path, port: int | None, open_browser: bool) -> list[str]:
    """The Voila command line that serves the tour as an app (no code cells)."""
    cmd = [sys.executable, "-m", "voila", str(workdir / TOUR), "--strip_sources=True",
           *(f"--VoilaConfiguration.extension_denylist={name}" for name in VOILA_SKIP)]
    if port:
        cmd.append(f"--port={port}")
    if not open_browser:
        cmd.append("--no-browser")
    return cmd


def environment() -> dict[str, str]:
    """The environment for the server: bokeh's JavaScript served inline, so plots draw offline."""
    env = dict(os.environ)
    env.setdefault("BOKEH_RESOURCES", "inline")
    return env


def parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = argparse.ArgumentParser(
        prog="explorer",
        description="Look inside neural networks, live: saliency maps, neural codes and loss landscapes in "
                    "JupyterLab. Works offline on an embedded default (scikit-learn's digits and a small CNN "
                    "trained on the spot).",
        epilog="examples:\n  explorer lab              open the tour notebook in JupyterLab\n"
               "  explorer app --port 8866  serve the tour as a Voila app\n"
               "The notebooks are copied into --dir (default ./explorer-notebooks); your edits there are kept.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", metavar="{lab,app}")
    for name, text in (("lab", "open the tour in JupyterLab"), ("app", "serve the tour as a Voila app")):
        s = sub.add_parser(name, help=text, description=text)
        s.add_argument("--dir", default="explorer-notebooks", type=Path,
                       help="working folder for the notebooks (default: ./explorer-notebooks)")
        s.add_argument("--port", type=int, default=None, help="port to serve on (default: the server's own)")
        s.add_argument("--no-browser", action="store_true", help="do not open a web browser")
        s.add_argument("--dry-run", action="store_true", help="print the server command instead of running it")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `explorer` console command."""
    args = parser().parse_args(argv)
    if args.command is None:
        parser().print_help()
        return 0
    workdir = args.dir.expanduser().resolve()
    copied = copy_notebooks(workdir)
    build = lab_command if args.command == "lab" else app_command
    cmd = build(workdir, args.port, not args.no_browser)
    if args.dry_run:
        print(" ".join(cmd))
        return 0
    print(f"explorer: notebooks in {workdir}" + (f" ({len(copied)} copied)" if copied else ""), flush=True)
    try:
        return subprocess.call(cmd, env=environment(), cwd=workdir)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
