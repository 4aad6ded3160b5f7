"""The launcher: help, notebook copies that keep the user's edits, server command lines for root and offline."""
import subprocess
import sys
from pathlib import Path

import pytest

from explorer import cli


def test_help_explains_the_commands(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "explorer lab" in out and "explorer app" in out and "offline" in out


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
