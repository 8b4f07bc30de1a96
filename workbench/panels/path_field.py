"""A text field for a path with a "…" button that opens a file or folder dialog."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QHBoxLayout, QLineEdit, QPushButton, QWidget


class PathField(QWidget):
    """``line`` holds the path; ``choose(current) -> str`` asks the user for a new one."""

    def __init__(self, line: QLineEdit, choose: Callable[[str], str], on_chosen=None, parent=None):
        super().__init__(parent)
        self.line = line
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(line, 1)
        button = QPushButton("…")
        button.setFixedWidth(28)
        button.setToolTip("Choose…")
        layout.addWidget(button)

        def browse() -> None:
            path = choose(line.text())
            if path:
                line.setText(path)
                if on_chosen:
                    on_chosen()

        button.clicked.connect(browse)
        self.button = button
