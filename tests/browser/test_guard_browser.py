"""An image folder whose class folder is named with a script runs nothing, in the Voila app and in JupyterLab; the
app refuses a page without its token and loads nothing from outside this machine (issue 22.5 and "Also")."""
import pytest

from .conftest import ARTIFACTS, TOKEN, _free_port, _serve, _stop, lab_url
from .test_tour_browser import NOTEBOOK, run_all

pytestmark = pytest.mark.browser

PAYLOAD = '<img src=x onerror="window.__pwned=1">'  # a folder name may hold anything but '/'
CELLS = [f"""import pathlib
import tempfile

import numpy as np
from PIL import Image

root = pathlib.Path(tempfile.mkdtemp()) / "shapes"
for k, name in enumerate([{PAYLOAD!r}, "plain"]):
    (root / name).mkdir(parents=True)
    rng = np.random.default_rng(k)
    for i in range(12):
        Image.fromarray((rng.random((16, 16, 3)) * 80 + 170 * k).astype(np.uint8)).save(root / name / f"{{i}}.png")""",
         "from explorer import Session, image_folder\n\n"
         "data = image_folder(root, size=16, test_fraction=0.25, seed=0)\n"
         "session = Session.open(data, 'cnn', seed=0)\nsession.train(epochs=1, batch_size=8, seed=0)",
         "from explorer.app import Tour\n\ntour = Tour()\ntour.use(session)\ntour"]
LOCAL = ("http://127.0.0.1:", "ws://127.0.0.1:", "data:", "blob:")


def write_notebook(path):
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def payload_app(tmp_path_factory):
    """`explorer app`'s command (token on, the offline template) serving the payload notebook; its URL."""
    from explorer.cli import TOUR, app_command

    folder = tmp_path_factory.mktemp("payload-app")
    write_notebook(folder / TOUR)
    port = _free_port()
    proc, fh = _serve(app_command(folder, port, open_browser=False), folder, f"tcp:{port}", folder)
    yield f"http://127.0.0.1:{port}"
    _stop(proc, fh)


def shows_names_inertly(page, root: str = "") -> None:
    """The Gallery, Saliency and Geometry tabs (its linear map computed) show the class name as text; its script
    never ran."""
    from .test_labs_browser import open_tab

    gallery = page.locator(f"{root} .explorer-gallery")
    gallery.locator("img").first.wait_for(timeout=120_000)
    shown = gallery.text_content()
    open_tab(page, "Saliency", root or "body")
    saliency = page.locator(f"{root} .explorer-saliency", has_text="explaining class")
    saliency.wait_for(timeout=60_000)
    shown += saliency.text_content()
    open_tab(page, "Geometry", root or "body")  # the linear map's note names the true class
    geometry = page.locator(f"{root} .explorer-geometry")
    geometry.locator("button", has_text="compute map").click()
    note = geometry.locator(".widget-html", has_text="true class")
    note.wait_for(timeout=60_000)
    shown += note.text_content()
    page.wait_for_timeout(1000)  # an injected <img onerror> fires as soon as its src fails: within this
    assert page.evaluate("() => window.__pwned") is None, "a class name ran a script"
    assert PAYLOAD in shown  # the name itself, as text


def test_script_names_run_nothing_and_the_app_is_local_and_guarded(payload_app, lab_server, notebook_dir,
                                                                      chromium):
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    try:
        # the app without its token: refused (Voila's login page), no kernel, no tour
        page.goto(f"{payload_app}/", wait_until="domcontentloaded", timeout=60_000)
        assert "/login" in page.url and not page.locator(".explorer-tour").count()
        # with it: the app runs, the folder name is shown as text
        page.goto(f"{payload_app}/?token={TOKEN}", wait_until="commit", timeout=120_000)
        shows_names_inertly(page)
        outside = sorted({u for u in requests if not u.startswith(LOCAL)})
        assert not outside, f"the app's page asked other servers: {outside}"
        # the same notebook in JupyterLab
        write_notebook(notebook_dir / "payload.ipynb")
        page.goto(lab_url(lab_server, "payload.ipynb"))
        run_all(page)
        shows_names_inertly(page, NOTEBOOK)
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "test_script_names_run_nothing.png"), full_page=True)
        context.close()


def test_the_payload_notebook_is_valid_python():
    """The cells the browser runs compile (a typo there would read as a browser failure)."""
    for cell in CELLS:
        compile(cell, "<cell>", "exec")
