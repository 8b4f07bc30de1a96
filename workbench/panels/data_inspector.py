"""The data inspector: class histogram (train/val), samples as the network sees them, per-channel
statistics of the raw inputs, skipped files."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.wording import skipped_files
from workbench.panels import wrappable
from workbench.panels.image_grid import ImageGrid
from workbench.plots import style

REDRAW = "Draw other samples"


class DataInspector(QWidget):
    """Shows what ``engine.inspection.inspect_data`` returns."""

    redraw_requested = Signal()
    cancel_requested = Signal()  # stop decoding the folder's images

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("dataInspector")
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        self.summary = QLabel("Loading data…")
        self.summary.setWordWrap(True)
        self.summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.redraw = QPushButton(REDRAW)
        self.redraw.setObjectName("redrawSamples")
        self.redraw.clicked.connect(self.redraw_requested)
        top.addWidget(self.summary, 1)
        top.addWidget(self.redraw)
        layout.addLayout(top)
        loading = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setObjectName("dataProgress")
        self.progress.setFormat("%v / %m images")
        self.cancel = QPushButton("Cancel")
        self.cancel.setObjectName("cancelDataLoading")
        self.cancel.clicked.connect(self.cancel_requested)
        loading.addWidget(self.progress, 1)
        loading.addWidget(self.cancel)
        self.loading = QWidget()
        self.loading.setLayout(loading)
        self.loading.hide()
        layout.addWidget(self.loading)
        self.notes = QLabel("")
        self.notes.setObjectName("dataNotes")
        self.notes.setWordWrap(True)
        self.notes.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.notes.hide()
        layout.addWidget(self.notes)
        self.skipped = QLabel("")
        self.skipped.setObjectName("skippedFiles")
        self.skipped.setWordWrap(True)
        self.skipped.setStyleSheet("color: #8a5a00;")
        self.skipped.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.skipped.hide()
        layout.addWidget(self.skipped)
        split = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        self.histogram = style.make_plot("classHistogram", "Samples per class", "samples", "class")
        item = self.histogram.getPlotItem()
        self.train_bars = pg.BarGraphItem(
            x=[], height=[], width=0.4, brush=style.TRAIN, name="train"
        )
        self.val_bars = pg.BarGraphItem(x=[], height=[], width=0.4, brush=style.VAL, name="val")
        item.addItem(self.train_bars)
        item.addItem(self.val_bars)
        self.stats = QTableWidget(0, 5)
        self.stats.setObjectName("channelStats")
        self.stats.setHorizontalHeaderLabels(["channel", "mean", "std", "min", "max"])
        self.stats.verticalHeader().setVisible(False)
        self.stats.setMaximumHeight(140)
        self.stats.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        left_layout.addWidget(self.histogram, 1)
        stats_title = QLabel("Raw input statistics (training split, before normalization):")
        stats_title.setWordWrap(True)
        left_layout.addWidget(stats_title)
        left_layout.addWidget(self.stats)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        self.samples_label = QLabel("Samples as the network sees them")
        self.samples_label.setWordWrap(True)
        self.grid = ImageGrid(columns=8)
        self.grid.setObjectName("sampleGrid")
        right_layout.addWidget(self.samples_label)
        right_layout.addWidget(self.grid, 1)
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([400, 500])
        layout.addWidget(split, 1)
        self.last: dict | None = None

    def show_inspection(self, result: dict) -> None:
        self.loading.hide()
        self.redraw.setText(REDRAW)
        self.last = result
        stats = result["stats"]
        train = np.asarray(stats["train_counts"], dtype=float)
        val = np.asarray(stats["val_counts"], dtype=float)
        k = len(train)
        self.train_bars.setOpts(x=np.arange(k) - 0.2, height=train, width=0.4)
        self.val_bars.setOpts(x=np.arange(k) + 0.2, height=val, width=0.4)
        top = max(float(train.max()) if k else 1.0, 1.0)
        self.histogram.getPlotItem().setYRange(0, top * 1.3, padding=0)  # room for the legend
        self.histogram.getPlotItem().getAxis("bottom").setTicks(
            [style.class_ticks(stats["classes"], room=28)]  # ~250 px at 1366×768
        )
        raw = stats["raw"]
        self.stats.setRowCount(len(raw["mean"]))
        for c in range(len(raw["mean"])):
            for col, value in enumerate(
                [c, raw["mean"][c], raw["std"][c], raw["min"][c], raw["max"][c]]
            ):
                text = str(value) if col == 0 else f"{value:.4g}"
                self.stats.setItem(c, col, QTableWidgetItem(text))
        ratio = train.max() / max(train[train > 0].min(), 1) if k else 0
        shape = "×".join(str(s) for s in stats["image_shape"])
        self.summary.setText(
            f"{stats['source']}: {int(train.sum())} training / {int(val.sum())} validation images "
            f"of {shape}, {k} classes (largest:smallest {ratio:.1f}:1); "
            f"normalization: {stats['normalize']}"
        )
        notes = list(stats.get("notes", []))
        if stats.get("cache", "off") != "off":
            verb = {"built": "decoded into", "updated": "updated in", "hit": "read from"}
            notes.insert(
                0,
                f"{stats['images']:,} images {verb[stats['cache']]} the cache in "
                f"{stats.get('load_seconds', 0):.1f} s ({stats.get('cache_location', '')})",
            )
        self.notes.setText(wrappable("\n".join(notes)))
        self.notes.setVisible(bool(notes))
        skipped = stats.get("skipped", [])
        self.skipped.setText(wrappable(skipped_files(skipped)))
        self.skipped.setToolTip("\n".join(f"{s['file']}: {s['reason']}" for s in skipped[:200]))
        self.skipped.setVisible(bool(skipped))
        lo, hi = result["network_range"]
        self.samples_label.setText(
            f"{len(result['labels'])} training samples as the network sees them "
            f"(normalized and augmented; values {lo:.2f} … {hi:.2f}, stretched for display)"
        )
        self.grid.set_images(result["images"], result["labels"])

    def show_progress(self, done: int, total: int, what: str) -> None:
        """A folder's images being decoded (``total`` 0: waiting for another process)."""
        self.loading.show()
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.summary.setText(f"{what[:1].upper()}{what[1:]}… (once: later runs read the cache)")

    def show_error(self, message: str, retry: str = "Try again") -> None:
        """The data cannot be loaded: the message alone, nothing left from the data before, and
        the button that draws samples says ``retry`` (it loads the data again)."""
        self.loading.hide()
        self.redraw.setText(retry)
        self.last = None
        self.summary.setText(wrappable(f"Cannot load the data: {message}"))
        self.grid.set_images(np.zeros((0, 1, 1, 3), np.uint8), [])
        for label in (self.notes, self.skipped):
            label.setText("")
            label.hide()
        self.train_bars.setOpts(x=[], height=[])
        self.val_bars.setOpts(x=[], height=[])
        self.histogram.getPlotItem().getAxis("bottom").setTicks(None)
        self.stats.setRowCount(0)
        self.samples_label.setText("Samples as the network sees them")
