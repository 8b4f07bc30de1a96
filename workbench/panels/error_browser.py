"""The error browser: the validation images behind a confusion-matrix cell or a class, most
confident first — confidently wrong samples are often mislabeled."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from engine.wording import count
from workbench.panels.image_grid import ImageGrid

PROMPT = "Click a confusion-matrix cell or a per-class bar to see its images."


class ErrorBrowser(QWidget):
    """Shows what ``engine.inspection.error_samples`` returns."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("errorBrowser")
        layout = QVBoxLayout(self)
        self.title = QLabel(PROMPT)
        self.title.setObjectName("errorBrowserTitle")
        self.title.setWordWrap(True)
        layout.addWidget(self.title)
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
            f"{description}: {count(result['count'], 'validation image')} at epoch "
            f"{result['epoch']}"
            + (f", the {shown} most confident shown" if shown < result["count"] else "")
            + (" (true→predicted, confidence)" if shown else "")
        )

    def clear(self) -> None:
        """Back to the prompt (another run is shown)."""
        self.confidences = []
        self.grid.set_images([], [])
        self.title.setText(PROMPT)

    def show_error(self, message: str) -> None:
        self.title.setText(message)
