"""Shared look of Plateau's plots: white background, thin pens, fast drawing."""

from __future__ import annotations

import pyqtgraph as pg

pg.setConfigOptions(antialias=False, background="w", foreground="#333")

TRAIN = "#1f77b4"
VAL = "#d62728"
RAW = "#aac8e4"
LR = "#2ca02c"
PREVIEW = "#999999"
# distinct colours for overlaid runs (Tableau 10)
RUN_COLOURS = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
]


def pen(colour: str, width: float = 1.0, dashed: bool = False):
    from PySide6.QtCore import Qt

    return pg.mkPen(
        colour, width=width, style=Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine
    )


def add_legend(item, offset=(-5, 5)):
    """A compact legend on a translucent background, top right."""
    legend = item.addLegend(offset=offset, labelTextSize="7pt", verSpacing=-6)
    legend.setBrush(pg.mkBrush(255, 255, 255, 200))
    return legend


def configure_plot(
    widget: pg.PlotWidget,
    object_name: str,
    title: str,
    y_label: str,
    x_label: str,
    legend_offset=(-5, 5),
):
    """Give a PlotWidget Plateau's defaults (grid, clip to view, peak down-sampling, legend);
    return its PlotItem."""
    widget.setObjectName(object_name)
    item = widget.getPlotItem()
    item.setTitle(title, size="10pt")
    item.setLabel("left", y_label)
    item.setLabel("bottom", x_label)
    # no grid: its translucent lines cost ~11 ms per repaint (benchmarks/gui_responsiveness.py)
    item.getAxis("left").enableAutoSIPrefix(False)  # accuracy 0.9, not "900 (x0.001)"
    item.setClipToView(True)
    item.setDownsampling(auto=True, mode="peak")
    add_legend(item, legend_offset)
    widget.setMinimumHeight(160)
    return item


def make_plot(object_name: str, title: str, y_label: str, x_label: str) -> pg.PlotWidget:
    """A new PlotWidget with Plateau's defaults."""
    widget = pg.PlotWidget()
    configure_plot(widget, object_name, title, y_label, x_label)
    return widget


def epoch_curve(item, colour: str, symbol: str, name: str, line: bool = True):
    """A per-epoch curve: one marker per epoch, joined by a line unless ``line`` is False."""
    return item.plot(
        pen=pen(colour, 1.5) if line else None,
        symbol=symbol,
        symbolSize=6,
        symbolBrush=colour,
        name=name,
    )
