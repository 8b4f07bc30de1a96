"""``runList``: every run in the workspace — name, date, status, best validation accuracy.

Selecting a run shows its curves; checking several overlays them and lists how their presets
differ.
"""

from __future__ import annotations

import json
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.runs import RunFiles, list_runs

COLUMNS = ["run", "date", "status", "best val acc"]


@dataclass(frozen=True)
class RunRow:
    """One run as the list shows it."""

    path: str
    name: str
    date: str
    status: str
    best_val_acc: str  # as shown: "0.9861", or "–" before the first epoch


def read_run(path: Path) -> RunRow:
    """A run directory's row (tolerates a run still being written)."""
    summary = RunFiles(path).read_summary()
    if summary is None:
        status, best = ("running" if (path / "metrics.jsonl").exists() else "new"), None
    else:
        status, best = summary.status, summary.best_val_acc
    return RunRow(str(path), path.name, _when(path.stat().st_mtime), status, _accuracy(best))


def _accuracy(value: float | None) -> str:
    return f"{value:.4f}" if value is not None else "–"


def _when(mtime: float) -> str:
    """``"14:05"`` for today, else ``"11-26"``: the run's name already carries the full time."""
    day = time.strftime("%Y-%m-%d", time.localtime(mtime))
    if day == time.strftime("%Y-%m-%d"):
        return time.strftime("%H:%M", time.localtime(mtime))
    return time.strftime("%m-%d", time.localtime(mtime))


def flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and k != "class_fraction":
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def preset_differences(paths: list[str]) -> dict[str, list]:
    """Dotted keys whose values differ between the runs' presets (``name`` left out)."""
    flats = []
    for p in paths:
        try:
            flats.append(flatten(tomllib.loads((Path(p) / "preset.toml").read_text())))
        except (OSError, ValueError):
            flats.append({})
    keys = sorted(set().union(*flats)) if flats else []
    return {
        k: [f.get(k) for f in flats]
        for k in keys
        if k != "name" and len({json.dumps(f.get(k), sort_keys=True) for f in flats}) > 1
    }


class RunList(QWidget):
    """The workspace's runs, newest first."""

    run_selected = Signal(str)
    runs_checked = Signal(object)
    resume_requested = Signal(str)  # a run to continue (context menu)

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.tree = QTreeWidget()
        self.tree.setObjectName("runList")
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        # two runs of one preset differ only in their time stamp: keep the end of the name
        self.tree.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._context_menu)
        self.tree.header().setStretchLastSection(False)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.tree.itemSelectionChanged.connect(self._selected)
        self.tree.itemChanged.connect(self._changed)
        self.diff = QLabel("Check runs to overlay them and compare their presets.")
        self.diff.setObjectName("presetDiff")
        self.diff.setWordWrap(True)
        self.diff.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.diff)
        self._updating = False

    def refresh(self, workspace: str | Path) -> None:
        selected = self.selected_run()
        checked = set(self.checked_runs())
        self._updating = True
        self.tree.clear()
        for path in list_runs(workspace):
            item = self._new_item(read_run(path), checked)
            self.tree.addTopLevelItem(item)
            if item.data(0, Qt.ItemDataRole.UserRole) == selected:
                item.setSelected(True)
        self._fit_columns()
        self._updating = False

    def _new_item(self, row: RunRow, checked: set) -> QTreeWidgetItem:
        item = QTreeWidgetItem([row.name, row.date, row.status, row.best_val_acc])
        item.setData(0, Qt.ItemDataRole.UserRole, row.path)
        item.setToolTip(0, row.path)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(
            0, Qt.CheckState.Checked if row.path in checked else Qt.CheckState.Unchecked
        )
        return item

    def put_run(self, path: str) -> None:
        """Show one run as its files say now — a run that starts goes on top (the newest), one
        that ends is updated — without re-reading the whole workspace (at the start and end of a
        run, re-reading a few dozen runs stalled the window)."""
        row = read_run(Path(path))
        item = self._item(path)
        self._updating = True
        if item is None:
            item = self._new_item(row, set())
            self.tree.insertTopLevelItem(0, item)
        else:
            for col, text in enumerate((row.name, row.date, row.status, row.best_val_acc)):
                item.setText(col, text)
        self._fit_row(item)
        self._updating = False

    def _fit_columns(self) -> None:
        """Date, status and accuracy fit their text; the name takes the rest (a first run in an
        empty list showed "fi…ed" in a column as wide as its header)."""
        for col in range(1, len(COLUMNS)):
            self.tree.resizeColumnToContents(col)

    def _fit_row(self, item: QTreeWidgetItem) -> None:
        """Widen a column that ``item``'s text no longer fits — that row alone measured, not
        every row (fitting the whole list took 16–22 ms with 1,000 runs listed, on the GUI thread
        as a run starts)."""
        for col in range(1, len(COLUMNS)):
            wanted = self.tree.sizeHintForIndex(self.tree.indexFromItem(item, col)).width()
            if wanted > self.tree.columnWidth(col):
                self.tree.setColumnWidth(col, wanted)

    def runs(self) -> list[RunRow]:
        """What the list shows, one row per run."""
        out = []
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            path = item.data(0, Qt.ItemDataRole.UserRole)
            out.append(RunRow(path, item.text(0), item.text(1), item.text(2), item.text(3)))
        return out

    def update_run(self, path: str, status: str, best_val_acc: float | None) -> None:
        """Refresh one row (the live run at each epoch) without re-reading the workspace."""
        item = self._item(path)
        if item is None:
            return
        item.setText(2, status)
        item.setText(3, _accuracy(best_val_acc))
        self._fit_row(item)

    def _item(self, path: str):
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item.data(0, Qt.ItemDataRole.UserRole) == path:
                return item
        return None

    def _context_menu(self, pos) -> None:
        from PySide6.QtWidgets import QMenu

        item = self.tree.itemAt(pos)
        if item is None:
            return
        path = item.data(0, Qt.ItemDataRole.UserRole)
        menu = QMenu(self)
        resume = menu.addAction("Resume this run…")
        resume.setObjectName("runListResume")
        resume.setEnabled(self.can_resume(path))
        resume.triggered.connect(lambda: self.resume_requested.emit(path))
        self.context_menu = menu  # tests reach it
        menu.popup(self.tree.viewport().mapToGlobal(pos))

    def can_resume(self, path: str | None) -> bool:
        """A run with a checkpoint can be continued (the window refuses while one trains)."""
        return bool(path) and (Path(path) / "checkpoints" / "last.pt").is_file()

    def select(self, path: str) -> None:
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item.data(0, Qt.ItemDataRole.UserRole) == path:
                self.tree.setCurrentItem(item)
                return

    def selected_run(self) -> str | None:
        items = self.tree.selectedItems()
        return items[0].data(0, Qt.ItemDataRole.UserRole) if items else None

    def checked_runs(self) -> list[str]:
        return [
            self.tree.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole)
            for i in range(self.tree.topLevelItemCount())
            if self.tree.topLevelItem(i).checkState(0) == Qt.CheckState.Checked
        ]

    def set_checked(self, path: str, checked: bool) -> None:
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item.data(0, Qt.ItemDataRole.UserRole) == path:
                item.setCheckState(0, Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)

    def _selected(self) -> None:
        path = self.selected_run()
        if path and not self._updating:
            self.run_selected.emit(path)
            self._compare(self.checked_runs())

    def _changed(self, *_):
        if self._updating:
            return
        checked = self.checked_runs()
        self._compare(checked)
        self.runs_checked.emit(checked)

    def _compare(self, checked: list[str]) -> None:
        """The presets of the runs the plots overlay: the selected one (first) and the checked
        ones."""
        selected = self.selected_run()
        extra = [selected] if selected and checked and selected not in checked else []
        runs = extra + checked
        which = "selected and checked" if extra else "checked"
        diffs = preset_differences(runs) if len(runs) >= 2 else {}
        if len(runs) < 2:
            self.diff.setText("Check runs to overlay them and compare their presets.")
        elif not diffs:
            self.diff.setText(f"The {which} runs have identical presets.")
        else:
            lines = [
                f"{k}: " + " | ".join(json.dumps(v) for v in vals) for k, vals in diffs.items()
            ]
            first = " (the selected run first)" if extra else ""
            self.diff.setText(f"Preset differences{first}:\n" + "\n".join(lines[:12]))
