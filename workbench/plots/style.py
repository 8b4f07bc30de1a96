"""Shared look of Plateau's plots: white background, thin pens, fast drawing — set on each plot
(:func:`white`), never through pyqtgraph's process-wide options."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg

FOREGROUND = "#333"
TRAIN = "#1f77b4"
VAL = "#d62728"
RAW = "#aac8e4"
LR = "#2ca02c"
PREVIEW = "#999999"
FORMS_PLAN = "#e67e22"
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


class EpochAxis(pg.AxisItem):
    """An x axis counted in epochs: ticks on whole epochs only (no 1.5, 2.5)."""

    def tickSpacing(self, minVal, maxVal, size):  # noqa: N802, N803 - pyqtgraph override
        levels = super().tickSpacing(minVal, maxVal, size)
        whole = [(spacing, offset) for spacing, offset in levels if spacing >= 1]
        return whole or [(1.0, 0.0)]


class SparseAxis(pg.AxisItem):
    """A y axis whose labels stay ``LABEL_GAP_PX`` apart: pyqtgraph always labels its major
    ticks, and on a short plot (60 px at 1366×768) six of them ran together."""

    LABEL_GAP_PX = 28

    def tickSpacing(self, minVal, maxVal, size):  # noqa: N802, N803 - pyqtgraph override
        span = maxVal - minVal
        if not (span > 0 and math.isfinite(span)) or size <= 0:
            return super().tickSpacing(minVal, maxVal, size)
        room = max(2, int(size // self.LABEL_GAP_PX))  # two labels at least: a scale
        unit = 10 ** math.floor(math.log10(span / room))
        for m in (1, 2, 5, 10):
            if span / (m * unit) <= room:
                return [(m * unit, 0.0)]
        return [(10 * unit, 0.0)]


def epoch_axis() -> dict:
    """``axisItems`` for a plot whose x axis counts epochs."""
    return {"bottom": EpochAxis("bottom")}


def class_ticks(
    names: list[str], max_chars: int = 6, max_ticks: int = 20, room: int = 0
) -> list[tuple]:
    """Tick labels for classes along an axis: a prefix every name shares ("class 0", "class 1"
    → "0", "1") is dropped; names still too long for the room become their index. ``room``:
    the characters the whole axis holds (0: no limit), shared by the k labels — a longer name
    is cut with "…" (four names on a narrow axis ran together: "bananasempty_clas")."""
    k = len(names)
    labels = [str(n) for n in names]
    shared = _shared_word_prefix(labels)
    if shared and all(len(n) > len(shared) for n in labels):
        labels = [n[len(shared) :] for n in labels]
    step = max(1, -(-k // max_ticks))
    drawn = -(-k // step)  # every step-th class is labelled: they share the room
    limit = min(10, room // max(drawn, 1)) if room else 10
    longest = max((len(n) for n in labels), default=0)
    if (k > 6 and longest > max_chars) or (longest > limit and limit < 4):
        return [(i, str(i)) for i in range(0, k, step)]  # numbers are never cut
    return [(i, _cut(labels[i], limit)) for i in range(0, k, step)]


def _cut(label: str, limit: int) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _shared_word_prefix(names: list[str]) -> str:
    if len(names) < 2:
        return ""
    prefix = names[0]
    for n in names[1:]:
        while not n.startswith(prefix):
            prefix = prefix[:-1]
    cut = prefix.rfind(" ")
    return prefix[: cut + 1] if cut >= 0 else ""


def pen(colour: str, width: float = 1.0, dashed: bool = False):
    from PySide6.QtCore import Qt

    return pg.mkPen(
        colour, width=width, style=Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine
    )


def add_legend(item, offset=(-5, 5)):
    """A compact legend on a translucent background, top right."""
    legend = item.addLegend(
        offset=offset, labelTextSize="7pt", verSpacing=-6, labelTextColor=FOREGROUND
    )
    legend.setBrush(pg.mkBrush(255, 255, 255, 200))
    return legend


def white(widget: pg.PlotWidget) -> pg.PlotItem:
    """Plateau's colours on one plot: white background, dark axes and text; its PlotItem."""
    widget.setBackground("w")
    item = widget.getPlotItem()
    for side in ("left", "bottom"):
        axis = item.getAxis(side)
        axis.setPen(FOREGROUND)
        axis.setTextPen(FOREGROUND)
    return item


def configure_plot(
    widget: pg.PlotWidget,
    object_name: str,
    title: str,
    y_label: str,
    x_label: str,
    legend_offset=(-5, 5),
):
    """Give a PlotWidget Plateau's defaults (colours, clip to view, peak down-sampling, legend);
    return its PlotItem."""
    widget.setObjectName(object_name)
    item = white(widget)
    item.setTitle(title, size="10pt", color=FOREGROUND)
    item.setLabel("left", y_label, color=FOREGROUND)
    item.setLabel("bottom", x_label, color=FOREGROUND)
    # no grid: its translucent lines cost ~11 ms per repaint (benchmarks/gui_responsiveness.py)
    item.getAxis("left").enableAutoSIPrefix(False)  # accuracy 0.9, not "900 (x0.001)"
    item.setClipToView(True)
    item.setDownsampling(auto=True, mode="peak")
    add_legend(item, legend_offset)
    widget.setMinimumHeight(160)
    return item


def rounded_range(lo: float, hi: float) -> tuple[float, float]:
    """``[lo, hi]`` widened to whole steps of 1, 2 or 5 × 10^k (about a fifth of the span), so
    the range of a growing curve changes only now and then instead of at every repaint."""
    span = max(hi - lo, 0.05 * max(abs(lo), abs(hi))) or 1.0  # a (nearly) flat curve: ±5 %
    raw = span / 5
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    low, high = math.floor(lo / step) * step, math.ceil(hi / step) * step
    if low > lo:  # floating-point rounding
        low -= step
    if high < hi:
        high += step
    if high - low < step / 2:  # a flat curve: keep it off the edges
        low, high = low - step, high + step
    return low, high


def data_y_bounds(item) -> tuple[float, float] | None:
    """The smallest and largest finite y value of a PlotItem's curves, or None."""
    lows, highs = [], []
    for curve in item.listDataItems():
        _, y = curve.getOriginalDataset()  # getData() would clip and downsample first
        if y is not None and len(y):
            finite = y[np.isfinite(y)]
            if len(finite):
                lows.append(finite.min())
                highs.append(finite.max())
    return (float(min(lows)), float(max(highs))) if lows else None


class LiveAxes:
    """The axes of a plot that grows during a live run: x spans the run's planned epochs and y is
    rounded out (:func:`rounded_range`), so repaints do not re-lay out the axes and re-clip the
    curves as points arrive. A mouse zoom hands y back to pyqtgraph's auto-range, as does
    ``follow(None)`` (a past run: fit its data)."""

    def __init__(self, item, first_epoch: float = 0.0):
        self.item, self.first = item, first_epoch
        self.rounding = False
        self.y_range: tuple[float, float] | None = None
        item.getViewBox().sigRangeChangedManually.connect(lambda *_: self.release_y())

    def follow(self, last_epoch: float | None) -> None:
        self.y_range = None
        if last_epoch:
            self.item.setXRange(self.first, max(last_epoch, self.first + 1), padding=0.02)
            self.rounding = not self.item.getAxis("left").logMode
            if self.rounding:
                return
        else:
            self.item.enableAutoRange(x=True)
            self.rounding = False
        self.item.enableAutoRange(y=True)

    def fit(self) -> None:
        """Re-round y to the curves' data (after a setData)."""
        if not self.rounding:
            return
        bounds = data_y_bounds(self.item)
        wanted = rounded_range(*bounds) if bounds else None
        if wanted and wanted != self.y_range:
            self.y_range = wanted
            self.item.setYRange(*wanted, padding=0.02)

    def release_y(self) -> None:
        if self.rounding:
            self.rounding, self.y_range = False, None
            self.item.enableAutoRange(y=True)


def make_plot(
    object_name: str, title: str, y_label: str, x_label: str, short: bool = False
) -> pg.PlotWidget:
    """A new PlotWidget with Plateau's defaults (whole-epoch ticks when x counts epochs;
    ``short``: a plot a few lines tall, its y labels spaced out)."""
    axes = epoch_axis() if x_label == "epoch" else {}
    if short:
        axes["left"] = SparseAxis("left")
    widget = pg.PlotWidget(axisItems=axes or None)
    configure_plot(widget, object_name, title, y_label, x_label)
    return widget


def step_curve(item, pen, name: str | None = None):
    """A curve of one point per step (thousands of them): drawn as the highest and lowest value
    of each pixel column — pyqtgraph's peak down-sampling at one bin a pixel instead of its
    default five, which looks the same and drew 6,666 points of a 10k-step loss curve instead of
    1,052 (its repaint took 1.4 ms more, benchmarks/gui_responsiveness.py --redraw)."""
    curve = item.plot(pen=pen, name=name)
    curve.opts["autoDownsampleFactor"] = 1.0  # read by PlotDataItem's auto down-sampling
    return curve


def epoch_curve(item, colour: str, symbol: str, name: str, line: bool = True):
    """A per-epoch curve: one marker per epoch, joined by a line unless ``line`` is False."""
    return item.plot(
        pen=pen(colour, 1.5) if line else None,
        symbol=symbol,
        symbolSize=6,
        symbolBrush=colour,
        name=name,
    )
