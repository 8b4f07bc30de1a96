"""Engine overhead: Plateau's full training (metrics, per-class statistics, confusion matrix,
checkpoints, doctor monitoring, events to a consumer) against a hand-written loop with the same
data path, in one process, interleaved, median of 5 rounds. The ratio is that of one epoch's
cost, taken as the difference between a 7-epoch and a 2-epoch run of each (so one-time costs
cancel); the whole 7-epoch runs' ratio is printed too. Also checks that both compute the same
training losses (5 decimals) and reports peak memory of each in a fresh process.

    python -m benchmarks.overhead
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile

import torch

from benchmarks.common import cases, interleaved, plain_loop
from engine import preset as presets
from engine.runs import RunFiles
from engine.trainer import Trainer

EPOCHS = 7
SHORT = 2
CASES = cases()


def engine_run(preset, out, consumer) -> list[float]:
    summary = Trainer(preset, out=out).fit(consumer)
    return [r.train_loss for r in RunFiles(summary.run_dir).read_metrics()]


def main() -> int:
    torch.set_num_threads(2)
    out = tempfile.mkdtemp()
    events = []
    for name, preset in CASES.items():
        runs = {
            n: preset.with_changes(  # NCHW like the plain loop: the bookkeeping, not the layout
                {
                    "train.epochs": n,
                    "train.device": "cpu",
                    "train.schedule.name": "none",
                    "train.channels_last": False,
                }
            )
            for n in (SHORT, EPOCHS)
        }
        a = engine_run(runs[EPOCHS], out, events.append)
        b = plain_loop(runs[EPOCHS], EPOCHS)
        same = [round(x, 5) for x in a] == [round(x, 5) for x in b]
        funcs = {}
        for n, p in runs.items():
            funcs[f"engine {n}"] = lambda p=p: engine_run(p, out, events.append)
            funcs[f"plain {n}"] = lambda p=p: plain_loop(p, p.train.epochs)
        t = interleaved(funcs)
        # the cost of one more epoch: the difference of a long and a short run (one-time costs,
        # such as loading the data and the run directory's first and last files, cancel out)
        epoch = {
            side: (t[f"{side} {EPOCHS}"] - t[f"{side} {SHORT}"]) / (EPOCHS - SHORT)
            for side in ("engine", "plain")
        }
        whole = t[f"engine {EPOCHS}"] / t[f"plain {EPOCHS}"]
        print(
            f"{name}: {EPOCHS} epochs: engine {t[f'engine {EPOCHS}']:.3f} s, plain loop "
            f"{t[f'plain {EPOCHS}']:.3f} s (whole-run ratio {whole:.3f}); one epoch: engine "
            f"{epoch['engine'] * 1000:.1f} ms, plain loop {epoch['plain'] * 1000:.1f} ms "
            f"({(epoch['engine'] - epoch['plain']) * 1000:+.1f} ms); one-time costs: engine "
            f"{(t[f'engine {EPOCHS}'] - EPOCHS * epoch['engine']) * 1000:.0f} ms, plain loop "
            f"{(t[f'plain {EPOCHS}'] - EPOCHS * epoch['plain']) * 1000:.0f} ms (medians of 5); "
            f"losses equal to 5 decimals: {same}"
        )
        print(
            f"overhead[{name}]: ratio={epoch['engine'] / epoch['plain']:.3f} "
            f"abs_per_epoch_s={epoch['engine'] - epoch['plain']:.3f} whole_run={whole:.3f}"
        )
        events.clear()
    digits = json.dumps(presets.default_preset_path().as_posix())
    base = (
        "import torch; torch.set_num_threads(2); from engine import preset as P; "
        f"p = P.load({digits})"
    )
    # RUSAGE_CHILDREN keeps the maximum over children: measure the plain loop in its own process
    plain_rss = float(
        subprocess.run(
            [
                sys.executable,
                "-c",
                base + "; from benchmarks.common import plain_loop; "
                "plain_loop(p, p.train.epochs); import resource; "
                "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()[-1]
    )
    engine_rss = float(
        subprocess.run(
            [
                sys.executable,
                "-c",
                base + "; from engine.trainer import Trainer; "
                f"Trainer(p, out={json.dumps(out)}).fit(); import resource; "
                "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()[-1]
    )
    print(f"peak RSS, digits run: engine {engine_rss:.0f} MB, plain loop {plain_rss:.0f} MB")
    print(f"memory: ratio={engine_rss / plain_rss:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
