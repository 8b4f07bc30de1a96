"""``confusionMatrixView``: a heatmap of the confusion matrix (counts or row-normalized), with an
epoch slider; hovering a cell tells the count and class names, clicking it opens those images."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from workbench.plots import style
from workbench.run_history import RunHistory

MAX_LABELLED = 15  # write counts into cells up to this many classes


class ConfusionMatrixView(QWidget):
    """Rows are true classes, columns predicted classes."""

    cell_clicked = Signal(int, int)  # true, predicted

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("confusionMatrixView")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        controls = QHBoxLayout()
        self.normalized = QCheckBox("row-normalized")
        self.normalized.setObjectName("confusionNormalized")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("confusionEpoch")
        self.slider.setRange(0, 0)
        self.epoch_label = QLabel("no epochs yet")
        # a fixed width: a label that grows with its numbers re-lays out the whole plot grid
        self.epoch_label.setMinimumWidth(
            self.epoch_label.fontMetrics().horizontalAdvance("epoch 999 of 999")
        )
        self.slider.setMinimumWidth(60)
        controls.addWidget(self.normalized)
        controls.addWidget(QLabel("epoch"))
        controls.addWidget(self.slider, 1)
        controls.addWidget(self.epoch_label)
        layout.addLayout(controls)
        self.plot = pg.PlotWidget()
        self.plot.setMinimumHeight(200)
        item = style.white(self.plot)
        item.invertY(True)
        item.setAspectLocked(True)
        item.setMouseEnabled(x=False, y=False)
        item.setLabel("left", "true class", color=style.FOREGROUND)
        item.setLabel("bottom", "predicted class", color=style.FOREGROUND)
        for side in ("left", "bottom"):
            item.getAxis(side).enableAutoSIPrefix(False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setColorMap(pg.ColorMap([0.0, 1.0], [(255, 255, 255), (31, 95, 160)]))
        item.addItem(self.image)
        self.labels = CellLabels()
        item.addItem(self.labels)
        layout.addWidget(self.plot, 1)
        self.hover = QLabel(" ")
        self.hover.setObjectName("confusionHover")
        layout.addWidget(self.hover)
        self.history: RunHistory | None = None
        self.counts = np.zeros((0, 0), dtype=int)
        self.normalized.toggled.connect(lambda *_: self.refresh())
        self.slider.valueChanged.connect(lambda *_: self.refresh())
        self.plot.scene().sigMouseMoved.connect(self._hovered)
        self.plot.scene().sigMouseClicked.connect(self._clicked)
        self.refresh()

    def show_history(self, history: RunHistory) -> None:
        if history is not self.history:
            self.hover.setText(" ")  # about the run shown before
        self.history = history
        n = len(history.epochs)
        at_end = self.slider.value() == self.slider.maximum()
        self.slider.setRange(1 if n else 0, n)
        if at_end:
            self.slider.setValue(n)
        self.refresh()

    def shown_epoch(self) -> int | None:
        """The epoch the matrix shows (None before any)."""
        h = self.history
        if h is None or not h.epochs:
            return None
        return h.epochs[max(self.slider.value(), 1) - 1].epoch

    def refresh(self) -> None:
        h = self.history
        if h is None or not h.epochs:
            self.counts = np.zeros((0, 0), dtype=int)
            self.image.clear()
            self.labels.set_cells([], [])
            self.epoch_label.setText("no epochs yet")
            self.hover.setText(" ")
            item = self.plot.getPlotItem()
            for side in ("left", "bottom"):  # an empty matrix: no meaningless numbers
                item.getAxis(side).setStyle(showValues=False)
            self._ticks = None
            return
        row = h.epochs[max(self.slider.value(), 1) - 1]
        self.counts = np.asarray(row.confusion, dtype=int)
        k = len(self.counts)
        shown = self.counts.astype(float)
        if self.normalized.isChecked():
            shown = shown / np.maximum(shown.sum(1, keepdims=True), 1)
        self.image.setImage(shown, autoLevels=False, levels=(0, max(shown.max(), 1e-9)))
        self.image.setRect(-0.5, -0.5, k, k)
        self.epoch_label.setText(f"epoch {row.epoch} of {len(h.epochs)}")
        names = self._names(k)
        rows = style.class_ticks(names, max_chars=10)
        if (rows, names) != getattr(self, "_ticks", None):  # setting ticks re-lays out axes
            self._ticks = (rows, names)
            item = self.plot.getPlotItem()
            for side in ("left", "bottom"):
                item.getAxis(side).setStyle(showValues=True)
            item.getAxis("left").setTicks([rows])
            # columns are narrow: long names go on the rows only, columns show the class index
            item.getAxis("bottom").setTicks([style.class_ticks(names, max_chars=3, room=32)])
            item.autoRange(padding=0.02)
        self._label_cells(shown)

    def _label_cells(self, shown: np.ndarray) -> None:
        k = len(shown)
        if k > MAX_LABELLED:
            self.labels.set_cells([], [])
            return
        top = max(shown.max(), 1e-9)
        fmt = "{:.2f}" if self.normalized.isChecked() else "{:.0f}"
        self.labels.set_cells(
            [fmt.format(v) for v in shown.ravel()], [v > 0.55 * top for v in shown.ravel()], k
        )

    def _names(self, k: int) -> list[str]:
        names = self.history.class_names if self.history else []
        return names if len(names) == k else [str(i) for i in range(k)]

    def _cell_at(self, pos) -> tuple[int, int] | None:
        k = len(self.counts)
        if not k:
            return None
        point = self.plot.getPlotItem().vb.mapSceneToView(pos)
        col, row = int(round(point.x())), int(round(point.y()))
        return (row, col) if 0 <= row < k and 0 <= col < k else None

    def _hovered(self, pos) -> None:
        cell = self._cell_at(pos)
        if cell is None:
            self.hover.setText(" ")
            return
        r, c = cell
        names = self._names(len(self.counts))
        total = max(int(self.counts[r].sum()), 1)
        self.hover.setText(
            f"true {names[r]} → predicted {names[c]}: {self.counts[r, c]} "
            f"({self.counts[r, c] / total:.0%} of {names[r]})"
        )

    def _clicked(self, event) -> None:
        cell = self._cell_at(event.scenePos())
        if cell is not None:
            self.cell_clicked.emit(*cell)


class CellLabels(pg.GraphicsObject):
    """Every cell's count, drawn by one item in one paint (a text item per cell made each
    repaint of a 10×10 matrix cost milliseconds of GUI time)."""

    def __init__(self):
        super().__init__()
        self.texts: list[str] = []
        self.light: list[bool] = []
        self.k = 0

    def set_cells(self, texts: list[str], light: list[bool], k: int = 0) -> None:
        if (texts, light, k) != (self.texts, self.light, self.k):
            self.prepareGeometryChange()
            self.texts, self.light, self.k = texts, light, k
            self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt override
        return QRectF(-0.5, -0.5, self.k, self.k)

    def paint(self, painter, *_args) -> None:
        if not self.texts:
            return
        to_device = painter.transform()
        painter.resetTransform()  # draw text in pixels at each cell's centre
        for idx, (text, light) in enumerate(zip(self.texts, self.light, strict=True)):
            r, c = divmod(idx, self.k)
            centre = to_device.map(QPointF(c, r))
            painter.setPen(QColor("white" if light else "black"))
            painter.drawText(
                QRectF(centre.x() - 30, centre.y() - 10, 60, 20), Qt.AlignmentFlag.AlignCenter, text
            )
