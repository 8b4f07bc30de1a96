"""Class balancing: per-epoch index orders (shuffle, oversample, undersample) and loss weights."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def class_counts(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """How many samples each class has."""
    return torch.bincount(y, minlength=num_classes)


def epoch_order(
    y: torch.Tensor, num_classes: int, balance: str, generator: torch.Generator
) -> torch.Tensor:
    """The training indices for one epoch.

    ``oversample`` draws ``len(y)`` indices with replacement, each with weight 1/count of its
    class (what ``WeightedRandomSampler`` does); ``undersample`` keeps, every epoch, a fresh
    random subset of each class the size of the smallest class; otherwise a plain shuffle.
    """
    n = len(y)
    if balance == "oversample":
        counts = class_counts(y, num_classes).clamp(min=1).double()
        weights = (1.0 / counts)[y]
        return torch.multinomial(weights, n, replacement=True, generator=generator)
    if balance == "undersample":
        counts = class_counts(y, num_classes)
        smallest = int(counts[counts > 0].min())
        keys = torch.rand(n, generator=generator)
        order = torch.argsort(y.double() * 2 + keys.double())  # random order inside each class
        sorted_y = y[order]
        starts = torch.cumsum(counts, 0) - counts
        rank = torch.arange(n) - starts[sorted_y]
        chosen = order[rank < smallest]
        return chosen[torch.randperm(len(chosen), generator=generator)]
    return torch.randperm(n, generator=generator)


def epoch_length(y: torch.Tensor, num_classes: int, balance: str) -> int:
    """How many samples one epoch draws (``undersample`` keeps the smallest class's count of
    every class)."""
    if balance != "undersample":
        return len(y)
    counts = class_counts(y, num_classes)
    return int(counts[counts > 0].min()) * int((counts > 0).sum())


def steps_per_epoch(samples: int, batch_size: int) -> int:
    """Batches in an epoch; a last batch of a single sample joins the one before it (batch
    norm cannot train on one sample)."""
    return max(1, samples // batch_size + (1 if samples % batch_size > 1 else 0))


def class_weights(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Cross-entropy weights ``N / (K · count_c)``: each class contributes equally to the loss."""
    counts = class_counts(y, num_classes).clamp(min=1).float()
    return len(y) / (num_classes * counts)


def focal_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    gamma: float = 2.0,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Mean focal loss (Lin et al. 2017): cross-entropy scaled by ``(1 - p_true) ** gamma``."""
    ce = F.cross_entropy(logits, target, reduction="none", label_smoothing=label_smoothing)
    p_true = torch.exp(-F.cross_entropy(logits, target, reduction="none"))
    return ((1 - p_true) ** gamma * ce).mean()
