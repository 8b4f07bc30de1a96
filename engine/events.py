"""Events the trainer emits, as frozen dataclasses of plain Python values (no tensors).

``Trainer.fit(events)`` calls ``events(event)`` on the training thread; a consumer (the CLI, the
desktop bridge) must return quickly and must not touch GUI objects from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RunStarted:
    preset: dict
    run_dir: str
    model_summary: dict
    data_stats: dict
    device: str = "cpu"
    start_epoch: int = 0  # epochs already done (non-zero on resume)
    steps_per_epoch: int = 0


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
    metrics: dict  # one metrics.jsonl line


@dataclass(frozen=True)
class Diagnosis:
    findings: tuple = field(default_factory=tuple)


@dataclass(frozen=True)
class RunFinished:
    summary: dict


@dataclass(frozen=True)
class RunStopped:
    summary: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RunFailed:
    error: str
    hint: str = ""
    summary: dict = field(default_factory=dict)


Event = RunStarted | BatchEnd | EpochEnd | Diagnosis | RunFinished | RunStopped | RunFailed


def to_json(event: Event) -> dict:
    """The event as a JSON-ready dict with its kind under ``"event"``."""
    from dataclasses import asdict

    return {"event": type(event).__name__, **asdict(event)}


KINDS = {
    cls.__name__: cls
    for cls in (RunStarted, BatchEnd, EpochEnd, Diagnosis, RunFinished, RunStopped, RunFailed)
}


def from_json(obj: dict) -> Event:
    """The event a ``to_json`` dict describes (e.g. read from ``plateau-train --json``)."""
    obj = dict(obj)
    cls = KINDS[obj.pop("event")]
    if cls is Diagnosis:
        obj["findings"] = tuple(obj["findings"])
    return cls(**obj)
