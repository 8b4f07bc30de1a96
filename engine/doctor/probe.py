"""A sampled probe of the network: dead ReLU units and the gradient-norm ratio between the first
and the last layer. Read from the last training step of a sampled epoch (:class:`StepProbe`), or,
where that step is not watched (a compiled model, batches under 32, data-parallel ranks), on a
copy so training is untouched (weights, batch-norm statistics and random state)."""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

PROBE_BATCH = (32, 128)  # the training batch size, within these bounds
MONITOR_BUDGET = 0.01  # probes may cost ~1 % of the training time (the doctor as a whole: 2 %)
PROBE_COST_STEPS = 1.5  # a probe (copy + forward + backward) costs about 1.5 training steps


def probe_every(steps_per_epoch: int) -> int:
    """Probe every N epochs so that the probes stay within the budget."""
    return max(1, math.ceil(PROBE_COST_STEPS / (MONITOR_BUDGET * steps_per_epoch)))


def probe_batch(batch_size: int) -> int:
    return min(max(batch_size, PROBE_BATCH[0]), PROBE_BATCH[1])


def probe(
    model: nn.Module, loss_fn, x: torch.Tensor, y: torch.Tensor, start=False, grads=True
) -> dict:
    """Dead-unit fraction per ReLU layer and first/last weight-gradient norms on one batch;
    with ``start`` (the untrained network, probe 0) also how much the output depends on the
    input (:class:`_StartSignal`). ``grads=False``: the forward pass only (the start's
    gradients are then read from the run's first training step, by a :class:`StepProbe`)."""
    clone = copy.deepcopy(model)
    clone.train()
    watch = StepProbe(clone)
    watch.arm()
    signal = _StartSignal(clone) if start else None
    backward = grads and any(p.requires_grad for p in clone.parameters())
    with torch.random.fork_rng(devices=_devices(x)), torch.set_grad_enabled(backward):
        out = clone(x).float()
        loss = loss_fn(out, y)
        if backward:
            loss.backward()
    watch.read(loss, len(y))
    result = watch.result()
    if signal is not None:
        result.update(signal.result(out, len(y)))
    return result


class StepProbe:
    """The same probe read from a real training step (the last whole batch of a sampled epoch,
    or the run's first step, whose gradients are the untrained network's), for no extra pass:
    hooks on the ReLUs watch its forward, and its first and last weight gradients are read after
    its backward, before the optimizer steps. Watching changes nothing in the step (the
    gradients may carry the loss scale, which their ratio does not see)."""

    GRADS = ("first_layer", "last_layer", "grad_ratio")  # what the first step adds to probe 0

    def __init__(self, model: nn.Module, step: int | None = None):
        self.model = model
        self.step = step  # the step of the epoch to watch; None: its last whole batch
        self._taken: tuple | None = None
        self._alive: dict[str, torch.Tensor] = {}
        self._hooks: list = []

    def arm(self) -> None:
        self._alive.clear()
        self._hooks = [
            module.register_forward_hook(self._record(name))
            for name, module in self.model.named_modules()
            if isinstance(module, nn.ReLU)
        ]

    def _record(self, name: str):
        alive = self._alive

        def hook(_module, _inputs, out):
            if out.dim() == 4:
                positive = (out > 0).any(dim=0).any(dim=-1).any(dim=-1)  # per channel
            else:
                positive = (out > 0).any(dim=0)
            previous = alive.get(name)
            alive[name] = (
                positive
                if previous is None or previous.shape != positive.shape
                else previous | positive
            )

        return hook

    def read(self, loss: torch.Tensor, batch: int) -> None:
        """Take the probe of the step whose backward just ran; on the device, no sync."""
        for h in self._hooks:
            h.remove()
        self._hooks = []
        weights = [
            (n, p) for n, p in self.model.named_parameters() if p.grad is not None and p.dim() > 1
        ]
        grads = ()
        if weights:  # none when every weight is frozen
            (first_name, first), (last_name, last) = weights[0], weights[-1]
            grads = (first_name, first.grad.norm(), last_name, last.grad.norm())
        self._taken = (batch, loss.detach(), grads, dict(self._alive))

    def result(self) -> dict | None:
        """The probe taken (on the host), or None when no step was watched."""
        if self._taken is None:
            return None
        batch, loss, grads, alive = self._taken
        self._taken = None
        result = {
            "batch": batch,
            "loss": float(loss),
            "dead": {n: round(1 - float(a.float().mean()), 4) for n, a in alive.items()},
        }
        if grads:
            first_name, first_norm, last_name, last_norm = grads
            result["first_layer"], result["last_layer"] = first_name, last_name
            result["grad_ratio"] = float(first_norm) / max(float(last_norm), 1e-30)
        return result


class _StartSignal:
    """How much the untrained network's outputs differ between the images of the batch
    (``spread``: the logits' standard deviation across the batch, averaged over classes) and the
    activations' standard deviation after the first and the last ReLU: an output that barely
    depends on the input is a start the network cannot learn from."""

    def __init__(self, model: nn.Module):
        self.stds: list[tuple[str, float]] = []
        self.hooks = [
            module.register_forward_hook(self._record(name))
            for name, module in model.named_modules()
            if isinstance(module, nn.ReLU)
        ]

    def _record(self, name: str):
        def hook(_module, _inputs, out):
            self.stds.append((name, float(out.detach().float().std())))

        return hook

    def result(self, out: torch.Tensor, batch: int) -> dict:
        for h in self.hooks:
            h.remove()
        out = out.detach()
        found = {"spread": float(out.std(dim=0).mean()) if batch > 1 else 0.0}
        if self.stds:
            (first, a), (last, b) = self.stds[0], self.stds[-1]
            found["signal"] = {first: a, last: b}
        return found


def _devices(x: torch.Tensor) -> list[int]:
    return [x.device.index or 0] if x.device.type == "cuda" else []
