"""``doctorPanel``: the findings of the selected (or running) run, most severe first, each with
its evidence; a finding's fix is shown as a preset diff and applied with one click (or applied
and rerun, the new run overlaid on the old)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

# Marks from the fonts a Linux laptop has (DejaVu): "⛔" was an empty box there
SEVERITY_MARK = {"error": "✖", "warning": "⚠", "info": "ℹ"}


class DoctorPanel(QWidget):
    """Lists findings; emits ``apply_requested(changes, rerun)`` for the selected finding's fix."""

    apply_requested = Signal(object, bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("doctorPanel")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.header = QLabel("Doctor: select a run to see its findings.")
        self.header.setWordWrap(True)
        self.list = QListWidget()
        self.list.setObjectName("findingList")
        self.list.setWordWrap(True)
        self.list.currentRowChanged.connect(self._selected)
        self.diff = QLabel("")
        self.diff.setObjectName("fixDiff")
        self.diff.setWordWrap(True)
        self.diff.setTextFormat(Qt.TextFormat.PlainText)
        buttons = QHBoxLayout()
        self.apply = QPushButton("Apply fix")
        self.apply.setObjectName("applyFix")
        self.rerun = QPushButton("Apply and rerun")
        self.rerun.setObjectName("applyFixAndRerun")
        for b in (self.apply, self.rerun):
            b.setEnabled(False)
            buttons.addWidget(b)
        self.apply.clicked.connect(lambda: self._request(False))
        self.rerun.clicked.connect(lambda: self._request(True))
        layout.addWidget(self.header)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.diff)
        layout.addLayout(buttons)
        self.findings: list[dict] = []
        self._value_of = lambda key: "?"  # the current preset's value of a dotted key
        self._target = lambda: ""  # what to say of the preset a fix changes, if anything
        self.can_apply = True

    def set_value_source(self, value_of, target=lambda: "") -> None:
        """Where the diff's "before" values come from: ``value_of(dotted_key)``; ``target()``:
        a line on which preset a fix changes, when that is not the forms' one."""
        self._value_of, self._target = value_of, target

    def show_findings(self, findings: list[dict], run_name: str = "") -> None:
        selected = self.list.currentRow()
        self.findings = list(findings)
        self.list.clear()
        for f in self.findings:
            mark = SEVERITY_MARK.get(f.get("severity"), "•")
            where = f" (epoch {f['epoch']})" if f.get("epoch") else " (before training)"
            item = QListWidgetItem(
                f"{mark} {f.get('title', f['id'])}{where}\n{f.get('evidence', '')}"
            )
            item.setToolTip(f"{f['id']} — {f.get('severity')}")
            self.list.addItem(item)
        if not findings:
            self.header.setText(f"Doctor: no findings for {run_name or 'this run'}.")
        else:
            self.header.setText(f"Doctor: {len(findings)} finding(s) for {run_name}.")
        if 0 <= selected < len(self.findings):
            self.list.setCurrentRow(selected)
        else:
            self._selected(-1)

    def set_can_apply(self, enabled: bool) -> None:
        self.can_apply = enabled
        self._selected(self.list.currentRow())

    def findings_shown(self) -> int:
        return self.list.count()

    def selected_fix(self) -> dict | None:
        row = self.list.currentRow()
        if 0 <= row < len(self.findings) and self.findings[row].get("fix"):
            return self.findings[row]["fix"]["set"]
        return None

    def refresh(self) -> None:
        """The preset in the forms changed: show the selected fix against it."""
        self._selected(self.list.currentRow())

    def _selected(self, row: int) -> None:
        fix = self.selected_fix()
        self.rerun.setEnabled(fix is not None and self.can_apply)
        if fix is None:
            self.apply.setEnabled(False)
            advice = self.findings[row].get("advice") if 0 <= row < len(self.findings) else ""
            self.diff.setText(_advice(advice))
            return
        now = {k: _plain(self._value_of(k)) for k in fix}
        applied = all(now[k] == _plain(v) for k, v in fix.items())
        self.apply.setEnabled(self.can_apply and not applied)  # twice would change nothing
        if applied:
            lines = [f"{k}: {v!r}" for k, v in fix.items()]
            self.diff.setText("Fix — already in the preset:\n" + "\n".join(lines))
            return
        lines = [f"{k}: {now[k]!r} → {v!r}" for k, v in fix.items()]
        if "data.exclude" in fix and now["data.exclude"]:  # merged, not replaced (RunCommands)
            lines.append(
                "(the images the current list leaves out stay out: both lists go into a new one)"
            )
        target = self._target()
        self.diff.setText(
            "Fix — preset change:\n" + "\n".join(lines + ([target] if target else []))
        )

    def _request(self, rerun: bool) -> None:
        fix = self.selected_fix()
        if fix is not None:
            self.apply_requested.emit(dict(fix), rerun)


def _advice(advice: str) -> str:
    """A finding with no fix: its advice, under one heading (advice that starts by saying no
    setting fixes it is not said twice)."""
    if not advice:
        return ""
    if advice.lower().startswith(("no training setting", "no setting")):
        return advice[0].upper() + advice[1:]
    return f"No setting can fix this: {advice}"


def _plain(value):
    """A preset value as the fix writes it (tuples as lists), for comparing the two."""
    return list(value) if isinstance(value, tuple) else value
