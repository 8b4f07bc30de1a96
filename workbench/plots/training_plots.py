"""The Training tab: loss, accuracy and learning rate on top, per-class metrics and the confusion
matrix below, and a line that says what to do while no run is shown."""

from __future__ import annotations

from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

from workbench.plots.accuracy_plot import AccuracyPlot
from workbench.plots.confusion_matrix_view import ConfusionMatrixView
from workbench.plots.loss_plot import LossPlot
from workbench.plots.lr_plot import LrPlot
from workbench.plots.per_class_plot import PerClassPlot


class TrainingPlots(QWidget):
    """The five live views of a run, in a grid."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.loss = LossPlot()
        self.accuracy = AccuracyPlot()
        self.lr = LrPlot()
        self.per_class = PerClassPlot()
        self.confusion = ConfusionMatrixView()
        self.hint = QLabel("")
        self.hint.setObjectName("plotsHint")
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: #555; padding: 2px 4px;")
        grid = QGridLayout()
        grid.setContentsMargins(2, 2, 2, 2)
        grid.addWidget(self.loss, 0, 0)
        grid.addWidget(self.accuracy, 0, 1)
        grid.addWidget(self.lr, 0, 2)
        # the confusion matrix's controls need ~340 px: spread over two columns, so that at
        # 1366×768 they do not squeeze the accuracy plot above to a sliver
        grid.addWidget(self.per_class, 1, 0)
        grid.addWidget(self.confusion, 1, 1, 1, 2)
        for col, stretch in enumerate((4, 3, 3)):
            grid.setColumnStretch(col, stretch)
        grid.setRowStretch(0, 1)
        grid.setRowStretch(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.hint)
        layout.addLayout(grid, 1)

    def show_hint(self, preset_name: str | None) -> None:
        """The first-launch line (no run shown yet); None hides it."""
        if preset_name is None:
            self.hint.hide()
            return
        self.hint.setText(
            f"Press Start (F5) to train '{preset_name}', or select a run on the right to see "
            "its curves."
        )
        self.hint.show()
