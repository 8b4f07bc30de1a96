"""The learning-rate finder: loss against learning rate (log axis), the suggestion marked, and a
button that puts it into the preset."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout

from workbench.plots import style


class LrFinderDialog(QDialog):
    use_lr = Signal(float)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("lrFinderDialog")
        self.setWindowTitle("Learning-rate finder")
        self.resize(560, 420)
        layout = QVBoxLayout(self)
        self.plot = style.make_plot(
            "lrFinderPlot", "Loss vs learning rate", "smoothed loss", "learning rate"
        )
        self.plot.getPlotItem().setLogMode(x=True)
        self.curve = self.plot.getPlotItem().plot(pen=style.pen(style.TRAIN, 1.5), name="loss")
        self.marker = pg.InfiniteLine(
            angle=90,
            pen=style.pen(style.VAL, dashed=True),
            label="suggested",
            labelOpts={"position": 0.9, "color": style.FOREGROUND},
        )
        self.steep = pg.InfiniteLine(
            angle=90,
            pen=style.pen(style.PREVIEW, dashed=True),
            label="steepest",
            labelOpts={"position": 0.75, "color": style.FOREGROUND},
        )
        for line in (self.marker, self.steep):
            line.setVisible(False)
            self.plot.getPlotItem().addItem(line)
        self.text = QLabel("Sweeping the learning rate from 1e-7 to 10 …")
        self.text.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.use = buttons.addButton("Use this LR", QDialogButtonBox.ButtonRole.AcceptRole)
        self.use.setObjectName("useSuggestedLr")
        self.use.setEnabled(False)
        self.use.clicked.connect(self._use)
        buttons.rejected.connect(self.reject)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.text)
        layout.addWidget(buttons)
        self.result: dict | None = None

    def sweep(self, jobs, preset) -> None:
        """Run the range test for ``preset`` as a background job and show its result."""
        from workbench.bridge import engine_calls

        jobs.submit(
            "lrfind",
            lambda: engine_calls.find_lr(preset),
            self.show_result,
            lambda e: self.show_error(str(e)),
        )

    def show_result(self, result: dict) -> None:
        self.result = result
        self.curve.setData(np.asarray(result["lrs"]), np.asarray(result["losses"]))
        for line, value in ((self.marker, result["suggestion"]), (self.steep, result["steepest"])):
            line.setValue(np.log10(value))
            line.setVisible(True)
        self.text.setText(
            f"Suggested learning rate (fastai's valley rule): {result['suggestion']:.3g}; "
            f"steepest descent at {result['steepest']:.3g}. The model and optimizer used for the "
            "sweep are copies; nothing was trained."
            + (f"\nCareful: {result['warning']}." if result.get("warning") else "")
        )
        self.use.setEnabled(True)

    def show_error(self, message: str) -> None:
        self.text.setText(f"The sweep failed: {message}")

    def _use(self) -> None:
        if self.result:
            self.use_lr.emit(float(f"{self.result['suggestion']:.3g}"))
        self.accept()
