"""Preferences: the workspace folder where runs are written and listed."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QWidget,
)


class PreferencesDialog(QDialog):
    def __init__(self, workspace: str, parent=None):
        super().__init__(parent)
        self.setObjectName("preferencesDialog")
        self.setWindowTitle("Preferences")
        form = QFormLayout(self)
        self.workspace = QLineEdit(workspace)
        self.workspace.setObjectName("workspaceField")
        browse = QPushButton("…")
        browse.setFixedWidth(28)
        browse.clicked.connect(self._browse)
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.workspace, 1)
        layout.addWidget(browse)
        form.addRow("Workspace (runs folder)", row)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _browse(self):
        folder = QFileDialog.getExistingDirectory(self, "Workspace", self.workspace.text())
        if folder:
            self.workspace.setText(folder)
