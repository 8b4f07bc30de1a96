"""The training loop: one synchronous :meth:`Trainer.fit` that emits events.

``fit`` runs on whatever thread calls it (engine tests call it directly; the desktop app calls it
on a plain worker thread). Control comes in through :class:`RunControl` flags checked between
batches; data goes out as frozen events (:mod:`engine.events`). The rooms it uses are in
:mod:`engine.training`; ``fit`` reads as the outline of a run.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from pathlib import Path

import torch

from engine import atomic
from engine import events as ev
from engine.checkpoint import FORMAT, load_checkpoint, save_checkpoint, torch_bytes
from engine.control import RunControl
from engine.data import load_data
from engine.data.image_cache import Progress
from engine.devices import resolve_device
from engine.distributed import Dist
from engine.doctor.monitor import RunMonitor
from engine.errors import Cancelled, DataError, TrainingError
from engine.events import TIMING_FIELDS, RunSummary
from engine.failures import BUG_HINT, BUG_IN_RUN_HINT, explain
from engine.models import build_model, locate_failure, parts, summarize
from engine.preset import Preset, absolute_paths
from engine.runs import ReadOnlyRunFiles, RunFiles, TrainingLock, create_run_dir
from engine.training import frozen_features
from engine.training.assembly import assemble
from engine.training.checkpoint_state import (
    check_same_data,
    checkpoint_state,
    data_identity,
    restore,
)
from engine.training.epoch import StepState, Stopped, train_epoch
from engine.training.progress import RunProgress, epoch_metrics
from engine.training.validation import validate

__all__ = ["RunControl", "Trainer", "TIMING_FIELDS"]

Events = Callable[[ev.Event], None]
FEATURE_STATUS = {"hit": "read from the feature cache", "built": "now cached", "off": "not cached"}


class Trainer:
    """Trains one preset into a run directory (new, or an existing one to resume)."""

    def __init__(
        self,
        preset: Preset,
        out: str | Path = "runs",
        control: RunControl | None = None,
        resume_dir: str | Path | None = None,
        num_threads: int | None = None,
    ):
        self.preset = absolute_paths(preset)  # the run's preset.toml names files from anywhere
        self.out = Path(out)
        self.control = control or RunControl()
        self.resume_dir = Path(resume_dir) if resume_dir else None
        self.num_threads = num_threads
        self.run_dir: Path | None = None
        self.model_summary: dict | None = None  # set once prepared
        self._first: bytes | None = None  # the checkpoint of the first epoch's start
        self._lock: TrainingLock | None = None

    def prepare(self, progress: Progress) -> None:
        """Load the data and build everything that trains it now, writing nothing; :meth:`fit`
        then begins at its first step. ``progress`` hears of slow work (decoding images,
        computing features) and may raise ``Cancelled`` to give it up. The app's child prepares
        the preset a person looks at this way, before they press Start."""
        self.dist = Dist.from_env(self.preset.train.device)
        self.model_summary = self._prepare(lambda e: None, progress)

    def fit(self, events: Events = lambda e: None) -> RunSummary:
        """Train to the end (or until stopped); return the run summary.

        Bad input (an unusable preset or data, a run that cannot be resumed) raises
        ``PresetError``/``DataError``/``CheckpointError`` before anything is written. Failures
        during training end the run with status ``failed``, a ``RunFailed`` event and a complete
        run directory.
        """
        if self.model_summary is None:
            self.dist = Dist.from_env(self.preset.train.device)
            if self.dist.enabled and self.preset.train.processes != self.dist.world:
                # started under torchrun directly: the run records how many processes trained
                # it (each takes train.batch_size a step), and a resume relaunches as many
                self.preset = self.preset.with_changes({"train.processes": self.dist.world})
        else:  # prepared ahead: the run's time starts now, not when it was prepared
            self.progress.started = time.perf_counter()
        try:
            return self._fit(events if self.dist.is_main else (lambda e: None))
        finally:
            self.dist.close()
            if self._lock is not None:
                self._lock.release()

    def _hold(self, run_dir: Path) -> None:
        """This process trains ``run_dir`` now (raises when another one does)."""
        if self.dist.is_main and self._lock is None:
            self._lock = TrainingLock(run_dir)

    def _fit(self, events: Events) -> RunSummary:
        try:
            model_summary = self.model_summary or self._prepare(events)
            if self.control.stopped:  # stopped while the data and model were made ready
                raise Cancelled
        except Cancelled:  # stopped while the data was being prepared: no run yet
            summary = RunSummary("stopped", self.preset.name, "")
            events(ev.RunStopped(summary))
            return summary
        self._open_run_directory()
        events(
            ev.RunStarted(
                self.preset.to_dict(),
                str(self.run_dir),
                model_summary,
                self.data.stats,
                device=self.progress.device,
                start_epoch=self.state.epoch,
                steps_per_epoch=self.a.steps_per_epoch,
                speed=self.a.speed.to_json(),
            )
        )
        try:
            self.monitor.start(
                self.files, events, self.progress.rows, self.doctor_state, self._watchable()
            )
            if self.state.epoch == 0 and self.dist.is_main:
                # where a Stop inside the first epoch leaves the run: resumed, it trains that
                # epoch from the same start, as if never stopped
                self._first = torch_bytes({"format": FORMAT, **self._checkpoint()})
            while self.state.epoch < self.preset.train.epochs:
                self._epoch(events)
                if self.progress.stops_early():
                    break
                if self.control.stopped:
                    raise Stopped
        except Stopped:
            return self._finish(events, "stopped")
        except Exception as exc:  # noqa: BLE001 - any failure ends the run with a reason
            return self._fail(events, exc)
        return self._finish(events, "finished")

    # ------------------------------------------------------------------ before the first step

    def _prepare(self, events: Events, progress: Progress | None = None) -> dict:
        """Data, model and everything that trains it; a resumed run restored. Nothing is
        written yet, so bad input leaves no trace. Returns the model summary."""
        if self.num_threads:
            torch.set_num_threads(self.num_threads)
        p = self.preset
        device = self.dist.device(resolve_device(p.train.device))
        torch.manual_seed(p.seed)
        if self.resume_dir:  # not while another process trains it (before any slow work)
            self._hold(self.resume_dir)
        progress = progress or PreparingEvents(events, self.control)
        data = load_data(p, progress)
        self.identity = data_identity(data)
        checkpoint = None
        if self.resume_dir:  # before any slow work: a resume that cannot go on says so at once
            checkpoint = load_checkpoint(RunFiles(self.resume_dir).last_checkpoint, device)
            check_same_data(checkpoint, self.identity, self.resume_dir)
        notes: list[str] = []
        model = build_model(p.model, data.input_shape, data.num_classes, notes=notes).to(device)
        try:
            model_summary = summarize(model, data.input_shape)
        except RuntimeError as exc:
            message, hint = explain(exc)
            raise TrainingError(
                f"'{p.model.arch}' cannot run on {tuple(data.input_shape)} images: {message}", hint
            ) from None
        forward = None
        if frozen_features.applies(p, self.dist):
            forward = parts(model, p.model.arch).head
            data, status = frozen_features.feature_data(p, data, model, forward, device, progress)
            notes.append(
                "frozen backbone and no augmentation: the backbone's features are computed once "
                f"({FEATURE_STATUS[status]}) and only the head trains on them"
            )
        model_summary["notes"] = notes
        self.data = data = data.to(device)
        self.a = assemble(p, data, model, device, self.dist, forward)
        self.state = StepState().to(device)
        self.progress = RunProgress(
            p,
            data.class_names,
            _device_label(device),
            self.a.steps_per_epoch,
            self.a.speed.summary(),
        )
        self.monitor = RunMonitor(
            p,
            data,
            self.a.forward_model,
            self.a.loss_fn,
            self.a.normalize,
            self.a.steps_per_epoch,
            device,
        )
        self.doctor_state = None
        if checkpoint is not None:
            self.doctor_state = restore(
                checkpoint, self.resume_dir, p, self.a, self.state, self.progress
            )
            if checkpoint.get("samples") is not None:
                self.monitor.margins.load_state(checkpoint["samples"])
        return model_summary

    def _open_run_directory(self) -> None:
        """A new run directory (or the resumed one) with the preset and a running summary."""
        if self.resume_dir:
            self.run_dir = self.resume_dir
        else:
            created = None
            if self.dist.is_main:
                try:
                    created = str(create_run_dir(self.out, self.preset.name))
                except OSError as exc:
                    raise DataError(
                        f"cannot create a run directory under {self.out}: "
                        f"{exc.strerror or exc}; choose another output folder (--out)",
                        "out",
                    ) from None
            self.run_dir = Path(self.dist.broadcast(created))
            self._hold(self.run_dir)
        self.files = RunFiles(self.run_dir) if self.dist.is_main else ReadOnlyRunFiles(self.run_dir)
        self.progress.run_dir = str(self.run_dir)
        try:
            self.files.remove_stale_temporaries()
            self.files.write_preset(self.preset)
            self.files.write_summary(self.progress.summary("running"))
        except OSError as exc:
            raise DataError(
                f"cannot write to the run directory {self.run_dir}: {exc.strerror or exc}", "out"
            ) from None

    # ------------------------------------------------------------------ one epoch

    def _epoch(self, events: Events) -> None:
        """Train and validate one epoch, record it, write its files, announce it."""
        p, a, state = self.preset, self.a, self.state
        t0 = time.perf_counter()
        totals = train_epoch(
            a,
            self.data,
            p.train.batch_size,
            p.train.grad_clip,
            state,
            self.dist,
            self.control,
            self.monitor.doctor.note_divergence,
            self.progress.step_log,
            events,
            self.monitor.margins,
            self.monitor.step_probes(state.epoch + 1),
        )
        val = validate(a, self.data, p.train.batch_size, self.dist)
        state.epoch += 1
        metrics = epoch_metrics(state.epoch, totals, val, time.perf_counter() - t0)
        improved = self.progress.record(
            metrics, val, self.data.y_val.cpu().numpy(), self.data.val_ids
        )
        self.monitor.margins.end_epoch(self.dist)
        self.monitor.after_epoch(self.progress.rows)
        a.schedule.after_epoch(val.loss)
        self.files.write_metrics(self.progress.rows)
        self.files.write_steps(self.progress.step_log)
        self.files.write_predictions(self.progress.predictions)
        if self.dist.is_main:
            best = [self.files.best_checkpoint] if improved else []
            save_checkpoint(self.files.last_checkpoint, self._checkpoint(), *best)
            self._first = None  # a stop now resumes from this epoch's end
        self.files.write_summary(self.progress.summary("running"))
        events(ev.EpochEnd(state.epoch, metrics))

    def _watchable(self) -> bool:
        """Whether the doctor may watch a training step: not a compiled one (hooks would
        recompile it) and not under DDP (its ranks keep probing a copy, as they always did: a
        watched step there ended one rank with SIGABRT now and then, cause not found)."""
        return not self.a.compiled and not self.dist.enabled

    def _checkpoint(self) -> dict:
        return checkpoint_state(
            self.preset,
            self.a,
            self.state,
            self.progress,
            self.data,
            self.monitor.doctor.state(),
            self.monitor.margins.state(),
            self.identity,
        )

    # ------------------------------------------------------------------ the end

    def _fail(self, events: Events, exc: BaseException) -> RunSummary:
        message, hint = explain(exc)
        state = self.state
        failing = state.last_batch if state.last_batch is not None else self.monitor.last_input
        if not isinstance(exc, (TrainingError, OSError)) and failing is not None:
            where = locate_failure(self.a.forward_model, failing)
            if where:
                message = f"{message} — in {where}"
        if isinstance(exc, TrainingError) and exc.non_finite:
            self.monitor.non_finite(message, state.epoch + 1)
        if hint == BUG_HINT:  # the traceback is the report: kept beside the run's other files
            try:
                path = self.files.write_traceback("".join(traceback.format_exception(exc)))
                hint = BUG_IN_RUN_HINT.format(path=path) if path else hint
            except OSError:
                pass
        return self._finish(events, "failed", message, hint)

    def _finish(self, events: Events, status: str, error: str = "", hint: str = "") -> RunSummary:
        self.monitor.finish()
        if status == "stopped" and self._first and not self.files.last_checkpoint.exists():
            try:  # stopped inside the first epoch: resumable from its start
                atomic.write_bytes(self.files.last_checkpoint, self._first)
            except OSError:
                pass
        summary = self.progress.summary(status, error, hint)
        try:
            self.files.write_steps(self.progress.step_log)  # a stop mid-epoch keeps its steps too
            self.monitor.write_samples()
            self.files.write_summary(summary)
        except OSError:  # the disk is full or gone: the event still tells the user
            pass
        if status == "finished":
            events(ev.RunFinished(summary))
        elif status == "stopped":
            events(ev.RunStopped(summary))
        else:
            events(ev.RunFailed(error, hint, summary))
        return summary


class PreparingEvents:
    """Reports a long data preparation as ``Preparing`` events (at most ~10 a second) and stops
    it when the run is stopped."""

    def __init__(self, events: Events, control: RunControl):
        self.events, self.control = events, control
        self.last = 0.0

    def __call__(self, done: int, total: int, what: str) -> None:
        if self.control.stopped:
            raise Cancelled
        now = time.perf_counter()
        if now - self.last >= 0.1 or done == total:
            self.last = now
            self.events(ev.Preparing(what, done, total))


def _device_label(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)
