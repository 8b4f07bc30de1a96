"""Per training sample, read for free from the logits the training step already computes: the
margin of its assigned label (that label's logit minus the largest other), averaged over the
epochs it was trained on — the Area Under the Margin (Pleiss et al., 2020). A sample whose label
is wrong keeps a negative margin: the network keeps preferring the class it really shows. Also
the class each sample was last predicted as, and the mean probability the network gives the
most likely other class (a wrong label is confidently another class; a sample that is merely
hard for a weak network is not). Accumulated on the device from the step's logits,
with no synchronization; summed over data-parallel ranks once an epoch."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from engine.doctor.finding import Finding


@dataclass(frozen=True)
class SampleSummary:
    """The margins of a run's training samples, on the host (``samples.npz``)."""

    aum: np.ndarray  # N float32: mean margin (NaN: not trained on yet)
    pred: np.ndarray  # N int16: the class last predicted (-1: none yet)
    label: np.ndarray  # N int16: the assigned label
    epochs: int  # epochs accumulated
    other_prob: np.ndarray | None = None  # N float32: mean probability of the top other class
    classes: int = 0  # the number of classes (0: not known)
    learning: bool = False  # the run was still learning the task fast (:func:`still_learning`)

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {
            "aum": self.aum,
            "pred": self.pred,
            "label": self.label,
            "epochs": np.array(self.epochs),
            "classes": np.array(self.classes),
            "learning": np.array(self.learning),
        }
        if self.other_prob is not None:
            arrays["other_prob"] = self.other_prob
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict) -> SampleSummary:
        """From ``samples.npz``; files written before the other-class probability was kept
        have none (and their suspects are judged on the margins alone)."""
        other = arrays["other_prob"] if "other_prob" in arrays else None
        classes = int(arrays["classes"]) if "classes" in arrays else 0
        learning = bool(arrays["learning"]) if "learning" in arrays else False
        return cls(
            arrays["aum"],
            arrays["pred"],
            arrays["label"],
            int(arrays["epochs"]),
            other,
            classes,
            learning,
        )


# A step only keeps its logits (by reference: an eager step's logits are a tensor of its own; the
# caller copies a CUDA-graph step's, which the next replay overwrites) until this many bytes are
# held; margins are taken a buffer at a time (at the end of each epoch, or when it fills), which
# costs a tenth of taking them every step. Copying each step's logits into a preallocated buffer
# cost 47 µs a step inside a 2-thread digits run (1 % of it); a reference costs under 1 µs.
BUFFER_BYTES = 16 * 2**20
BUFFER_STEPS = 2048  # … or this many steps (tiny batches: each kept tensor costs a block)


class SampleMargins:
    """Accumulates margins while a run trains."""

    def __init__(self, labels: torch.Tensor, device: torch.device):
        n = len(labels)
        self.targets = labels  # where the steps' indices point (the training labels)
        self.labels = labels.cpu()
        self.total = torch.zeros(n, device=device)
        self.count = torch.zeros(n, device=device)
        self.epoch_total = torch.zeros(n, device=device)
        self.epoch_count = torch.zeros(n, device=device)
        self.other = torch.zeros(n, device=device)  # summed probability of the top other class
        self.epoch_other = torch.zeros(n, device=device)
        self.other_known = True  # False after resuming a run saved before it was kept
        self.classes = 0
        self.pred = torch.full((n,), -1, dtype=torch.long, device=device)
        self.epochs = 0
        self._pending: list[tuple[torch.Tensor, torch.Tensor]] = []  # (idx, logits) of steps
        self._pending_bytes = 0

    def add(self, idx: torch.Tensor, logits: torch.Tensor) -> None:
        """One batch: ``idx`` its samples' positions in the training split (on the device);
        ``logits`` must not be overwritten later (copy a CUDA-graph step's)."""
        self._pending.append((idx, logits.detach()))
        self._pending_bytes += 4 * logits.numel()
        if self._pending_bytes >= BUFFER_BYTES or len(self._pending) >= BUFFER_STEPS:
            self.flush()

    @torch.no_grad()
    def flush(self) -> None:
        if self._pending:
            idx = torch.cat([i for i, _ in self._pending])
            scores = torch.cat([s for _, s in self._pending]).float()
            self._pending, self._pending_bytes = [], 0
            self._accumulate(idx, scores)

    def _accumulate(self, idx: torch.Tensor, scores: torch.Tensor) -> None:
        y = self.targets[idx]
        assigned = scores.gather(1, y[:, None]).squeeze(1)
        top, which = scores.topk(2, dim=1)  # the largest other is the first or the second
        others = torch.where(which[:, 0] == y, top[:, 1], top[:, 0])
        self.epoch_total.index_add_(0, idx, assigned - others)
        self.epoch_count.index_add_(0, idx, torch.ones_like(assigned))
        self.epoch_other.index_add_(0, idx, (others - scores.logsumexp(1)).exp())
        self.pred[idx] = which[:, 0]
        self.classes = scores.shape[1]

    def end_epoch(self, dist) -> None:
        """Add the epoch's sums (over every rank) to the run's."""
        self.flush()
        self.total += dist.sum(self.epoch_total)
        self.count += dist.sum(self.epoch_count)
        self.other += dist.sum(self.epoch_other)
        self.epoch_total.zero_()
        self.epoch_count.zero_()
        self.epoch_other.zero_()
        self.epochs += 1

    def summary(self, learning: bool = False) -> SampleSummary:
        count = self.count.cpu().numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            aum = np.where(count > 0, self.total.cpu().numpy() / count, np.nan)
            other = np.where(count > 0, self.other.cpu().numpy() / count, np.nan)
        return SampleSummary(
            aum.astype(np.float32),
            self.pred.cpu().numpy().astype(np.int16),
            self.labels.numpy().astype(np.int16),
            self.epochs,
            other.astype(np.float32) if self.other_known else None,
            self.classes,
            learning,
        )

    def state(self) -> dict:
        return {
            "total": self.total.cpu(),
            "count": self.count.cpu(),
            "pred": self.pred.cpu(),
            "epochs": self.epochs,
            "other": self.other.cpu() if self.other_known else None,
        }

    def load_state(self, state: dict) -> None:
        device = self.total.device
        self.total = state["total"].to(device)
        self.count = state["count"].to(device)
        self.pred = state["pred"].to(device)
        self.epochs = int(state["epochs"])
        if state.get("other") is not None:
            self.other = state["other"].to(device)
        else:  # saved before it was kept: its mean over the run is unknown from here on
            self.other_known = False


# Findings that explain negative training margins better than wrong labels do.
LABEL_NOISE_CAUSES = {
    "lr-too-high",
    "lr-too-low",
    "unnormalized-input",
    "frozen-random-weights",
    "excessive-augmentation",
    "vanishing-signal",
    "dead-units",
    "non-finite-loss",
    "no-signal",
    "train-val-mismatch",
}

# Calibrated on digits and synthetic data with 10–40 % of labels flipped (top suspects 97–100 %
# truly flipped) and on clean runs (at most 3 % below the line, so never 5 %).
MIN_EPOCHS = 5  # margins averaged over fewer epochs still hold a slow start
LEARNED_SHARE = 0.5  # most samples must be learned before a negative margin means anything
SUSPECT_LINE = -0.25  # x the median positive margin
MIN_SHARE, MIN_SUSPECTS = 0.05, 10
# The suspects' median probability of the other class, from chance (0) to certain (1), must reach
# this: digits MLPs of width 16-32 on clean labels gave their hard samples 0.10-0.17 (and had
# 5-20 % below the line: the label-noise false alarm), flipped labels (10-40 %, digits and
# synthetic) 0.30-0.75.
SUSPECT_CONFIDENCE = 0.23
# A run whose training accuracy rose this much over the last two epochs, with validation accuracy
# reaching a new best by ``STILL_GAINING``, is still learning the task: its slow start left
# negative mean margins that say nothing of the labels (resnet18 on 96 clean photos at training
# accuracy 0.75, 0.82, 0.86, validation best 0.88 then 0.92: 12 % "suspects"). Training accuracy
# that rises while validation stays put is memorizing — of wrong labels too, which still count
# (synthetic data with 20 % flipped: validation 0.99 from epoch 1, training 0.88, 0.94, 0.98).
STILL_LEARNING, STILL_GAINING = 0.05, 0.02
# A class with more than this share of its samples below the line is not learned at all (a small
# class the network ignores, a class too hard for it): its labels are not what is wrong, and
# leaving its samples out would take the class out of training (a new-user walkthrough: all 48
# images of a 1:10 minority class listed as mislabeled).
UNLEARNED_CLASS = 0.5


def still_learning(train_acc: list[float], val_acc: list[float]) -> bool:
    """Whether the run (accuracies per epoch so far) is still learning the task fast."""
    if len(train_acc) < 3 or len(val_acc) < 3:
        return False
    rising = train_acc[-1] - train_acc[-3] >= STILL_LEARNING
    return rising and max(val_acc[-2:]) >= max(val_acc[:-2]) + STILL_GAINING


def suspects(summary: SampleSummary) -> np.ndarray:
    """Indices of the training samples whose label looks wrong, most suspicious first (empty
    while the run is too young, has not learned most samples, or was still learning the task
    fast when the margins were taken: ``summary.learning``)."""
    aum = summary.aum
    trained = ~np.isnan(aum)
    if summary.epochs < MIN_EPOCHS or trained.sum() == 0 or summary.learning:
        return np.zeros(0, dtype=np.int64)
    learned = aum[trained] > 0
    if learned.mean() < LEARNED_SHARE:
        return np.zeros(0, dtype=np.int64)
    line = SUSPECT_LINE * float(np.median(aum[trained][learned]))
    below = in_learned_classes(summary, np.flatnonzero(trained & (aum < line)))
    if len(below) < max(MIN_SUSPECTS, MIN_SHARE * trained.sum()):
        return np.zeros(0, dtype=np.int64)
    sure = confidence(summary, below)
    if sure is not None and sure < SUSPECT_CONFIDENCE:  # hard for this network, not mislabeled
        return np.zeros(0, dtype=np.int64)
    return below[np.argsort(aum[below])]


def in_learned_classes(summary: SampleSummary, picks: np.ndarray) -> np.ndarray:
    """``picks`` less those of a class with more than ``UNLEARNED_CLASS`` of its trained samples
    among them: a class the network did not learn, whose labels are not what is wrong."""
    if not len(picks):
        return picks
    trained = ~np.isnan(summary.aum)
    k = max(int(summary.label.max()) + 1, summary.classes)
    share = np.bincount(summary.label[picks], minlength=k) / np.maximum(
        np.bincount(summary.label[trained], minlength=k), 1
    )
    return picks[share[summary.label[picks]] <= UNLEARNED_CLASS]


def confidence(summary: SampleSummary, picks: np.ndarray) -> float | None:
    """How sure the network is that ``picks`` are another class: their median probability of
    the top other class, rescaled so that chance (1/k) is 0 and certainty 1; None where the
    run kept no probabilities."""
    if summary.other_prob is None or summary.classes < 2 or not len(picks):
        return None
    chance = 1 / summary.classes
    return (float(np.median(summary.other_prob[picks])) - chance) / (1 - chance)


def label_noise(
    summary: SampleSummary,
    picks: np.ndarray,
    ids: list[str],
    classes: list[str],
    epoch: int,
    exclude_file: str,
):
    """The ``label-noise`` finding for the suspects ``picks`` (see :func:`suspects`)."""
    n = int((~np.isnan(summary.aum)).sum())
    share = len(picks) / n
    by_class = np.bincount(summary.label[picks].astype(np.int64), minlength=len(classes))
    worst = np.argsort(-by_class)[:3]
    spread = ", ".join(f"{classes[c]} ({by_class[c]})" for c in worst if by_class[c])
    examples = "; ".join(
        f"{ids[i]} labelled {classes[summary.label[i]]}, "
        + (
            f"looks like {classes[summary.pred[i]]}"
            if summary.pred[i] != summary.label[i]
            else "fitted only late, by memorizing"
        )
        for i in picks[:3]
        if summary.pred[i] >= 0
    )
    sure = (
        ""
        if summary.other_prob is None
        else f", with a median {float(np.median(summary.other_prob[picks])):.0%} probability"
    )
    return Finding(
        "label-noise",
        "warning",
        "Some training labels look wrong",
        f"{len(picks)} of {n} training samples ({share:.0%}) keep a negative margin after "
        f"{summary.epochs} epochs: the network keeps preferring another class for them{sure} "
        f"(by labelled class: {spread}). Most suspicious: {examples}. A wrong label costs "
        "accuracy twice: the sample teaches the wrong class and a correct one is missed.",
        {"set": {"data.exclude": exclude_file}},
        advice="Leave them out with the fix: the list is a text file, worst first; delete a "
        "line to keep that sample. Or correct their labels in a data.relabel file (a sample "
        "and its class per line).",
        epoch=epoch,
        extra={"suspects": len(picks), "share": round(share, 4), "exclude": exclude_file},
    )
