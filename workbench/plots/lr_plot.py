"""``lrPlot``: the learning rate per step; before a run, the planned schedule."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from workbench.plots import style
from workbench.run_history import RunHistory


class LrPlot(pg.PlotWidget):
    """The shown run's planned (dashed, from the real torch scheduler) and actual learning rate,
    x in epochs; when the preset in the forms plans another schedule, that plan too (dotted)."""

    def __init__(self, parent=None):
        super().__init__(parent, axisItems=style.epoch_axis())
        item = style.configure_plot(self, "lrPlot", "Learning rate", "lr", "epoch")
        item.setLogMode(y=True)
        self._decades: tuple[int, int] | None = None
        self.axes = style.LiveAxes(item)
        self.preview = style.step_curve(item, style.pen(style.PREVIEW, 1.5, dashed=True), "planned")
        self.actual = style.step_curve(item, style.pen(style.LR, 1.5), "actual")
        self.forms_plan = style.step_curve(item, style.pen(style.FORMS_PLAN, 1.5, dashed=True))
        self.backbone = style.step_curve(item, style.pen(style.PREVIEW, 1.0, dashed=True))
        self._legend = item.legend

    def show_preview(self, lrs: list[float], steps_per_epoch: int, backbone: float = 1.0) -> None:
        """The shown run's plan (or, before any run is shown, the forms' preset's); with a
        ``backbone`` factor other than 1, the pretrained layers' plan too (thinner)."""
        self._set_plan(self.preview, lrs, steps_per_epoch)
        self._legend.removeItem(self.backbone)
        if backbone == 1.0 or not len(lrs):
            self.backbone.setData([], [])
            return
        self._set_plan(self.backbone, [lr * backbone for lr in lrs], steps_per_epoch)
        self._legend.addItem(self.backbone, f"planned, backbone (×{backbone:g})")

    def show_forms_plan(self, lrs: list[float] | None, steps_per_epoch: int = 1) -> None:
        """The forms' plan beside the shown run's, when it differs (None hides it)."""
        self._legend.removeItem(self.forms_plan)
        if lrs is None:
            self.forms_plan.setData([], [])
            return
        self._set_plan(self.forms_plan, lrs, steps_per_epoch)
        self._legend.addItem(self.forms_plan, "planned (forms)")

    def _set_plan(self, curve, lrs, steps_per_epoch: int) -> None:
        steps = np.arange(len(lrs)) / max(steps_per_epoch, 1)
        values = np.maximum(np.asarray(lrs, dtype=float), 1e-12)
        curve.setData(steps, values)
        if len(values):
            self._label_decades(values)

    def show_history(self, history: RunHistory) -> None:
        spe = max(history.steps_per_epoch, 1)
        steps = (history.step.view() - 1) / spe
        values = np.maximum(history.lr.view(), 1e-12)
        self.actual.setData(steps, values)
        self._label_decades(values)

    def set_epoch_span(self, last: float | None) -> None:
        self.axes.follow(last)  # log y: only x is held

    def _label_decades(self, values: np.ndarray) -> None:
        """Label whole decades only (1e-3, 1e-4, …): the default log axis also labels the
        minor ticks between them, which crowds a short axis."""
        if not len(values):
            return
        decades = (int(np.floor(np.log10(values.min()))), int(np.ceil(np.log10(values.max()))))
        if self._decades is not None:
            decades = (min(decades[0], self._decades[0]), max(decades[1], self._decades[1]))
        if decades != self._decades:
            self._decades = decades
            ticks = [(e, f"1e{e}") for e in range(decades[0], decades[1] + 1)]
            self.getPlotItem().getAxis("left").setTicks([ticks, []])

    def preview_points(self) -> int:
        x, _ = self.preview.getOriginalDataset()
        return 0 if x is None else len(x)

    def reset(self) -> None:
        self.actual.setData([], [])
        self._decades = None
