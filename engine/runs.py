"""The run directory: ``<out>/<name>-<YYYYmmdd-HHMMSS>/`` and the files in it.

``preset.toml`` (what ran), ``metrics.jsonl`` (one object per epoch), ``steps.npz`` (the training
loss and learning rate as read during the run, ~20 times a second and ≥ 10 times an epoch),
``diagnosis.json``, ``summary.json``, ``predictions.npz`` and ``checkpoints/{last,best}.pt``; all
written atomically.
"""

from __future__ import annotations

import errno
import io
import json
import os
import re
import time
from pathlib import Path

import numpy as np

from engine import atomic
from engine import preset as presets
from engine.errors import DataError
from engine.events import EpochMetrics, RunSummary


class TrainingLock:
    """Held while this process trains a run directory, so that no second process trains it at
    the same time (a resume while the run still trains). The kernel lets go of it when the
    process ends, even killed; where directories cannot be locked (Windows), it holds nothing."""

    def __init__(self, run_dir: str | Path):
        self.fd: int | None = None
        try:
            import fcntl
        except ImportError:
            return
        try:
            fd = os.open(run_dir, os.O_RDONLY)
        except OSError:
            return  # not there or not readable: what reads it next says so
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                return  # a filesystem without locks (NFS without lockd): hold nothing
            raise DataError(
                f"{run_dir} is training in another process now; wait until that run ends (or "
                "stop it) and resume it then"
            ) from None
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def create_run_dir(out: str | Path, name: str) -> Path:
    """Make a new, unique run directory under ``out`` (its absolute path: a run's files name it
    read from anywhere)."""
    out = Path(out).expanduser().resolve()
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "run"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = out / f"{safe}-{stamp}"
    path, n = base, 1
    while True:
        try:
            path.mkdir(parents=True, exist_ok=False)
            break
        except FileExistsError:
            n += 1
            path = Path(f"{base}-{n}")
    (path / "checkpoints").mkdir()
    return path


class StepLog:
    """The per-step readings of a run (global step, mean training loss since the previous
    reading, learning rate): every ``BatchEnd`` event's, and at least 10 an epoch besides."""

    def __init__(self, step=(), loss=(), lr=()):
        self.step, self.loss, self.lr = list(step), list(loss), list(lr)

    def add(self, step: int, loss: float, lr: float) -> None:
        self.step.append(step)
        self.loss.append(loss)
        self.lr.append(lr)

    def up_to(self, step: int) -> StepLog:
        keep = sum(1 for s in self.step if s <= step)
        return StepLog(self.step[:keep], self.loss[:keep], self.lr[:keep])

    def __len__(self) -> int:
        return len(self.step)


class RunFiles:
    """Reads and writes the files of one run directory."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._metric_lines: list[tuple[EpochMetrics, str]] = []  # rows already serialized

    @property
    def last_checkpoint(self) -> Path:
        return self.path / "checkpoints" / "last.pt"

    @property
    def best_checkpoint(self) -> Path:
        return self.path / "checkpoints" / "best.pt"

    def remove_stale_temporaries(self) -> list[Path]:
        """Delete temporary files a killed process left behind (``.NAME.*.tmp``)."""
        stale = [p for p in self.path.rglob(".*.tmp") if p.is_file()]
        for p in stale:
            p.unlink(missing_ok=True)
        return stale

    def write_preset(self, preset: presets.Preset) -> None:
        presets.save(preset, self.path / "preset.toml")

    def read_preset(self) -> presets.Preset:
        return presets.load(self.path / "preset.toml")

    def read_metrics(self) -> list[EpochMetrics]:
        path = self.path / "metrics.jsonl"
        if not path.exists():
            return []
        return [
            EpochMetrics.from_json(json.loads(line))
            for line in path.read_text().splitlines()
            if line.strip()
        ]

    def write_metrics(self, rows: list[EpochMetrics]) -> None:
        """The whole file, rewritten each epoch; rows written before are not serialized again."""
        done = self._metric_lines
        keep = 0
        while keep < min(len(done), len(rows)) and done[keep][0] is rows[keep]:
            keep += 1
        del done[keep:]
        done += [(r, json.dumps(r.to_json()) + "\n") for r in rows[keep:]]
        text = "".join(line for _, line in done)
        atomic.write_text(self.path / "metrics.jsonl", text)

    def write_steps(self, log: StepLog) -> None:
        buffer = io.BytesIO()
        np.savez(
            buffer,
            step=np.asarray(log.step, dtype=np.int64),
            loss=np.asarray(log.loss, dtype=np.float32),
            lr=np.asarray(log.lr, dtype=np.float64),
        )
        atomic.write_bytes(self.path / "steps.npz", buffer.getvalue())

    def read_steps(self) -> StepLog:
        """The run's step readings (empty for a run from before they were recorded)."""
        try:
            with np.load(self.path / "steps.npz", allow_pickle=False) as data:
                return StepLog(data["step"].tolist(), data["loss"].tolist(), data["lr"].tolist())
        except (OSError, ValueError, KeyError):
            return StepLog()

    def write_samples(self, arrays: dict[str, np.ndarray]) -> None:
        """Per training sample: margins, last prediction, label (``samples.npz``)."""
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        atomic.write_bytes(self.path / "samples.npz", buffer.getvalue())

    def write_sample_list(self, name: str, why: str, ids: list[str]) -> Path:
        """A ``data.exclude`` list the doctor's fix refers to (``suspected-mislabeled.txt``,
        ``leaked-into-training.txt``): a comment saying why, then one sample per line."""
        path = self.path / name
        atomic.write_text(path, f"# {why}\n" + "".join(f"{i}\n" for i in ids))
        return path

    def read_samples(self) -> dict[str, np.ndarray] | None:
        try:
            with np.load(self.path / "samples.npz", allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        except (OSError, ValueError):
            return None

    def write_summary(self, summary: RunSummary) -> None:
        atomic.write_json(self.path / "summary.json", summary.to_json())

    def read_summary(self) -> RunSummary | None:
        """The run's summary; None when it has none yet (or it is unreadable)."""
        try:
            return RunSummary.from_json(json.loads((self.path / "summary.json").read_text()))
        except (OSError, ValueError, TypeError, KeyError):
            return None

    def write_doctor_state(self, state: dict) -> None:
        atomic.write_json(self.path / "doctor.json", state)

    def read_doctor_state(self) -> dict | None:
        """What the doctor saved for re-diagnosis (None for a run without it)."""
        try:
            return json.loads((self.path / "doctor.json").read_text())
        except (OSError, ValueError):
            return None

    def write_diagnosis(self, findings: list[dict]) -> None:
        atomic.write_json(self.path / "diagnosis.json", findings)

    def read_diagnosis(self) -> list[dict]:
        path = self.path / "diagnosis.json"
        return json.loads(path.read_text()) if path.exists() else []

    def write_traceback(self, text: str) -> Path | None:
        """Where an unexpected failure happened, for a bug report (``traceback.txt``)."""
        return atomic.write_text(self.path / "traceback.txt", text)

    def write_predictions(self, arrays: dict[str, np.ndarray]) -> None:
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # uncompressed: written every epoch, read rarely
        atomic.write_bytes(self.path / "predictions.npz", buffer.getvalue())

    def read_predictions(self) -> dict[str, np.ndarray]:
        with np.load(self.path / "predictions.npz", allow_pickle=False) as data:
            return {k: data[k] for k in data.files}


class ReadOnlyRunFiles(RunFiles):
    """The run directory as seen by a data-parallel rank other than 0: it reads, never writes."""

    def _skip(self, *args, **kwargs) -> None:
        return None

    write_preset = write_metrics = write_summary = write_diagnosis = _skip
    write_doctor_state = write_predictions = write_steps = write_samples = _skip

    def write_traceback(self, text: str) -> Path | None:
        return None  # rank 0 writes the run's files

    def write_sample_list(self, name: str, why: str, ids: list[str]) -> Path:
        return self.path / name

    def remove_stale_temporaries(self) -> list[Path]:
        return []


def list_runs(workspace: str | Path) -> list[Path]:
    """Run directories directly under ``workspace`` (those with a ``preset.toml``), newest first."""
    root = Path(workspace).expanduser()
    if not root.is_dir():
        return []
    runs = [p for p in root.iterdir() if (p / "preset.toml").is_file()]
    return sorted(runs, key=lambda p: p.stat().st_mtime, reverse=True)
