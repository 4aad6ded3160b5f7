"""The `explorer` command: open the tour in JupyterLab (`explorer lab`), Notebook 7 (`explorer notebook`) or as a
Voila app (`explorer app`)."""
from __future__ import annotations

import argparse
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

TOUR = "00_tour.ipynb"
# Federated labextensions Voila must not load. Voila 0.5.13 loads every labextension in the environment into its page,
# whose host bundles JupyterLab 4.2.5 packages; Notebook 7's interface switcher (@jupyter-notebook/lab-extension,
# a JupyterLab-only menu) consumes @jupyterlab/application ^4.6 etc. with no fallback of its own, so next to
# notebook 7.6 the page throws "The getter for the shared module is not a function" (cf. voila-dashboards/voila#1514).
VOILA_SKIP = ("@jupyter-notebook/lab-extension",)
# Voila's lab template less its Font Awesome links to a CDN (explorer/jupyter/voila/templates/explorer): the app's
# page asks nothing of any server but its own. Voila finds templates on JUPYTER_PATH (see environment()).
TEMPLATE = "explorer"
# JupyterLab's settings defaults for `explorer lab` (explorer/jupyter/lab/settings/overrides.json): "fetchNews" off, so
# no "Would you like to get notified about official Jupyter news?" pop-up (JupyterLab asks whenever the setting is
# "none", its default, even with news_url=None), and no update check. A user's own settings still win.
LAB_SETTINGS = "lab/settings"
APP_PORT = 8866  # Voila's usual port: the first free one from here


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
           f"--LabApp.default_url=/lab/tree/{TOUR}", "--LabApp.news_url=None",
           f"--LabApp.app_settings_dir={template_root() / LAB_SETTINGS}"]
    return _server_options(cmd, port, open_browser)


def notebook_command(workdir: Path, port: int | None, open_browser: bool) -> list[str]:
    """The Notebook 7 command line that opens the tour in workdir."""
    cmd = [sys.executable, "-m", "notebook", f"--ServerApp.root_dir={workdir}",
           f"--JupyterNotebookApp.default_url=/notebooks/{TOUR}"]
    return _server_options(cmd, port, open_browser)


def _server_options(cmd: list[str], port: int | None, open_browser: bool) -> list[str]:
    """cmd with the port, browser and root options JupyterLab and Notebook 7 share."""
    if port:
        cmd.append(f"--port={port}")
    if not open_browser:
        cmd.append("--no-browser")
    if _is_root():
        cmd.append("--allow-root")
    return cmd


def app_command(workdir: Path, port: int | None, open_browser: bool, token: bool = True) -> list[str]:
    """The Voila command line that serves the tour as an app (no code cells), on this machine only (127.0.0.1),
    from the offline template; with token, a page needs the token (JUPYTER_TOKEN in environment(token)), which
    stays off the command line, where any local user could read it."""
    cmd = [sys.executable, "-m", "voila", str(workdir / TOUR), "--strip_sources=True", f"--template={TEMPLATE}",
           "--Voila.ip=127.0.0.1", *(f"--VoilaConfiguration.extension_denylist={name}" for name in VOILA_SKIP)]
    if token:
        cmd.append("--token")  # Voila's flag: a token required, JUPYTER_TOKEN's (without it Voila asks none)
    if port:
        cmd += [f"--port={port}", "--Voila.port_retries=0"]  # this port or a clear error: the URL printed is right
    if not open_browser:
        cmd.append("--no-browser")
    return cmd


def template_root() -> Path:
    """The folder holding voila/templates/explorer (to put on JUPYTER_PATH) and lab/settings."""
    return Path(__file__).resolve().parent / "jupyter"


def environment(token: str | None = None, data_dir: Path | None = None) -> dict[str, str]:
    """The environment for the server: BokehJS from a small extension written from the installed bokeh into the
    user's Jupyter data folder (or data_dir, then put on JUPYTER_PATH), loaded once by each page, offline, and not
    saved in any notebook (panels.bokehjs); the app's template on JUPYTER_PATH; the app's token, if any, in
    JUPYTER_TOKEN; OpenMP threads that sleep when idle."""
    from .panels.bokehjs import install

    install(data_dir)
    env = dict(os.environ)
    env.setdefault("BOKEH_RESOURCES", "inline")
    extra = [str(template_root())] + ([str(data_dir)] if data_dir is not None else [])
    env["JUPYTER_PATH"] = os.pathsep.join(p for p in (*extra, env.get("JUPYTER_PATH")) if p)
    if token:
        env["JUPYTER_TOKEN"] = token
    # The kernels' OpenMP threads sleep when idle instead of spinning: on a shared or busy 2-core laptop, spinning
    # torch threads made the tour's 15-epoch training 10-20x slower (1.5 s quiet; 26-168 s at load 5-12, against
    # 3.6 s passive). See benchmarks/README.md, "Notebooks".
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return env


def free_port(start: int = APP_PORT, tries: int = 50) -> int:
    """The first port from `start` that nothing on 127.0.0.1 listens on."""
    for port in range(start, start + tries):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise OSError(f"no free port in {start}-{start + tries - 1}: pass --port")


def open_when_ready(url: str, port: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    """Open url in a browser once the server listens (the token in it logs the browser in)."""
    import webbrowser

    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            time.sleep(0.3)
            continue
        webbrowser.open(url)
        return


def parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = argparse.ArgumentParser(
        prog="explorer",
        description="Look inside neural networks, live: saliency maps, neural codes and loss landscapes in "
                    "JupyterLab. Works offline on an embedded default (scikit-learn's digits and a small CNN "
                    "trained on the spot).",
        epilog="examples:\n  explorer lab              open the tour notebook in JupyterLab\n"
               "  explorer notebook         open the tour notebook in Notebook 7\n"
               "  explorer app --port 8866  serve the tour as a Voila app\n"
               "The notebooks are copied into --dir (default ./explorer-notebooks); your edits there are kept.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", metavar="{lab,notebook,app}")
    for name, text in (("lab", "open the tour in JupyterLab"), ("notebook", "open the tour in Notebook 7"),
                       ("app", "serve the tour as a Voila app")):
        s = sub.add_parser(name, help=text, description=text)
        s.add_argument("--dir", default="explorer-notebooks", type=Path,
                       help="working folder for the notebooks (default: ./explorer-notebooks)")
        s.add_argument("--port", type=int, default=None, help="port to serve on (default: the server's own)")
        s.add_argument("--no-browser", action="store_true", help="do not open a web browser")
        s.add_argument("--dry-run", action="store_true", help="print the server command instead of running it")
        if name == "app":
            s.add_argument("--no-token", action="store_true",
                           help="serve without a token: any local user could then drive the app (default: a new "
                                "token each start, printed with the URL)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `explorer` console command."""
    args = parser().parse_args(argv)
    if args.command is None:
        parser().print_help()
        return 0
    workdir = args.dir.expanduser().resolve()
    copied = copy_notebooks(workdir)
    if args.command in ("lab", "notebook"):
        build = lab_command if args.command == "lab" else notebook_command
        cmd = build(workdir, args.port, not args.no_browser)
        if args.dry_run:
            print(" ".join(cmd))
            return 0
        print(f"explorer: notebooks in {workdir}" + (f" ({len(copied)} copied)" if copied else ""), flush=True)
        try:
            return subprocess.call(cmd, env=environment(), cwd=workdir)
        except KeyboardInterrupt:
            return 0
    return serve_app(workdir, args, copied)


def serve_app(workdir: Path, args, copied) -> int:
    """`explorer app`: Voila on 127.0.0.1; a fresh token printed with the URL (and in the browser it opens)."""
    token = None if args.no_token else secrets.token_urlsafe(24)
    port = args.port or free_port()
    cmd = app_command(workdir, port, open_browser=token is None and not args.no_browser, token=token is not None)
    if args.dry_run:
        print(" ".join(cmd))
        return 0
    url = f"http://127.0.0.1:{port}/" + (f"?token={token}" if token else "")
    print(f"explorer: notebooks in {workdir}" + (f" ({len(copied)} copied)" if copied else "")
          + f"\nexplorer: the app will be at {url}", flush=True)
    proc = subprocess.Popen(cmd, env=environment(token), cwd=workdir)
    try:
        if token and not args.no_browser:
            open_when_ready(url, port, proc)
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait(10)
        return 0


if __name__ == "__main__":
    sys.exit(main())
