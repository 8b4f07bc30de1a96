"""``accuracyPlot``: train and validation accuracy per epoch, the best epoch marked."""

from __future__ import annotations

import pyqtgraph as pg

from workbench.plots import style
from workbench.run_history import RunHistory

# short plot labels for the markers where findings began
MARKER_LABELS = {
    "schedule-too-aggressive": "LR decay",
    "lr-too-high": "LR high",
    "lr-too-low": "LR low",
    "overfitting": "overfit",
    "underfitting": "underfit",
    "class-imbalance": "imbalance",
    "no-signal": "no signal",
    "excessive-augmentation": "augment",
    "dead-units": "dead units",
    "vanishing-gradients": "vanishing",
    "exploding-gradients": "exploding",
    "non-finite-loss": "NaN",
}


class AccuracyPlot(pg.PlotWidget):
    """Accuracy per epoch of the current run plus overlaid runs."""

    def __init__(self, parent=None):
        super().__init__(parent, axisItems=style.epoch_axis())
        item = style.configure_plot(self, "accuracyPlot", "Accuracy", "accuracy", "epoch", (-5, -5))
        self.train = style.epoch_curve(item, style.TRAIN, "o", "train")
        self.val = style.epoch_curve(item, style.VAL, "s", "val")
        # the label below the curves' plateau and above the legend, dark on a white box so it
        # reads over a curve
        self.best_line = pg.InfiniteLine(
            angle=90,
            pen=style.pen("#555", dashed=True),
            label="best",
            labelOpts={"position": 0.4, "color": "#222", "fill": (255, 255, 255, 220)},
        )
        self.best_line.setVisible(False)
        item.addItem(self.best_line)
        self.markers: list = []
        self.overlays: list = []
        self.axes = style.LiveAxes(item, first_epoch=1)

    def show_history(self, history: RunHistory) -> None:
        epochs = history.epoch_numbers()
        if not history.epochs:
            self.reset()
            return
        val_acc = history.series(lambda m: m.val_acc)
        self.train.setData(epochs, history.series(lambda m: m.train_acc))
        self.val.setData(epochs, val_acc)
        best = history.best_epoch()
        self.best_line.setValue(best)
        self.best_line.label.setFormat(f"best {val_acc.max():.3f}")  # at its epoch
        self.best_line.setVisible(True)
        self.axes.fit()  # the ranges the label's room is measured in: y rounded, x as it will be
        self.getPlotItem().getViewBox().updateAutoRange()
        # the label on the side of the line with more room, so it is not cut at the plot's edge
        left, right = self.getPlotItem().viewRange()[0]
        width = self.getPlotItem().getViewBox().width() or 1.0
        room_right = (right - best) / max(right - left, 1e-9) * width
        room_left = width - room_right
        needed = self.best_line.label.boundingRect().width() + 4
        if max(room_left, room_right) < needed:  # a narrow plot: the value under the word
            self.best_line.label.setFormat(f"best\n{val_acc.max():.3f}")
        side = 0 if room_right >= room_left else 1
        self.best_line.label.anchors = [(side, 1.0), (side, 1.0)]
        self.best_line.label.valueChanged()

    def set_epoch_span(self, last: float | None) -> None:
        self.axes.follow(last)

    def set_overlays(self, runs) -> None:
        item = self.getPlotItem()
        for curve in self.overlays:
            item.removeItem(curve)
        # unnamed: the loss plot beside it names them in the same colours, and at 1366×768 this
        # plot is too narrow for the names (its legend was cut to "ain", "al", "uit-r18 …")
        self.overlays = [
            item.plot(
                h.epoch_numbers(), h.series(lambda m: m.val_acc), pen=style.pen(c, 1.5, dashed=True)
            )
            for _, c, h in runs
        ]
        self.axes.fit()  # their values too: a run far below this one was drawn off the plot

    def add_marker(
        self, epoch: float, text: str, colour: str = "#e67e22", text_left: bool = False
    ) -> None:
        """A vertical line where something happened (e.g. where a doctor finding started)."""
        line = pg.InfiniteLine(
            epoch,
            angle=90,
            pen=style.pen(colour, dashed=True),
            label=text,
            labelOpts={
                "position": 0.95 - 0.08 * (len(self.markers) % 4),  # stagger stacked labels
                "color": colour,
                # late markers write their text left of the line so it stays inside the plot
                "anchors": [(1, 0), (1, 0)] if text_left else [(0, 0), (0, 0)],
            },
        )
        self.getPlotItem().addItem(line)
        self.markers.append(line)

    def clear_markers(self) -> None:
        for line in self.markers:
            self.getPlotItem().removeItem(line)
        self.markers = []

    def reset(self) -> None:
        self.train.setData([], [])
        self.val.setData([], [])
        # not the y range of the run shown before (a past run's auto-range replaces it; a live
        # run's first epoch fits it)
        self.getPlotItem().setYRange(0.0, 1.0, padding=0.02)
        self.best_line.setVisible(False)
        self.clear_markers()

    def epoch_points(self) -> int:
        x, _ = self.val.getOriginalDataset()
        return 0 if x is None else len(x)
