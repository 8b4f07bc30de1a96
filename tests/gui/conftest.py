"""GUI test fixtures: settings and workspace in a temporary folder, a real MainWindow."""

from __future__ import annotations

import gc
import time

import pytest
from PySide6.QtCore import QSettings

from engine import preset as presets


@pytest.fixture(autouse=True, scope="session")
def gui_thread_garbage_collection(qapp):
    """The application's GC policy, as ``workbench.app`` installs it at start."""
    from workbench.bridge.gc_policy import collect_garbage_on_gui_thread

    collect_garbage_on_gui_thread()


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path):
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "qs"))
    yield


@pytest.fixture
def window(qtbot, tmp_path):
    from workbench.main_window import MainWindow

    w = MainWindow()
    w.settings.set("workspace", str(tmp_path / "runs"))
    w.refresh_runs()
    w.confirm_stop_on_close = lambda: True
    w.editor.ask_unsaved = lambda: "discard"
    w.show()
    yield w
    if w.session.is_active():
        w.session.stop()
        w.session.wait(10)
    qtbot.waitUntil(w.jobs.idle, timeout=60_000)  # no worker thread outlives the test
    w.close()
    w.deleteLater()
    qtbot.wait(20)
    gc.collect()  # on the GUI thread, while the QApplication lives


def wait_jobs(qtbot, w, timeout=60_000):
    """Let background jobs (data inspection, summaries, exports) finish and deliver, and the
    jobs their results start too."""
    qtbot.waitUntil(w.jobs.settled, timeout=timeout)


def digits_preset(tmp_path, **changes):
    """The shipped digits preset with changes, saved to a file the window can open."""
    preset = presets.load(presets.default_preset_path()).with_changes(changes)
    path = tmp_path / f"digits-{time.monotonic_ns()}.toml"
    presets.save(preset, path)
    return path
