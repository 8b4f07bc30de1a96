"""The error browser: the validation images behind a confusion-matrix cell or a class, most
confident first — confidently wrong samples are often mislabeled."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from workbench.panels.image_grid import ImageGrid


class ErrorBrowser(QWidget):
    """Shows what ``engine.inspection.error_samples`` returns."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("errorBrowser")
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        self.title = QLabel("Click a confusion-matrix cell or a per-class bar to see its images.")
        self.title.setWordWrap(True)
        self.which = QComboBox()
        self.which.setObjectName("errorBrowserEpoch")
        self.which.addItem("best epoch", "best")
        self.which.addItem("last epoch", "last")
        top.addWidget(self.title, 1)
        top.addWidget(self.which)
        layout.addLayout(top)
        self.grid = ImageGrid(columns=8)
        layout.addWidget(self.grid, 1)
        self.confidences: list[float] = []

    def show_samples(self, result: dict, description: str) -> None:
        self.confidences = list(result["confidence"])
        captions = [
            f"{t}→{p}\n{c:.0%}"
            for t, p, c in zip(result["true"], result["pred"], result["confidence"], strict=True)
        ]
        self.grid.set_images(result["images"], captions)
        shown = len(captions)
        self.title.setText(
            f"{description}: {result['count']} validation images at epoch {result['epoch']}"
            + (f", the {shown} most confident shown" if shown < result["count"] else "")
            + " (true→predicted, confidence)"
        )

    def show_error(self, message: str) -> None:
        self.title.setText(message)
