"""The run list, the doctor panel, the error browser and the status bar, each on its own."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from engine.events import RunSummary
from tests.gui.widgets.builders import run_directory
from workbench.panels.doctor_panel import DoctorPanel
from workbench.panels.error_browser import ErrorBrowser
from workbench.panels.run_list import RunList
from workbench.status_bar import RunStatusBar, Stopwatch, clock


def test_run_list_shows_each_run_and_compares_checked_presets(qtbot, tmp_path):
    listing = RunList()
    qtbot.addWidget(listing)
    first = run_directory(tmp_path, "digits-20261126-101500", "stopped", epochs=1)
    second = run_directory(tmp_path, "digits-20261126-111500", "finished", epochs=2)
    listing.refresh(tmp_path)
    rows = {r.name: r for r in listing.runs()}
    assert rows[first.name].status == "stopped" and rows[second.name].status == "finished"
    assert rows[second.name].best_val_acc == "0.9667"
    assert listing.tree.textElideMode() == Qt.TextElideMode.ElideMiddle
    listing.update_run(str(first), "running", 0.5)
    assert {r.name: r for r in listing.runs()}[first.name].best_val_acc == "0.5000"
    assert not listing.can_resume(str(first))  # no checkpoint yet
    (first / "checkpoints" / "last.pt").write_bytes(b"x")
    assert listing.can_resume(str(first))
    listing.set_checked(str(first), True)
    with qtbot.waitSignal(listing.runs_checked) as checked:
        listing.set_checked(str(second), True)
    assert sorted(checked.args[0]) == sorted([str(first), str(second)])
    assert listing.diff.text() == "The checked runs have identical presets."  # names aside
    with qtbot.waitSignal(listing.run_selected) as selected:
        listing.select(str(second))
    assert selected.args == [str(second)]
    # the selected run is overlaid with the checked ones: it is compared with them too
    from engine.runs import RunFiles

    rerun = run_directory(tmp_path, "digits-20261126-121500", "finished", epochs=2)
    files = RunFiles(rerun)
    files.write_preset(files.read_preset().with_changes({"train.schedule.name": "cosine"}))
    listing.refresh(tmp_path)
    listing.set_checked(str(second), False)
    listing.select(str(rerun))
    assert listing.diff.text().startswith("Preset differences (the selected run first):")
    assert 'train.schedule.name: "cosine" | ' in listing.diff.text()


def test_a_run_that_starts_goes_on_top_and_one_that_ends_is_updated_in_place(qtbot, tmp_path):
    from engine.runs import RunFiles

    listing = RunList()
    qtbot.addWidget(listing)
    old = run_directory(tmp_path, "digits-20261126-101500", "finished", epochs=1)
    listing.refresh(tmp_path)
    listing.set_checked(str(old), True)
    new = run_directory(tmp_path, "digits-20261126-111500", "running", epochs=0)
    listing.put_run(str(new))
    assert [(r.name, r.status) for r in listing.runs()] == [
        (new.name, "running"),
        (old.name, "finished"),
    ]
    RunFiles(new).write_summary(
        RunSummary("finished", new.name, str(new), epochs_completed=2, best_val_acc=0.75)
    )
    listing.put_run(str(new))
    assert [(r.name, r.status, r.best_val_acc) for r in listing.runs()] == [
        (new.name, "finished", "0.7500"),
        (old.name, "finished", "0.9667"),
    ]
    assert listing.checked_runs() == [str(old)]  # what was checked stays checked


def test_a_first_run_in_an_empty_list_shows_its_status_and_date_whole(qtbot, tmp_path):
    """The columns were fitted only when the whole list was read: a first run in a new
    workspace showed "fi…ed" and "2…5" in columns as wide as an empty list's headers."""
    listing = RunList()
    qtbot.addWidget(listing)
    listing.resize(330, 300)
    listing.show()
    listing.refresh(tmp_path)  # a new workspace: no runs
    run = run_directory(tmp_path, "digits-20261126-111500", "running", epochs=0)
    listing.put_run(str(run))
    listing.update_run(str(run), "finished", 0.75)
    fits = listing.tree.fontMetrics().horizontalAdvance
    for col, text in ((1, listing.runs()[0].date), (2, "finished"), (3, "0.7500")):
        assert listing.tree.columnWidth(col) > fits(text), (col, text)


FINDINGS = [
    {
        "id": "lr-too-low",
        "severity": "warning",
        "title": "The learning rate is too low",
        "evidence": "the loss fell 3 %",
        "fix": {"set": {"train.optimizer.lr": 0.001}},
        "advice": "",
        "epoch": 3,
    },
    {
        "id": "no-signal",
        "severity": "error",
        "title": "The labels cannot be predicted",
        "evidence": "chance",
        "fix": None,
        "advice": "check the labels",
        "epoch": 4,
    },
]


def test_doctor_panel_lists_findings_and_applies_a_fix(qtbot):
    panel = DoctorPanel()
    qtbot.addWidget(panel)
    panel.set_value_source(lambda key: 3e-6)
    panel.show_findings(FINDINGS, "run-1")
    assert panel.findings_shown() == 2 and "2 finding(s) for run-1" in panel.header.text()
    panel.list.setCurrentRow(0)
    assert "train.optimizer.lr: 3e-06 → 0.001" in panel.diff.text()
    assert panel.apply.isEnabled() and panel.rerun.isEnabled()
    with qtbot.waitSignal(panel.apply_requested) as applied:
        panel.rerun.click()
    assert applied.args == [{"train.optimizer.lr": 0.001}, True]
    panel.list.setCurrentRow(1)
    assert not panel.apply.isEnabled() and "check the labels" in panel.diff.text()
    panel.set_can_apply(False)
    panel.list.setCurrentRow(0)
    assert not panel.apply.isEnabled()  # a run is training
    panel.show_findings([], "run-2")
    assert "no findings for run-2" in panel.header.text()


def test_error_browser_shows_images_most_confident_first_and_clears(qtbot):
    browser = ErrorBrowser()
    qtbot.addWidget(browser)
    result = {
        "images": np.zeros((2, 4, 4, 3), np.uint8),
        "true": ["cat", "cat"],
        "pred": ["dog", "dog"],
        "confidence": [0.9, 0.6],
        "epoch": 3,
        "count": 5,
    }
    browser.show_samples(result, "true cat, predicted dog")
    assert browser.grid.count == 2 and browser.confidences == [0.9, 0.6]
    text = browser.title.text()
    assert "5 validation images at epoch 3, the 2 most confident shown" in text
    browser.clear()
    assert browser.grid.count == 0 and browser.title.text().startswith("Click")


def test_status_bar_live_progress_pause_and_a_past_run(qtbot):
    from PySide6.QtWidgets import QMainWindow

    window = QMainWindow()
    qtbot.addWidget(window)
    status = RunStatusBar(window.statusBar())
    status.live_started(10)
    status.live_device("cpu")
    status.batch(1, 3, 20)
    assert status.text("epoch") == "epoch 1/10 · batch 3/20" and status.text("state") == "running"
    status.paused(True)
    assert status.text("state") == "paused"
    status.live_ended("finished", early=True)
    assert status.text("state") == "stopped early"
    summary = RunSummary(
        "stopped", "r", "/r", device="cpu", epochs_planned=8, epochs_completed=3, seconds=75.0
    )
    status.show_summary(summary, 1234.0)
    assert status.text("epoch") == "epoch 3/8" and status.text("elapsed") == "0:01:15"
    assert status.text("speed") == "1,234 samples/s" and status.text("state") == "stopped"
    status.show_summary(None, None)
    assert status.text("epoch") == ""


def test_elapsed_time_and_eta_count_training_not_the_decoding_before_it(qtbot, monkeypatch):
    from PySide6.QtWidgets import QMainWindow

    import workbench.status_bar as status_bar

    clock = [1000.0]
    monkeypatch.setattr(status_bar.time, "monotonic", lambda: clock[0])
    window = QMainWindow()
    qtbot.addWidget(window)
    status = RunStatusBar(window.statusBar())
    status.live_started(10)
    clock[0] += 60  # a minute of decoding photos and computing features
    status.live_device("cpu")
    clock[0] += 2
    status.epoch_done(1, 500.0)
    status.tick()
    assert status.text("eta") == "ETA 0:00:18" and status.text("elapsed") == "0:00:02"


def test_status_bar_says_what_auto_chose_and_that_the_first_epoch_compiles(qtbot):
    from PySide6.QtWidgets import QMainWindow

    from engine.events import Compiling

    window = QMainWindow()
    qtbot.addWidget(window)
    status = RunStatusBar(window.statusBar())
    status.live_started(10)
    speed = {
        "summary": "bf16 · channels-last · compiled (reduce-overhead)",
        "reasons": ["amp auto: bf16, native on this GPU", "compile auto: 4,000 steps pay it"],
    }
    status.live_device("cuda:0 (H200)", 0, speed)
    assert status.text("device") == (
        "device: cuda:0 (H200) · bf16 · channels-last · compiled (reduce-overhead)"
    )
    assert "compile auto: 4,000 steps" in status.labels["device"].toolTip()
    status.compiling(Compiling("compiling", 1, "reduce-overhead", cache_dir="/c/torch-compile"))
    assert status.text("state") == "compiling (first epoch)"
    assert "paid once, cached in /c/torch-compile" in status.labels["state"].toolTip()
    status.compiling(Compiling("compiled", 1, "reduce-overhead", seconds=31.0))
    assert status.text("state") == "running" and "31 s" in status.labels["state"].toolTip()
    status.compiling(Compiling("failed", 1, message="compile failed: no triton; trains eagerly"))
    assert status.text("state") == "running (not compiled)"
    assert "no triton" in status.labels["state"].toolTip()


def test_stopwatch_leaves_out_paused_time(monkeypatch):
    now = [100.0]
    monkeypatch.setattr("workbench.status_bar.time.monotonic", lambda: now[0])
    watch = Stopwatch()
    watch.start()
    now[0] = 110.0
    watch.pause()
    now[0] = 200.0
    assert watch.elapsed() == 10.0
    watch.resume()
    now[0] = 205.0
    assert watch.elapsed() == 15.0 and clock(3725) == "1:02:05"


def test_a_shipped_preset_is_never_suggested_to_be_saved_over():
    from pathlib import Path

    from engine import preset as presets
    from workbench.preset_document import PresetDocument

    class Settings(dict):
        def get(self, key):
            return super().get(key, "")

    document = PresetDocument(Settings({"folders/presets": str(presets.presets_dir())}))
    suggested = Path(document.suggested_path(presets.Preset()))
    assert suggested.parent == Path.home() and suggested.suffix == ".toml"
    document = PresetDocument(Settings({"folders/presets": "/data/mine"}))
    assert document.suggested_path(presets.Preset()).startswith("/data/mine/")
