"""GPU path: Plateau with its preset defaults (``train.amp``/``channels_last``/``compile`` left
at "auto") against a hand-tuned loop, at 32 px and at 224 px, in one run on one GPU.

The hand-tuned reference: the same network (``engine.models.build_model``) and data, every image
normalized once and kept on the GPU, hflip + random crop on the GPU, bf16 autocast,
channels-last, fused SGD, and the forward and backward pass as CUDA graphs through
``torch.compile(mode="reduce-overhead")``; no host sync inside an epoch. Both loops include
validation, as Plateau's epoch does. They are interleaved in one process: a reference epoch runs
from Plateau's own ``EpochEnd`` callback (where the GPU is idle); each loop's first epoch (the
compile) is left out and the median of the rest reported.

Cases: ``32``: resnet18 (its CIFAR variant: 3x3 stem, no max-pool) on 40,000 synthetic 3x32x32
training images, batch 256; ``224``: the standard resnet18 on 4,800 synthetic 3x224x224
training images, batch 128. Both with ``hflip`` + ``crop``, SGD, the preset default of 10
epochs. For each case it reports

- Plateau with preset defaults ÷ hand-tuned (target >= 0.85), and what "auto" chose;
- the compile cache: ``plateau-train`` twice in fresh processes sharing a fresh cache folder,
  the second run's first epoch ÷ its median later epoch (target <= 3), and the first run's
  first epoch (a cold compile) beside it;
- host syncs inside the step loop under ``torch.cuda.set_sync_debug_mode("warn")``, in the
  epochs after the first (target 0), and those of the first epoch (compiling) apart.

Needs CUDA; prints a note and exits 0 elsewhere.

    python -m benchmarks.gpu_path [--case 32,224] [--epochs N] [--naive] [--smoke] [--profile]

(``--profile``: instead of the figures, where a warm Plateau epoch's time goes — the top
operations by GPU and CPU time and the validation's share.)

(``--smoke``: 96 images, 3 epochs, on the CPU — the code paths only, no figures; ~9 minutes on
2 cores.)
"""

from __future__ import annotations

import argparse
import collections
import faulthandler
import inspect
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

from engine import events as ev
from engine import preset as presets
from engine.data import load_data
from engine.data.augment import BatchAugment
from engine.models import build_model
from engine.preset import Preset
from engine.runs import RunFiles
from engine.trainer import RunControl, Trainer

AUGMENT = ["hflip", "crop:4"]
CASES = {  # px: (training images, batch)
    32: (40_000, 256),
    224: (4_800, 128),
}
VAL_FRACTION = 0.2
DEVICE = "cuda"  # "cpu" with --smoke: a tiny run that checks this script's code paths


def sync() -> None:
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def preset(px: int, epochs: int, images: int = 0) -> Preset:
    """Plateau's preset for a case: the speed keys left out, so they take their defaults."""
    images, batch = images or CASES[px][0], CASES[px][1]
    return Preset().with_changes(
        {
            "name": f"gpu-path-{px}px",
            "data.source": "synthetic",
            "data.synthetic.samples": round(images / (1 - VAL_FRACTION)),
            "data.synthetic.size": px,
            "data.val_fraction": VAL_FRACTION,
            "data.augment": AUGMENT,
            "model.arch": "resnet18",
            "train.epochs": epochs,
            "train.batch_size": batch,
            "train.device": DEVICE,
            "train.optimizer.name": "sgd",
            "train.optimizer.lr": 0.05,
            "train.schedule.name": "none",
        }
    )


class HandTuned:
    """The reference loop (see the module's docstring)."""

    def __init__(self, p: Preset):
        torch.manual_seed(p.seed)
        data = load_data(p)
        dev = self.device = torch.device(DEVICE)
        norm = data.normalizer(dev)
        self.x, self.y = norm(data.x_train), data.y_train.to(dev)
        self.x_val, self.y_val = norm(data.x_val), data.y_val.to(dev)
        self.batch = p.train.batch_size
        model = build_model(p.model, data.input_shape, data.num_classes).to(dev)
        self.model = model.to(memory_format=torch.channels_last)
        self.opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, fused=True)

        class Loss(torch.nn.Module):
            def __init__(self, net):
                super().__init__()
                self.net = net

            def forward(self, x, y):
                return F.cross_entropy(self.net(x).float(), y)

        self.step = torch.compile(Loss(model), mode="reduce-overhead", dynamic=False)

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        """hflip and a random 4-pixel crop, per image, on the GPU."""
        n, _, h, w = x.shape
        flip = torch.rand(n, device=x.device) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
        padded = F.pad(x, (4, 4, 4, 4))
        dy = torch.randint(0, 9, (n, 1), device=x.device) + torch.arange(h, device=x.device)
        dx = torch.randint(0, 9, (n, 1), device=x.device) + torch.arange(w, device=x.device)
        rows = torch.arange(n, device=x.device)[:, None, None, None]
        chans = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
        return padded[rows, chans, dy[:, None, :, None], dx[:, None, None, :]]

    def epoch(self) -> float:
        """Samples per second of one training epoch plus validation."""
        sync()
        start = time.perf_counter()
        self.model.train()
        order = torch.randperm(len(self.y), device=self.device)
        for b in range(0, len(self.y), self.batch):
            idx = order[b : b + self.batch]
            xb = self.augment(self.x[idx]).contiguous(memory_format=torch.channels_last)
            torch.compiler.cudagraph_mark_step_begin()
            with torch.autocast(DEVICE, dtype=torch.bfloat16):
                loss = self.step(xb, self.y[idx])
            loss.backward()
            self.opt.step()
            self.opt.zero_grad(set_to_none=True)
        self.model.eval()
        correct = torch.zeros((), device=self.device)
        with torch.no_grad(), torch.autocast(DEVICE, dtype=torch.bfloat16):
            for b in range(0, len(self.y_val), 512):
                xb = self.x_val[b : b + 512].contiguous(memory_format=torch.channels_last)
                correct += (self.model(xb).argmax(1) == self.y_val[b : b + 512]).sum()
        correct.item()
        return len(self.y) / (time.perf_counter() - start)


class NaiveLoop:
    """What a first PyTorch script does (``--naive``): tensors on the host, a batch augmented on
    the host and copied to the GPU, fp32, ``loss.item()`` every step."""

    def __init__(self, p: Preset):
        torch.manual_seed(p.seed)
        data = load_data(p)
        self.device, self.batch = torch.device(DEVICE), p.train.batch_size
        self.model = build_model(p.model, data.input_shape, data.num_classes).to(self.device)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.05, momentum=0.9)
        norm = data.normalizer(torch.device("cpu"))
        self.x, self.y = norm(data.x_train), data.y_train
        self.augment = BatchAugment(AUGMENT, torch.Generator().manual_seed(p.seed + 2))

    def epoch(self) -> float:
        sync()
        start = time.perf_counter()
        self.model.train()
        order = torch.randperm(len(self.y))
        for b in range(0, len(self.y), self.batch):
            idx = order[b : b + self.batch]
            xb, yb = self.augment(self.x[idx]).to(self.device), self.y[idx].to(self.device)
            loss = F.cross_entropy(self.model(xb), yb)
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
            loss.item()
        sync()
        return len(self.y) / (time.perf_counter() - start)


def interleaved(p: Preset, others: list) -> tuple[list[float], list[list[float]], dict]:
    """Per-epoch samples/s of Plateau and of each loop in ``others`` (an epoch of each after
    every Plateau epoch), and what Plateau's "auto" chose."""
    rates: list[list[float]] = [[] for _ in others]
    speed: dict = {}

    def on_event(e: ev.Event) -> None:
        if isinstance(e, ev.RunStarted):
            speed.update(e.speed)
        if isinstance(e, ev.Compiling):  # as it happens: a stalled compile shows where
            print(f"  Plateau {e.stage} (epoch {e.epoch}, {e.mode}) {e.seconds:.1f} s", flush=True)
        if isinstance(e, ev.EpochEnd):
            m = e.metrics
            rate = f"{m.seconds:.2f} s, {m.samples_per_s:.0f}/s"
            print(f"  Plateau epoch {e.epoch}: {rate}", flush=True)
            for loop, out in zip(others, rates, strict=True):
                out.append(loop.epoch())
                print(f"  {type(loop).__name__} epoch {len(out)}: {out[-1]:.0f}/s", flush=True)

    summary = Trainer(p, out=tempfile.mkdtemp()).fit(on_event)
    if summary.status != "finished":
        raise SystemExit(f"the Plateau run ended {summary.status}: {summary.error}")
    rows = RunFiles(summary.run_dir).read_metrics()
    return [r.samples_per_s for r in rows], rates, speed


def compile_cache(p: Preset) -> tuple[list[float], list[float]]:
    """Epoch seconds of two ``plateau-train`` runs of ``p`` in fresh processes that share a
    fresh cache folder (the first compiles cold, the second reads the cache); printed too, each
    run's first step (the compile, or reading it from the cache) apart from its first epoch."""
    folder = Path(tempfile.mkdtemp(prefix="plateau-compile-cache-"))
    path = presets.save(p, folder / "preset.toml")
    env = {k: v for k, v in os.environ.items() if k not in ("TORCHINDUCTOR_CACHE_DIR",)}
    env["PLATEAU_CACHE_DIR"] = str(folder / "cache" / "images")
    seconds = []
    for run in ("first", "second"):
        out = folder / run
        result = subprocess.run(
            [sys.executable, "-m", "engine", str(path), "--out", str(out), "--json"],
            env=env,
            capture_output=True,
            text=True,
        )
        if result.returncode:
            raise SystemExit(f"the {run} plateau-train run failed: {result.stderr[-2000:]}")
        events = [json.loads(line) for line in result.stdout.splitlines()]
        seconds.append([e["metrics"]["seconds"] for e in events if e["event"] == "EpochEnd"])
        step = [e["seconds"] for e in events if e["event"] == "Compiling" and e["seconds"]]
        if step:
            print(f"  {run} run: first step {step[0]:.2f} s of a {seconds[-1][0]:.2f} s epoch 1")
    return seconds[0], seconds[1]


def sync_sites(p: Preset, epochs: int = 2):
    """Host synchronizations by engine source line in the first ``epochs`` epochs of ``p``
    (stopped there, so "auto" plans for the whole run): inside the step loop after the first
    epoch, inside it in the first epoch (compiling), and elsewhere."""
    from engine.training import epoch as epoch_module

    source, first = inspect.getsourcelines(epoch_module.train_epoch)
    loop = next(i for i, s in enumerate(source) if "for b in range(n_steps)" in s)
    end = next(i for i, s in enumerate(source) if s.strip().startswith("totals ="))
    loop_lines = range(first + loop, first + end)
    epoch_file = inspect.getsourcefile(epoch_module)
    later, first_epoch, outside = (collections.Counter() for _ in range(3))
    done = [0]

    def record(message, category, filename, lineno, file=None, line=None):
        if "synchroniz" not in str(message):
            return
        engine = [
            f for f in traceback.extract_stack() if "/engine/" in f.filename.replace("\\", "/")
        ]
        site = engine[-1] if engine else None
        in_loop = any(f.filename == epoch_file and f.lineno in loop_lines for f in engine)
        where = f"{Path(site.filename).name}:{site.lineno} {site.line}" if site else filename
        (outside if not in_loop else first_epoch if done[0] == 0 else later)[where] += 1

    control = RunControl()

    def on_event(e: ev.Event) -> None:
        if isinstance(e, ev.EpochEnd):
            done[0] += 1
            if done[0] >= epochs:
                control.stop()

    trainer = Trainer(p, out=tempfile.mkdtemp(), control=control)
    if DEVICE != "cuda":  # no sync debug mode: the code path only
        trainer.fit(on_event)
        return later, first_epoch, outside, trainer.a.steps_per_epoch
    with warnings.catch_warnings():  # restores showwarning and the filters afterwards
        warnings.simplefilter("always")
        warnings.showwarning = record
        torch.cuda.set_sync_debug_mode("warn")
        try:
            trainer.fit(on_event)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return later, first_epoch, outside, trainer.a.steps_per_epoch


def profile(px: int, images: int = 0) -> None:
    """Where a warm Plateau epoch's time goes (``--profile``): torch.profiler over epoch 3 of a
    run planned for 10 epochs (so "auto" decides as in :func:`measure`) and stopped there, the top
    operations by GPU time and by CPU time, and how much of the epoch its validation took."""
    from engine import trainer as trainer_module

    p, control = preset(px, 10, images), RunControl()
    validate, spent = trainer_module.validate, []

    def timed(*args, **kwargs):
        sync()
        start = time.perf_counter()
        out = validate(*args, **kwargs)
        sync()
        spent.append(time.perf_counter() - start)
        return out

    prof = torch.profiler.profile(
        activities=[torch.profiler.ProfilerActivity.CPU]
        + ([torch.profiler.ProfilerActivity.CUDA] if DEVICE == "cuda" else [])
    )

    def on_event(e: ev.Event) -> None:
        if isinstance(e, ev.EpochEnd) and e.epoch == 2:
            prof.__enter__()
        elif isinstance(e, ev.EpochEnd) and e.epoch == 3:
            sync()
            prof.__exit__(None, None, None)
            control.stop()

    trainer_module.validate = timed
    try:
        summary = Trainer(p, out=tempfile.mkdtemp(), control=control).fit(on_event)
    finally:
        trainer_module.validate = validate
    seconds = RunFiles(summary.run_dir).read_metrics()[-1].seconds
    print(f"== profile, {px} px, epoch 3: {seconds:.3f} s, validation {spent[-1]:.3f} s")
    table = prof.key_averages()
    if DEVICE == "cuda":
        print(table.table(sort_by="self_cuda_time_total", row_limit=15, max_name_column_width=50))
    print(table.table(sort_by="self_cpu_time_total", row_limit=15, max_name_column_width=50))


def measure(px: int, epochs: int, naive: bool, name: str, images: int = 0) -> list[str]:
    """One case; its result lines."""
    images, batch = images or CASES[px][0], CASES[px][1]
    p = preset(px, epochs, images)
    label = f"{name}, {px} px"
    print(f"== {px} px: resnet18, {images:,} training images, batch {batch}, {epochs} epochs")
    others = [HandTuned(p)] + ([NaiveLoop(p)] if naive else [])
    plateau, rates, speed = interleaved(p, others)
    print(f"auto chose: {speed.get('summary')} — {'; '.join(speed.get('reasons', []))}")
    warm = statistics.median(plateau[1:])
    print(f"Plateau (preset defaults) samples/s by epoch: {[round(r) for r in plateau]}")
    lines = []
    for loop, r in zip(["hand-tuned", "naive"], rates, strict=False):
        print(f"{loop} samples/s by epoch: {[round(x) for x in r]}")
        ref = statistics.median(r[1:])
        lines.append(
            f"gpu_path[{label}, preset defaults ÷ {loop}]: ratio={warm / ref:.2f} "
            f"plateau={warm:.0f} {loop.replace('-', '_')}={ref:.0f}"
        )
        # what a person waits for: every epoch, the first (compiling or not) included
        whole, whole_ref = (sum(images / x for x in xs) for xs in (plateau, r))
        lines.append(
            f"gpu_path_whole_run[{label}, {loop}]: plateau_s={whole:.1f} "
            f"{loop.replace('-', '_')}_s={whole_ref:.1f} speedup={whole_ref / whole:.2f}"
        )
    cold, hot = compile_cache(p)
    print(f"compile cache: first run's epochs {cold} s; second run's {hot} s")
    hot_warm = statistics.median(hot[1:])
    lines.append(
        f"gpu_path_compile_cache[{label}]: ratio={hot[0] / hot_warm:.2f} "
        f"second_first_epoch_s={hot[0]:.2f} warm_epoch_s={hot_warm:.2f} "
        f"cold_first_epoch_s={cold[0]:.2f}"
    )
    later, first_epoch, outside, steps = sync_sites(p)
    for title, sites in (
        ("inside steps after epoch 1", later),
        ("inside steps in epoch 1", first_epoch),
        ("epoch/setup", outside),
    ):
        for where, count in sites.most_common(12):
            print(f"  {title:<28} {count:>5}  {where}")
    lines.append(
        f"gpu_path_syncs_in_steps[{label}]: count={sum(later.values())} "
        f"first_epoch={sum(first_epoch.values())} steps_per_epoch={steps}"
    )
    for line in lines:
        print(line, flush=True)
    return lines


def main() -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--case", default="32,224", help="image sides to measure: 32, 224 or both")
    args.add_argument("--epochs", type=int, default=10, help="epochs per run (first: warm-up)")
    args.add_argument("--naive", action="store_true", help="also time a naive loop")
    args.add_argument("--smoke", action="store_true", help="a tiny CPU run of the code paths")
    args.add_argument("--profile", action="store_true", help="where a warm epoch's time goes")
    opts = args.parse_args()
    if os.environ.get("PLATEAU_STACK_DUMP_S"):  # where a step that never ends is stuck
        faulthandler.dump_traceback_later(float(os.environ["PLATEAU_STACK_DUMP_S"]), repeat=True)
    if opts.smoke:
        global DEVICE
        DEVICE = "cpu"
        os.environ.setdefault("PLATEAU_CACHE_DIR", tempfile.mkdtemp(prefix="plateau-cache-"))
        for px in (32, 224):
            (profile(px, 96) if opts.profile else measure(px, 3, opts.naive, "smoke", 96))
        return 0
    if not torch.cuda.is_available():
        print("gpu_path: CUDA is not available on this machine; nothing measured")
        return 0
    os.environ.setdefault("PLATEAU_CACHE_DIR", tempfile.mkdtemp(prefix="plateau-cache-"))
    name = torch.cuda.get_device_name(0)
    print(f"{name}, torch {torch.__version__}, augment {AUGMENT}, SGD")
    lines = []
    for px in (int(c) for c in opts.case.split(",") if c):
        if opts.profile:
            profile(px)
            continue
        lines += measure(px, opts.epochs, opts.naive, name)
    print("== results")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
