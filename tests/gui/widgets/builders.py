"""Typed runs made up for widget tests: epoch records, histories and run directories."""

from __future__ import annotations

from pathlib import Path

from engine.events import EpochMetrics, PerClassMetrics, RunSummary
from engine.preset import Preset
from engine.runs import RunFiles, StepLog
from workbench.run_history import RunHistory


def epoch(n: int, k: int = 3, val_acc: float | None = None, errors: int = 1) -> EpochMetrics:
    """Epoch ``n`` of a run with ``k`` classes of 10 validation images each; ``errors`` images
    of class 0 predicted as class 1."""
    confusion = [[10 if i == j else 0 for j in range(k)] for i in range(k)]
    confusion[0][0] -= errors
    confusion[0][1] += errors
    recall = tuple(confusion[i][i] / 10 for i in range(k))
    acc = val_acc if val_acc is not None else sum(confusion[i][i] for i in range(k)) / (10 * k)
    return EpochMetrics(
        epoch=n,
        train_loss=1.0 / n,
        train_acc=min(1.0, 0.5 + 0.1 * n),
        val_loss=1.2 / n,
        val_acc=acc,
        lr=1e-3,
        seconds=0.5,
        samples_per_s=1000.0,
        grad_norm=1.0,
        per_class=PerClassMetrics(recall, recall, recall, (10,) * k),
        confusion=tuple(tuple(row) for row in confusion),
    )


def history(epochs: int = 3, k: int = 3, steps_per_epoch: int = 4) -> RunHistory:
    h = RunHistory(name="made-up", run_dir="", steps_per_epoch=steps_per_epoch)
    h.class_names = [f"class {i}" for i in range(k)]
    for n in range(1, epochs + 1):
        h.add_epoch(epoch(n, k, errors=epochs - n + 1))
    steps = list(range(1, epochs * steps_per_epoch + 1))
    h.add_steps(steps, [2.0 / s for s in steps], [1e-3] * len(steps))
    return h


def run_directory(root: Path, name: str, status: str = "finished", epochs: int = 2) -> Path:
    """A run directory as the trainer writes it (preset, metrics, steps, summary)."""
    path = root / name
    (path / "checkpoints").mkdir(parents=True)
    files = RunFiles(path)
    files.write_preset(Preset().with_changes({"name": name}))
    rows = [epoch(n) for n in range(1, epochs + 1)]
    files.write_metrics(rows)
    files.write_steps(StepLog([1, 2, 3], [1.0, 0.8, 0.7], [1e-3] * 3))
    best = max(r.val_acc for r in rows) if rows else None
    files.write_summary(
        RunSummary(
            status,
            name,
            str(path),
            epochs_planned=epochs,
            epochs_completed=len(rows),
            best_val_acc=best,
            class_names=("a", "b", "c"),
            steps_per_epoch=2,
        )
    )
    return path
