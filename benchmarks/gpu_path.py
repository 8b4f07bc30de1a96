"""GPU path: resnet18 on 3×32×32 synthetic data — Plateau (data resident on the GPU,
augmentation on the GPU, bf16 AMP, channels_last; torch.compile with --compile) against a naive
loop (data on the host, copied per batch, fp32, loss.item() every step). Same model, data, seed.
Needs CUDA; prints a note and exits 0 elsewhere.

    python benchmarks/gpu_path.py [--compile]
"""

from __future__ import annotations

import sys
import tempfile
import time
import warnings

import torch
import torch.nn.functional as F

from engine.data import load_data
from engine.models import build_model
from engine.preset import Preset
from engine.trainer import Trainer

EPOCHS = 3


def preset(fast: bool, compile_: bool = False) -> Preset:
    return Preset().with_changes(
        {
            "data.source": "synthetic",
            "data.synthetic.samples": 20000,
            "data.augment": ["hflip", "crop:4"],
            "model.arch": "resnet18",
            "train.epochs": EPOCHS,
            "train.batch_size": 256,
            "train.device": "cuda",
            "train.amp": fast,
            "train.channels_last": fast,
            "train.compile": compile_,
            "train.optimizer.name": "sgd",
            "train.optimizer.lr": 0.05,
        }
    )


def naive(p: Preset) -> float:
    torch.manual_seed(p.seed)
    data = load_data(p)
    device = torch.device("cuda")
    model = build_model(p.model, data.input_shape, data.num_classes).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    norm = data.normalizer(torch.device("cpu"))
    x, y = norm(data.x_train), data.y_train
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(EPOCHS):
        order = torch.randperm(len(y))
        for b in range(0, len(y), 256):
            idx = order[b : b + 256]
            xb, yb = x[idx].to(device), y[idx].to(device)
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss.item()
    torch.cuda.synchronize()
    return len(y) * EPOCHS / (time.perf_counter() - start)


def plateau(p: Preset) -> float:
    summary = Trainer(p, out=tempfile.mkdtemp()).fit()
    from engine.runs import RunFiles

    rows = RunFiles(summary["run_dir"]).read_metrics()
    return sum(r["samples_per_s"] for r in rows[1:]) / max(len(rows) - 1, 1)  # after warm-up


def main() -> int:
    if not torch.cuda.is_available():
        print("gpu_path: CUDA is not available on this machine; nothing measured")
        return 0
    compile_ = "--compile" in sys.argv
    name = torch.cuda.get_device_name(0)
    base = naive(preset(False))
    fast = plateau(preset(True, compile_))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        Trainer(preset(True).with_changes({"train.epochs": 1}), out=tempfile.mkdtemp()).fit()
        torch.cuda.set_sync_debug_mode("default")
    syncs = sum("synchroniz" in str(w.message) for w in caught)
    print(
        f"{name}: naive loop {base:,.0f} samples/s; Plateau {fast:,.0f} samples/s "
        f"(compile={compile_}); host syncs in a 1-epoch run: {syncs} "
        f"(the loss readout at most 20 times a second, and per-epoch metrics)"
    )
    print(f"gpu_path[{name}]: ratio={fast / base:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
