"""Channels-last on the CPU: what ``train.channels_last = "auto"`` turns on for convolutional
networks on an x86 CPU. Whole Plateau runs with ``channels_last`` false and true, interleaved
in one process (medians), and plain PyTorch training steps of torchvision networks at 224 px in
both layouts (the same measurement without Plateau).

    python -m benchmarks.cpu_layout
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time

import torch

ROUNDS = 5
STEPS = 6  # plain PyTorch steps per layout; the first is left out


def run_seconds(preset) -> float:
    from engine.trainer import Trainer

    start = time.perf_counter()
    Trainer(preset, out=tempfile.mkdtemp()).fit()
    return time.perf_counter() - start


def plateau_runs() -> None:
    from engine import preset as presets

    cases = {
        "digits preset, 6 epochs": presets.load(presets.default_preset_path()).with_changes(
            {"train.epochs": 6}
        ),
        "synthetic 3x32x32 convnet, 3 epochs": presets.Preset().with_changes(
            {
                "data.source": "synthetic",
                "data.synthetic.samples": 2500,
                "model.width": 16,
                "train.epochs": 3,
            }
        ),
    }
    for name, preset in cases.items():
        preset = preset.with_changes({"train.device": "cpu", "train.amp": False})
        layouts = {cl: preset.with_changes({"train.channels_last": cl}) for cl in (False, True)}
        times = {False: [], True: []}
        for p in layouts.values():  # warm-up
            run_seconds(p)
        for _ in range(ROUNDS):
            for cl, p in layouts.items():
                times[cl].append(run_seconds(p))
        plain, cl = statistics.median(times[False]), statistics.median(times[True])
        print(
            f"{name}: channels_last false {plain:.2f} s, true {cl:.2f} s "
            f"(medians of {ROUNDS}); true ÷ false {cl / plain:.3f}"
        )
        print(f"cpu_layout[{name.split(',')[0]} run]: ratio={cl / plain:.3f}")


def step_ms(model, x, y, channels_last: bool) -> float:
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    times = []
    for _ in range(STEPS):
        start = time.perf_counter()
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times[1:])


def plain_steps() -> None:
    import torchvision

    from engine.models import build_model
    from engine.preset import Preset

    nets = {
        "convnet 64 px, batch 32": (lambda: build_model(Preset().model, (3, 64, 64), 5), 64, 32),
        "convnet 224 px, batch 16": (
            lambda: build_model(Preset().model, (3, 224, 224), 5),
            224,
            16,
        ),
        "resnet18 224 px, batch 16": (lambda: torchvision.models.resnet18(num_classes=5), 224, 16),
        "mobilenet_v3_small 224 px, batch 16": (
            lambda: torchvision.models.mobilenet_v3_small(num_classes=5),
            224,
            16,
        ),
    }
    for name, (make, side, batch) in nets.items():
        x, y = torch.randn(batch, 3, side, side), torch.randint(0, 5, (batch,))
        torch.manual_seed(0)
        plain = step_ms(make(), x, y, False)
        torch.manual_seed(0)
        cl = step_ms(make(), x, y, True)
        print(f"{name}: a training step {plain:.0f} ms NCHW, {cl:.0f} ms channels-last")
        print(f"cpu_layout[{name.split(',')[0]} step]: ratio={cl / plain:.3f}")


def main() -> int:
    print(f"CPU threads: {torch.get_num_threads()}")
    plateau_runs()
    plain_steps()
    return 0


if __name__ == "__main__":
    sys.exit(main())
