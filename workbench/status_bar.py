"""The status bar's run readout: device, state, epoch, speed, elapsed time and ETA — of the live
run while it trains, of the selected run otherwise."""

from __future__ import annotations

import time

from PySide6.QtWidgets import QLabel, QStatusBar

from engine.events import RunSummary
from engine.wording import count

# the widest text each label shows, so labels do not jump as their numbers change
WIDEST = {
    "state": "stopped early",
    "epoch": "epoch 999/999 · batch 9999/9999",
    "speed": "9,999,999 samples/s",
    "elapsed": "0:00:00",
    "eta": "ETA 0:00:00",
}


def clock(seconds: float) -> str:
    """``3725`` → ``"1:02:05"``."""
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class Stopwatch:
    """Time a run has spent training: paused time does not count."""

    def __init__(self) -> None:
        self.started: float | None = None
        self.paused_at: float | None = None
        self.paused_total = 0.0

    def start(self) -> None:
        self.started, self.paused_at, self.paused_total = time.monotonic(), None, 0.0

    def pause(self) -> None:
        if self.started is not None and self.paused_at is None:
            self.paused_at = time.monotonic()

    def resume(self) -> None:
        if self.paused_at is not None:
            self.paused_total += time.monotonic() - self.paused_at
            self.paused_at = None

    def stop(self) -> None:
        self.started = None

    @property
    def running(self) -> bool:
        return self.started is not None

    def elapsed(self) -> float:
        if self.started is None:
            return 0.0
        now = self.paused_at if self.paused_at is not None else time.monotonic()
        return now - self.started - self.paused_total


class RunStatusBar:
    """Labels in the window's status bar; ``labels[key]`` for device, state, epoch, speed,
    elapsed and eta."""

    def __init__(self, bar: QStatusBar):
        self.labels: dict[str, QLabel] = {}
        for key in ("device", "state", "epoch", "speed", "elapsed", "eta"):
            label = QLabel("")
            label.setObjectName(f"status_{key}")
            label.setStyleSheet("padding: 0 8px;")
            if key in WIDEST:
                label.setMinimumWidth(label.fontMetrics().horizontalAdvance(WIDEST[key]) + 16)
            bar.addPermanentWidget(label)
            self.labels[key] = label
        self.watch = Stopwatch()
        self.planned = 0
        self.start_epoch = 0

    def text(self, key: str) -> str:
        return self.labels[key].text()

    def clear(self) -> None:
        for label in self.labels.values():
            label.setText("")

    # ------------------------------------------------------------------ the live run

    def live_started(self, planned_epochs: int) -> None:
        self.clear()
        self.planned, self.start_epoch = planned_epochs, 0
        self.watch.start()
        self.labels["state"].setText("starting")
        self.labels["epoch"].setText(f"epoch 0/{planned_epochs}")

    def live_device(self, device: str, start_epoch: int = 0, speed: dict | None = None) -> None:
        """The run started: its device and what ``auto`` chose for speed (reasons on hover)."""
        speed = speed or {}
        chosen = f" · {speed['summary']}" if speed.get("summary") else ""
        self.labels["device"].setText(f"device: {device}{chosen}")
        self.labels["device"].setToolTip("\n".join(speed.get("reasons", ())))
        self.labels["state"].setText("running")
        self.start_epoch = start_epoch
        self.watch.start()  # training time and ETA: not the decoding or features before it

    def compiling(self, event) -> None:
        """``torch.compile`` at work in the first epoch, done, or given up (eager goes on)."""
        state = self.labels["state"]
        if event.stage == "compiling":
            state.setText("compiling (first epoch)")
            state.setToolTip(
                f"torch.compile, mode {event.mode} — paid once, cached in {event.cache_dir}"
            )
        elif event.stage == "compiled":
            state.setText("paused" if self.watch.paused_at is not None else "running")
            state.setToolTip(f"compiled in {event.seconds:.0f} s")
        else:
            state.setText("running (not compiled)")
            state.setToolTip(event.message)

    def preparing(self, text: str) -> None:
        self.labels["state"].setText("preparing")
        self.labels["epoch"].setText(text)

    def batch(self, epoch: int, batch: int, batches: int) -> None:
        self.labels["epoch"].setText(f"epoch {epoch}/{self.planned} · batch {batch}/{batches}")

    def epoch_done(self, epoch: int, samples_per_s: float) -> None:
        self.labels["epoch"].setText(f"epoch {epoch}/{self.planned}")
        self.labels["speed"].setText(f"{samples_per_s:,.0f} samples/s")
        done = epoch - self.start_epoch
        if done > 0:
            remaining = self.watch.elapsed() / done * (self.planned - epoch)
            self.labels["eta"].setText(f"ETA {clock(remaining)}")

    def paused(self, on: bool) -> None:
        if on:
            self.watch.pause()
        else:
            self.watch.resume()
        if self.watch.running:
            self.labels["state"].setText("paused" if on else "running")

    def tick(self) -> None:
        """Refresh the elapsed time (from the paint timer)."""
        if self.watch.running:
            self.labels["elapsed"].setText(clock(self.watch.elapsed()))

    def live_ended(self, status: str, early: bool = False) -> None:
        self.watch.stop()
        self.labels["state"].setText("stopped early" if early else status)
        self.labels["eta"].setText("")

    # ------------------------------------------------------------------ a past run

    def show_summary(self, summary: RunSummary | None, samples_per_s: float | None) -> None:
        """What a finished, stopped or failed run recorded (None: a run without a summary)."""
        self.watch.stop()
        self.clear()
        if summary is None:
            return
        s = summary
        speed = f" · {s.speed}" if s.speed else ""  # as it read while the run trained
        self.labels["device"].setText(f"device: {s.device}{speed}" if s.device else "")
        self.labels["state"].setText("stopped early" if s.early_stopped else s.status)
        done, planned = s.epochs_completed, s.epochs_planned
        self.labels["epoch"].setText(f"epoch {done}/{planned}" if planned else "")
        if samples_per_s:
            self.labels["speed"].setText(f"{samples_per_s:,.0f} samples/s")
        self.labels["elapsed"].setText(clock(s.seconds))
        self.labels["elapsed"].setToolTip(f"training time of {count(done, 'epoch')}")
