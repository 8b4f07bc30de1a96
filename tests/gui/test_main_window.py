"""The real MainWindow, driven through its actions, offscreen."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from engine import preset as presets
from engine.runs import RunFiles
from tests.gui.conftest import digits_preset, wait_jobs

RUN_TIMEOUT_MS = 120_000


def _trigger(w, name):
    w.findChild(type(w.actions[name]), name).trigger()


def _enabled(w):
    return {name: a.isEnabled() for name, a in w.actions.items()}


def test_window_has_the_designed_object_names(window):
    from PySide6.QtWidgets import QWidget

    for name in (
        "lossPlot",
        "accuracyPlot",
        "perClassPlot",
        "lrPlot",
        "confusionMatrixView",
        "doctorPanel",
        "runList",
        "datasetForm",
        "modelForm",
        "trainingForm",
    ):
        assert window.findChild(QWidget, name) is not None, name
    for name in (
        "actionStart",
        "actionPause",
        "actionStop",
        "actionOpenPreset",
        "actionSavePreset",
        "actionExport",
        "actionLrFind",
    ):
        assert window.actions[name].objectName() == name
    assert window.objectName() == "MainWindow"
    assert window.current_preset() == presets.load(presets.default_preset_path())
    assert window.windowTitle().startswith("digits")


def test_end_to_end_training_updates_every_view(window, qtbot, tmp_path):
    assert window.load_preset(digits_preset(tmp_path, **{"train.epochs": 3}))
    with qtbot.waitSignal(window.session.finished, timeout=RUN_TIMEOUT_MS) as finished:
        _trigger(window, "actionStart")
    window.run_view.paint()
    summary = finished.args[0]
    assert summary.status == "finished"
    assert window.loss_plot.epoch_points() == 3
    x, _ = window.loss_plot.val.getOriginalDataset()
    assert len(x) == 3
    assert window.accuracy_plot.epoch_points() == 3
    assert window.confusion_view.counts.shape == (10, 10)
    rows = RunFiles(summary.run_dir).read_metrics()
    val_size = sum(rows[-1].per_class.support)
    assert window.confusion_view.counts.sum() == val_size == 359
    assert window.per_class_plot.classes_shown() == 10
    runs = window.run_list.runs()
    assert len(runs) == 1 and runs[0].status == "finished"
    assert float(runs[0].best_val_acc) == pytest.approx(summary.best_val_acc, abs=1e-4)
    assert "epoch 3/3" in window.status_labels["epoch"].text()
    assert "cpu" in window.status_labels["device"].text()
    # the LR plot previewed the schedule from the real torch scheduler and then drew the run
    wait_jobs(qtbot, window)
    assert window.lr_plot.preview_points() == 3 * 23
    assert len(window.lr_plot.actual.getOriginalDataset()[0]) > 0


def test_error_browser_shows_images_behind_a_cell(window, qtbot, tmp_path):
    window.load_preset(digits_preset(tmp_path, **{"train.epochs": 1}))
    with qtbot.waitSignal(window.session.finished, timeout=RUN_TIMEOUT_MS):
        _trigger(window, "actionStart")
    window.run_view.paint()
    counts = window.confusion_view.counts
    window.confusion_view.cell_clicked.emit(3, 3)
    wait_jobs(qtbot, window)
    browser = window.error_browser
    assert browser.grid.count == min(48, counts[3, 3])
    assert browser.confidences == sorted(browser.confidences, reverse=True)
    assert window.center_tabs.currentWidget() is browser


def test_stop_mid_run_gives_stopped(window, qtbot, tmp_path):
    window.load_preset(digits_preset(tmp_path, **{"train.epochs": 200, "train.batch_size": 8}))
    with qtbot.waitSignal(window.session.batches, timeout=RUN_TIMEOUT_MS):
        _trigger(window, "actionStart")
    assert window.session.state == "running"
    with qtbot.waitSignal(window.session.stopped, timeout=RUN_TIMEOUT_MS) as stopped:
        _trigger(window, "actionStop")
    assert stopped.args[0].status == "stopped"
    assert window.run_list.runs()[0].status == "stopped"
    qtbot.waitUntil(lambda: not window.session.thread_alive(), timeout=5000)
    # the plots spanned the 200 planned epochs while it ran; stopped, they fit what it did
    qtbot.waitUntil(lambda: window.loss_plot.plot.getPlotItem().viewRange()[0][1] < 20)


def test_pause_then_resume_continues_the_same_run(window, qtbot, tmp_path):
    window.load_preset(digits_preset(tmp_path, **{"train.epochs": 4, "train.batch_size": 8}))
    with qtbot.waitSignal(window.session.batches, timeout=RUN_TIMEOUT_MS):
        _trigger(window, "actionStart")
    _trigger(window, "actionPause")
    assert window.session.state == "paused" and window.actions["actionPause"].isChecked()
    qtbot.wait(400)  # let a batch in flight land
    steps = len(window.run_view.live.step)
    qtbot.wait(800)
    assert len(window.run_view.live.step) == steps  # nothing trained while paused
    with qtbot.waitSignal(window.session.finished, timeout=RUN_TIMEOUT_MS) as finished:
        _trigger(window, "actionPause")  # resume
    assert finished.args[0].epochs_completed == 4
    assert len(window.run_list.runs()) == 1  # the same run continued


def test_action_table_follows_run_state(window, qtbot, tmp_path):
    idle = _enabled(window)
    assert idle["actionStart"] and idle["actionOpenPreset"] and idle["actionSavePreset"]
    assert not idle["actionPause"] and not idle["actionStop"] and idle["actionLrFind"]
    window.load_preset(digits_preset(tmp_path, **{"train.epochs": 200, "train.batch_size": 8}))
    with qtbot.waitSignal(window.session.batches, timeout=RUN_TIMEOUT_MS):
        _trigger(window, "actionStart")
    running = _enabled(window)
    assert not running["actionStart"] and running["actionPause"] and running["actionStop"]
    assert not running["actionOpenPreset"] and not window.dataset_form.isEnabled()
    _trigger(window, "actionPause")
    paused = _enabled(window)
    assert paused["actionPause"] and paused["actionStop"] and not paused["actionStart"]
    assert window.actions["actionPause"].text() == "&Resume"
    with qtbot.waitSignal(window.session.stopped, timeout=RUN_TIMEOUT_MS):
        _trigger(window, "actionStop")
    after = _enabled(window)
    assert after.pop("actionResumeRun") and not idle.pop("actionResumeRun")  # the stopped run
    assert after == idle and window.dataset_form.isEnabled()


def test_bad_preset_leaves_current_one(window, tmp_path):
    before = window.current_preset()
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nlearning_rate = 0.1\n")
    assert not window.load_preset(bad)
    assert window.current_preset() == before
    assert window.banner.isVisible()
    assert "did you mean 'train.optimizer.lr'" in window.banner.text()
    (tmp_path / "broken.toml").write_text("[train\n")
    assert not window.load_preset(tmp_path / "broken.toml")
    assert "malformed TOML" in window.banner.text() and window.current_preset() == before


def test_save_then_open_round_trips(window, tmp_path):
    lr = window.training_form.widgets["train.optimizer.lr"]
    lr.setText("0.0003")
    lr.textEdited.emit("0.0003")
    assert window.isWindowModified()
    edited = window.current_preset()
    target = tmp_path / "mine.toml"
    assert window.save_preset(target)
    assert not window.isWindowModified()
    window.load_preset(presets.presets_dir() / "article-2-steplr.toml")
    assert window.current_preset() != edited
    window.load_preset(target)
    assert window.current_preset() == edited == presets.load(target)
    assert window.current_preset().train.optimizer.lr == 0.0003
    assert str(target.resolve()) in window.settings.get("recent/presets")
    assert any(a.text() == str(target.resolve()) for a in window.recent_menu.actions())


def test_invalid_field_is_marked_and_blocks_start(window):
    field = window.training_form.widgets["train.optimizer.lr"]
    field.setText("fast")
    field.textEdited.emit("fast")
    assert not window.actions["actionStart"].isEnabled()
    assert "train.optimizer.lr" in window.preset_error.text()
    assert field.styleSheet()
    field.setText("0.01")
    field.textEdited.emit("0.01")
    assert window.actions["actionStart"].isEnabled() and not field.styleSheet()
    warmup = window.training_form.widgets["train.schedule.warmup_epochs"]
    warmup.setValue(100)  # cross-field rule: must be < epochs
    assert not window.actions["actionStart"].isEnabled()
    assert "warmup_epochs" in window.preset_error.text()


@pytest.mark.parametrize("name", sorted(p.stem for p in presets.presets_dir().glob("*.toml")))
def test_each_form_round_trips_its_section(window, name):
    preset = presets.load(presets.presets_dir() / f"{name}.toml")
    window.load_preset(presets.presets_dir() / f"{name}.toml")
    for form in window.forms:
        values = form.values()
        assert values == {k: preset.get(k) for k in form.widgets}
    assert window.current_preset() == preset
    assert not window.isWindowModified()


def test_forms_show_fields_for_the_chosen_kind(window):
    form = window.training_form
    name = form.widgets["train.optimizer.name"]
    momentum = form.widgets["train.optimizer.momentum"]
    name.setCurrentText("adam")
    assert momentum.isHidden()
    name.setCurrentText("sgd")
    assert not momentum.isHidden()
    sched = form.widgets["train.schedule.name"]
    sched.setCurrentText("multistep")
    assert not form.widgets["train.schedule.milestones"].isHidden()
    assert form.widgets["train.schedule.patience"].isHidden()
    source = window.dataset_form.widgets["data.source"]
    source.setCurrentText("synthetic")
    assert not window.dataset_form.widgets["data.synthetic.signal"].isHidden()
    source.setCurrentText("digits")
    assert window.dataset_form.widgets["data.synthetic.signal"].isHidden()
    assert not form.widgets["train.amp"].isEnabled()  # no CUDA device here


def test_close_during_run_stops_it_and_leaves_no_thread(window, qtbot, tmp_path):
    window.load_preset(digits_preset(tmp_path, **{"train.epochs": 200, "train.batch_size": 8}))
    with qtbot.waitSignal(window.session.batches, timeout=RUN_TIMEOUT_MS):
        _trigger(window, "actionStart")
    run_dir = window.session.run_dir
    window.close()
    assert not window.session.thread_alive()
    assert not [t for t in threading.enumerate() if t.name == "plateau-training"]
    assert RunFiles(run_dir).read_summary().status == "stopped"
    assert (Path(run_dir) / "checkpoints" / "last.pt").exists()


def test_data_inspector_and_model_summary_follow_the_forms(window, qtbot):
    window.refresh_inspection()
    wait_jobs(qtbot, window)
    inspector = window.data_inspector
    assert inspector.grid.count == 32
    assert inspector.stats.rowCount() == 1 and inspector.stats.item(0, 4).text() == "16"
    assert "1438 training / 359 validation" in inspector.summary.text()
    # as the network sees them: standardized, so values go below zero
    assert inspector.last["network_range"][0] < 0
    rows = window.model_summary.table.rowCount()
    assert rows > 5 and "94,186 parameters" in window.model_summary.totals.text()
    window.model_form.widgets["model.depth"].setValue(2)
    window._inspect_timer.timeout.emit()
    wait_jobs(qtbot, window)
    assert window.model_summary.table.rowCount() < rows


def test_export_dialog_writes_a_verified_checkpoint(window, qtbot, tmp_path):
    window.load_preset(digits_preset(tmp_path, **{"train.epochs": 1}))
    with qtbot.waitSignal(window.session.finished, timeout=RUN_TIMEOUT_MS):
        _trigger(window, "actionStart")
    _trigger(window, "actionExport")
    dialog = window.commands.export_dialog
    run_dir = window.run_list.selected_run() or dialog.run.currentData()
    assert Path(dialog.dest.text()).parent == Path(run_dir) / "exports"  # as the CLI's default
    dest = tmp_path / "models" / "model.pt"
    dialog.dest.setText(str(dest))
    dialog.export_button.click()
    wait_jobs(qtbot, window)
    assert dest.is_file()
    assert dialog.result.text().startswith("verified")
    assert "top-1 agreement 100%" in dialog.result.text()
    dialog.close()
    _trigger(window, "actionExport")  # the next export starts in the folder this one chose
    assert Path(window.commands.export_dialog.dest.text()).parent == dest.parent
    window.commands.export_dialog.close()


def test_failed_run_shows_banner_and_app_stays_usable(window, qtbot, tmp_path):
    window.load_preset(
        digits_preset(tmp_path, **{"data.source": "mnist", "data.root": str(tmp_path)})
    )
    with qtbot.waitSignal(window.session.failed, timeout=RUN_TIMEOUT_MS):
        _trigger(window, "actionStart")
    assert window.banner.isVisible() and "'data.download' = true" in window.banner.text()
    assert window.session.state == "idle"
    # the data inspection found the same: the key is marked and Start waits for a change
    wait_jobs(qtbot, window)
    assert window.dataset_form.widgets["data.download"].styleSheet()
    assert not window.actions["actionStart"].isEnabled()
    window.load_preset(digits_preset(tmp_path))
    window.refresh_inspection()
    wait_jobs(qtbot, window)
    assert window.actions["actionStart"].isEnabled()


def test_run_list_overlays_and_compares_presets(window, qtbot, tmp_path):
    for lr in (0.003, 0.001):
        window.load_preset(digits_preset(tmp_path, **{"train.epochs": 1, "train.optimizer.lr": lr}))
        with qtbot.waitSignal(window.session.finished, timeout=RUN_TIMEOUT_MS):
            _trigger(window, "actionStart")
    runs = window.run_list.runs()
    assert len(runs) == 2
    for r in runs:
        window.run_list.set_checked(r.path, True)
    assert (
        "train.optimizer.lr: 0.003 | 0.001" in window.run_list.diff.text()
        or "train.optimizer.lr: 0.001 | 0.003" in window.run_list.diff.text()
    )
    assert len(window.loss_plot.overlays) + len(window.accuracy_plot.overlays) >= 2
    window.run_list.select(runs[1].path)
    window.run_view.paint()
    assert window.run_view.shown.run_dir == runs[1].path
    assert window.accuracy_plot.epoch_points() == 1


def test_dropping_a_preset_file_opens_it(window, tmp_path):
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    path = digits_preset(tmp_path, **{"name": "dropped", "train.epochs": 2})
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(
        QPointF(5, 5),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(event)
    assert window.current_preset().name == "dropped"
    assert window.windowTitle().startswith("dropped")


def test_app_main_opens_the_given_preset(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QApplication

    from workbench import app

    shown = {}
    monkeypatch.setattr(QApplication, "exec", lambda self: 0)
    original = app.MainWindow if hasattr(app, "MainWindow") else None
    import workbench.main_window as mw

    class Probe(mw.MainWindow):
        def show(self):
            shown["window"] = self
            super().show()

    monkeypatch.setattr(mw, "MainWindow", Probe)
    path = digits_preset(tmp_path, **{"name": "from-cli"})
    assert app.main([str(path)]) == 0
    w = shown["window"]
    assert w.current_preset().name == "from-cli" and original is None
    qtbot.waitUntil(w.jobs.idle, timeout=60_000)
    w.close()


def test_doctor_panel_applies_a_fix_and_overlays_the_rerun(window, qtbot, tmp_path):
    window.load_preset(digits_preset(tmp_path, **{"train.epochs": 4, "train.optimizer.lr": 3e-6}))
    with qtbot.waitSignal(window.session.finished, timeout=RUN_TIMEOUT_MS) as first:
        _trigger(window, "actionStart")
    old = first.args[0]
    panel = window.doctor_panel
    assert panel.findings_shown() == 1 and panel.findings[0]["id"] == "lr-too-low"
    assert Path(old.run_dir).name in panel.header.text()  # as the run list names it
    markers = window.accuracy_plot.markers
    assert [(m.value(), m.label.format) for m in markers] == [(3, "LR low")]
    panel.list.setCurrentRow(0)
    assert "train.optimizer.lr: 3e-06 → 0.001" in panel.diff.text()
    panel.apply.click()
    assert window.current_preset().train.optimizer.lr == 0.001
    # applied: not offered again as a change; rerunning with it still is
    assert not panel.apply.isEnabled() and "already in the preset" in panel.diff.text()
    assert panel.rerun.isEnabled()
    with qtbot.waitSignal(window.session.finished, timeout=RUN_TIMEOUT_MS) as second:
        panel.rerun.click()
    new = second.args[0]
    assert window.current_preset().train.optimizer.lr == 0.001 and window.isWindowModified()
    assert new.best_val_acc > old.best_val_acc + 0.5
    assert window.run_list.checked_runs() == [old.run_dir]
    assert len(window.accuracy_plot.overlays) == 1  # the old run, dashed, beside the new one

    # the forms now show another preset: a finding of the old run fixes the old run's preset
    assert window.save_preset(tmp_path / "fixed.toml")
    window.load_preset(digits_preset(tmp_path, **{"name": "other", "train.epochs": 2}))
    window.run_list.select(old.run_dir)
    qtbot.waitUntil(lambda: panel.findings_shown() == 1, timeout=10_000)
    panel.list.setCurrentRow(0)
    assert "train.optimizer.lr: 3e-06 → 0.001" in panel.diff.text()
    assert "which the forms do not show" in panel.diff.text()
    panel.apply.click()
    fixed = window.current_preset()
    assert (fixed.name, fixed.train.epochs, fixed.train.optimizer.lr) == ("digits", 4, 0.001)
    assert window.isWindowModified() and window.editor.document.path is None  # a new preset
    assert "which the forms do not show" not in panel.diff.text()


def test_lr_finder_dialog_suggests_and_applies_a_rate(window, qtbot):
    assert window.actions["actionLrFind"].isEnabled()
    _trigger(window, "actionLrFind")
    dialog = window.commands.lr_finder_dialog
    wait_jobs(qtbot, window)
    assert dialog.result is not None and dialog.use.isEnabled()
    suggestion = float(f"{dialog.result['suggestion']:.3g}")
    assert 1e-5 < suggestion < 0.1
    dialog.use.click()
    assert window.current_preset().train.optimizer.lr == suggestion


def test_start_stop_twenty_times_quickly(window, qtbot, tmp_path):
    window.load_preset(digits_preset(tmp_path, **{"train.epochs": 50, "train.batch_size": 8}))
    for i in range(20):
        if i % 2 == 0:  # half the Starts find the child ready, half take one still loading
            window.session.prestart()
            qtbot.waitUntil(window.session.child.is_ready, timeout=RUN_TIMEOUT_MS)
        with qtbot.waitSignal(window.session.state_changed, timeout=RUN_TIMEOUT_MS):
            _trigger(window, "actionStart")
        _trigger(window, "actionStop")
        qtbot.waitUntil(lambda: window.session.state == "idle", timeout=RUN_TIMEOUT_MS)
    qtbot.waitUntil(lambda: not window.session.thread_alive(), timeout=5000)
    assert not [t for t in threading.enumerate() if t.name == "plateau-training"]
    # a Start stopped before its first step (its child still loading torch, or its data and
    # model made ready) ran nothing and leaves no run; every run that began is listed, stopped
    runs = window.run_list.runs()
    statuses = {r.status for r in runs}
    assert len(runs) <= 20 and statuses <= {"stopped", "finished"}
    assert len(runs) == len([d for d in Path(window.workspace()).iterdir() if d.is_dir()])
    assert window.session.state == "idle" and window.actions["actionStart"].isEnabled()


def test_export_dialog_refuses_a_checkpoint_that_would_run_code(window, qtbot, tmp_path):
    import torch

    window.load_preset(digits_preset(tmp_path, **{"train.epochs": 1}))
    with qtbot.waitSignal(window.session.finished, timeout=RUN_TIMEOUT_MS) as done:
        _trigger(window, "actionStart")
    best = Path(done.args[0].run_dir) / "checkpoints" / "best.pt"
    marker = Path("/tmp/plateau-pwned-by-gui")
    marker.unlink(missing_ok=True)

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({"format": "plateau-checkpoint/1", "model": {}, "x": Evil()}, best)
    _trigger(window, "actionExport")
    dialog = window.commands.export_dialog
    dialog.dest.setText(str(tmp_path / "out.pt"))
    dialog.export_button.click()
    wait_jobs(qtbot, window)
    assert "refused to load" in dialog.result.text() and not marker.exists()
    assert not (tmp_path / "out.pt").exists()
    dialog.close()


def test_a_run_on_two_processes_from_the_app(window, qtbot, tmp_path):
    window.load_preset(digits_preset(tmp_path, **{"train.epochs": 2, "train.processes": 2}))
    assert window.training_form.widgets["train.processes"].value() == 2
    with qtbot.waitSignal(window.session.finished, timeout=RUN_TIMEOUT_MS) as done:
        _trigger(window, "actionStart")
    window.run_view.paint()
    assert done.args[0].status == "finished"
    runs = window.run_list.runs()
    assert len(runs) == 1 and runs[0].status == "finished"
    assert window.accuracy_plot.epoch_points() == 2
    assert window.confusion_view.counts.sum() == 359


def test_live_plots_hold_their_axes_while_the_run_grows(window, qtbot, tmp_path):
    """During a run the plots span the planned epochs and the loss axis moves in whole steps, so
    a repaint does not re-lay out the axes; the epoch views still end complete."""
    window.load_preset(digits_preset(tmp_path, **{"train.epochs": 6, "train.batch_size": 16}))
    with qtbot.waitSignal(window.session.batches, timeout=RUN_TIMEOUT_MS):
        _trigger(window, "actionStart")
    _trigger(window, "actionPause")
    qtbot.wait(400)
    window.run_view.paint()
    item = window.loss_plot.plot.getPlotItem()
    (x0, x1), (y0, y1) = item.viewRange()
    assert x0 <= 0 and 6 <= x1 < 6.5  # the whole planned run, before it has happened
    losses = window.run_view.live.loss.view()
    low, high = window.loss_plot.axes.y_range  # rounded out, then padded by 2 %
    assert y0 <= low <= losses.min() and losses.max() <= high <= y1
    assert (high - low) / 1.04 <= y1 - y0 <= (high - low) * 1.06
    epoch_label = window.status_labels["epoch"]
    width = epoch_label.width()
    with qtbot.waitSignal(window.session.finished, timeout=RUN_TIMEOUT_MS):
        _trigger(window, "actionPause")  # resume
    assert epoch_label.width() == width  # the status bar does not jump as numbers change
    assert window.accuracy_plot.epoch_points() == 6  # throttled epoch views end complete
    assert window.per_class_plot.trend_curves[0].getOriginalDataset()[0].tolist() == [
        1,
        2,
        3,
        4,
        5,
        6,
    ]
    title = window.per_class_plot.bars_plot.getPlotItem().titleLabel.text
    assert title == "recall per class, latest epoch"
    window.per_class_plot.epoch.setValue(2)
    assert (
        window.per_class_plot.bars_plot.getPlotItem().titleLabel.text == "recall per class, epoch 2"
    )
    assert len(window.confusion_view.counts) == 10
    window.loss_plot.log_scale.setChecked(True)  # log scale gives the range back to pyqtgraph
    assert window.loss_plot.plot.getPlotItem().getViewBox().state["autoRange"][1]


def test_rounded_range_contains_the_data_and_changes_rarely():
    from workbench.plots.style import rounded_range

    assert rounded_range(0.03, 2.31) == (0.0, 2.5)
    lo, hi = rounded_range(0.95, 0.99)
    assert lo <= 0.95 and 0.99 <= hi and hi - lo <= 0.06
    for flat in ((1.0, 1.0), (1.3176573514938354, 1.3176573514938357), (0.0, 0.0)):
        lo, hi = rounded_range(*flat)
        assert lo <= flat[0] <= flat[1] <= hi and hi - lo >= 1e-6  # a flat curve
    ranges = set()
    for n in range(1, 2000):  # a loss curve decaying from 2.3 towards 0.05
        lo, hi = 0.05 + 2.25 * 0.995**n, 2.3
        r = rounded_range(lo, hi)
        assert r[0] <= lo and hi <= r[1]
        ranges.add(r)
    assert len(ranges) < 20
