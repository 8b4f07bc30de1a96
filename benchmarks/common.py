"""Shared pieces of the benchmarks: a plain PyTorch baseline loop and timing helpers."""

from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F

from engine.data import load_data
from engine.data.balance import epoch_length, epoch_order, steps_per_epoch
from engine.models import build_model
from engine.preset import Preset, default_preset_path, load
from engine.schedules import build_optimizer


def cases() -> dict[str, Preset]:
    """The CPU benchmarks' two runs: the shipped digits preset (very short epochs) and a convnet
    on 2,000 synthetic 3×32×32 images (epochs of a few hundred ms)."""
    return {
        "digits convnet": load(default_preset_path()),
        "synthetic 3x32x32 convnet": Preset().with_changes(
            {"data.source": "synthetic", "data.synthetic.samples": 2000, "model.width": 16}
        ),
    }


def interleaved(funcs: dict, rounds: int = 5) -> dict[str, float]:
    """Median seconds of each function over ``rounds`` interleaved rounds, after one warm-up."""
    for f in funcs.values():
        f()
    times: dict[str, list[float]] = {k: [] for k in funcs}
    for _ in range(rounds):
        for name, f in funcs.items():
            start = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def plain_loop(preset: Preset, epochs: int) -> list[float]:
    """A hand-written loop on the same data path as the engine (data resident as tensors,
    normalized per batch, batches by index), the same model, optimizer, seed and batch order;
    it computes only the training loss and the validation accuracy. Returns the per-epoch
    training losses."""
    torch.manual_seed(preset.seed)
    data = load_data(preset)
    model = build_model(preset.model, data.input_shape, data.num_classes)
    optimizer = build_optimizer(model.parameters(), preset.train)
    normalize = data.normalizer(torch.device("cpu"))
    gen = torch.Generator().manual_seed(preset.seed + 1)
    bs = preset.train.batch_size
    n = len(data.y_train)
    steps = steps_per_epoch(epoch_length(data.y_train, data.num_classes, preset.data.balance), bs)
    losses = []
    for _ in range(epochs):
        model.train()
        order = epoch_order(data.y_train, data.num_classes, preset.data.balance, gen)
        total = torch.zeros(())
        for b in range(steps):
            idx = order[b * bs : (b + 1) * bs] if b < steps - 1 else order[b * bs :]
            loss = F.cross_entropy(model(normalize(data.x_train[idx])).float(), data.y_train[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(idx)
        losses.append(float(total) / n)
        model.eval()
        with torch.no_grad():
            pred = model(normalize(data.x_val)).argmax(1)
            float((pred == data.y_val).float().mean())
    return losses
