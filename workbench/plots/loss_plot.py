"""``lossPlot``: training loss per step (raw and smoothed) and train/val loss per epoch."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QCheckBox, QVBoxLayout, QWidget

from workbench.plots import style
from workbench.run_history import RunHistory

SMOOTHING = 0.9  # EMA weight of the smoothed step curve
# The smoothed curve changes slowly: this many points draw it as well as every step does, and
# setting 10k points on a second curve cost as much as the raw curve itself (redraw 8.6 ms
# against 4.8 ms for one bare pyqtgraph curve, benchmarks/gui_responsiveness.py).
SMOOTH_POINTS = 1500


def _thinned(n: int, most: int) -> np.ndarray:
    """Indices of at most ``most`` evenly spread points of ``n``, the last one always kept."""
    if n <= most:
        return np.arange(n)
    return np.linspace(0, n - 1, most).astype(np.int64)  # distinct (n > most), ends at n - 1


class LossPlot(QWidget):
    """Loss curves of the current run plus overlaid runs; x axis in epochs."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.plot = style.make_plot("lossPlot", "Loss", "loss", "epoch")
        self.log_scale = QCheckBox("log scale")
        self.log_scale.setObjectName("lossLogScale")
        self.log_scale.toggled.connect(self._log_scale_toggled)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.log_scale)
        item = self.plot.getPlotItem()
        self.raw = style.step_curve(item, style.pen(style.RAW), "train (step)")
        # 1 px: Qt strokes wider pens far slower (1.5 px cost 1.1 ms more per repaint)
        self.smooth = style.step_curve(item, style.pen(style.TRAIN), "train (smoothed)")
        self.train = style.epoch_curve(item, style.TRAIN, "o", "train (epoch)", line=False)
        self.val = style.epoch_curve(item, style.VAL, "s", "val (epoch)")
        self.overlays: list = []
        self.axes = style.LiveAxes(item)
        self._smoothed_upto = 0
        self._smoothed = np.empty(0)

    def show_history(self, history: RunHistory) -> None:
        spe = max(history.steps_per_epoch, 1)
        steps, losses = history.step.view(), history.loss.view()
        x = steps / spe if history.steps_per_epoch else steps
        self.raw.setData(x, losses)
        smoothed = self._ema_incremental(losses)
        keep = _thinned(len(smoothed), SMOOTH_POINTS)
        self.smooth.setData(x[keep], smoothed[keep])
        self.axes.fit()

    def show_epochs(self, history: RunHistory) -> None:
        """The per-epoch train and val loss (painted with the other once-an-epoch views)."""
        epochs = history.epoch_numbers()
        self.train.setData(epochs, history.series(lambda m: m.train_loss))
        self.val.setData(epochs, history.series(lambda m: m.val_loss))
        self.axes.fit()

    def set_epoch_span(self, last: float | None) -> None:
        self.axes.follow(last)

    def _log_scale_toggled(self, on: bool) -> None:
        self.plot.getPlotItem().setLogMode(y=on)
        if on:
            self.axes.release_y()

    def _ema_incremental(self, losses: np.ndarray) -> np.ndarray:
        n = len(losses)
        if n < self._smoothed_upto:
            self._smoothed_upto, self._smoothed = 0, np.empty(0)
        if n > self._smoothed_upto:
            out = np.empty(n)
            out[: self._smoothed_upto] = self._smoothed
            acc = self._acc if self._smoothed_upto else 0.0
            for i in range(self._smoothed_upto, n):
                acc = SMOOTHING * acc + (1 - SMOOTHING) * losses[i]
                out[i] = acc / (1 - SMOOTHING ** (i + 1))
            self._acc, self._smoothed, self._smoothed_upto = acc, out, n
        return self._smoothed

    def set_overlays(self, runs: list[tuple[str, str, RunHistory]]) -> None:
        """Show other runs' val loss per epoch in their colours."""
        item = self.plot.getPlotItem()
        for curve in self.overlays:
            item.removeItem(curve)
        self.overlays = []
        for name, colour, history in runs:
            curve = item.plot(
                history.epoch_numbers(),
                history.series(lambda m: m.val_loss),
                pen=style.pen(colour, 1.5, dashed=True),
                name=f"{name} val",
            )
            self.overlays.append(curve)
        self.axes.fit()  # their values too: a run diverging above this one was cut off

    def reset(self) -> None:
        for curve in (self.raw, self.smooth, self.train, self.val):
            curve.setData([], [])
        self._smoothed_upto, self._smoothed = 0, np.empty(0)

    def epoch_points(self) -> int:
        """How many per-epoch points the train curve holds (for tests and status)."""
        x, _ = self.train.getOriginalDataset()
        return 0 if x is None else len(x)
