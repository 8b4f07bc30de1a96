"""``doctorPanel``: the selected run's findings (``diagnosis.json``), most severe first."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
SEVERITY_MARK = {"error": "⛔", "warning": "⚠", "info": "ℹ"}


class DoctorPanel(QWidget):
    """Lists findings with their evidence."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("doctorPanel")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.header = QLabel("Doctor: select a run to see its findings.")
        self.header.setWordWrap(True)
        self.list = QListWidget()
        self.list.setWordWrap(True)
        layout.addWidget(self.header)
        layout.addWidget(self.list, 1)

    def show_findings(self, findings: list[dict], run_name: str = "") -> None:
        self.list.clear()
        ordered = sorted(findings, key=lambda f: SEVERITY_ORDER.get(f.get("severity"), 3))
        for f in ordered:
            mark = SEVERITY_MARK.get(f.get("severity"), "•")
            text = f"{mark} {f.get('title', f.get('id', ''))}\n{f.get('evidence', '')}"
            item = QListWidgetItem(text)
            item.setToolTip(f.get("id", ""))
            self.list.addItem(item)
        if not findings:
            self.header.setText(f"Doctor: no findings for {run_name or 'this run'}.")
        else:
            self.header.setText(f"Doctor: {len(findings)} finding(s) for {run_name}.")

    def findings_shown(self) -> int:
        return self.list.count()
