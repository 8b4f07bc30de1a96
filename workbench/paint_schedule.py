"""When the run view's plots repaint. A live run's events only append to its
:class:`RunHistory`; a paint timer (running only while a run trains) asks the schedule, which
repaints only what changed, and not often: on a 2-core machine every millisecond the window
paints is taken from the trainer's threads (benchmarks/gui_responsiveness.py). A run shown from
the list, and a run's end, paint at once."""

from __future__ import annotations

import time
from collections.abc import Callable

from workbench.plots.training_plots import TrainingPlots
from workbench.run_history import RunHistory

# While a run trains, the step curves repaint twice a second (painting at 10 Hz used 5 % of a
# core and slowed training by 6 %; at 4 Hz, with the epoch views once a second, the window still
# used 4.6 % of a core, and 2.8 % at these rates).
LIVE_PAINT_INTERVAL_MS = 500
# Views that change once an epoch (epoch losses, accuracy, per-class, confusion) repaint at most
# this often during a live run: with 0.1 s epochs, painting every one took ~20 % of the training
# thread's time, and with 0.6 s epochs a repaint each 0.5 s still took 2 % of the trainer's 2
# cores. A run's end repaints them all at once.
EPOCH_VIEW_INTERVAL_S = 2.0
# The live learning rate follows its plan, which the LR plot shows already: it catches up once a
# second.
LIVE_LR_INTERVAL_S = 1.0


class PaintSchedule:
    """Repaints one history's views in ``plots`` when they changed, at the rates above."""

    def __init__(self, plots: TrainingPlots):
        self.plots = plots
        self.paints = 0  # step-curve repaints (for the benchmarks)
        self._version = -1
        self._epochs = -1
        self._epochs_at = 0.0
        self._lr_at = 0.0
        self._epoch_views: list[Callable[[RunHistory], None]] = []  # to repaint, one a tick

    def reset(self) -> None:
        """Another history is shown: everything repaints at the next tick."""
        self._version = self._epochs = -1
        self._epoch_views = []

    def steps_changed(self) -> None:
        """Repaint every step curve at the next tick (a run ended: its last steps)."""
        self._version = -1

    def paint(self, h: RunHistory, live: bool, throttled: bool, force: bool = False) -> None:
        """``live``: ``h`` is a run training now; ``throttled``: ``h`` is the live run's history
        (its epoch views wait their interval); ``force``: paint all that changed at once."""
        now = time.monotonic()
        if h.version != self._version:
            self._version = h.version
            self.paints += 1
            self.plots.loss.show_history(h)
            if not live or now - self._lr_at >= LIVE_LR_INTERVAL_S:
                self._lr_at = now
                self.plots.lr.show_history(h)
        due = force or not throttled or now - self._epochs_at >= EPOCH_VIEW_INTERVAL_S
        if len(h.epochs) != self._epochs and due:  # epoch views change once an epoch
            self._epochs = len(h.epochs)
            self._epochs_at = now
            self._epoch_views = [
                self.plots.loss.show_epochs,
                self.plots.accuracy.show_history,
                self.plots.per_class.show_history,
                self.plots.confusion.show_history,
            ]
        # While a run trains, one of them a tick: Qt repaints every view that changed in one
        # pass, and all four at once stalled the window for 40-70 ms on a busy 2-core machine.
        while self._epoch_views:
            self._epoch_views.pop(0)(h)
            if live and not force:
                break
