"""The error browser: the validation images behind a confusion-matrix cell or a class, most
confident first — confidently wrong samples are often mislabeled; and the *Likely mislabeled*
view: the training images whose label the network keeps disagreeing with, each one markable to
leave out or give another class (the lists ``data.exclude``/``data.relabel`` name)."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from engine.wording import count
from workbench.panels.image_grid import ImageGrid

PROMPT = (
    "Click a confusion-matrix cell or a per-class bar to see its images, or look at the "
    "training images that are likely mislabeled."
)


class ErrorBrowser(QWidget):
    """Shows what ``engine.inspection.error_samples``/``suspect_samples`` return."""

    suspects_requested = Signal()
    # sample names, and the class to give them (None: leave them out)
    mark_requested = Signal(list, object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("errorBrowser")
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        self.title = QLabel(PROMPT)
        self.title.setObjectName("errorBrowserTitle")
        self.title.setWordWrap(True)
        top.addWidget(self.title, 1)
        self.suspects_button = QPushButton("Likely mislabeled")
        self.suspects_button.setObjectName("likelyMislabeledButton")
        self.suspects_button.setToolTip(
            "Training images whose label the network keeps disagreeing with (the selected run)"
        )
        self.suspects_button.clicked.connect(self.suspects_requested)
        top.addWidget(self.suspects_button)
        layout.addLayout(top)
        self.marking = QWidget()
        row = QHBoxLayout(self.marking)
        row.setContentsMargins(0, 0, 0, 0)
        self.exclude_button = QPushButton("Leave checked out")
        self.exclude_button.setObjectName("excludeMarkedButton")
        self.exclude_button.clicked.connect(lambda: self._mark(None))
        self.relabel_button = QPushButton("Relabel checked as")
        self.relabel_button.setObjectName("relabelMarkedButton")
        self.relabel_button.clicked.connect(lambda: self._mark(self.relabel_class.currentText()))
        self.relabel_class = QComboBox()
        self.relabel_class.setObjectName("relabelClass")
        self.mark_result = QLabel()
        self.mark_result.setObjectName("markResult")
        self.mark_result.setWordWrap(True)
        for w in (self.exclude_button, self.relabel_button, self.relabel_class):
            row.addWidget(w)
        row.addWidget(self.mark_result, 1)
        self.marking.hide()
        layout.addWidget(self.marking)
        self.grid = ImageGrid(columns=8)
        layout.addWidget(self.grid, 1)
        self.confidences: list[float] = []
        self.sample_ids: list[str] = []

    def show_samples(self, result: dict, description: str) -> None:
        self.marking.hide()
        self.sample_ids = []
        self.confidences = list(result["confidence"])
        captions = [
            f"{t}→{p}\n{c:.0%}"
            for t, p, c in zip(result["true"], result["pred"], result["confidence"], strict=True)
        ]
        self.grid.set_images(result["images"], captions, tips=result.get("ids"))
        shown = len(captions)
        self.title.setText(
            f"{description}: {count(result['count'], 'validation image')} at epoch "
            f"{result['epoch']}"
            + (f", the {shown} most confident shown" if shown < result["count"] else "")
            + (" (true→predicted, confidence; hover an image for its file)" if shown else "")
            + (
                f"; {missing:,} of them {'is' if missing == 1 else 'are'} no longer in the data"
                if (missing := result.get("missing", 0))
                else ""
            )
        )

    def show_suspects(self, result: dict) -> None:
        """Training images ranked by suspicion, each with a check box to mark it."""
        self.confidences = []
        self.sample_ids = list(result["ids"])
        captions = [  # "dogs→dogs margin -0.0" read oddly: a late fit, a small margin
            (f"{g}→{p}" if g != p else f"{g}, fitted late") + f"\nmargin {_margin(m)}"
            for g, p, m in zip(result["given"], result["pred"], result["margin"], strict=True)
        ]
        self.grid.set_images(result["images"], captions, checkable=True, tips=self.sample_ids)
        shown, n = len(captions), result["count"]
        if result["flagged"]:
            head = f"Likely mislabeled: {count(n, 'training image')} the doctor flags"
        elif n:
            head = (
                f"No label-noise finding; {count(n, 'training image')} still with a negative margin"
            )
        else:
            head = (
                "No label looks wrong: no training image of a class the network learned keeps a "
                "negative margin"
            )
        self.title.setText(
            f"{head} after {count(result['epochs'], 'epoch')}"
            + (f", the {shown} most suspicious shown" if 0 < shown < n else "")
            + (
                " (given→predicted, mean margin; hover an image for its file). Check the wrong "
                "ones, then:"
                if shown
                else ""
            )
        )
        self.relabel_class.clear()
        self.relabel_class.addItems(result["classes"])
        self.mark_result.clear()
        self.marking.setVisible(bool(shown))

    def _mark(self, relabel_as: str | None) -> None:
        samples = [self.sample_ids[i] for i in self.grid.checked()]
        if not samples:
            self.mark_result.setText("Check the images to mark first.")
            return
        self.mark_requested.emit(samples, relabel_as)

    def show_marked(self, message: str) -> None:
        self.mark_result.setText(message)

    def clear(self) -> None:
        """Back to the prompt (another run is shown)."""
        self.confidences = []
        self.sample_ids = []
        self.marking.hide()
        self.grid.set_images([], [])
        self.title.setText(PROMPT)

    def show_error(self, message: str) -> None:
        self.marking.hide()
        self.title.setText(message)


def _margin(m: float) -> str:
    """Two significant digits, never in scientific notation: -0.034, -1.5, -150."""
    return f"{m:+.2g}" if abs(m) < 10 else f"{m:+.0f}"
