"""A non-modal banner for a failed run or a rejected file: the message, a hint, a close button."""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton


class ErrorBanner(QFrame):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("errorBanner")
        self.setStyleSheet(
            "#errorBanner { background: #fdecea; border: 1px solid #d9534f; border-radius: 4px; }"
        )
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        self.label = QLabel()
        self.label.setWordWrap(True)
        close = QPushButton("✕")
        close.setFlat(True)
        close.setFixedWidth(24)
        close.clicked.connect(self.hide)
        self.run_dir: str | None = None  # the run whose failure it shows, if it shows one
        layout.addWidget(self.label, 1)
        layout.addWidget(close)
        self.hide()

    def show_message(self, message: str, hint: str = "", run_dir: str | None = None) -> None:
        self.label.setText(message + (f"\nHint: {hint}" if hint else ""))
        self.run_dir = run_dir
        self.show()

    def show_run_outcome(self, run_dir: str, summary) -> None:
        """A run selected in the list: why it failed, if it did (its ``summary.json`` says; the
        status bar alone said "failed"); a failure shown for another run goes away."""
        if summary is not None and summary.status == "failed" and summary.error:
            self.show_message(f"This run failed: {summary.error}", summary.hint, run_dir)
        elif self.run_dir is not None and self.run_dir != run_dir:
            self.run_dir = None
            self.hide()

    def text(self) -> str:
        return self.label.text()
