"""Events the trainer emits and the typed values they carry, as frozen dataclasses of plain
Python values (no tensors).

``Trainer.fit(events)`` calls ``events(event)`` on the training thread; a consumer (the CLI, the
desktop bridge) must return quickly and must not touch GUI objects from there. Metrics and
summaries cross the code as :class:`EpochMetrics` and :class:`RunSummary`; their dict form
exists only at the JSON boundary (``metrics.jsonl``, ``summary.json``, ``--json``), through each
one's ``to_json``/``from_json`` pair.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


def _known(cls: type, obj: dict) -> dict:
    """The entries of ``obj`` that are fields of ``cls`` (files from newer versions may carry
    more; they are ignored rather than refused)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in obj.items() if k in names}


@dataclass(frozen=True)
class PerClassMetrics:
    """Precision, recall, F1 and support per class (index = class) on the validation split."""

    precision: tuple[float, ...]
    recall: tuple[float, ...]
    f1: tuple[float, ...]
    support: tuple[int, ...]

    @classmethod
    def from_json(cls, obj: dict) -> PerClassMetrics:
        return cls(*(tuple(obj[name]) for name in ("precision", "recall", "f1", "support")))


@dataclass(frozen=True)
class EpochMetrics:
    """One epoch's record: one line of ``metrics.jsonl``. Accuracies are fractions in [0, 1]."""

    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    lr: float
    seconds: float
    samples_per_s: float
    grad_norm: float
    per_class: PerClassMetrics
    confusion: tuple[tuple[int, ...], ...]  # rows = true class, columns = predicted

    def to_json(self) -> dict:
        out = dataclasses.asdict(self)
        out["per_class"] = {k: list(v) for k, v in out["per_class"].items()}
        out["confusion"] = [list(row) for row in self.confusion]
        return out

    @classmethod
    def from_json(cls, obj: dict) -> EpochMetrics:
        values = _known(cls, obj)
        values["per_class"] = PerClassMetrics.from_json(obj["per_class"])
        values["confusion"] = tuple(tuple(row) for row in obj["confusion"])
        return cls(**values)

    @property
    def num_classes(self) -> int:
        return len(self.per_class.support)

    def without_timing(self) -> EpochMetrics:
        """The record with its timing zeroed: what two runs of one preset share exactly."""
        return dataclasses.replace(self, seconds=0.0, samples_per_s=0.0)


TIMING_FIELDS = ("seconds", "samples_per_s")  # what differs between two runs of one preset


@dataclass(frozen=True)
class RunSummary:
    """How a run stands or ended: ``summary.json``."""

    status: str  # running | finished | stopped | failed
    name: str
    run_dir: str
    device: str = "cpu"
    speed: str = ""  # what the speed settings came to, e.g. "bf16 · channels-last · compiled"
    class_names: tuple[str, ...] = ()
    epochs_planned: int = 0
    steps_per_epoch: int = 0
    epochs_completed: int = 0
    best_epoch: int | None = None
    best_val_acc: float | None = None
    final_val_acc: float | None = None
    final_train_acc: float | None = None
    best_val_loss: float | None = None
    best_val_loss_epoch: int | None = None
    early_stopped: bool = False
    early_stopping_patience: int = 0
    seconds: float = 0.0
    finished_at: str = ""
    error: str = ""
    hint: str = ""

    def to_json(self) -> dict:
        out = dataclasses.asdict(self)
        out["class_names"] = list(self.class_names)
        return out

    @classmethod
    def from_json(cls, obj: dict) -> RunSummary:
        values = _known(cls, obj)
        values["class_names"] = tuple(values.get("class_names", ()))
        return cls(**values)

    @classmethod
    def failed_before_start(cls, error: str, hint: str) -> RunSummary:
        """The summary of a run that could not start (no run directory)."""
        return cls("failed", "", "", error=error, hint=hint)


@dataclass(frozen=True)
class Preparing:
    """Before a run starts: what takes time (decoding a folder's images), and how far it got.
    ``total`` 0: waiting, no count."""

    what: str
    done: int = 0
    total: int = 0


@dataclass(frozen=True)
class RunStarted:
    preset: dict
    run_dir: str
    model_summary: dict
    data_stats: dict
    device: str = "cpu"
    start_epoch: int = 0  # epochs already done (non-zero on resume)
    steps_per_epoch: int = 0
    # what trains it fast, and why: {"amp": "bf16"|"fp16"|None, "channels_last", "compile",
    # "compile_mode", "reasons": [...], "auto": [keys that were "auto"], "summary": "bf16 · …"}
    speed: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Compiling:
    """``torch.compile`` at work in a compiled run's first step (it takes a while, once: the
    result is cached for later runs of the same model and shapes). ``stage``: "compiling"
    before that step, "compiled" after it (``seconds`` it took), "failed" when the compile
    failed and the run goes on without it (``message`` says why)."""

    stage: str
    epoch: int = 0
    mode: str = ""  # the torch.compile mode
    seconds: float = 0.0
    cache_dir: str = ""  # where torch keeps the compiled artifacts
    message: str = ""


@dataclass(frozen=True)
class BatchEnd:
    step: int  # global step, counting from 1
    loss: float  # mean training loss over the steps since the previous BatchEnd
    lr: float
    epoch: int = 0
    batch: int = 0  # batch within the epoch, counting from 1
    batches: int = 0  # batches per epoch
    acc: float = 0.0  # training accuracy of the epoch so far


@dataclass(frozen=True)
class EpochEnd:
    epoch: int
    metrics: EpochMetrics


@dataclass(frozen=True)
class Diagnosis:
    findings: tuple = field(default_factory=tuple)


@dataclass(frozen=True)
class RunFinished:
    summary: RunSummary


@dataclass(frozen=True)
class RunStopped:
    summary: RunSummary


@dataclass(frozen=True)
class RunFailed:
    error: str
    hint: str
    summary: RunSummary


Event = (
    Preparing
    | RunStarted
    | Compiling
    | BatchEnd
    | EpochEnd
    | Diagnosis
    | RunFinished
    | RunStopped
    | RunFailed
)

KINDS = {
    cls.__name__: cls
    for cls in (
        Preparing,
        RunStarted,
        Compiling,
        BatchEnd,
        EpochEnd,
        Diagnosis,
        RunFinished,
        RunStopped,
        RunFailed,
    )
}


def to_json(event: Event) -> dict[str, Any]:
    """The event as a JSON-ready dict with its kind under ``"event"``."""
    out: dict[str, Any] = {"event": type(event).__name__}
    for f in dataclasses.fields(event):
        value = getattr(event, f.name)
        out[f.name] = value.to_json() if hasattr(value, "to_json") else value
    if isinstance(event, Diagnosis):
        out["findings"] = list(event.findings)
    return out


def from_json(obj: dict) -> Event:
    """The event a ``to_json`` dict describes (e.g. read from ``plateau-train --json``)."""
    obj = dict(obj)
    cls = KINDS[obj.pop("event")]
    if cls is Diagnosis:
        obj["findings"] = tuple(obj["findings"])
    if cls is EpochEnd:
        obj["metrics"] = EpochMetrics.from_json(obj["metrics"])
    if "summary" in obj:
        obj["summary"] = RunSummary.from_json(obj["summary"])
    return cls(**obj)
