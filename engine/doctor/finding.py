"""A doctor finding: what holds accuracy back, the numbers that show it, and the fix."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Finding:
    """One entry of ``diagnosis.json``.

    ``fix`` is a preset patch (``{"set": {"train.optimizer.lr": 3e-4}}``) with the same dotted
    keys as ``--set``, or None when no setting can help (``advice`` then says what to do).
    ``epoch`` is where the problem was first seen (0 = before training).
    """

    id: str
    severity: str  # info | warning | error
    title: str
    evidence: str
    fix: dict | None = None
    advice: str = ""
    epoch: int = 0
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}
# Within a severity, causes before symptoms: a learning rate that kills units comes before the
# dead units, scaled inputs before the odd initial loss they cause.
CAUSE_ORDER = [
    "non-finite-loss",
    "no-signal",
    "lr-too-high",
    "unnormalized-input",
    "frozen-random-weights",
    "lr-too-low",
    "schedule-too-aggressive",
    "class-imbalance",
    "split-leakage",
    "label-noise",
    "from-scratch-small-data",
    "vanishing-signal",
    "vanishing-gradients",
    "exploding-gradients",
    "dead-units",
    "bad-init-loss",
    "train-val-mismatch",
    "excessive-augmentation",
    "overfitting",
    "underfitting",
]


def fix_set(**changes) -> dict:
    """``fix_set(**{"train.optimizer.lr": 1e-3})`` → ``{"set": {...}}``."""
    return {"set": dict(changes)}


def merge(existing: dict[str, Finding], new: list[Finding]) -> dict[str, Finding]:
    """Keep one finding per id: the first time it was seen, with the newest evidence."""
    out = dict(existing)
    for f in new:
        if f.id in out:
            old = out[f.id]
            out[f.id] = Finding(
                f.id, f.severity, f.title, f.evidence, f.fix, f.advice, old.epoch, f.extra
            )
        else:
            out[f.id] = f
    return out


def ordered(findings) -> list[Finding]:
    """Most severe first, then causes before symptoms, then by the epoch they appeared."""

    def rank(f: Finding):
        cause = CAUSE_ORDER.index(f.id) if f.id in CAUSE_ORDER else len(CAUSE_ORDER)
        return (SEVERITY_RANK.get(f.severity, 3), cause, f.epoch, f.id)

    return sorted(findings, key=rank)
