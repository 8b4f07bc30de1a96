"""What the GUI knows about one run: per-step losses and per-epoch metrics, in growing buffers.

Events only append here (cheap); plots read from it when the paint timer fires.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from engine.events import EpochMetrics


class GrowingArray:
    """An append-only float buffer that doubles its capacity (amortized O(1) appends)."""

    def __init__(self, capacity: int = 1024):
        self._data = np.empty(capacity, dtype=np.float64)
        self._n = 0

    def extend(self, values) -> None:
        values = np.asarray(values, dtype=np.float64)
        need = self._n + len(values)
        if need > len(self._data):
            grown = np.empty(max(need, 2 * len(self._data)), dtype=np.float64)
            grown[: self._n] = self._data[: self._n]
            self._data = grown
        self._data[self._n : need] = values
        self._n = need

    def truncate(self, n: int) -> None:
        self._n = min(self._n, n)

    def view(self) -> np.ndarray:
        return self._data[: self._n]

    def __len__(self) -> int:
        return self._n


@dataclass
class RunHistory:
    """Step and epoch records of one run, as the plots need them."""

    name: str = ""
    run_dir: str = ""
    steps_per_epoch: int = 0
    class_names: list[str] = field(default_factory=list)
    epochs: list[EpochMetrics] = field(default_factory=list)
    step: GrowingArray = field(default_factory=GrowingArray)
    loss: GrowingArray = field(default_factory=GrowingArray)
    lr: GrowingArray = field(default_factory=GrowingArray)
    version: int = 0  # bumped on every change, so views repaint only when needed

    def add_batches(self, batches) -> None:
        self.add_steps(
            [b.step for b in batches], [b.loss for b in batches], [b.lr for b in batches]
        )

    def add_steps(self, steps, losses, lrs) -> None:
        self.step.extend(steps)
        self.loss.extend(losses)
        self.lr.extend(lrs)
        self.version += 1

    def replace_steps(self, steps, losses, lrs) -> None:
        """All step readings at once: those the run recorded, once it ended (the live events
        carried fewer on a fast run)."""
        for buffer in (self.step, self.loss, self.lr):
            buffer.truncate(0)
        self.add_steps(steps, losses, lrs)

    def truncate(self, epochs: int) -> None:
        """Keep the first ``epochs`` epochs and their steps (a resumed run redoes the rest)."""
        del self.epochs[epochs:]
        if self.steps_per_epoch:
            keep = int((self.step.view() <= epochs * self.steps_per_epoch).sum())
            for buffer in (self.step, self.loss, self.lr):
                buffer.truncate(keep)
        self.version += 1

    def add_epoch(self, metrics: EpochMetrics) -> None:
        self.epochs.append(metrics)
        self.version += 1

    def series(self, pick: Callable[[EpochMetrics], float]) -> np.ndarray:
        """One number per epoch, e.g. ``history.series(lambda m: m.val_acc)``."""
        return np.array([pick(m) for m in self.epochs], dtype=np.float64)

    def epoch_numbers(self) -> np.ndarray:
        return self.series(lambda m: m.epoch)

    def best_epoch(self) -> int | None:
        """The epoch of the best validation accuracy, of equal ones the lowest validation loss
        (what ``best.pt`` holds)."""
        if not self.epochs:
            return None
        return max(self.epochs, key=lambda m: (m.val_acc, -m.val_loss)).epoch

    @classmethod
    def from_rows(cls, name: str, run_dir: str, rows: list[EpochMetrics]) -> RunHistory:
        """A finished run's history from its ``metrics.jsonl`` rows."""
        history = cls(name=name, run_dir=run_dir)
        for row in rows:
            history.add_epoch(row)
        return history

    @classmethod
    def from_run_dir(cls, run_dir: str) -> RunHistory:
        """A past run's history as its files recorded it: epochs (``metrics.jsonl``), step
        readings (``steps.npz``), class names and epoch length (``summary.json``)."""
        from pathlib import Path

        from engine.runs import RunFiles

        files = RunFiles(run_dir)
        try:
            rows = files.read_metrics()
        except (OSError, ValueError, KeyError):
            rows = []
        history = cls.from_rows(Path(run_dir).name, str(run_dir), rows)
        summary = files.read_summary()
        if summary is not None:
            history.class_names = list(summary.class_names)
            history.steps_per_epoch = summary.steps_per_epoch
        steps = files.read_steps()
        if len(steps):
            history.add_steps(steps.step, steps.loss, steps.lr)
        return history
