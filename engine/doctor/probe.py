"""A sampled probe of the network: dead ReLU units and the gradient-norm ratio between the first
and the last layer, measured on a copy so training is untouched (weights, batch-norm statistics
and random state)."""

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


def probe(model: nn.Module, loss_fn, x: torch.Tensor, y: torch.Tensor, backward=True) -> dict:
    """Dead-unit fraction per ReLU layer and first/last weight-gradient norms on one batch
    (``backward=False``: only the loss, e.g. at initialization)."""
    clone = copy.deepcopy(model)
    clone.train()
    if not backward:
        return _forward_signal(clone, loss_fn, x, y)
    alive: dict[str, torch.Tensor] = {}
    hooks = []

    def record(name):
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

    for name, module in clone.named_modules():
        if isinstance(module, nn.ReLU):
            hooks.append(module.register_forward_hook(record(name)))
    with torch.random.fork_rng(devices=_devices(x)):
        loss = loss_fn(clone(x).float(), y)
        loss.backward()
    for h in hooks:
        h.remove()
    weights = [(n, p) for n, p in clone.named_parameters() if p.grad is not None and p.dim() > 1]
    (first_name, first), (last_name, last) = weights[0], weights[-1]
    first_norm, last_norm = float(first.grad.norm()), float(last.grad.norm())
    return {
        "batch": len(y),
        "loss": float(loss.detach()),
        "dead": {n: round(1 - float(a.float().mean()), 4) for n, a in alive.items()},
        "first_layer": first_name,
        "last_layer": last_name,
        "grad_ratio": first_norm / max(last_norm, 1e-30),
    }


def _forward_signal(model: nn.Module, loss_fn, x: torch.Tensor, y: torch.Tensor) -> dict:
    """The loss, how much the outputs differ between the images of the batch (``spread``: the
    logits' standard deviation across the batch, averaged over classes) and the activations'
    standard deviation after the first and the last ReLU: an output that barely depends on the
    input is a start the network cannot learn from."""
    stds: list[tuple[str, float]] = []
    hooks = [
        module.register_forward_hook(lambda _m, _i, out, name=name: stds.append((name, out)))
        for name, module in model.named_modules()
        if isinstance(module, nn.ReLU)
    ]
    with torch.no_grad(), torch.random.fork_rng(devices=_devices(x)):
        out = model(x).float()
        result = {
            "batch": len(y),
            "loss": float(loss_fn(out, y)),
            "spread": float(out.std(dim=0).mean()) if len(y) > 1 else 0.0,
        }
        if stds:
            (first, a), (last, b) = stds[0], stds[-1]
            result["signal"] = {first: float(a.float().std()), last: float(b.float().std())}
    for h in hooks:
        h.remove()
    return result


def _devices(x: torch.Tensor) -> list[int]:
    return [x.device.index or 0] if x.device.type == "cuda" else []
