"""What a new user noticed in the window: layout on a laptop screen, a selected run shown in
full, errors of the epoch on screen, unsaved edits, resume, and the small things."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEvent

from engine.runs import RunFiles
from tests.gui.conftest import digits_preset, wait_jobs

RUN_TIMEOUT_MS = 120_000
LAPTOP = (1366, 768)


def _train(window, qtbot, tmp_path, **changes):
    window.load_preset(digits_preset(tmp_path, **changes))
    with qtbot.waitSignal(window.session.finished, timeout=RUN_TIMEOUT_MS) as done:
        window.actions["actionStart"].trigger()
    window.run_view.paint()
    return done.args[0]


def _edit(widget, text):
    widget.setText(text)
    widget.textEdited.emit(text)


def test_every_tab_fits_a_laptop_screen(window, qtbot, tmp_path):
    window.resize(*LAPTOP)
    window.refresh_inspection()
    wait_jobs(qtbot, window)
    # a long list of skipped files must wrap, not widen the window
    window.data_inspector.skipped.setText("x" * 400)
    window.data_inspector.skipped.show()
    presets_tabs = window.preset_panel.tabs
    for left in range(presets_tabs.count()):
        presets_tabs.setCurrentIndex(left)
        qtbot.wait(20)
        form = presets_tabs.widget(left)  # scrolls down, never sideways
        assert form.viewport().width() >= form.widget().minimumSizeHint().width(), left
        for tab in range(window.center_tabs.count()):
            window.center_tabs.setCurrentIndex(tab)
            qtbot.wait(20)
            hint = window.minimumSizeHint()
            assert hint.width() <= LAPTOP[0] and hint.height() <= LAPTOP[1] - 40, (left, tab, hint)
            assert window.width() <= LAPTOP[0]


def test_a_folder_that_cannot_load_shows_its_error_alone_and_keeps_the_window_size(
    window, qtbot, tmp_path
):
    from PIL import Image

    window.resize(*LAPTOP)
    window.load_preset(digits_preset(tmp_path))
    window.refresh_inspection()
    wait_jobs(qtbot, window)
    inspector = window.data_inspector
    assert inspector.stats.rowCount() == 1 and len(inspector.train_bars.opts["height"]) == 10
    flat = tmp_path / ("a-long-folder-name-a-person-might-have" * 3) / "holiday photos"
    flat.mkdir(parents=True)
    for i in range(3):  # photos, but not in one sub-folder per class
        Image.new("RGB", (32, 32), (i * 80, 0, 0)).save(flat / f"IMG_{i}.jpg")
    window.load_preset(digits_preset(tmp_path, **{"data.source": "folder", "data.root": str(flat)}))
    window.refresh_inspection()
    wait_jobs(qtbot, window)
    for tab in range(window.center_tabs.count()):
        window.center_tabs.setCurrentIndex(tab)
        qtbot.wait(20)
        assert window.width() <= LAPTOP[0] and window.minimumSizeHint().width() <= LAPTOP[0]
    shown = inspector.summary.text().replace("\u200b", "")
    assert shown.startswith("Cannot load the data") and str(flat) in shown
    assert "Cannot build the model" in window.model_summary.totals.text()
    # nothing left from the digits loaded before: no bars, no statistics, no notes
    assert len(inspector.train_bars.opts["height"]) == 0 and inspector.stats.rowCount() == 0
    assert inspector.notes.isHidden() and inspector.skipped.isHidden()
    # the run would fail at once: the Root field is marked and Start waits for a usable folder
    root_field = window.dataset_form.widgets["data.root"]
    assert not window.actions["actionStart"].isEnabled() and root_field.styleSheet()
    assert "no class sub-folders" in window.preset_error.text()
    for i, name in enumerate(("red", "blue")):
        (flat / name).mkdir()
        for j in range(4):
            Image.new("RGB", (32, 32), (200 * (1 - i), j * 20, 200 * i)).save(
                flat / name / f"{j}.png"
            )
    assert inspector.redraw.text() == "Try again"
    inspector.redraw.click()  # the folder, now with a class folder per class
    wait_jobs(qtbot, window)
    assert inspector.redraw.text() == "Draw other samples" and inspector.stats.rowCount() == 3
    assert window.actions["actionStart"].isEnabled() and not root_field.styleSheet()
    _edit(root_field, str(flat) + "/")  # the same folder, typed again
    window.refresh_inspection()
    wait_jobs(qtbot, window)
    assert window.actions["actionStart"].isEnabled() and not root_field.styleSheet()
    assert window.preset_error.text() == "" and inspector.stats.rowCount() == 3


def test_a_selected_finished_run_shows_exactly_what_it_recorded(window, qtbot, tmp_path):
    first = _train(window, qtbot, tmp_path, **{"train.epochs": 2, "train.schedule.name": "cosine"})
    # as it ends, the live run shows the step readings it wrote, not only those its events carried
    recorded = RunFiles(first.run_dir).read_steps()
    assert list(window.loss_plot.raw.getOriginalDataset()[1]) == pytest.approx(recorded.loss)
    assert list(window.lr_plot.actual.getOriginalDataset()[1]) == pytest.approx(recorded.lr)
    second = _train(window, qtbot, tmp_path, **{"train.epochs": 3, "train.batch_size": 32})
    window.confusion_view.hover.setText("true 1 → predicted 2: 3")  # left by the second run
    window.error_browser.title.setText("true 1, predicted 2: 3 validation images at epoch 3")
    window.run_list.select(first.run_dir)
    wait_jobs(qtbot, window)
    window.run_view.paint()
    steps = RunFiles(first.run_dir).read_steps()
    assert len(steps) >= 20  # at least 10 loss points an epoch, however fast the machine
    raw_x, raw_y = window.loss_plot.raw.getOriginalDataset()
    assert list(raw_y) == pytest.approx(steps.loss, rel=1e-6)  # the step losses it recorded
    assert len(window.loss_plot.smooth.getOriginalDataset()[0]) == len(steps)
    actual = window.lr_plot.actual.getOriginalDataset()[1]
    assert list(actual) == pytest.approx(steps.lr)
    spe = first.steps_per_epoch
    assert window.lr_plot.preview_points() == 2 * spe  # its own 2-epoch cosine plan
    assert len(window.lr_plot.forms_plan.getOriginalDataset()[0]) == 3 * 45  # the forms' plan
    labels = window.status_labels
    assert labels["state"].text() == "finished" and labels["epoch"].text() == "epoch 2/2"
    assert labels["device"].text() == f"device: cpu · {first.speed}"  # as it read live
    assert first.speed.startswith("fp32 · ")
    assert window.confusion_view.hover.text().strip() == ""
    assert window.error_browser.title.text().startswith("Click a confusion-matrix cell")
    assert window.confusion_view.counts.sum() == 359
    # every epoch plot spans the epochs this run reached
    spans = {
        round(plot.getPlotItem().viewRange()[0][1])
        for plot in (window.loss_plot.plot, window.accuracy_plot, window.lr_plot)
    }
    assert spans == {2}
    window.run_list.select(second.run_dir)
    window.run_view.paint()
    assert labels["epoch"].text() == "epoch 3/3"
    assert len(window.lr_plot.forms_plan.getOriginalDataset()[0] or []) == 0  # same preset


def test_a_stopped_run_spans_the_same_epochs_in_every_plot(window, qtbot, tmp_path):
    window.load_preset(digits_preset(tmp_path, **{"train.epochs": 200, "train.batch_size": 16}))
    with qtbot.waitSignal(window.session.epoch_ended, timeout=RUN_TIMEOUT_MS):
        window.actions["actionStart"].trigger()
    with qtbot.waitSignal(window.session.stopped, timeout=RUN_TIMEOUT_MS) as stopped:
        window.actions["actionStop"].trigger()
    run_dir = stopped.args[0].run_dir
    window.refresh_runs()
    other = _train(window, qtbot, tmp_path, **{"train.epochs": 1})
    window.run_list.select(run_dir)
    window.run_view.paint()
    right = [
        plot.getPlotItem().viewRange()[0][1]
        for plot in (window.loss_plot.plot, window.accuracy_plot, window.lr_plot)
    ]
    # loss and LR span the same epochs; accuracy (from epoch 1) at most one more
    assert max(right) < 10 and right[0] == right[2] and right[0] - 0.1 <= right[1] <= right[0] + 1
    assert other.status == "finished"


def test_a_clicked_cell_opens_the_images_of_the_epoch_the_matrix_shows(window, qtbot, tmp_path):
    _train(window, qtbot, tmp_path, **{"train.epochs": 3, "train.optimizer.lr": 3e-4})
    view = window.confusion_view
    view.slider.setValue(1)
    counts = view.counts.copy()
    assert view.shown_epoch() == 1
    r, c = np.unravel_index(np.argmax(counts - np.diag(np.diag(counts))), counts.shape)
    assert counts[r, c] > 0  # a cell of errors at epoch 1
    view.cell_clicked.emit(int(r), int(c))
    wait_jobs(qtbot, window)
    browser = window.error_browser
    assert browser.grid.count == min(48, counts[r, c])
    assert "at epoch 1" in browser.title.text()
    assert f"{counts[r, c]} validation image" in browser.title.text()
    tips = [cell.toolTip() for cell in browser.grid._cells]  # digits: positions in the source
    assert all(tip.startswith("#") for tip in tips) and len(set(tips)) == len(tips)


def test_unsaved_edits_are_asked_about_on_open_and_quit(window, qtbot, tmp_path):
    mine = digits_preset(tmp_path, **{"name": "mine"})
    other = digits_preset(tmp_path, **{"name": "other"})
    window.load_preset(mine)
    _edit(window.training_form.widgets["train.optimizer.lr"], "0.0007")
    assert window.isWindowModified()
    asked = []
    window.editor.ask_unsaved = lambda: asked.append(1) or "cancel"
    assert not window.editor.open(other)
    assert window.current_preset().train.optimizer.lr == 0.0007 and asked
    window.close()
    assert window.isVisible()  # cancel keeps the window and the edits
    window.editor.ask_unsaved = lambda: "save"
    assert window.editor.open(other)
    from engine import preset as presets

    assert presets.load(mine).train.optimizer.lr == 0.0007  # saved before opening the other
    assert window.current_preset().name == "other"
    _edit(window.training_form.widgets["train.optimizer.lr"], "0.0009")
    window.editor.ask_unsaved = lambda: "discard"
    window.close()
    assert not window.isVisible()
    assert presets.load(other).train.optimizer.lr != 0.0009


def test_every_invalid_field_is_marked_and_listed(window):
    lr = window.training_form.widgets["train.optimizer.lr"]
    decay = window.training_form.widgets["train.optimizer.weight_decay"]
    _edit(lr, "fast")
    _edit(decay, "-1")
    assert lr.styleSheet() and decay.styleSheet()
    text = window.preset_error.text()
    assert "train.optimizer.lr" in text and "train.optimizer.weight_decay" in text
    assert not window.actions["actionStart"].isEnabled()
    _edit(lr, "0.01")
    assert not lr.styleSheet() and decay.styleSheet()
    assert "train.optimizer.lr" not in window.preset_error.text()
    _edit(decay, "0")
    assert window.actions["actionStart"].isEnabled() and window.preset_error.text() == ""


def test_the_export_dialog_keeps_its_fields_when_a_long_result_appears(window, qtbot, tmp_path):
    _train(window, qtbot, tmp_path, **{"train.epochs": 1})
    window.actions["actionExport"].trigger()
    dialog = window.commands.export_dialog
    dialog._failed(RuntimeError("refused to load " + "/a/long/path" * 20 + ": could run code"))
    qtbot.wait(50)
    for field in (dialog.run, dialog.format, dialog.dest):
        assert field.height() >= field.sizeHint().height()
    dialog.close()


def test_a_stopped_run_resumes_from_the_app_in_its_own_curves(window, qtbot, tmp_path):
    window.load_preset(digits_preset(tmp_path, **{"train.epochs": 4, "train.batch_size": 32}))
    with qtbot.waitSignal(window.session.epoch_ended, timeout=RUN_TIMEOUT_MS):
        window.actions["actionStart"].trigger()
    with qtbot.waitSignal(window.session.stopped, timeout=RUN_TIMEOUT_MS) as stopped:
        window.actions["actionStop"].trigger()
    run_dir = stopped.args[0].run_dir
    done = stopped.args[0].epochs_completed
    assert 1 <= done < 4
    window.run_list.select(run_dir)
    assert window.actions["actionResumeRun"].isEnabled()
    window.run_list._context_menu(
        window.run_list.tree.visualItemRect(window.run_list.tree.topLevelItem(0)).center()
    )
    menu = window.run_list.context_menu
    resume = [a for a in menu.actions() if a.objectName() == "runListResume"][0]
    assert resume.isEnabled()
    with qtbot.waitSignal(window.session.finished, timeout=RUN_TIMEOUT_MS) as finished:
        resume.trigger()
    menu.close()
    window.run_view.paint()
    assert finished.args[0].run_dir == run_dir and finished.args[0].epochs_completed == 4
    assert [r.epoch for r in RunFiles(run_dir).read_metrics()] == [1, 2, 3, 4]
    assert window.accuracy_plot.epoch_points() == 4  # the old epochs and the new, one curve
    assert len(window.run_list.runs()) == 1
    # a finished run trains longer after asking how far
    window.commands.ask_more_epochs = lambda name, done: 5
    with qtbot.waitSignal(window.session.finished, timeout=RUN_TIMEOUT_MS) as longer:
        window.actions["actionResumeRun"].trigger()
    assert longer.args[0].epochs_completed == 5
    assert RunFiles(run_dir).read_preset().train.epochs == 5


def test_pause_stops_the_clock_and_says_paused(window, qtbot, tmp_path):
    window.load_preset(digits_preset(tmp_path, **{"train.epochs": 100, "train.batch_size": 8}))
    with qtbot.waitSignal(window.session.batches, timeout=RUN_TIMEOUT_MS):
        window.actions["actionStart"].trigger()
    window.actions["actionPause"].trigger()
    labels = window.status_labels
    assert labels["state"].text() == "paused"
    qtbot.wait(300)
    window.run_view.paint()
    before = window.status.watch.elapsed()
    qtbot.wait(1200)
    window.run_view.paint()
    assert window.status.watch.elapsed() == pytest.approx(before, abs=0.05)
    window.actions["actionPause"].trigger()
    assert labels["state"].text() == "running"
    with qtbot.waitSignal(window.session.stopped, timeout=RUN_TIMEOUT_MS):
        window.actions["actionStop"].trigger()
    assert labels["state"].text() == "stopped"


def test_the_live_run_shows_its_best_accuracy_in_the_list(window, qtbot, tmp_path):
    window.load_preset(digits_preset(tmp_path, **{"train.epochs": 100, "train.batch_size": 16}))
    with qtbot.waitSignal(window.session.epoch_ended, timeout=RUN_TIMEOUT_MS) as epoch:
        window.actions["actionStart"].trigger()
    row = window.run_list.runs()[0]
    assert row.status == "running"
    assert float(row.best_val_acc) == pytest.approx(epoch.args[0].metrics.val_acc, abs=1e-4)
    with qtbot.waitSignal(window.session.stopped, timeout=RUN_TIMEOUT_MS):
        window.actions["actionStop"].trigger()


def test_small_things_that_looked_unfinished(window, qtbot, tmp_path):
    from PySide6.QtCore import Qt

    # first launch: what to do next, and an empty matrix without meaningless numbers
    assert window.training_plots.hint.isVisible()
    assert "Start (F5)" in window.training_plots.hint.text()
    confusion_axis = window.confusion_view.plot.getPlotItem().getAxis("left")
    assert not confusion_axis.style["showValues"]
    assert "arrives" not in window.actions["actionLrFind"].toolTip()
    summary = _train(
        window,
        qtbot,
        tmp_path,
        **{
            "data.source": "synthetic",
            "data.synthetic.classes": 10,
            "data.synthetic.samples": 400,
            "data.synthetic.size": 8,
            "train.epochs": 3,
        },
    )
    assert not window.training_plots.hint.isVisible()
    assert confusion_axis.style["showValues"]
    # class names "class 0" … "class 9" do not run together under the bars
    ticks = window.per_class_plot.bars_plot.getPlotItem().getAxis("bottom")._tickLevels[0]
    assert [t[1] for t in ticks] == [str(i) for i in range(10)]
    # the recall trend's epoch axis has whole epochs only
    axis = window.per_class_plot.trend_plot.getPlotItem().getAxis("bottom")
    values = [v for _, level in axis.tickValues(1, 3, 400) for v in level]
    assert values and all(float(v).is_integer() for v in values)
    # the best-epoch label is dark on a light box
    label = window.accuracy_plot.best_line.label
    assert label.fill.color().alpha() > 150 and label.color.lightness() < 80
    # run names keep their time stamp; the full name is in a tooltip
    tree = window.run_list.tree
    assert tree.textElideMode() == Qt.TextElideMode.ElideMiddle
    item = tree.topLevelItem(0)
    assert item.toolTip(0) == summary.run_dir and Path(summary.run_dir).name == item.text(0)


def test_plateau_explains_missing_display_libraries(capsys, monkeypatch):
    from workbench import app

    def load(name):
        if "cursor" in name:
            raise OSError(name)

    problem = app.display_problem({"DISPLAY": ":0"}, "linux", load)
    assert "libxcb-cursor0" in problem and "sudo apt-get install -y" in problem
    assert app.display_problem({"DISPLAY": ":0"}, "linux", lambda n: None) == ""
    assert app.display_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux", load) == ""
    assert "DISPLAY is not set" in app.display_problem({}, "linux", load)
    monkeypatch.setattr(app, "display_problem", lambda: "missing libxcb-cursor0")
    assert app.main([]) == 1
    assert "plateau: missing libxcb-cursor0" in capsys.readouterr().err


def test_wording_in_the_error_browser(window, qtbot, tmp_path):
    result = {
        "images": np.zeros((1, 4, 4, 3), np.uint8),
        "true": ["3"],
        "pred": ["8"],
        "confidence": [0.9],
        "epoch": 2,
        "count": 1,
    }
    window.error_browser.show_samples(result, "true 3, predicted 8")
    assert "1 validation image at epoch 2" in window.error_browser.title.text()
    assert json.dumps(result["true"])  # plain data crossed the bridge


def test_a_failed_run_chosen_from_the_list_says_why_it_failed(window, qtbot):
    """The status bar alone said "failed"; the reason was only in the run's summary.json."""
    from engine.events import RunSummary
    from tests.gui.widgets.builders import run_directory

    workspace = Path(window.settings.get("workspace"))
    good = run_directory(workspace, "digits-20261126-101500", "finished")
    bad = run_directory(workspace, "mlp-20261126-111500", "failed", epochs=0)
    error = "ValueError: Expected more than 1 value per channel when training"
    hint = "set 'train.batch_size' to 2 or more"
    RunFiles(bad).write_summary(
        RunSummary("failed", bad.name, str(bad), epochs_planned=8, error=error, hint=hint)
    )
    window.refresh_runs()
    window.run_list.select(str(bad))
    assert window.banner.isVisible()
    assert window.banner.text() == f"This run failed: {error}\nHint: {hint}"
    # no epoch reached: the plots span the epochs it planned (its LR plan was squeezed into 0-1)
    planned = RunFiles(bad).read_preset().train.epochs
    assert planned > 1 and window.lr_plot.getPlotItem().viewRange()[0][1] >= planned
    window.run_list.select(str(good))
    assert not window.banner.isVisible()  # that run did not fail


def test_values_only_the_data_or_the_model_can_refute_are_marked_before_start(
    window, qtbot, tmp_path
):
    """A class fraction naming no class of the data and a start-from run that is not there
    failed seconds after Start, their fields unmarked; and the LR plot kept the plan of the
    preset shown before, whose data had loaded."""
    window.load_preset(digits_preset(tmp_path, **{"train.epochs": 3}))
    window.refresh_inspection()
    wait_jobs(qtbot, window)
    planned = window.lr_plot.preview.getOriginalDataset
    assert planned()[0] is not None and len(planned()[0]) > 0
    bad = {"train.epochs": 5, "data.class_fraction": {"cherries": 0.5}}
    window.load_preset(digits_preset(tmp_path, **bad))
    window.refresh_inspection()
    wait_jobs(qtbot, window)
    fractions = window.dataset_form.widgets["data.class_fraction"]
    assert not window.actions["actionStart"].isEnabled() and fractions.styleSheet()
    assert "names class 'cherries'" in window.preset_error.text()
    assert planned()[0] is None or len(planned()[0]) == 0  # no plan: not the 3-epoch one
    _edit(fractions, "3=0.5")
    window.refresh_inspection()
    wait_jobs(qtbot, window)
    assert window.actions["actionStart"].isEnabled() and not fractions.styleSheet()
    assert window.preset_error.text() == ""
    start_from = window.model_form.widgets["model.init_from"]
    _edit(start_from, str(tmp_path / "no-such-run"))
    window.refresh_inspection()
    wait_jobs(qtbot, window)
    assert not window.actions["actionStart"].isEnabled() and start_from.styleSheet()
    assert "no run or checkpoint at" in window.preset_error.text()
    # the run is put there (from a file manager): back in the window, it looks again
    qtbot.waitUntil(lambda: not window._inspect_timer.isActive())  # the edit's own look
    wait_jobs(qtbot, window)
    assert "no run or checkpoint at" in window.preset_error.text()
    (tmp_path / "no-such-run" / "checkpoints").mkdir(parents=True)
    (tmp_path / "no-such-run" / "checkpoints" / "last.pt").write_bytes(b"x")
    window.activateWindow()
    window.changeEvent(QEvent(QEvent.Type.ActivationChange))
    qtbot.waitUntil(lambda: window.preset_error.text() == "", timeout=30_000)
    wait_jobs(qtbot, window)
    assert window.actions["actionStart"].isEnabled() and not start_from.styleSheet()
    _edit(start_from, "")
    window.refresh_inspection()
    wait_jobs(qtbot, window)
    assert window.actions["actionStart"].isEnabled() and window.preset_error.text() == ""
