"""The model summary: each layer's type, output shape and parameters; totals on top."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QLabel,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.panels import wrappable


class ModelSummaryView(QWidget):
    """Shows what ``engine.inspection.model_summary`` returns."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("modelSummary")
        layout = QVBoxLayout(self)
        self.totals = QLabel("Building the model…")
        self.totals.setWordWrap(True)  # an error names paths: it wraps, never widens the window
        self.totals.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(
            ["layer", "type", "output shape", "parameters", "trains"]
        )
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        layout.addWidget(self.totals)
        layout.addWidget(self.table, 1)

    def show_summary(self, summary: dict) -> None:
        rows = summary["layers"]
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            shape = "×".join(str(s) for s in row["output"][1:]) if row["output"] else "–"
            trains = {True: "yes", False: "frozen", None: ""}[row.get("trainable")]
            cells = [row["name"], row["type"], shape, f"{row['params']:,}", trains]
            for c, text in enumerate(cells):
                self.table.setItem(r, c, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        inp = "×".join(str(s) for s in summary["input_shape"])
        frozen = summary["total_params"] - summary["trainable_params"]
        self.totals.setText(
            f"{summary['total_params']:,} parameters ({summary['trainable_params']:,} trainable"
            + (f", {frozen:,} frozen" if frozen else "")
            + f"); input {inp}"
        )

    def show_error(self, message: str) -> None:
        self.table.setRowCount(0)
        self.totals.setText(wrappable(f"Cannot build the model: {message}"))
