"""Validation after each epoch: loss, accuracy, confusion matrix and every sample's
probabilities, sharded across ranks and gathered back into validation order."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from engine.data import DataBundle
from engine.distributed import Dist
from engine.metrics import confusion_matrix
from engine.training.assembly import Assembly

MAX_CHUNK = 512  # validation batches up to this large (no gradients to keep) …
CHUNK_INPUT_BYTES = 16 * 2**20  # … as long as their float input stays this small (photos: 27)


@dataclass(frozen=True)
class Validation:
    """One pass over the validation split."""

    loss: float  # plain cross-entropy, so runs with different training losses compare
    acc: float
    confusion: tuple[tuple[int, ...], ...]
    pred: np.ndarray  # N int16
    prob: np.ndarray  # N×K float32


def validation_chunk(input_shape) -> int:
    """Images per validation batch: many small images at once, fewer large ones (a chunk of 512
    photos at 224 px took 2 GB of activations in a small convnet)."""
    per_image = 4 * int(torch.tensor(input_shape).prod())
    return max(1, min(MAX_CHUNK, CHUNK_INPUT_BYTES // per_image))


@torch.no_grad()
def validate(a: Assembly, data: DataBundle, batch_size: int, dist: Dist) -> Validation:
    model = a.forward_model
    model.eval()
    device = a.device
    chunk = max(batch_size, validation_chunk(data.input_shape))
    loss_sum = torch.zeros((), device=device)
    probs = []
    mine = torch.arange(dist.rank, len(data.y_val), dist.world, device=device)
    for i in range(0, len(mine), chunk):
        idx = mine[i : i + chunk]
        xb = a.normalize(data.x_val[idx])
        with a.autocast():
            logits = model(xb).float()
        loss_sum += F.cross_entropy(logits, data.y_val[idx], reduction="sum")
        probs.append(torch.softmax(logits, dim=1))
    prob = torch.cat(probs) if probs else torch.zeros(0, data.num_classes, device=device)
    cm = dist.sum(confusion_matrix(data.y_val[mine], prob.argmax(1), data.num_classes))
    loss_sum = dist.sum(loss_sum)
    if dist.enabled:  # every rank's probabilities, back in validation order
        parts = dist.gather((mine.cpu(), prob.cpu()))
        full = torch.zeros(len(data.y_val), data.num_classes)
        for part_idx, part_prob in parts:
            full[part_idx] = part_prob
        prob = full
    n = len(data.y_val)
    cm = cm.cpu()
    return Validation(
        loss=(loss_sum / n).item(),
        acc=float(cm.diag().sum()) / n,
        confusion=tuple(tuple(row) for row in cm.tolist()),
        pred=prob.argmax(1).cpu().numpy().astype(np.int16),
        prob=prob.cpu().numpy().astype(np.float32),
    )
