"""``perClassPlot``: precision, recall or F1 per class for a chosen epoch, and recall per class
over epochs."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from workbench.plots import style
from workbench.run_history import RunHistory

METRICS = {  # the metric menu's entries
    "recall": lambda per_class: per_class.recall,
    "precision": lambda per_class: per_class.precision,
    "f1": lambda per_class: per_class.f1,
}


class PerClassPlot(QWidget):
    """Bars for one metric per class; click a bar to browse that class's validation errors."""

    class_clicked = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("perClassPlot")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        controls = QHBoxLayout()
        self.metric = QComboBox()
        self.metric.setObjectName("perClassMetric")
        self.metric.addItems(list(METRICS))
        self.epoch = QSpinBox()
        self.epoch.setObjectName("perClassEpoch")
        self.epoch.setRange(0, 0)
        self.epoch.setSpecialValueText("latest")
        controls.addWidget(QLabel("Per class:"))
        controls.addWidget(self.metric)
        controls.addWidget(QLabel("epoch"))
        controls.addWidget(self.epoch)
        controls.addStretch(1)
        layout.addLayout(controls)
        self.bars_plot = pg.PlotWidget()
        self.bars_plot.setMinimumHeight(140)
        item = style.white(self.bars_plot)
        item.setYRange(0, 1.05)
        item.setMouseEnabled(x=False, y=False)
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.7, brush=style.TRAIN)
        item.addItem(self.bars)
        self.bars_plot.scene().sigMouseClicked.connect(self._clicked)
        self.trend_plot = style.make_plot(
            "perClassTrend", "Recall per class", "recall", "epoch", short=True
        )
        self.trend_plot.setMinimumHeight(120)
        self.trend_curves: list = []
        self.trend_axes = style.LiveAxes(self.trend_plot.getPlotItem(), first_epoch=1)
        # no legend: each class's line has its bar's colour above, and the bars are labelled
        self.trend_plot.getPlotItem().legend.setVisible(False)
        layout.addWidget(self.bars_plot, 3)
        layout.addWidget(self.trend_plot, 2)
        self.metric.currentIndexChanged.connect(lambda *_: self.refresh())
        self.epoch.valueChanged.connect(lambda *_: self.refresh())
        self.history: RunHistory | None = None
        self.values = np.empty(0)
        self.refresh()

    def show_history(self, history: RunHistory) -> None:
        self.history = history
        self.epoch.setRange(0, len(history.epochs))
        self.refresh()

    def refresh(self) -> None:
        history = self.history
        axis = self.bars_plot.getPlotItem().getAxis("bottom")
        if history is None or not history.epochs:
            self.bars.setOpts(x=[], height=[])
            self.values = np.empty(0)
            axis.setStyle(showValues=False)  # no classes yet: no meaningless ticks
            self._ticks = None
            for curve in self.trend_curves:  # nor the recall lines of the run shown before
                curve.setData([], [])
            return
        axis.setStyle(showValues=True)
        chosen = self.epoch.value()
        row = history.epochs[chosen - 1] if chosen else history.epochs[-1]
        metric = self.metric.currentText()
        values = np.asarray(METRICS[metric](row.per_class), dtype=float)
        self.values = values
        k = len(values)
        brushes = [style.RUN_COLOURS[i % len(style.RUN_COLOURS)] for i in range(k)]
        self.bars.setOpts(x=np.arange(k), height=values, width=0.7, brushes=brushes)
        names = history.class_names if len(history.class_names) == k else list(map(str, range(k)))
        ticks = style.class_ticks(names, room=44)  # ~340 px at 1366×768
        if ticks != getattr(self, "_ticks", None):  # setting ticks re-lays out the axis
            self._ticks = ticks
            axis.setTicks([ticks])
        # The title names the epoch only when one is chosen: a title whose text changes every
        # epoch re-lays out the whole plot at each repaint.
        title = f"{metric} per class, " + (f"epoch {row.epoch}" if chosen else "latest epoch")
        if title != getattr(self, "_title", None):
            self._title = title
            self.bars_plot.getPlotItem().setTitle(title, size="10pt", color=style.FOREGROUND)
        self.bars_plot.getPlotItem().setXRange(-0.6, k - 0.4, padding=0)
        self._trend(history)

    def shown_epoch(self) -> int | None:
        """The epoch the bars show (None before any)."""
        h = self.history
        if h is None or not h.epochs:
            return None
        chosen = self.epoch.value()
        return (h.epochs[chosen - 1] if chosen else h.epochs[-1]).epoch

    def set_epoch_span(self, last: float | None) -> None:
        self.trend_axes.follow(last)

    def _trend(self, history: RunHistory) -> None:
        item = self.trend_plot.getPlotItem()
        recalls = np.array([r.per_class.recall for r in history.epochs], dtype=float)
        epochs = history.epoch_numbers()
        k = recalls.shape[1]
        while len(self.trend_curves) < k:
            i = len(self.trend_curves)
            colour = style.RUN_COLOURS[i % len(style.RUN_COLOURS)]
            self.trend_curves.append(item.plot(pen=style.pen(colour)))
        for i, curve in enumerate(self.trend_curves):
            curve.setData(epochs, recalls[:, i]) if i < k else curve.setData([], [])
        self.trend_axes.fit()

    def classes_shown(self) -> int:
        return len(self.values)

    def _clicked(self, event) -> None:
        if self.history is None or not len(self.values):
            return
        point = self.bars_plot.getPlotItem().vb.mapSceneToView(event.scenePos())
        index = int(round(point.x()))
        if 0 <= index < len(self.values):
            self.class_clicked.emit(index)
