"""A grid of small images with captions (samples in the data inspector and error browser)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QLabel,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

CELL = 72


def to_pixmap(image: np.ndarray, size: int = CELL) -> QPixmap:
    """An ``H×W×3`` uint8 array as a pixmap scaled to ``size`` (nearest neighbour: pixels stay
    visible)."""
    image = np.ascontiguousarray(image)
    h, w, _ = image.shape
    qimage = QImage(image.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    return QPixmap.fromImage(qimage).scaled(
        size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation
    )


class ImageGrid(QScrollArea):
    """Images with a caption under each, in as many columns as fit the width (at most
    ``columns``), so a narrow window scrolls down, never sideways."""

    def __init__(self, columns: int = 8, parent=None):
        super().__init__(parent)
        self.max_columns = self.columns = columns
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._cells: list[QWidget] = []
        self._boxes: list[QCheckBox] = []
        self._inner = QWidget()
        self._grid = QGridLayout(self._inner)
        self._grid.setSpacing(4)
        self._grid.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.setWidget(self._inner)
        self.count = 0

    def set_images(
        self,
        images: np.ndarray,
        captions: list[str],
        checkable: bool = False,
        tips: list[str] | None = None,
    ) -> None:
        """``checkable``: each caption is a check box (see :meth:`checked`); ``tips``: each
        image's tooltip (which file it is)."""
        tips = tips or [""] * len(captions)
        while self._grid.count():
            item = self._grid.takeAt(0)
            if item.widget():
                item.widget().hide()  # gone from sight now, deleted when the loop gets to it
                item.widget().deleteLater()
        self._cells, self._boxes = [], []
        for image, caption, tip in zip(images, captions, tips, strict=True):
            cell = QWidget()
            cell.setToolTip(tip)
            box = QVBoxLayout(cell)
            box.setContentsMargins(0, 0, 0, 0)
            box.setSpacing(1)
            picture = QLabel()
            picture.setPixmap(to_pixmap(image))
            picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
            text = QCheckBox(caption) if checkable else QLabel(caption)
            if checkable:
                self._boxes.append(text)
            else:
                text.setAlignment(Qt.AlignmentFlag.AlignCenter)
            text.setStyleSheet("font-size: 8pt;")
            box.addWidget(picture)
            box.addWidget(text)
            self._cells.append(cell)
        self.columns = self._fitting_columns()
        for i, cell in enumerate(self._cells):
            self._grid.addWidget(cell, i // self.columns, i % self.columns)
        self.count = len(captions)

    def checked(self) -> list[int]:
        """The positions of the checked images (checkable grids)."""
        return [i for i, box in enumerate(self._boxes) if box.isChecked()]

    def _fitting_columns(self) -> int:
        room = self.viewport().width() - 8
        cell = max((c.sizeHint().width() for c in self._cells), default=CELL)
        return max(1, min(self.max_columns, room // (max(cell, CELL) + self._grid.spacing())))

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        columns = self._fitting_columns()
        if columns != self.columns and self._cells:
            self.columns = columns
            for cell in self._cells:
                self._grid.removeWidget(cell)
            for i, cell in enumerate(self._cells):
                self._grid.addWidget(cell, i // columns, i % columns)
