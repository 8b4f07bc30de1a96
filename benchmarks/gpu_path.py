"""GPU path: resnet18 on 3×32×32 synthetic data — Plateau (data resident on the GPU,
augmentation on the GPU, bf16 AMP, channels_last; optionally torch.compile in the given modes)
against a naive loop (data on the host, augmented there and copied per batch, fp32,
``loss.item()`` every step). Same model, data, seed, batch size and augmentations; both epochs
include validation.

Interleaved in one process: a naive epoch runs between every two Plateau epochs (from Plateau's
own EpochEnd callback, where the GPU is idle), the first epoch of each is the warm-up, the median
of the rest is reported. Then a one-epoch run under ``torch.cuda.set_sync_debug_mode("warn")``
lists every host synchronization by source line, split into inside the step loop (target: none)
and at epoch boundaries. Needs CUDA; prints a note and exits 0 elsewhere.

    python -m benchmarks.gpu_path [--compile default,reduce-overhead] [--epochs N]
"""

from __future__ import annotations

import argparse
import collections
import inspect
import statistics
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

from engine import events as ev
from engine.data import load_data
from engine.data.augment import BatchAugment
from engine.models import build_model
from engine.preset import Preset
from engine.trainer import Trainer

BATCH = 256
AUGMENT = ["hflip", "crop:4"]


def preset(fast: bool, compile_mode: str | None, epochs: int) -> Preset:
    return Preset().with_changes(
        {
            "data.source": "synthetic",
            "data.synthetic.samples": 25000,
            "data.augment": AUGMENT,
            "model.arch": "resnet18",
            "train.epochs": epochs,
            "train.batch_size": BATCH,
            "train.device": "cuda",
            "train.amp": fast,
            "train.channels_last": fast,
            "train.compile": compile_mode is not None,
            "train.compile_mode": compile_mode or "default",
            "train.optimizer.name": "sgd",
            "train.optimizer.lr": 0.05,
            "train.schedule.name": "none",
        }
    )


class NaiveLoop:
    """What a first PyTorch script does: tensors on the host, a batch augmented on the host and
    copied to the GPU, fp32, the loss read with ``.item()`` every step, validation likewise."""

    def __init__(self, p: Preset):
        torch.manual_seed(p.seed)
        self.data = load_data(p)
        self.device = torch.device(p.train.device)
        self.model = build_model(p.model, self.data.input_shape, self.data.num_classes)
        self.model.to(self.device)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.05, momentum=0.9)
        norm = self.data.normalizer(torch.device("cpu"))
        self.x, self.y = norm(self.data.x_train), self.data.y_train
        self.x_val, self.y_val = norm(self.data.x_val), self.data.y_val
        self.augment = BatchAugment(AUGMENT, torch.Generator().manual_seed(p.seed + 2))

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def epoch(self) -> float:
        """Samples per second of one training epoch plus validation."""
        self.sync()
        start = time.perf_counter()
        self.model.train()
        order = torch.randperm(len(self.y))
        total = 0.0
        for b in range(0, len(self.y), BATCH):
            idx = order[b : b + BATCH]
            xb, yb = self.augment(self.x[idx]).to(self.device), self.y[idx].to(self.device)
            loss = F.cross_entropy(self.model(xb), yb)
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
            total += loss.item()
        self.model.eval()
        correct = 0
        with torch.no_grad():
            for b in range(0, len(self.y_val), 512):
                xb = self.x_val[b : b + 512].to(self.device)
                yb = self.y_val[b : b + 512].to(self.device)
                correct += (self.model(xb).argmax(1) == yb).sum().item()
        self.sync()
        return len(self.y) / (time.perf_counter() - start)


def interleaved_rates(fast: Preset, naive: NaiveLoop) -> tuple[list[float], list[float]]:
    """Per-epoch samples/s of Plateau and of the naive loop, one naive epoch after each
    Plateau epoch."""
    naive_rates: list[float] = []

    def on_event(e: ev.Event) -> None:
        if isinstance(e, ev.EpochEnd):
            naive_rates.append(naive.epoch())

    summary = Trainer(fast, out=tempfile.mkdtemp()).fit(on_event)
    if summary.status != "finished":
        raise SystemExit(f"the Plateau run ended {summary.status}: {summary.error}")
    from engine.runs import RunFiles

    rows = RunFiles(summary.run_dir).read_metrics()
    return [r.samples_per_s for r in rows], naive_rates


def sync_sites(p: Preset) -> tuple[collections.Counter, collections.Counter, int]:
    """Host synchronizations of a one-epoch run, by engine source line: (inside the step loop,
    elsewhere, steps)."""
    from engine.training import epoch as epoch_module

    source, first = inspect.getsourcelines(epoch_module.train_epoch)
    loop = next(i for i, s in enumerate(source) if "for b in range(n_steps)" in s)
    end = next(i for i, s in enumerate(source) if s.strip().startswith("totals ="))
    loop_lines = range(first + loop, first + end)
    trainer_file = inspect.getsourcefile(epoch_module)
    inside: collections.Counter = collections.Counter()
    outside: collections.Counter = collections.Counter()

    def record(message, category, filename, lineno, file=None, line=None):
        if "synchroniz" not in str(message):
            return
        engine = [
            f for f in traceback.extract_stack() if "/engine/" in f.filename.replace("\\", "/")
        ]
        site = engine[-1] if engine else None
        in_loop = any(f.filename == trainer_file and f.lineno in loop_lines for f in engine)
        where = f"{Path(site.filename).name}:{site.lineno} {site.line}" if site else filename
        (inside if in_loop else outside)[where] += 1

    trainer = Trainer(p, out=tempfile.mkdtemp())
    with warnings.catch_warnings():  # restores showwarning and the filters afterwards
        warnings.simplefilter("always")
        warnings.showwarning = record
        torch.cuda.set_sync_debug_mode("warn")
        try:
            trainer.fit()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return inside, outside, trainer.a.steps_per_epoch


def main() -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument(
        "--compile",
        default="",
        metavar="MODE[,MODE]",
        help="also measure train.compile = true with these train.compile_mode values",
    )
    args.add_argument("--epochs", type=int, default=6, help="epochs per run (first is warm-up)")
    opts = args.parse_args()
    if not torch.cuda.is_available():
        print("gpu_path: CUDA is not available on this machine; nothing measured")
        return 0
    name = torch.cuda.get_device_name(0)
    print(f"{name}, torch {torch.__version__}, resnet18, batch {BATCH}, augment {AUGMENT}")
    naive = NaiveLoop(preset(False, None, opts.epochs))
    modes = [m for m in opts.compile.split(",") if m]
    variants = [("amp+channels_last", None)] + [(f"+compile {m}", m) for m in modes]
    ratios = {}
    for label, mode in variants:
        plateau_rates, naive_rates = interleaved_rates(preset(True, mode, opts.epochs), naive)
        fast, base = statistics.median(plateau_rates[1:]), statistics.median(naive_rates[1:])
        print(
            f"{label}: Plateau {fast:,.0f} samples/s (epochs {[round(r) for r in plateau_rates]}),"
            f" naive loop {base:,.0f} samples/s (epochs {[round(r) for r in naive_rates]})"
        )
        ratios[label] = fast / base
    inside, outside, steps = sync_sites(preset(True, None, 1))
    print(f"host syncs in a one-epoch run ({steps} steps): {sum(inside.values())} inside steps")
    for where, count in inside.most_common():
        print(f"  inside steps  {count:>5}  {where}")
    for where, count in outside.most_common():
        print(f"  epoch/setup   {count:>5}  {where}")
    for label, ratio in ratios.items():
        print(f"gpu_path[{name}, {label}]: ratio={ratio:.2f}")
    print(f"gpu_path_syncs_in_steps[{name}]: count={sum(inside.values())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
