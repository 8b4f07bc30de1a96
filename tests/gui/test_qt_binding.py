"""The Qt binding Plateau runs on must not corrupt reference counts (PySide6 6.12.0 did)."""

from __future__ import annotations

import sys

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QTreeWidgetItem


def test_empty_qvariants_do_not_release_none(qtbot):
    combo = QComboBox()
    qtbot.addWidget(combo)
    combo.addItems(["a", "b"])
    item = QTreeWidgetItem(["x"])
    before = sys.getrefcount(None)
    for _ in range(500):
        assert combo.currentData() is None
        assert item.data(1, Qt.ItemDataRole.UserRole) is None
    # Each call hands back a new reference to None; a binding that forgets to take it loses
    # 1,000 references here and eventually aborts the app ("none_dealloc").
    assert sys.getrefcount(None) >= before - 50
