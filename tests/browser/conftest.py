"""Browser harness: a real JupyterLab server and Debian's Chromium driven by Playwright (headless)."""
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("EXPLORER_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
TOKEN = "explorer-test"
ARTIFACTS = Path(os.environ.get("EXPLORER_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))


def _need_browser():
    """Skip without Chromium or Playwright on a developer machine; in CI their absence is a failure."""
    missing = [] if Path(CHROMIUM).exists() else [f"Chromium at {CHROMIUM} (apt-get install chromium)"]
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("playwright (pip install playwright)")
    if missing:
        msg = "browser tests need " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, proc: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if url.startswith("tcp:"):  # only the port: a GET on Voila's page would start a kernel
                socket.create_connection(("127.0.0.1", int(url[4:])), timeout=2).close()
                return
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer in {timeout} s:\n{log.read_text()[-3000:]}")


# each Jupyter server's log by its URL: a test fails if the server dropped messages to its page meanwhile
LOGS: dict[str, Path] = {}
DROPPED = "IOPub message rate exceeded", "IOPub data rate exceeded"


def _env(tmp: Path) -> dict:
    # JupyterLab 4 asks about its news feed in a toast unless the notification plugin is told not to fetch news
    settings = tmp / "config" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false", "checkForUpdates": false}')
    from explorer.cli import environment

    # the app's: its Voila template and BokehJS's extension (written below tmp) on JUPYTER_PATH, TOKEN as the token
    # `explorer app` requires (JUPYTER_TOKEN)
    env = dict(environment(TOKEN, data_dir=tmp / "data"), BOKEH_RESOURCES="inline",
               JUPYTER_CONFIG_DIR=str(tmp / "config"), JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
               JUPYTER_PLATFORM_DIRS="1", EXPLORER_DEVICE="cpu")
    return env


@pytest.fixture(scope="session")
def notebook_dir(tmp_path_factory):
    """A fresh working folder with the bundled notebooks, as `explorer lab` makes it."""
    from explorer.cli import copy_notebooks

    root = tmp_path_factory.mktemp("notebooks")
    copy_notebooks(root)
    return root


def _serve(cmd: list[str], tmp: Path, url: str, cwd: Path):
    log = tmp / "server.log"
    fh = open(log, "w")
    proc = subprocess.Popen(cmd, cwd=cwd, env=_env(tmp), stdout=fh, stderr=subprocess.STDOUT)
    try:
        _wait(url, proc, log)
    except Exception:
        proc.kill()
        raise
    return proc, fh


def _stop(proc: subprocess.Popen, fh) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    fh.close()


def _jupyter(module: str, notebook_dir: Path, tmp: Path, extra: list[str]):
    """`python -m <module>` (jupyterlab or notebook: both are Jupyter server apps) on a free port; yields its URL."""
    port = _free_port()
    cmd = [sys.executable, "-m", module, "--no-browser", f"--port={port}", "--ip=127.0.0.1",
           f"--ServerApp.token={TOKEN}", f"--ServerApp.root_dir={notebook_dir}", *extra]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    base = f"http://127.0.0.1:{port}"
    proc, fh = _serve(cmd, tmp, f"{base}/api/status?token={TOKEN}", notebook_dir)
    LOGS[base] = tmp / "server.log"
    yield base
    _stop(proc, fh)


@pytest.fixture(scope="session")
def lab_server(notebook_dir, tmp_path_factory):
    """A JupyterLab server (token auth, fresh config and workspaces, news off) on a free port; yields its URL."""
    _need_browser()
    yield from _jupyter("jupyterlab", notebook_dir, tmp_path_factory.mktemp("lab"),
                        ["--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"])


@pytest.fixture(scope="session")
def notebook7_server(notebook_dir, tmp_path_factory):
    """A Notebook 7 server (the classic-style interface: /tree, /notebooks/<file>), set up as lab_server; its URL."""
    _need_browser()
    try:
        import notebook  # noqa: F401
    except ImportError:  # in the test extras (Voila beside it is kept off its lab extension: cli.VOILA_SKIP)
        if os.environ.get("CI"):
            pytest.fail("the Notebook 7 test needs notebook (pip install 'notebook>=7')")
        pytest.skip("the Notebook 7 test needs notebook (pip install 'notebook>=7')")
    yield from _jupyter("notebook", notebook_dir, tmp_path_factory.mktemp("notebook7"), [])


@pytest.fixture(scope="session")
def voila_server(notebook_dir, tmp_path_factory):
    """`explorer app`'s Voila command on a free port (its pages need ?token=TOKEN); yields its URL."""
    _need_browser()
    from explorer.cli import app_command

    tmp = tmp_path_factory.mktemp("voila")
    port = _free_port()
    cmd = app_command(notebook_dir, port, open_browser=False)  # it binds 127.0.0.1 itself (a second --Voila.ip fails)
    base = f"http://127.0.0.1:{port}"
    proc, fh = _serve(cmd, tmp, f"tcp:{port}", notebook_dir)
    yield base
    _stop(proc, fh)


@pytest.fixture(scope="session")
def chromium():
    """Headless Debian Chromium through Playwright (no browser download)."""
    _need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield browser
        browser.close()


# Requests that may fail offline: none (`explorer app`'s Voila template has no CDN links: cli.TEMPLATE).
ALLOWED_OFFLINE = ()


class Console:
    """Collects the page's console errors, uncaught exceptions and failed requests (minus ALLOWED_OFFLINE)."""

    def __init__(self, page):
        self.messages: list[str] = []
        self.failed: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.messages.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: self.messages.append(f"pageerror: {e}"))
        page.on("requestfailed", lambda r: self.failed.append(r.url))

    @property
    def errors(self) -> list[str]:
        """Errors, less the console lines of the allowed offline request failures."""
        allowed = [u for u in self.failed if any(a in u for a in ALLOWED_OFFLINE)]
        out = [f"request failed: {u}" for u in self.failed if u not in allowed]
        n_skip = len(allowed)
        for m in self.messages:
            if n_skip and "Failed to load resource" in m:
                n_skip -= 1
                continue
            out.append(m)
        return out


def stop_kernels(base: str) -> None:
    """Shut down every kernel session of the server at base (a test's trained tour would otherwise keep its
    memory and threads while the next tests run)."""
    import json

    def call(method: str, path: str = ""):
        req = urllib.request.Request(f"{base}/api/sessions{path}?token={TOKEN}", method=method)
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"null")

    for s in call("GET"):
        call("DELETE", f"/{s['id']}")


@pytest.fixture
def lab_page(chromium, request):
    """A fresh browser page with a console-error collector (page.console); a screenshot is kept afterwards, and the
    kernels the test started on its Jupyter server are shut down."""
    servers = [request.getfixturevalue(s) for s in ("lab_server", "notebook7_server") if s in request.fixturenames]
    start = {b: LOGS[b].stat().st_size for b in servers if b in LOGS}
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.console = Console(pg)
    yield pg
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    finally:
        context.close()
        for base in servers:
            stop_kernels(base)
    # the server drops IOPub messages over its rates (1,000 a second, 1 MB a second) without a word to the page,
    # which then shows a state the kernel has left: what the screen shows is wrong, so the test is
    for base, offset in start.items():
        with open(LOGS[base], errors="replace") as f:
            f.seek(offset)
            dropped = [line.strip() for line in f if any(d in line for d in DROPPED)]
        if dropped:
            pytest.fail(f"the Jupyter server dropped messages to the page during this test: {dropped}")


def fresh(folder: Path, notebook: str) -> str:
    """The name of a new copy of a bundled notebook in folder. Each test opens its own copy: JupyterLab autosaves a
    notebook that ran (its outputs name widget models of that kernel) and reopening the same path joins the same
    kernel, so a later test on the same file started amid the earlier tour's saved views and models; the labs'
    tabs it clicked could stay blank ("widget model not found")."""
    name = f"{Path(notebook).stem}-{uuid.uuid4().hex[:6]}.ipynb"
    shutil.copyfile(folder / notebook, folder / name)
    return name


def lab_url(base: str, notebook: str) -> str:
    """A notebook URL in a fresh, unique JupyterLab workspace (no restored tabs)."""
    return f"{base}/lab/workspaces/t{uuid.uuid4().hex[:8]}/tree/{notebook}?token={TOKEN}&reset"


def notebook7_url(base: str, notebook: str) -> str:
    """A notebook's page in Notebook 7 (one document per browser tab, no workspace to restore)."""
    return f"{base}/notebooks/{notebook}?token={TOKEN}"


__all__ = ["lab_url", "notebook7_url", "fresh", "stop_kernels", "TOKEN", "ARTIFACTS"]
