"""Background work for the window: engine functions (which may import or run torch) run on
worker threads, and their results are delivered to callbacks on the GUI thread by a timer."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer

DRAIN_INTERVAL_MS = 50  # 20 Hz


class BackgroundJobs(QObject):
    """Runs engine functions (which may import or run torch) off the GUI thread and delivers
    their results — and, for long ones, their progress — to callbacks on the GUI thread. A job
    can be cancelled (its progress callback raises ``Cancelled``) or superseded by a newer job of
    the same kind."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._results: queue.Queue = queue.Queue()
        self._latest: dict[str, int] = {}
        self._cancel: dict[str, threading.Event] = {}
        self._progress: dict[str, tuple] = {}  # kind → the latest (ticket, value, callback)
        self._pending = 0
        self._lock = threading.Lock()
        self._timer = QTimer(self)
        self._timer.setInterval(DRAIN_INTERVAL_MS)
        self._timer.timeout.connect(self.drain)

    def submit(
        self,
        kind: str,
        fn: Callable[..., Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None] | None = None,
        on_progress: Callable[[int, int, str], None] | None = None,
    ) -> None:
        """Run ``fn()`` on a worker thread — ``fn(progress)`` when ``on_progress`` is given,
        ``progress(done, total, what)`` then reaching ``on_progress`` on the GUI thread — ; a
        newer job of the same ``kind`` supersedes it."""
        from engine.errors import Cancelled

        ticket = self._latest.get(kind, 0) + 1
        self._latest[kind] = ticket
        cancel = self._cancel[kind] = threading.Event()
        with self._lock:
            self._pending += 1

        def progress(done: int, total: int, what: str) -> None:
            if cancel.is_set() or self._latest.get(kind) != ticket:
                raise Cancelled
            with self._lock:
                self._progress[kind] = (ticket, (done, total, what), on_progress)

        def work() -> None:
            try:
                result = fn(progress) if on_progress is not None else fn()
                error = None
            except Exception as exc:  # noqa: BLE001 - delivered to on_error
                result, error = None, exc
            self._results.put((kind, ticket, result, error, on_done, on_error))
            with self._lock:
                self._pending -= 1

        threading.Thread(target=work, name=f"plateau-{kind}", daemon=True).start()
        self._timer.start()

    def cancel(self, kind: str) -> None:
        """Ask the running job of ``kind`` to stop (at its next progress report)."""
        if kind in self._cancel:
            self._cancel[kind].set()

    def idle(self) -> bool:
        """True when no job is still computing (results may wait for :meth:`drain`)."""
        with self._lock:
            return self._pending == 0

    def settled(self) -> bool:
        """True when no job computes and no result waits (for tests and shutdown): results are
        delivered first, so jobs their callbacks start count too."""
        self.drain()
        with self._lock:
            return self._pending == 0 and self._results.empty()

    def drain(self) -> None:
        with self._lock:
            reports, self._progress = self._progress, {}
        for kind, (ticket, value, callback) in reports.items():
            if ticket == self._latest.get(kind) and callback is not None:
                callback(*value)
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
