"""Shows a run in the window's plots: the live run from the session's signals, or a past run from
its directory; overlays checked runs; feeds the status bar, doctor panel and error browser.

Events only append to a :class:`RunHistory`; a paint timer redraws the plots at most
``PAINT_INTERVAL_MS`` apart, and only when something changed.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from PySide6.QtCore import QObject, QTimer

from workbench.plots.style import RUN_COLOURS
from workbench.run_history import RunHistory

PAINT_INTERVAL_MS = 100
# Views that change once an epoch (epoch losses, accuracy, per-class, confusion) repaint at most
# this often during a live run: with 0.1 s epochs, painting every one took ~20 % of the training
# thread's time (benchmarks/gui_responsiveness.py).
EPOCH_VIEW_INTERVAL_S = 0.5
# short plot labels for the markers where findings began
MARKER_LABELS = {
    "schedule-too-aggressive": "LR decay",
    "lr-too-high": "LR high",
    "lr-too-low": "LR low",
    "overfitting": "overfit",
    "underfitting": "underfit",
    "class-imbalance": "imbalance",
    "no-signal": "no signal",
    "excessive-augmentation": "augment",
    "dead-units": "dead units",
    "vanishing-gradients": "vanishing",
    "exploding-gradients": "exploding",
    "non-finite-loss": "NaN",
}


class RunView(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.w = window
        self.live: RunHistory | None = None
        self.shown: RunHistory | None = None
        self._painted_version = -1
        self._painted_epochs = -1
        self._epochs_painted_at = 0.0
        self.overlay_epochs = 0
        self.paints = 0
        self.started_at: float | None = None
        self.planned_epochs = 0
        self.paint_timer = QTimer(self)
        self.paint_timer.setInterval(PAINT_INTERVAL_MS)
        self.paint_timer.timeout.connect(self.paint)
        self.paint_timer.start()
        s = window.session
        s.started.connect(self._started)
        s.batches.connect(self._batches)
        s.epoch_ended.connect(self._epoch)
        s.finished.connect(lambda summary: self._ended(summary, "finished"))
        s.stopped.connect(lambda summary: self._ended(summary, "stopped"))
        s.failed.connect(self._failed)
        s.diagnosed.connect(self._diagnosed)
        window.confusion_view.cell_clicked.connect(self.browse_cell)
        window.per_class_plot.class_clicked.connect(lambda c: self.browse_cell(c, None))
        window.error_browser.which.currentIndexChanged.connect(lambda *_: self._rebrowse())
        self._last_browse: tuple | None = None

    # ------------------------------------------------------------------ live run

    def begin_live(self, preset) -> None:
        self.live = RunHistory(name=preset.name)
        self.planned_epochs = preset.train.epochs
        self.started_at = time.monotonic()
        self._show(self.live)
        self.w.loss_plot.reset()
        self.w.accuracy_plot.reset()
        self.show_findings([], preset.name)
        labels = self.w.status_labels
        labels["epoch"].setText(f"epoch 0/{self.planned_epochs}")
        labels["speed"].setText("")
        labels["eta"].setText("")

    def _started(self, event) -> None:
        if self.live is None:
            return
        self.live.run_dir = event.run_dir
        self.live.steps_per_epoch = event.steps_per_epoch
        self.live.class_names = list(event.data_stats["classes"])
        self.w.status_labels["device"].setText(f"device: {event.device}")
        self.w.refresh_runs()
        self.w.run_list.select(event.run_dir)

    def _batches(self, batches) -> None:
        if self.live is not None:
            self.live.add_batches(batches)
            last = batches[-1]
            self.w.status_labels["epoch"].setText(
                f"epoch {last.epoch}/{self.planned_epochs} · batch {last.batch}/{last.batches}"
            )

    def _epoch(self, event) -> None:
        if self.live is None:
            return
        self.live.add_epoch(event.metrics)
        m = event.metrics
        labels = self.w.status_labels
        labels["epoch"].setText(f"epoch {event.epoch}/{self.planned_epochs}")
        labels["speed"].setText(f"{m['samples_per_s']:,.0f} samples/s")
        if self.started_at is not None:
            elapsed = time.monotonic() - self.started_at
            remaining = elapsed / event.epoch * (self.planned_epochs - event.epoch)
            labels["eta"].setText(f"ETA {_clock(remaining)}")

    def _ended(self, summary: dict, status: str) -> None:
        self.paint(force=True)
        self.started_at = None
        self._set_epoch_spans()  # a run stopped early: fit what it did, not what was planned
        self.w.status_labels["eta"].setText(status)
        self.w.refresh_runs()
        if summary.get("run_dir"):
            self.w.run_list.select(summary["run_dir"])

    def _diagnosed(self, event) -> None:
        if self.live is not None and self.shown is self.live:
            self.show_findings(list(event.findings), self.live.name)

    def show_findings(self, findings: list[dict], name: str) -> None:
        """Findings in the doctor panel, and a marker on the accuracy plot where each began."""
        self.w.doctor_panel.show_findings(findings, name)
        plot = self.w.accuracy_plot
        plot.clear_markers()
        shown = self.shown
        epochs = self.planned_epochs if shown is self.live else len(shown.epochs) if shown else 0
        for f in findings:
            if f.get("epoch"):
                label = MARKER_LABELS.get(f["id"], f["id"])
                plot.add_marker(f["epoch"], label, text_left=f["epoch"] > epochs / 2)

    def _failed(self, error: str, hint: str, summary: dict) -> None:
        self.w.banner.show_message(f"The run failed: {error}", hint)
        self._ended(summary, "failed")

    # ------------------------------------------------------------------ painting

    def _show(self, history: RunHistory) -> None:
        self.shown = history
        self._painted_version = -1
        self._painted_epochs = -1
        self.w.loss_plot.reset()
        self._set_epoch_spans()
        self.paint(force=True)

    def _set_epoch_spans(self) -> None:
        """A running run's plots span its planned epochs (and overlaid runs) from the start, so
        their x axes are not re-laid out at every repaint; once it has ended they span the epochs
        it reached (a run stopped early); past runs' plots fit their data."""
        h, last = self.shown, None
        if h is not None and h is self.live:
            if self.started_at is not None:
                last = self.planned_epochs
            else:
                steps = h.step.view()
                reached = steps[-1] / h.steps_per_epoch if len(steps) and h.steps_per_epoch else 0
                last = max(len(h.epochs), math.ceil(reached), 1)
            last = max(last, self.overlay_epochs)
        for plot in (self.w.loss_plot, self.w.lr_plot, self.w.accuracy_plot, self.w.per_class_plot):
            plot.set_epoch_span(last)

    def paint(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.started_at is not None:
            self.w.status_labels["elapsed"].setText(_clock(now - self.started_at))
        h = self.shown
        if h is None:
            return
        if h.version != self._painted_version:
            self._painted_version = h.version
            self.paints += 1
            self.w.loss_plot.show_history(h)
            self.w.lr_plot.show_history(h)
        due = force or h is not self.live or now - self._epochs_painted_at >= EPOCH_VIEW_INTERVAL_S
        if len(h.epochs) != self._painted_epochs and due:  # epoch views change once an epoch
            self._painted_epochs = len(h.epochs)
            self._epochs_painted_at = now
            self.w.loss_plot.show_epochs(h)
            self.w.accuracy_plot.show_history(h)
            self.w.per_class_plot.show_history(h)
            self.w.confusion_view.show_history(h)

    # ------------------------------------------------------------------ past runs

    def show_run(self, run_dir: str) -> None:
        """Show a run from the list: the live one, or a past one read from its directory."""
        if self.live is not None and self.live.run_dir == run_dir:
            if self.shown is self.live:
                return  # already on screen (the list re-selects it as the run starts and ends)
            self._show(self.live)
        else:
            self._show(load_history(run_dir))
        from engine.runs import RunFiles

        try:
            findings = RunFiles(run_dir).read_diagnosis()
        except (OSError, ValueError):
            findings = []
        self.show_findings(findings, Path(run_dir).name)

    def overlay_runs(self, run_dirs: list[str]) -> None:
        shown = self.shown.run_dir if self.shown else None
        runs = [
            (Path(d).name, RUN_COLOURS[(i + 1) % len(RUN_COLOURS)], load_history(d))
            for i, d in enumerate(run_dirs)
            if d != shown
        ]
        self.w.loss_plot.set_overlays(runs)
        self.w.accuracy_plot.set_overlays(runs)
        self.overlay_epochs = max((len(h.epochs) for _, _, h in runs), default=0)
        self._set_epoch_spans()

    # ------------------------------------------------------------------ error browser

    def browse_cell(self, true: int, pred: int | None) -> None:
        h = self.shown
        if h is None or not h.run_dir or not h.epochs:
            return
        self._last_browse = (h.run_dir, true, pred)
        self._rebrowse()
        self.w.center_tabs.setCurrentWidget(self.w.error_browser)

    def _rebrowse(self) -> None:
        if self._last_browse is None:
            return
        run_dir, true, pred = self._last_browse
        which = self.w.error_browser.which.currentData()
        names = self.shown.class_names if self.shown else []
        t = names[true] if true < len(names) else str(true)
        if pred is None:
            description = f"class {t}, misclassified"
        else:
            p = names[pred] if pred < len(names) else str(pred)
            description = f"true {t}, predicted {p}"

        def work():
            from engine.inspection import error_samples

            return error_samples(run_dir, true, pred, which, wrong_only=pred is None)

        self.w.jobs.submit(
            "errors",
            work,
            lambda result: self.w.error_browser.show_samples(result, description),
            lambda e: self.w.error_browser.show_error(f"Cannot show the images: {e}"),
        )

    # ------------------------------------------------------------------ export

    def open_export_dialog(self) -> None:
        from workbench.panels.export_dialog import ExportDialog

        runs = [
            r
            for r in self.w.run_list.runs()
            if (Path(r["path"]) / "checkpoints" / "last.pt").is_file()
        ]
        selected = self.w.run_list.selected_run()
        runs.sort(key=lambda r: r["path"] != selected)

        def export_fn(src, dest, fmt, on_done, on_error):
            def work():
                from engine.export import export

                return export(src, dest, fmt)

            self.w.jobs.submit("export", work, on_done, on_error)

        dialog = ExportDialog(runs, export_fn, self.w.settings.get("folders/export"), self.w)
        self.export_dialog = dialog
        dialog.show()


def load_history(run_dir: str) -> RunHistory:
    """A past run's history from ``metrics.jsonl`` (class names from its checkpoint-free files)."""
    import json

    from engine.runs import RunFiles

    files = RunFiles(run_dir)
    try:
        rows = files.read_metrics()
    except (OSError, ValueError):
        rows = []
    history = RunHistory.from_rows(Path(run_dir).name, run_dir, rows)
    try:
        history.class_names = json.loads((Path(run_dir) / "summary.json").read_text()).get(
            "class_names", []
        )
    except (OSError, ValueError):
        pass
    return history


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
