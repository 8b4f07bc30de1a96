"""The export dialog: which run, best or last checkpoint, which format, where; shows the
verification figures once written."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from engine.export_formats import FORMATS, SUFFIX
from workbench.panels.path_field import PathField


class ExportDialog(QDialog):
    """Collects an export request and runs it through ``export_fn`` (off the GUI thread)."""

    def __init__(self, runs: list, export_fn, folder: str = "", parent=None):
        super().__init__(parent)
        self.setObjectName("exportDialog")
        self.setWindowTitle("Export model")
        self.export_fn = export_fn
        self.folder = folder
        self.remember_folder = lambda folder: None  # where the window keeps it
        layout = QVBoxLayout(self)
        self.setMinimumWidth(520)
        form = QFormLayout()
        self.run = QComboBox()
        self.run.setObjectName("exportRun")
        for row in runs:
            self.run.addItem(row.name, row.path)
        self.best = QRadioButton("best (highest validation accuracy)")
        self.best.setChecked(True)
        self.last = QRadioButton("last epoch")
        which = QWidget()
        which_layout = QHBoxLayout(which)
        which_layout.setContentsMargins(0, 0, 0, 0)
        which_layout.addWidget(self.best)
        which_layout.addWidget(self.last)
        self.format = QComboBox()
        self.format.setObjectName("exportFormat")
        for key, label in FORMATS.items():
            self.format.addItem(label, key)
        self.dest = QLineEdit()
        self.dest.setObjectName("exportDestination")
        dest_row = PathField(
            self.dest, lambda current: QFileDialog.getSaveFileName(self, "Export to", current)[0]
        )
        form.addRow("Run", self.run)
        form.addRow("Checkpoint", which)
        form.addRow("Format", self.format)
        form.addRow("Destination", dest_row)
        layout.addLayout(form)
        self.result = QLabel("")
        self.result.setObjectName("exportResult")
        self.result.setWordWrap(True)
        layout.addWidget(self.result)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.export_button = self.buttons.addButton(
            "Export", QDialogButtonBox.ButtonRole.ActionRole
        )
        self.export_button.setObjectName("exportButton")
        self.export_button.clicked.connect(self.start_export)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.run.currentIndexChanged.connect(self._suggest)
        self.format.currentIndexChanged.connect(self._suggest)
        self.best.toggled.connect(self._suggest)
        self._suggest()
        if not runs:
            self.export_button.setEnabled(False)
            self._say("No runs with checkpoints in the workspace yet.")

    def _say(self, text: str) -> None:
        """Show a result message; the dialog grows to fit it instead of squeezing the fields."""
        self.result.setText(text)
        self.adjustSize()

    def checkpoint(self) -> Path:
        which = "best" if self.best.isChecked() else "last"
        return Path(self.run.currentData() or "") / "checkpoints" / f"{which}.pt"

    def _suggest(self, *_):
        if not self.run.count():
            return
        suffix = SUFFIX[self.format.currentData()]
        which = "best" if self.best.isChecked() else "last"
        # the folder the last export went to, else the run's exports/ (as plateau-train export)
        folder = Path(self.folder or Path(self.run.currentData()) / "exports")
        self.dest.setText(str(folder / f"{self.run.currentText()}-{which}{suffix}"))

    def start_export(self) -> None:
        src, dest = self.checkpoint(), self.dest.text().strip()
        if not src.is_file():
            self._say(f"No checkpoint at {src}: the run has not completed an epoch.")
            return
        if not dest:
            self._say("Choose a destination file.")
            return
        self.export_button.setEnabled(False)
        self._say("Exporting and verifying…")
        self.export_fn(str(src), dest, self.format.currentData(), self._done, self._failed)

    def _done(self, report) -> None:
        chosen = Path(report.path).parent
        # a folder of the person's choosing is the next one's; a run's own exports/ is not
        self.folder = "" if chosen == Path(self.run.currentData()) / "exports" else str(chosen)
        self.remember_folder(self.folder)
        self.export_button.setEnabled(True)
        self._say(f"verified: {report.describe()}")

    def _failed(self, error: BaseException) -> None:
        self.export_button.setEnabled(True)
        self._say(f"Export failed: {error}")
