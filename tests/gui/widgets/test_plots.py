"""Each plot on its own, fed a made-up run history: what it shows."""

from __future__ import annotations

import numpy as np
import pytest

from tests.gui.widgets.builders import history
from workbench.plots.accuracy_plot import AccuracyPlot
from workbench.plots.confusion_matrix_view import ConfusionMatrixView
from workbench.plots.loss_plot import LossPlot
from workbench.plots.lr_plot import LrPlot
from workbench.plots.per_class_plot import PerClassPlot
from workbench.run_history import RunHistory


def test_loss_plot_shows_steps_smoothed_and_epochs(qtbot):
    plot = LossPlot()
    qtbot.addWidget(plot)
    h = history(epochs=3, steps_per_epoch=4)
    plot.show_history(h)
    plot.show_epochs(h)
    x, y = plot.raw.getOriginalDataset()
    assert list(x) == pytest.approx([s / 4 for s in range(1, 13)])  # steps in epochs
    smooth = plot.smooth.getOriginalDataset()[1]
    assert len(smooth) == 12 and smooth[-1] > y[-1]  # the average lags a falling loss
    assert plot.epoch_points() == 3
    assert list(plot.val.getOriginalDataset()[1]) == pytest.approx([1.2, 0.6, 0.4])
    plot.reset()
    assert plot.epoch_points() == 0


def test_a_long_loss_curve_draws_each_pixel_column_once_and_keeps_its_spikes(qtbot):
    """10,000 steps on a 600-px plot: the raw curve draws the highest and lowest loss of each
    pixel column (not five points a column), so a repaint stays cheap, and a one-step spike
    still shows at its full height."""
    plot = LossPlot()
    qtbot.addWidget(plot)
    plot.resize(600, 400)
    plot.show()
    qtbot.waitExposed(plot)
    h = RunHistory(steps_per_epoch=100)
    losses = 1.0 + 0.1 * np.random.default_rng(0).random(10_000)
    losses[4321] = 9.0  # one bad batch
    h.add_steps(list(range(1, 10_001)), list(losses), [1e-3] * 10_000)
    plot.set_epoch_span(100)  # as in a live run: x spans the planned epochs
    plot.show_history(h)
    x, y = plot.raw.getData()  # what is drawn
    width = plot.plot.getPlotItem().getViewBox().width()
    assert len(x) <= 2 * width + 4
    assert y.max() == 9.0 and y.min() == losses.min()


def test_runs_checked_for_comparison_are_inside_the_plots_ranges(qtbot):
    """Checking runs after one is shown: a diverging run's val loss (above the shown run's) and
    its accuracy (below) were drawn off the plots, whose y range was the shown run's alone."""
    from dataclasses import replace

    from tests.gui.widgets.builders import epoch

    loss, accuracy = LossPlot(), AccuracyPlot()
    shown = history(epochs=3)  # losses 2.0 to 0.17, val accuracy 0.93-0.97
    diverged = RunHistory(name="lr too high", steps_per_epoch=4)
    for n in (1, 2, 3):
        diverged.add_epoch(replace(epoch(n, val_acc=0.1), val_loss=6.0))
    for plot in (loss, accuracy):
        qtbot.addWidget(plot)
        plot.resize(500, 300)
        plot.show()
        plot.set_epoch_span(3)
        plot.show_history(shown)
    loss.show_epochs(shown)
    for plot in (loss, accuracy):  # as the run view overlays checked runs
        plot.set_overlays([("lr too high", "#ff7f0e", diverged)])
        plot.set_epoch_span(3)
    low, high = loss.plot.getPlotItem().viewRange()[1]
    assert high >= 6.0 and low <= 0.17
    low, high = accuracy.getPlotItem().viewRange()[1]
    assert low <= 0.1 and high >= 0.97
    for plot in (loss, accuracy):  # unchecked: the shown run's range again
        plot.set_overlays([])
    assert loss.plot.getPlotItem().viewRange()[1][1] < 6.0
    assert accuracy.getPlotItem().viewRange()[1][0] > 0.1


def test_accuracy_plot_marks_the_best_epoch_and_findings(qtbot):
    plot = AccuracyPlot()
    qtbot.addWidget(plot)
    h = history(epochs=3)
    plot.show_history(h)
    assert plot.epoch_points() == 3
    assert plot.best_line.value() == 3 and plot.best_line.label.format == "best 0.967"
    plot.add_marker(2, "overfit")
    assert [m.value() for m in plot.markers] == [2]
    plot.clear_markers()
    assert plot.markers == []
    item = plot.getPlotItem()
    item.setYRange(0.9, 1.0, padding=0)  # as the run shown before left it
    plot.show_history(history(epochs=0))  # the next run, before its first epoch
    low, high = item.viewRange()[1]
    assert plot.epoch_points() == 0 and low <= 0.0 and high >= 1.0


def test_lr_plot_shows_the_plan_the_actual_rate_and_the_forms_plan(qtbot):
    plot = LrPlot()
    qtbot.addWidget(plot)
    plot.show_preview([1e-3] * 8 + [1e-4] * 4, steps_per_epoch=4)
    assert plot.preview_points() == 12
    plot.show_history(history(epochs=3))
    assert len(plot.actual.getOriginalDataset()[0]) == 12
    plot.show_forms_plan([1e-2] * 12, 4)
    assert len(plot.forms_plan.getOriginalDataset()[0]) == 12
    plot.show_forms_plan(None)
    x = plot.forms_plan.getOriginalDataset()[0]
    assert x is None or len(x) == 0


def test_per_class_plot_bars_trend_and_epoch_choice(qtbot):
    plot = PerClassPlot()
    qtbot.addWidget(plot)
    h = history(epochs=3, k=3)
    plot.show_history(h)
    assert plot.classes_shown() == 3
    assert list(plot.values) == pytest.approx([0.9, 1.0, 1.0])  # the last epoch: 1 error
    assert plot.shown_epoch() == 3
    plot.epoch.setValue(1)
    assert list(plot.values) == pytest.approx([0.7, 1.0, 1.0]) and plot.shown_epoch() == 1
    ticks = plot.bars_plot.getPlotItem().getAxis("bottom")._tickLevels[0]
    assert [t[1] for t in ticks] == ["0", "1", "2"]  # "class " dropped
    with qtbot.waitSignal(plot.class_clicked) as clicked:
        plot.class_clicked.emit(1)
    assert clicked.args == [1]
    assert len(plot.trend_curves) == 3
    plot.show_history(history(epochs=0, k=3))  # the next run, before its first epoch
    assert plot.classes_shown() == 0
    assert all(len(c.getOriginalDataset()[0] or []) == 0 for c in plot.trend_curves)


def test_confusion_matrix_counts_epochs_and_hover(qtbot):
    view = ConfusionMatrixView()
    qtbot.addWidget(view)
    assert not view.plot.getPlotItem().getAxis("left").style["showValues"]  # empty
    h = history(epochs=3, k=3)
    view.show_history(h)
    assert view.counts.sum() == 30 and view.shown_epoch() == 3
    view.slider.setValue(1)
    assert view.counts[0, 1] == 3 and view.shown_epoch() == 1
    assert view.epoch_label.text() == "epoch 1 of 3"
    view.normalized.setChecked(True)
    assert np.allclose(view.counts.sum(1), 10)  # the counts stay counts; only colours normalize
    view.hover.setText("true 0 → predicted 1: 3")
    view.show_history(history(epochs=1))
    assert view.hover.text().strip() == ""  # another run: no stale hover text


def test_class_names_on_a_narrow_axis_are_cut_not_run_together():
    """Four photo classes under the confusion matrix's columns ran together as
    "bananasempty_clas grapes"; each label now gets its share of the axis."""
    from workbench.plots.style import class_ticks

    names = ["apples", "bananas", "golden_retriever", "grapes"]
    assert class_ticks(names, max_chars=3, room=32) == [
        (0, "apples"),
        (1, "bananas"),
        (2, "golden_…"),
        (3, "grapes"),
    ]
    assert class_ticks(names) == [(0, "apples"), (1, "bananas"), (2, "golden_re…"), (3, "grapes")]
    many = [f"breed {n}" for n in ("afghan", "basset", "beagle", "borzoi", "boxer", "briard")]
    assert class_ticks(many, room=12) == [(i, str(i)) for i in range(6)]  # 2 characters each
    assert class_ticks(many, room=60)[0] == (0, "afghan")  # the shared "breed " dropped
    # many classes: every few are labelled, by number, and numbers are never cut ("1…")
    assert class_ticks([f"c{i:03d}" for i in range(20)], max_chars=3, room=32) == [
        (i, str(i)) for i in range(20)
    ]
    hundred = class_ticks([f"species {i}" for i in range(100)], room=44)
    assert hundred == [(i, str(i)) for i in range(0, 100, 5)]


def test_a_short_plot_labels_its_y_axis_sparsely(qtbot):
    """The recall trend is ~60 px tall at 1366×768: pyqtgraph labelled 0, 0.2, … 1.0 there."""
    from workbench.plots.style import SparseAxis

    axis = SparseAxis("left")
    assert axis.tickSpacing(0.0, 1.0, 60) == [(0.5, 0.0)]  # 0, 0.5, 1.0
    assert axis.tickSpacing(0.0, 1.0, 300) == [(0.1, 0.0)]
    assert axis.tickSpacing(0.7, 1.0, 60) == [(0.2, 0.0)]
