"""What a network looks like (parameters, trainable or frozen, each layer's output shape) and
which layer a failing input breaks in."""

from __future__ import annotations

import torch
from torch import nn


def summarize(model: nn.Module, input_shape: tuple[int, int, int]) -> dict:
    """Parameters (total, trainable) and each leaf layer's output shape and whether it trains
    (``trainable``: True, False when frozen, None without parameters), for a batch of 2."""
    rows: list[dict] = []
    hooks = []

    def hook(name):
        def record(module, _inputs, output):
            shape = list(output.shape) if isinstance(output, torch.Tensor) else None
            own = list(module.parameters(recurse=False))
            params = sum(p.numel() for p in own)
            trainable = any(p.requires_grad for p in own) if own else None
            rows.append(
                {
                    "name": name,
                    "type": type(module).__name__,
                    "output": shape,
                    "params": params,
                    "trainable": trainable,
                }
            )

        return record

    for name, module in model.named_modules():
        if name and not list(module.children()):
            hooks.append(module.register_forward_hook(hook(name)))
    was_training = model.training
    device = next(model.parameters()).device
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(2, *input_shape, device=device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return {
        "total_params": sum(p.numel() for p in model.parameters()),
        "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "layers": rows,
    }


def locate_failure(model: nn.Module, x: torch.Tensor) -> str | None:
    """Run ``x`` through ``model`` again and name the layer that raises, with its input shapes."""
    entered: list[tuple[str, str]] = []
    done: set[str] = set()
    hooks = []

    def before(name):
        def hook(module, inputs):
            shapes = [tuple(t.shape) for t in inputs if isinstance(t, torch.Tensor)]
            entered.append(
                (name, f"{type(module).__name__} with input {', '.join(map(str, shapes))}")
            )

        return hook

    def after(name):
        def hook(module, inputs, output):
            done.add(name)

        return hook

    for name, module in model.named_modules():
        if name and not list(module.children()):
            hooks.append(module.register_forward_pre_hook(before(name)))
            hooks.append(module.register_forward_hook(after(name)))
    try:
        with torch.no_grad():
            model(x)
    except Exception:  # noqa: BLE001 - the failure we are locating
        pending = [(n, d) for n, d in entered if n not in done]
        if pending:
            name, desc = pending[-1]
            return f"layer '{name}' ({desc})"
        return None
    finally:
        for h in hooks:
            h.remove()
    return None
