"""The learning-rate range test (Smith 2015, as fastai runs it): raise the learning rate
exponentially from 1e-7 to 10 over at most 100 steps, smooth the loss, stop once it exceeds 4×
its best, and suggest the middle of the longest descending valley (fastai's "valley" rule).

The model and optimizer are fresh copies built from the preset; nothing of a run is touched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from engine.data import load_data
from engine.devices import resolve_device
from engine.models import build_model
from engine.preset import Preset
from engine.schedules import build_optimizer

START_LR, END_LR, MAX_STEPS = 1e-7, 10.0, 100
SMOOTHING = 0.98
STOP_FACTOR = 4.0


@dataclass(frozen=True)
class LrFinderResult:
    lrs: list[float]
    losses: list[float]  # smoothed
    suggestion: float  # fastai's valley
    steepest: float  # the steepest descent of the smoothed loss

    def to_dict(self) -> dict:
        return {
            "lrs": self.lrs,
            "losses": self.losses,
            "suggestion": self.suggestion,
            "steepest": self.steepest,
        }


def valley(losses: list[float]) -> int:
    """Index into ``losses`` at the middle of the longest decreasing run (fastai's rule)."""
    n = len(losses)
    lds = [1] * n
    max_start = max_end = 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and lds[i] < lds[j] + 1:
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    return min(n - 1, max_start + int(sections) + int(sections / 2))


def steepest(lrs: list[float], losses: list[float]) -> int:
    slopes = [
        (losses[i + 1] - losses[i]) / (math.log(lrs[i + 1]) - math.log(lrs[i]))
        for i in range(len(losses) - 1)
    ]
    return min(range(len(slopes)), key=slopes.__getitem__) if slopes else 0


def find_lr(preset: Preset, steps: int = MAX_STEPS, progress=None) -> LrFinderResult:
    """Run the range test for ``preset``; ``progress(step, lr, loss)`` is called per step."""
    device = resolve_device(preset.train.device)
    torch.manual_seed(preset.seed)
    data = load_data(preset).to(device)
    model = build_model(preset.model, data.input_shape, data.num_classes).to(device)
    model.train()
    optimizer = build_optimizer(model.parameters(), preset.train)
    normalize = data.normalizer(device)
    gen = torch.Generator().manual_seed(preset.seed + 11)
    bs = min(preset.train.batch_size, len(data.y_train))
    factor = (END_LR / START_LR) ** (1 / max(steps - 1, 1))
    lrs, losses = [], []
    avg, best = 0.0, math.inf
    order = torch.randperm(len(data.y_train), generator=gen).to(device)
    cursor = 0
    for step in range(steps):
        lr = START_LR * factor**step
        for group in optimizer.param_groups:
            group["lr"] = lr
        if cursor + bs > len(order):
            order, cursor = torch.randperm(len(data.y_train), generator=gen).to(device), 0
        idx = order[cursor : cursor + bs]
        cursor += bs
        loss = F.cross_entropy(model(normalize(data.x_train[idx])).float(), data.y_train[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        value = float(loss.detach())
        if not math.isfinite(value):
            break
        avg = SMOOTHING * avg + (1 - SMOOTHING) * value
        smoothed = avg / (1 - SMOOTHING ** (step + 1))
        lrs.append(lr)
        losses.append(smoothed)
        if progress:
            progress(step, lr, smoothed)
        best = min(best, smoothed)
        if step > 5 and smoothed > STOP_FACTOR * best:
            break
    if len(losses) < 3:
        return LrFinderResult(lrs, losses, START_LR, START_LR)
    return LrFinderResult(lrs, losses, lrs[valley(losses)], lrs[steepest(lrs, losses)])
