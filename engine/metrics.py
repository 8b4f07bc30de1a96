"""Classification metrics from a confusion matrix: accuracy, per-class precision/recall/F1."""

from __future__ import annotations

import torch

from engine.events import PerClassMetrics


def confusion_matrix(y_true: torch.Tensor, y_pred: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Counts with rows = true class, columns = predicted class (computed where the tensors are)."""
    flat = y_true.long() * num_classes + y_pred.long()
    return torch.bincount(flat, minlength=num_classes * num_classes).view(num_classes, num_classes)


def per_class(confusion) -> PerClassMetrics:
    """Precision, recall, F1 and support per class; 0 where a ratio has no denominator."""
    cm = torch.tensor(confusion, dtype=torch.float64)
    tp = cm.diag()
    predicted = cm.sum(0)
    support = cm.sum(1)
    precision = torch.where(predicted > 0, tp / predicted.clamp(min=1), torch.zeros_like(tp))
    recall = torch.where(support > 0, tp / support.clamp(min=1), torch.zeros_like(tp))
    denom = precision + recall
    f1 = torch.where(
        denom > 0, 2 * precision * recall / denom.clamp(min=1e-12), torch.zeros_like(tp)
    )
    return PerClassMetrics(
        precision=tuple(round(v, 6) for v in precision.tolist()),
        recall=tuple(round(v, 6) for v in recall.tolist()),
        f1=tuple(round(v, 6) for v in f1.tolist()),
        support=tuple(int(v) for v in support.tolist()),
    )
