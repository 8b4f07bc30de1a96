"""What the GUI knows about one run: per-step losses and per-epoch metrics, in growing buffers.

Events only append here (cheap); plots read from it when the paint timer fires.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


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
    epochs: list[dict] = field(default_factory=list)
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

    def truncate(self, epochs: int) -> None:
        """Keep the first ``epochs`` epochs and their steps (a resumed run redoes the rest)."""
        del self.epochs[epochs:]
        if self.steps_per_epoch:
            keep = int((self.step.view() <= epochs * self.steps_per_epoch).sum())
            for buffer in (self.step, self.loss, self.lr):
                buffer.truncate(keep)
        self.version += 1

    def add_epoch(self, metrics: dict) -> None:
        self.epochs.append(metrics)
        self.version += 1

    def column(self, key: str) -> np.ndarray:
        return np.array([row[key] for row in self.epochs], dtype=np.float64)

    def epoch_numbers(self) -> np.ndarray:
        return self.column("epoch") if self.epochs else np.empty(0)

    def best_epoch(self) -> int | None:
        if not self.epochs:
            return None
        acc = self.column("val_acc")
        return int(self.epochs[int(np.argmax(acc))]["epoch"])

    @classmethod
    def from_rows(cls, name: str, run_dir: str, rows: list[dict]) -> RunHistory:
        """A finished run's history from its ``metrics.jsonl`` rows."""
        history = cls(name=name, run_dir=run_dir)
        for row in rows:
            history.add_epoch(row)
        return history
