"""Shows one run at a time — the live run from the session's signals, or a past run from its
directory — in the plots, the status bar, the doctor panel and the error browser; overlays the
checked runs.

Events only append to a :class:`RunHistory`; a paint timer redraws the plots, when something
changed and at the rates :mod:`workbench.paint_schedule` sets (less often while a run trains). A
past run is shown exactly as it recorded itself: its step losses and rates (``steps.npz``), its
epochs, its planned schedule, its status and timing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QTimer

from engine.events import RunSummary
from engine.preset import absolute_paths
from workbench.bridge import engine_calls
from workbench.bridge.jobs import BackgroundJobs
from workbench.paint_schedule import LIVE_PAINT_INTERVAL_MS, PaintSchedule
from workbench.panels.doctor_panel import DoctorPanel
from workbench.panels.error_banner import ErrorBanner
from workbench.panels.error_browser import ErrorBrowser
from workbench.panels.run_list import RunList
from workbench.plots.accuracy_plot import MARKER_LABELS
from workbench.plots.style import RUN_COLOURS
from workbench.plots.training_plots import TrainingPlots
from workbench.run_history import RunHistory
from workbench.status_bar import RunStatusBar


@dataclass(frozen=True)
class LrPlan:
    """A preset's planned learning rate per step."""

    preset: object
    lrs: list
    steps_per_epoch: int


class RunPresenter(QObject):
    """Presents runs in the window's views; given every object it drives, nothing else."""

    def __init__(
        self,
        session,
        plots: TrainingPlots,
        status: RunStatusBar,
        run_list: RunList,
        doctor_panel: DoctorPanel,
        error_browser: ErrorBrowser,
        banner: ErrorBanner,
        jobs: BackgroundJobs,
        show_error_browser: Callable[[], None],
        refresh_runs: Callable[[], None],
        parent: QObject | None = None,
    ):
        super().__init__(parent)
        self.plots, self.status, self.run_list = plots, status, run_list
        self.doctor_panel, self.error_browser, self.banner = doctor_panel, error_browser, banner
        self.jobs = jobs
        self.show_error_browser, self.refresh_runs = show_error_browser, refresh_runs
        self.live: RunHistory | None = None
        self.live_preset = None
        self.shown: RunHistory | None = None
        self.shown_preset = None
        self.form_plan: LrPlan | None = None
        self.run_plan: LrPlan | None = None
        self.schedule = PaintSchedule(plots)
        self.overlay_epochs = 0
        self.running = False
        self.planned_epochs = 0
        self.paint_timer = QTimer(self)  # only while a run trains: an idle window sleeps
        self.paint_timer.setInterval(LIVE_PAINT_INTERVAL_MS)
        self.paint_timer.timeout.connect(self.paint)
        s = session
        s.preparing.connect(self._preparing)
        s.compiling.connect(self.status.compiling)
        s.started.connect(self._started)
        s.batches.connect(self._batches)
        s.epoch_ended.connect(self._epoch)
        s.finished.connect(lambda summary: self._ended(summary, "finished"))
        s.stopped.connect(lambda summary: self._ended(summary, "stopped"))
        s.failed.connect(self._failed)
        s.diagnosed.connect(self._diagnosed)
        plots.confusion.cell_clicked.connect(
            lambda t, p: self.browse_cell(t, p, plots.confusion.shown_epoch())
        )
        plots.per_class.class_clicked.connect(
            lambda c: self.browse_cell(c, None, plots.per_class.shown_epoch())
        )
        self._last_browse: tuple | None = None

    # ------------------------------------------------------------------ live run

    def begin_live(self, preset, history: RunHistory | None = None) -> None:
        """A run is about to start (``history``: the curves of a run being resumed)."""
        self.live = history or RunHistory(name=preset.name)
        self.live_preset = preset
        self.planned_epochs = preset.train.epochs
        self.running = True
        self.paint_timer.start()
        self.status.live_started(self.planned_epochs)
        self.run_plan = None
        self._show(self.live, preset)
        self.show_findings([], preset.name)

    def _preparing(self, event) -> None:
        """Before the first epoch: a folder's images being decoded (Stop cancels it)."""
        if event.total:
            text = f"{event.what} {event.done:,}/{event.total:,} — once: later runs read the cache"
        else:
            text = f"{event.what} …"
        self.status.preparing(
            f"{event.what} {event.done:,}/{event.total:,}" if event.total else "waiting"
        )
        self.plots.hint.setText(text + " (Stop cancels)")
        self.plots.hint.show()

    def _started(self, event) -> None:
        notes = event.model_summary.get("notes", [])  # weights, warm start, the fast path
        self.plots.hint.setText(" · ".join(notes))
        self.plots.hint.setVisible(bool(notes))
        if self.live is None:
            return
        self.live.run_dir = event.run_dir
        self.live.steps_per_epoch = event.steps_per_epoch
        self.live.class_names = list(event.data_stats["classes"])
        self.live.truncate(event.start_epoch)  # a resumed run continues from its checkpoint
        self.status.live_device(event.device, event.start_epoch, event.speed)
        self.run_list.put_run(event.run_dir)
        self.run_list.select(event.run_dir)

    def _batches(self, batches) -> None:
        if self.live is not None:
            self.live.add_batches(batches)
            last = batches[-1]
            self.status.batch(last.epoch, last.batch, last.batches)

    def _epoch(self, event) -> None:
        if self.live is None:
            return
        self.live.add_epoch(event.metrics)
        self.status.epoch_done(event.epoch, event.metrics.samples_per_s)
        best = max(m.val_acc for m in self.live.epochs)
        self.run_list.update_run(self.live.run_dir, "running", best)

    def _ended(self, summary: RunSummary, status: str) -> None:
        self.running = False
        self.paint_timer.stop()  # what the run left is painted below, at once
        if self.live is not None and summary.run_dir:
            self._recorded_steps(self.live, summary.run_dir)
        self.schedule.steps_changed()  # every step curve up to the last step
        self.paint(force=True)
        self._set_epoch_spans()  # a run stopped early: fit what it did, not what was planned
        self.status.live_ended(status, early=summary.early_stopped)
        resumed = self.live.run_dir if self.live is not None else ""
        if summary.run_dir:
            self.run_list.put_run(summary.run_dir)
            self.run_list.select(summary.run_dir)
        elif resumed:  # a resume refused before anything ran: the run as it still is
            self.live = None
            self.show_run(resumed)
            self.run_list.select(resumed)
        else:
            self.refresh_runs()

    @staticmethod
    def _recorded_steps(history: RunHistory, run_dir: str) -> None:
        """The step readings the run wrote (``steps.npz``: ≥ 10 an epoch) for those its events
        carried (≤ ~20 a second): a run looks the same when it ends as when opened later."""
        from engine.runs import RunFiles

        steps = RunFiles(run_dir).read_steps()
        if len(steps) >= len(history.step):
            history.replace_steps(steps.step, steps.loss, steps.lr)

    def set_paused(self, paused: bool) -> None:
        self.status.paused(paused)

    def _diagnosed(self, event) -> None:
        if self.live is not None and self.shown is self.live:
            live = self.live  # named as the run list and a reopened run name it
            self.show_findings(list(event.findings), Path(live.run_dir).name or live.name)

    def show_findings(self, findings: list[dict], name: str) -> None:
        """Findings in the doctor panel, and a marker on the accuracy plot where each began."""
        self.doctor_panel.show_findings(findings, name)
        plot = self.plots.accuracy
        plot.clear_markers()
        for f in findings:
            if f.get("epoch"):
                label = MARKER_LABELS.get(f["id"], f["id"])
                plot.add_marker(f["epoch"], label, text_left=f["epoch"] > self._span() / 2)

    def _failed(self, error: str, hint: str, summary: RunSummary) -> None:
        refused = not summary.run_dir and self.live is not None and self.live.run_dir  # a resume
        what = "Cannot resume it: " if refused else "The run failed: "
        self.banner.show_message(what + error, hint, summary.run_dir or None)
        self._ended(summary, "failed")

    # ------------------------------------------------------------------ painting

    def _show(self, history: RunHistory, preset) -> None:
        self.shown, self.shown_preset = history, preset
        self.schedule.reset()
        for plot in (self.plots.loss, self.plots.accuracy, self.plots.lr):
            plot.reset()
        self.plots.confusion.show_history(history)  # also clears its hover text
        self.error_browser.clear()
        self._last_browse = None
        self.plots.show_hint(None)
        self._set_epoch_spans()
        self._update_lr_plans()
        self.paint(force=True)

    def _span(self) -> int:
        """How many epochs the plots span: the planned ones while the shown run trains, else
        the epochs it reached (a stopped run: the partial epoch too)."""
        h = self.shown
        if h is None:
            return 0
        if h is self.live and self.running:
            return max(self.planned_epochs, self.overlay_epochs)
        reached = h.step.view()[-1] / h.steps_per_epoch if len(h.step) and h.steps_per_epoch else 0
        # a run that ended before its first step: the epochs it planned (its LR plan is drawn)
        none = not h.epochs and not reached and self.shown_preset is not None
        least = self.shown_preset.train.epochs if none else 1
        return max(len(h.epochs), math.ceil(reached), self.overlay_epochs, least)

    def _set_epoch_spans(self) -> None:
        """Every epoch plot spans the same epochs (:meth:`_span`), so their x axes agree and a
        repaint does not re-lay them out."""
        last = self._span() or None
        for plot in (self.plots.loss, self.plots.lr, self.plots.accuracy, self.plots.per_class):
            plot.set_epoch_span(last)

    def paint(self, force: bool = False) -> None:
        if self.running:
            self.status.tick()
        h = self.shown
        if h is not None:
            live = h is self.live
            self.schedule.paint(h, live and self.running, live, force)

    @property
    def paints(self) -> int:
        return self.schedule.paints

    # ------------------------------------------------------------------ learning-rate plans

    def set_form_plan(self, preset, lrs: list[float], steps_per_epoch: int) -> None:
        """The planned rates of the preset in the forms (from the window's inspection)."""
        self.form_plan = LrPlan(preset, lrs, steps_per_epoch)
        self._update_lr_plans()

    def _update_lr_plans(self) -> None:
        """The LR plot shows the shown run's plan; the forms' plan too when it differs."""
        form, run = self.form_plan, self.run_plan
        if self.shown is None:
            if form is not None:
                self.plots.lr.show_preview(form.lrs, form.steps_per_epoch, _backbone(form))
            self.plots.lr.show_forms_plan(None)
            return
        same = form is not None and _same_preset(form.preset, self.shown_preset)
        if run is None and same:
            run = form
        if run is not None:
            self.plots.lr.show_preview(run.lrs, run.steps_per_epoch, _backbone(run))
        else:
            self.plots.lr.show_preview([], 1)
        if form is not None and not same:
            self.plots.lr.show_forms_plan(form.lrs, form.steps_per_epoch)
        else:
            self.plots.lr.show_forms_plan(None)

    # ------------------------------------------------------------------ past runs

    def show_run(self, run_dir: str) -> None:
        """Show a run from the list: the live one, or a past one read from its directory."""
        from engine.runs import RunFiles

        files = RunFiles(run_dir)
        if self.live is not None and self.live.run_dir == run_dir:
            if self.shown is self.live:
                return  # already on screen (the list re-selects it as the run starts and ends)
            history = self.live
            self._show(history, self.live_preset)
        else:
            try:
                preset = files.read_preset()
            except ValueError:
                preset = None
            history = RunHistory.from_run_dir(run_dir)
            self.run_plan = None
            self._show(history, preset)
            if preset is not None:
                self._request_run_plan(run_dir, preset, history.steps_per_epoch)
        summary = files.read_summary()
        if not self.running:  # while a run trains, the status bar follows it
            speed = history.epochs[-1].samples_per_s if history.epochs else None
            self.status.show_summary(summary, speed)
        self.banner.show_run_outcome(run_dir, summary)
        try:
            findings = files.read_diagnosis()
        except (OSError, ValueError):
            findings = []
        self.show_findings(findings, Path(run_dir).name)

    def _request_run_plan(self, run_dir: str, preset, steps_per_epoch: int) -> None:
        def done(result) -> None:
            lrs, steps = result
            if self.shown is not None and self.shown.run_dir == run_dir:
                self.run_plan = LrPlan(preset, lrs, steps)
                self._update_lr_plans()

        self.jobs.submit(
            "run-plan", lambda: engine_calls.lr_plan(preset, steps_per_epoch), done, lambda e: None
        )

    def overlay_runs(self, run_dirs: list[str]) -> None:
        shown = self.shown.run_dir if self.shown else None
        runs = [
            (
                _short_name(Path(d).name),
                RUN_COLOURS[(i + 1) % len(RUN_COLOURS)],
                RunHistory.from_run_dir(d),
            )
            for i, d in enumerate(run_dirs)
            if d != shown
        ]
        self.plots.loss.set_overlays(runs)
        self.plots.accuracy.set_overlays(runs)
        self.overlay_epochs = max((len(h.epochs) for _, _, h in runs), default=0)
        self._set_epoch_spans()

    # ------------------------------------------------------------------ error browser

    def browse_cell(self, true: int, pred: int | None, epoch: int | None) -> None:
        """The validation images behind a confusion cell (or a class) at the epoch shown."""
        h = self.shown
        if h is None or not h.run_dir or not h.epochs:
            return
        self._last_browse = (h.run_dir, true, pred, epoch)
        names = h.class_names
        t = names[true] if true < len(names) else str(true)
        if pred is None:
            description = f"class {t}, misclassified" if t.isdigit() else f"{t}, misclassified"
        else:
            p = names[pred] if pred < len(names) else str(pred)
            description = f"true {t}, predicted {p}"
        run_dir = h.run_dir
        self.jobs.submit(
            "errors",
            lambda: engine_calls.error_samples(run_dir, true, pred, epoch),
            lambda result: self.error_browser.show_samples(result, description),
            lambda e: self.error_browser.show_error(f"Cannot show the images: {e}"),
        )
        self.show_error_browser()

    def browse_suspects(self) -> None:
        """The shown run's training images whose label looks wrong (Errors tab)."""
        h = self.shown
        if h is None or not h.run_dir or not h.epochs:
            self.error_browser.show_error(
                "Select a run that has trained at least one epoch to see its likely mislabeled "
                "training images."
            )
            self.show_error_browser()
            return
        run_dir = h.run_dir
        self.jobs.submit(
            "errors",
            lambda: engine_calls.suspect_samples(run_dir),
            self.error_browser.show_suspects,
            lambda e: self.error_browser.show_error(f"Cannot show the images: {e}"),
        )
        self.show_error_browser()


def _backbone(plan: LrPlan) -> float:
    """The rate factor of a plan's pretrained layers (1: one rate for the whole network)."""
    return plan.preset.train.backbone_lr_factor if plan.preset is not None else 1.0


def _short_name(name: str) -> str:
    """An overlay's legend name: the preset name and the time of day of its run."""
    head, _, stamp = name.rpartition("-")
    if head and stamp.isdigit() and len(stamp) == 6:
        return f"{head.rpartition('-')[0]} {stamp[:2]}:{stamp[2:4]}:{stamp[4:]}"
    return name


def _same_preset(a, b) -> bool:
    """Equal once relative paths resolve as a run's ``preset.toml`` keeps them (absolute)."""
    return a is not None and b is not None and absolute_paths(a) == absolute_paths(b)
