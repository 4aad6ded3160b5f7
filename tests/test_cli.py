"""The launcher: help, notebook copies that keep the user's edits, server command lines for root and offline."""
import subprocess
import sys
from pathlib import Path

import pytest

from explorer import cli


@pytest.fixture(autouse=True)
def _data_dir(tmp_path, monkeypatch):
    """environment() writes BokehJS's extension into the user's Jupyter data folder: here a temporary one."""
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter-data"))


def test_help_explains_the_commands(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "explorer lab" in out and "explorer notebook" in out and "explorer app" in out and "offline" in out


def test_no_command_prints_help(capsys):
    assert cli.main([]) == 0
    assert "usage: explorer" in capsys.readouterr().out


def test_notebooks_are_copied_once_and_edits_kept(tmp_path):
    first = cli.copy_notebooks(tmp_path)
    assert [p.name for p in first] == [cli.TOUR] or cli.TOUR in [p.name for p in first]
    (tmp_path / cli.TOUR).write_text("my edits")
    assert cli.copy_notebooks(tmp_path) == []
    assert (tmp_path / cli.TOUR).read_text() == "my edits"


def test_lab_command(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "_is_root", lambda: True)
    cmd = cli.lab_command(tmp_path, 9999, open_browser=False)
    assert cmd[:3] == [sys.executable, "-m", "jupyterlab"]
    assert f"--ServerApp.root_dir={tmp_path}" in cmd and "--allow-root" in cmd and "--no-browser" in cmd
    assert f"--LabApp.default_url=/lab/tree/{cli.TOUR}" in cmd and "--port=9999" in cmd
    monkeypatch.setattr(cli, "_is_root", lambda: False)
    assert "--allow-root" not in cli.lab_command(tmp_path, None, True)


def test_lab_command_turns_the_news_question_off(tmp_path):
    """JupyterLab parses the command into a settings folder whose overrides set "fetchNews" to one of the schema's
    'no' values: the "Would you like to get notified about official Jupyter news?" pop-up is never asked."""
    import json

    from jupyterlab.labapp import LabApp

    app = LabApp()
    app.parse_command_line(cli.lab_command(tmp_path, None, open_browser=False)[3:])
    overrides = json.loads((Path(app.app_settings_dir) / "overrides.json").read_text())
    notification = overrides["@jupyterlab/apputils-extension:notification"]
    schema = json.loads((Path(app.schemas_dir) / "@jupyterlab" / "apputils-extension" / "notification.json")
                        .read_text())["properties"]
    assert notification["fetchNews"] == "false" and {"const": "false", "title": "Never"} in schema["fetchNews"]["oneOf"]
    assert notification["checkForUpdates"] is False and set(notification) <= set(schema)


def test_notebook_command_opens_the_tour_in_notebook7(tmp_path, monkeypatch):
    """Notebook 7 parses the command into the tour as its first page, in the working folder."""
    from notebook.app import JupyterNotebookApp

    monkeypatch.setattr(cli, "_is_root", lambda: False)
    cmd = cli.notebook_command(tmp_path, 9999, open_browser=False)
    assert cmd[:3] == [sys.executable, "-m", "notebook"] and "--port=9999" in cmd and "--no-browser" in cmd
    app = JupyterNotebookApp()
    app.parse_command_line(cmd[3:])
    assert app.default_url == f"/notebooks/{cli.TOUR}"
    assert app.config.ServerApp.root_dir == str(tmp_path)


def test_notebook_is_a_dependency_of_the_first_command():
    """`pip install -e .` (the README's first command) brings Notebook 7: `notebook` is in the main dependencies."""
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
    assert any(d.replace(" ", "").startswith("notebook>=7") for d in project["dependencies"])


def test_app_command_and_offline_environment(tmp_path, monkeypatch):
    cmd = cli.app_command(tmp_path, None, open_browser=True)
    assert cmd[:3] == [sys.executable, "-m", "voila"] and cmd[3] == str(tmp_path / cli.TOUR)
    monkeypatch.delenv("BOKEH_RESOURCES", raising=False)
    assert cli.environment()["BOKEH_RESOURCES"] == "inline"


def test_app_command_keeps_notebook7s_extension_out_of_voila(tmp_path):
    """Voila parses the command into a denylist holding Notebook 7's lab extension (its page breaks otherwise)."""
    from voila.app import Voila
    from voila.configuration import VoilaConfiguration

    app = Voila()
    app.parse_command_line(cli.app_command(tmp_path, 8866, open_browser=False)[3:])
    voila = VoilaConfiguration(config=app.config)
    assert voila.extension_denylist == ["@jupyter-notebook/lab-extension"] and voila.strip_sources


def test_repository_voila_json_skips_the_same_extensions():
    """voila.json (read by Voila from its working folder: Binder's /voila/render, `voila` in a checkout) = the CLI's."""
    import json

    config = json.loads((Path(__file__).resolve().parents[1] / "voila.json").read_text())
    assert config["VoilaConfiguration"]["extension_denylist"] == list(cli.VOILA_SKIP)


def test_console_script_dry_run(tmp_path):
    exe = Path(sys.executable).with_name("explorer")
    if not exe.exists():
        pytest.skip("the explorer console script is not installed in this environment")
    out = subprocess.run([str(exe), "app", "--dry-run", "--dir", str(tmp_path / "w")], capture_output=True,
                         text=True, check=True).stdout
    assert "-m voila" in out and (tmp_path / "w" / cli.TOUR).exists()


def test_app_is_local_and_asks_a_token_by_default(tmp_path):
    """Voila parses the app's command into: 127.0.0.1 only, a token required (its value not on the command line,
    where other local users could read it), the offline template; --no-token drops only the token."""
    from voila.app import Voila

    cmd = cli.app_command(tmp_path, 8866, open_browser=False)
    app = Voila()
    app.parse_command_line(cmd[3:])
    assert app.ip == "127.0.0.1" and app.auto_token and app.token is None and app.port_retries == 0
    assert app.config.VoilaConfiguration.template == cli.TEMPLATE
    off = Voila()
    off.parse_command_line(cli.app_command(tmp_path, None, open_browser=False, token=False)[3:])
    assert off.ip == "127.0.0.1" and not off.auto_token and off.token is None


def test_app_token_is_printed_with_the_url_and_passed_in_the_environment(tmp_path, monkeypatch, capsys):
    runs = []

    class Server:
        def __init__(self, cmd, env, cwd):
            runs.append((cmd, env))

        def wait(self, timeout=None):
            return 0

    monkeypatch.setattr(cli.subprocess, "Popen", Server)
    assert cli.main(["app", "--dir", str(tmp_path), "--port", "8899", "--no-browser"]) == 0
    (cmd, env), = runs
    token = env["JUPYTER_TOKEN"]
    assert len(token) >= 24 and token not in " ".join(cmd) and "--token" in cmd
    assert f"http://127.0.0.1:8899/?token={token}" in capsys.readouterr().out
    assert cli.main(["app", "--dir", str(tmp_path), "--port", "8899", "--no-browser"]) == 0
    assert runs[1][1]["JUPYTER_TOKEN"] != token  # a new token each start
    monkeypatch.delenv("JUPYTER_TOKEN", raising=False)
    assert cli.main(["app", "--dir", str(tmp_path), "--port", "8899", "--no-browser", "--no-token"]) == 0
    assert "--token" not in runs[2][0] and "JUPYTER_TOKEN" not in runs[2][1]
    assert "http://127.0.0.1:8899/\n" in capsys.readouterr().out


def test_app_template_is_found_and_shipped(monkeypatch):
    """Voila finds the offline template through environment()'s JUPYTER_PATH, based on its lab template, and the
    package data ships it."""
    from voila.paths import collect_template_paths

    monkeypatch.setenv("JUPYTER_PATH", cli.environment()["JUPYTER_PATH"])
    paths = collect_template_paths(["voila", "nbconvert"], cli.TEMPLATE, prune=True)
    assert paths[0] == str(cli.template_root() / "voila" / "templates" / cli.TEMPLATE)
    assert any(p.endswith("voila/templates/lab") for p in paths)
    assert "{%- extends 'lab/index.html.j2' -%}" in (Path(paths[0]) / "index.html.j2").read_text()
    tomllib = pytest.importorskip("tomllib")
    data = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert "jupyter/voila/templates/explorer/*" in data["tool"]["setuptools"]["package-data"]["explorer"]


def test_kernels_get_openmp_threads_that_sleep(monkeypatch):
    """The servers' kernels inherit OMP_WAIT_POLICY=PASSIVE (spinning threads on a busy 2-core machine made the
    tour's training 10-20x slower); a user's own choice stays."""
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert cli.environment()["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert cli.environment()["OMP_WAIT_POLICY"] == "ACTIVE"
