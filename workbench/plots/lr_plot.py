"""``lrPlot``: the learning rate per step; before a run, the planned schedule."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from workbench.plots import style
from workbench.run_history import RunHistory


class LrPlot(pg.PlotWidget):
    """Planned (dashed, from the real torch scheduler) and actual learning rate, x in epochs."""

    def __init__(self, parent=None):
        super().__init__(parent)
        item = style.configure_plot(self, "lrPlot", "Learning rate", "lr", "epoch")
        item.setLogMode(y=True)
        item.getAxis("left").setStyle(maxTextLevel=0)  # label decades only
        self.preview = item.plot(pen=style.pen(style.PREVIEW, 1.5, dashed=True), name="planned")
        self.actual = item.plot(pen=style.pen(style.LR, 1.5), name="actual")

    def show_preview(self, lrs: list[float], steps_per_epoch: int) -> None:
        steps = np.arange(len(lrs)) / max(steps_per_epoch, 1)
        self.preview.setData(steps, np.maximum(np.asarray(lrs, dtype=float), 1e-12))

    def show_history(self, history: RunHistory) -> None:
        spe = max(history.steps_per_epoch, 1)
        steps = (history.step.view() - 1) / spe
        self.actual.setData(steps, np.maximum(history.lr.view(), 1e-12))

    def preview_points(self) -> int:
        x, _ = self.preview.getData()
        return 0 if x is None else len(x)
