"""Run control: thread-safe pause / resume / stop flags (no torch, so a GUI can hold one)."""

from __future__ import annotations

import threading
from collections.abc import Callable


class RunControl:
    """Flags the trainer checks between batches; listeners hear of each change (to forward the
    flags to a trainer in another process without polling them)."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._listeners: list[Callable[[], None]] = []

    def listen(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` now and after every change, on the thread that made it."""
        self._listeners.append(listener)
        listener()

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()

    def pause(self) -> None:
        self._running.clear()
        self._changed()

    def resume(self) -> None:
        self._running.set()
        self._changed()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()
        self._changed()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def wait_while_paused(self) -> None:
        while not self._running.wait(0.1):
            if self._stop.is_set():
                return
