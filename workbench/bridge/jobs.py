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
