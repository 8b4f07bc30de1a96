"""A training run started from the window. The run trains in a child process
(:mod:`workbench.bridge.child_trainer`: every core, its own interpreter, a crash cannot take the
window down); a plain Python worker thread reads its events, puts them on a ``queue.Queue`` and
wakes the GUI thread by writing a byte to a socket pair, which a ``QSocketNotifier`` on the GUI
thread watches; the GUI thread then drains the queue and re-emits typed Qt signals there. So no
Qt object is created, emitted or touched off the GUI thread (PYSIDE-3124), the window wakes only
when there is something to show (no polling timer while a run trains), and the emit rate stays
apart from the paint rate. ``in_process=True`` (or ``PLATEAU_TRAIN_IN_PROCESS=1``)
trains on the worker thread itself instead, as the first versions did."""

from __future__ import annotations

import os
import queue
import socket
import threading
import traceback
from pathlib import Path

from PySide6.QtCore import QObject, QSocketNotifier, Signal

from engine.preset import Preset
from workbench.bridge.child_runs import run_processes
from workbench.bridge.child_trainer import ChildTrainer
from workbench.bridge.gc_policy import settle


def training_threads() -> int:
    """An in-process run leaves one core to the GUI thread."""
    return max(1, (os.cpu_count() or 2) - 1)


class TrainingSession(QObject):
    """Starts a run on a worker thread and re-emits its events on the GUI thread."""

    preparing = Signal(object)  # Preparing (the latest since the last drain)
    compiling = Signal(object)  # Compiling
    started = Signal(object)  # RunStarted
    batches = Signal(object)  # [BatchEnd, ...] since the last drain
    epoch_ended = Signal(object)  # EpochEnd
    diagnosed = Signal(object)  # Diagnosis
    finished = Signal(object)  # summary, status finished
    stopped = Signal(object)  # summary, status stopped
    failed = Signal(str, str, object)  # error, hint, summary
    state_changed = Signal(str)  # idle | running | paused | stopping

    def __init__(self, parent: QObject | None = None, in_process: bool | None = None):
        super().__init__(parent)
        if in_process is None:
            in_process = os.environ.get("PLATEAU_TRAIN_IN_PROCESS") == "1"
        self.in_process = in_process
        self.child = ChildTrainer()
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._control = None
        self._state = "idle"
        self.run_dir: str | None = None
        # the worker thread's wake-up call: a byte on a socket pair (no Qt object off-thread)
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self._wake_write.setblocking(False)
        self._wake_pending = threading.Event()
        self._notifier = QSocketNotifier(self._wake_read.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._woken)

    def _put(self, event) -> None:
        """The worker thread's side: queue ``event`` and wake the GUI thread (once until it
        drains)."""
        self._queue.put(event)
        if not self._wake_pending.is_set():
            self._wake_pending.set()
            try:
                self._wake_write.send(b"!")
            except OSError:  # full (the GUI thread is behind; it will drain) or closed
                pass

    def _woken(self) -> None:
        try:
            while self._wake_read.recv(4096):
                pass
        except OSError:  # nothing more to read
            pass
        self._wake_pending.clear()
        self.drain()

    @property
    def state(self) -> str:
        return self._state

    def is_active(self) -> bool:
        return self._state != "idle"

    def start(self, preset: Preset, workspace: str | Path, resume_dir: str | None = None) -> None:
        """Start training ``preset`` into ``workspace`` (or continue ``resume_dir``)."""
        if self.is_active():
            raise RuntimeError("a run is already active")
        from engine.control import RunControl

        self._control = RunControl()
        self.run_dir = None
        self._queue = queue.Queue()
        put = self._put
        control = self._control

        def work() -> None:
            try:
                if preset.train.processes > 1:
                    run_processes(preset, workspace, put, control, resume_dir)
                    return
                if not self.in_process:
                    self.child.run(preset, workspace, put, control, resume_dir)
                    return
                from engine.trainer import Trainer

                trainer = Trainer(
                    preset,
                    out=workspace,
                    control=control,
                    resume_dir=resume_dir,
                    num_threads=training_threads(),
                )
                trainer.fit(put)
            except Exception as exc:  # noqa: BLE001 - bad input or a bug: report, never crash
                from engine.events import RunFailed, RunSummary
                from engine.failures import BUG_HINT, explain

                message, hint = explain(exc)
                put(RunFailed(message, hint, RunSummary.failed_before_start(message, hint)))
                if hint == BUG_HINT:
                    traceback.print_exc()
            finally:
                put(_WorkerDone())

        settle()  # no full garbage collection in the middle of the run
        self._thread = threading.Thread(target=work, name="plateau-training", daemon=True)
        self._set_state("running")
        self._thread.start()

    def prestart(self) -> None:
        """Make a training process ready now, so that Start does not wait for torch to load."""
        if not self.in_process:
            self.child.prestart()

    def prepare(self, preset: Preset) -> None:
        """The window shows ``preset``, valid, with its data loaded: the training process
        prepares its run ahead of Start."""
        if not self.in_process and preset.train.processes == 1:
            self.child.prepare(preset)

    def shutdown(self) -> None:
        """The window closes: end the ready training process (a run was stopped before)."""
        self.child.shutdown()

    def pause(self) -> None:
        if self._control and self._state == "running":
            self._control.pause()
            self._set_state("paused")

    def resume(self) -> None:
        if self._control and self._state == "paused":
            self._control.resume()
            self._set_state("running")

    def stop(self) -> None:
        if self._control and self._state in ("running", "paused"):
            self._control.stop()
            self._set_state("stopping")

    def wait(self, timeout: float) -> bool:
        """Block until the worker thread has ended (for shutdown); True if it did."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        alive = self._thread.is_alive()
        if not alive:
            self.drain()
        return not alive

    def drain(self) -> None:
        """Hand every queued event to the GUI as signals (runs on the GUI thread)."""
        from engine import events as ev

        batches = []
        while True:
            try:
                event = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(event, ev.BatchEnd):
                batches.append(event)
                continue
            if batches:
                self.batches.emit(batches)
                batches = []
            if isinstance(event, ev.Preparing):
                self.preparing.emit(event)
            elif isinstance(event, ev.Compiling):
                self.compiling.emit(event)
            elif isinstance(event, ev.RunStarted):
                self.run_dir = event.run_dir
                self.started.emit(event)
            elif isinstance(event, ev.EpochEnd):
                self.epoch_ended.emit(event)
            elif isinstance(event, ev.Diagnosis):
                self.diagnosed.emit(event)
            elif isinstance(event, ev.RunFinished):
                self._ended()
                self.finished.emit(event.summary)
            elif isinstance(event, ev.RunStopped):
                self._ended()
                self.stopped.emit(event.summary)
            elif isinstance(event, ev.RunFailed):
                self._ended()
                self.failed.emit(event.error, event.hint, event.summary)
            elif isinstance(event, _WorkerDone):
                self._ended()
        if batches:
            self.batches.emit(batches)

    def _ended(self) -> None:
        self._set_state("idle")

    def thread_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self.state_changed.emit(state)


class _WorkerDone:
    """Marks the end of the worker thread's queue."""
