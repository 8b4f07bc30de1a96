"""Python's cyclic garbage collection, run only on the GUI thread — the application's policy,
installed once at its start (``workbench.app``)."""

from __future__ import annotations

import gc

from PySide6.QtCore import QTimer

COLLECT_INTERVAL_MS = 250

_collector = None


class GuiThreadCollector:
    """Collects from a GUI-thread timer instead of wherever an allocation happens.

    Automatic collection runs on whichever thread happens to allocate; on a training or job
    thread it would destroy Qt objects (left in reference cycles) there, which deadlocked and
    crashed the app in testing. This disables automatic collection and collects from a GUI-thread
    timer instead (as pyqtgraph's GarbageCollector does); after each full collection the
    survivors are frozen (``gc.freeze``) so later collections do not rescan torch's hundreds of
    thousands of long-lived objects, and it runs 4 times a second so each collection stays small
    (collections once a second stalled the event loop for ~60 ms each while training, before runs
    began with a freeze; a check each 100 ms was a third of the window's wake-ups while training).
    """

    def __init__(self, interval_ms: int = COLLECT_INTERVAL_MS):
        self.threshold = gc.get_threshold()
        gc.disable()
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.check)
        self.timer.start()

    def check(self) -> None:
        counts = gc.get_count()
        for generation in (2, 1, 0):
            if counts[generation] > self.threshold[generation]:
                gc.collect(generation)
                if generation == 2:
                    gc.freeze()
                return


def settle() -> None:
    """Collect everything now and freeze the survivors — when a run starts, a moment a person
    does not notice 50 ms in — so that the collections during the run only see what the run
    makes (a full collection during one stalled the window for 60 ms)."""
    gc.collect()
    gc.freeze()


def collect_garbage_on_gui_thread() -> GuiThreadCollector:
    """Install the :class:`GuiThreadCollector` once per process (needs a QApplication)."""
    global _collector
    if _collector is None:
        _collector = GuiThreadCollector()
    return _collector
