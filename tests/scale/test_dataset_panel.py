"""The whole-dataset panel: runs the job through the session's executor, resumes, shows a refused folder."""
import os

import pytest

if os.environ.get("CI") != "true":  # CI installs the test extras: there a missing pyarrow fails
    pytest.importorskip("pyarrow")


def test_panel_runs_resumes_and_refuses(trained_session, tmp_path, unchanged):
    from explorer.dataset import load
    from explorer.panels.dataset import WholeDatasetView

    view = WholeDatasetView(trained_session)
    view.folder.value = str(tmp_path / "s")
    view.size.value = 150
    with unchanged(trained_session.model):
        view.compute()
    assert view.error.value == "", view.error.value
    table, arrays = load(tmp_path / "s")
    assert len(table) == 450 and arrays["maps"].shape == (450, 8, 8)
    assert "450 rows" in view.summary.value and "3 partitions computed, 0 already there" in view.summary.value
    view.compute()  # the same job again: read back, nothing computed
    assert "0 partitions computed, 3 already there" in view.summary.value
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "mine.txt").write_text("")
    view.folder.value, view.kind.value = str(tmp_path / "other"), "activation codes"
    view.compute()
    assert "holds 1 other files (mine.txt)" in view.error.value and not view.run.disabled
