"""The bridge between the engine and the GUI — the only module that imports both sides' runtime.

A training run happens on a plain Python worker thread; the engine's callback only puts events on
a ``queue.Queue``. A ``QTimer`` on the GUI thread drains that queue and re-emits typed Qt signals
there, so no Qt object is created, emitted or touched from the training thread (PYSIDE-3124), and
the emit rate stays apart from the paint rate. Other torch work the GUI needs (model summary,
learning-rate preview, data samples) runs the same way through :class:`BackgroundJobs`.
"""

from __future__ import annotations

import os
import queue
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from engine.preset import Preset

DRAIN_INTERVAL_MS = 50  # 20 Hz


_collector = None


class GuiThreadCollector:
    """Python's cyclic garbage collection, run only on the GUI thread.

    Automatic collection runs on whichever thread happens to allocate; on a training or job
    thread it would destroy Qt objects (left in reference cycles) there, which deadlocked and
    crashed the app in testing. This disables automatic collection and collects from a GUI-thread
    timer instead (as pyqtgraph's GarbageCollector does); after each full collection the
    survivors are frozen (``gc.freeze``) so later collections do not rescan torch's hundreds of
    thousands of long-lived objects, and it runs every 100 ms so each collection stays small
    (collections once a second stalled the event loop for ~60 ms each while training).
    """

    def __init__(self, interval_ms: int = 100):
        import gc

        self.threshold = gc.get_threshold()
        gc.disable()
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.check)
        self.timer.start()

    def check(self) -> None:
        import gc

        counts = gc.get_count()
        for generation in (2, 1, 0):
            if counts[generation] > self.threshold[generation]:
                gc.collect(generation)
                if generation == 2:
                    gc.freeze()
                return


def collect_garbage_on_gui_thread() -> None:
    """Install the :class:`GuiThreadCollector` once per process."""
    global _collector
    if _collector is None:
        _collector = GuiThreadCollector()


def training_threads() -> int:
    """Leave one core to the GUI thread."""
    return max(1, (os.cpu_count() or 2) - 1)


class TrainingSession(QObject):
    """Starts a run on a worker thread and re-emits its events on the GUI thread."""

    started = Signal(object)  # RunStarted
    batches = Signal(object)  # [BatchEnd, ...] since the last drain
    epoch_ended = Signal(object)  # EpochEnd
    diagnosed = Signal(object)  # Diagnosis
    finished = Signal(object)  # summary, status finished
    stopped = Signal(object)  # summary, status stopped
    failed = Signal(str, str, object)  # error, hint, summary
    state_changed = Signal(str)  # idle | running | paused | stopping

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._control = None
        self._state = "idle"
        self.run_dir: str | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(DRAIN_INTERVAL_MS)
        self._timer.timeout.connect(self.drain)

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
        put = self._queue.put
        control = self._control

        def work() -> None:
            try:
                if preset.train.processes > 1:
                    run_processes(preset, workspace, put, control)
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
                from engine.events import RunFailed
                from engine.failures import BUG_HINT, explain

                message, hint = explain(exc)
                put(RunFailed(message, hint, {"status": "failed"}))
                if hint == BUG_HINT:
                    traceback.print_exc()
            finally:
                put(_WorkerDone())

        self._thread = threading.Thread(target=work, name="plateau-training", daemon=True)
        self._set_state("running")
        self._thread.start()
        self._timer.start()

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
            if isinstance(event, ev.RunStarted):
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
                self._timer.stop()
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


def run_processes(preset: Preset, workspace, put, control) -> None:
    """Train on ``train.processes`` local processes: ``plateau-train --json`` relaunches itself
    under torchrun; its JSON event lines become the same events a local run sends."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import tempfile

    from engine import events as ev
    from engine import preset as presets

    folder = Path(workspace)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="plateau-") as tmp:
        preset_file, log = Path(tmp) / "preset.toml", Path(tmp) / "stderr.txt"
        presets.save(preset, preset_file)
        with open(log, "w") as err:  # a file, not a pipe: a full pipe would stall the ranks
            proc = subprocess.Popen(
                [sys.executable, "-m", "engine", str(preset_file), "--out", str(folder), "--json"],
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                start_new_session=True,
            )

        def watch() -> None:
            while proc.poll() is None:
                if control.stopped:
                    os.killpg(proc.pid, signal.SIGINT)  # torchrun stops every rank cleanly
                    return
                control.wait_while_paused()
                time.sleep(0.1)

        threading.Thread(target=watch, name="plateau-processes", daemon=True).start()
        ended = False
        for line in proc.stdout:
            try:
                event = ev.from_json(json.loads(line))
            except (ValueError, KeyError, TypeError):
                continue
            ended = ended or isinstance(event, (ev.RunFinished, ev.RunStopped, ev.RunFailed))
            put(event)
        code = proc.wait()
        if not ended:
            reason = [line for line in log.read_text().splitlines() if line.strip()]
            put(
                ev.RunFailed(
                    f"the {preset.train.processes}-process run ended with exit code {code}: "
                    + (reason[-1] if reason else "no message"),
                    "run the same preset with plateau-train to see the whole output",
                    {"status": "failed"},
                )
            )


class _WorkerDone:
    """Marks the end of the worker thread's queue."""


class BackgroundJobs(QObject):
    """Runs engine functions (which may import or run torch) off the GUI thread and delivers
    their results to callbacks on the GUI thread."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._results: queue.Queue = queue.Queue()
        self._latest: dict[str, int] = {}
        self._pending = 0
        self._lock = threading.Lock()
        self._timer = QTimer(self)
        self._timer.setInterval(DRAIN_INTERVAL_MS)
        self._timer.timeout.connect(self.drain)

    def submit(
        self,
        kind: str,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        """Run ``fn()`` on a worker thread; a newer job of the same ``kind`` supersedes it."""
        ticket = self._latest.get(kind, 0) + 1
        self._latest[kind] = ticket
        with self._lock:
            self._pending += 1

        def work() -> None:
            try:
                result, error = fn(), None
            except Exception as exc:  # noqa: BLE001 - delivered to on_error
                result, error = None, exc
            self._results.put((kind, ticket, result, error, on_done, on_error))
            with self._lock:
                self._pending -= 1

        threading.Thread(target=work, name=f"plateau-{kind}", daemon=True).start()
        self._timer.start()

    def idle(self) -> bool:
        """True when no job is still computing (results may wait for :meth:`drain`)."""
        with self._lock:
            return self._pending == 0

    def drain(self) -> None:
        while True:
            try:
                kind, ticket, result, error, on_done, on_error = self._results.get_nowait()
            except queue.Empty:
                break
            if ticket != self._latest.get(kind):
                continue  # superseded by a newer request
            if error is None:
                on_done(result)
            elif on_error is not None:
                on_error(error)
        if self.idle() and self._results.empty():
            self._timer.stop()
