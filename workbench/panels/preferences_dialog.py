"""Preferences: the workspace folder where runs are written and listed."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QLineEdit,
)

from workbench.panels.path_field import PathField


class PreferencesDialog(QDialog):
    def __init__(self, workspace: str, parent=None):
        super().__init__(parent)
        self.setObjectName("preferencesDialog")
        self.setWindowTitle("Preferences")
        form = QFormLayout(self)
        self.workspace = QLineEdit(workspace)
        self.workspace.setObjectName("workspaceField")
        row = PathField(
            self.workspace,
            lambda current: QFileDialog.getExistingDirectory(self, "Workspace", current),
        )
        form.addRow("Workspace (runs folder)", row)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
