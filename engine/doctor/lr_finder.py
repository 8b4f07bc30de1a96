"""The learning-rate range test (Smith 2015, as fastai runs it): raise the learning rate
exponentially from 1e-7 to 10 over at most 100 steps, smooth the loss, stop once it exceeds 4×
its best, and suggest the middle of the longest descending valley (fastai's "valley" rule).

As fastai does, the first tenth of the sweep and its last steps are left out of the suggestion,
and the valley is looked for only up to the rate of the lowest smoothed loss, so the suggestion
is always on the falling side of the curve, never past the loss spike. A suggestion above 10×
the optimizer's usual rate, or from a sweep whose loss hardly fell, comes with a warning.

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
SKIP_START = 0.1  # share of the sweep's first steps left out (bias-corrected smoothing is noisy)
SKIP_END = 5  # last steps left out (the spike the sweep stopped on)
SANE_FACTOR = 10.0  # a suggestion above 10× the optimizer's usual rate is flagged
MIN_DROP = 0.02  # a sweep whose loss fell by less than 2 % gives a weak suggestion


@dataclass(frozen=True)
class LrFinderResult:
    lrs: list[float]
    losses: list[float]  # smoothed
    suggestion: float  # fastai's valley, below the rate of the lowest loss
    steepest: float  # the steepest descent of the smoothed loss, up to its lowest point
    warning: str = ""  # why the suggestion needs care ("" when it looks sound)

    def to_dict(self) -> dict:
        return {
            "lrs": self.lrs,
            "losses": self.losses,
            "suggestion": self.suggestion,
            "steepest": self.steepest,
            "warning": self.warning,
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
    return suggest(lrs, losses, preset.train.optimizer.name)


def suggest(lrs: list[float], losses: list[float], optimizer: str) -> LrFinderResult:
    """The suggestion for a finished sweep: the valley on the falling side of the curve."""
    from engine.doctor.epoch_rules import DEFAULT_LR

    lo = int(len(losses) * SKIP_START)
    hi = max(lo + 3, len(losses) - SKIP_END)
    window = losses[lo:hi]
    if len(window) < 3:
        return LrFinderResult(
            lrs, losses, START_LR, START_LR, "the sweep ended after a few steps: no suggestion"
        )
    lowest = lo + min(range(len(window)), key=window.__getitem__)
    falling = losses[lo : lowest + 1]
    if len(falling) < 3:  # the loss only rose: the smallest rates are the safe side
        pick = steep = lo
    else:
        pick = lo + min(valley(falling), len(falling) - 2)  # strictly below the lowest point
        steep = lo + steepest(lrs[lo : lowest + 1], falling)
    warnings = []
    usual = DEFAULT_LR[optimizer]
    if lrs[pick] > SANE_FACTOR * usual:
        warnings.append(
            f"{lrs[pick]:.3g} is {lrs[pick] / usual:.0f}× the usual {usual:g} for {optimizer}; "
            "try it on a short run first"
        )
    drop = (window[0] - losses[lowest]) / max(abs(window[0]), 1e-12)
    if drop < MIN_DROP:
        warnings.append(
            f"the loss hardly fell during the sweep ({window[0]:.3g} → {losses[lowest]:.3g}), so "
            "the suggestion is weak; the inputs may carry little signal or need normalizing"
        )
    return LrFinderResult(lrs, losses, float(lrs[pick]), float(lrs[steep]), "; ".join(warnings))
