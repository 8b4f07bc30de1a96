"""Engine overhead: Plateau's full training (metrics, per-class statistics, confusion matrix,
checkpoints, doctor monitoring, events to a consumer) against a hand-written loop with the same
data path, in one process, interleaved, median of 5 rounds. Also checks that both compute the
same training losses (5 decimals) and reports peak memory of each in a fresh process.

    python benchmarks/overhead.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile

import torch

from benchmarks.common import interleaved, plain_loop
from engine import preset as presets
from engine.runs import RunFiles
from engine.trainer import Trainer

EPOCHS = 5
CASES = {
    "digits convnet": presets.load(presets.default_preset_path()),
    "synthetic 3x32x32 convnet": presets.Preset().with_changes(
        {
            "data.source": "synthetic",
            "data.synthetic.samples": 2000,
            "model.width": 16,
        }
    ),
}


def engine_run(preset, out, consumer) -> list[float]:
    summary = Trainer(preset, out=out).fit(consumer)
    return [r["train_loss"] for r in RunFiles(summary["run_dir"]).read_metrics()]


def main() -> int:
    torch.set_num_threads(2)
    out = tempfile.mkdtemp()
    events = []
    for name, preset in CASES.items():
        preset = preset.with_changes(
            {"train.epochs": EPOCHS, "train.device": "cpu", "train.schedule.name": "none"}
        )
        a = engine_run(preset, out, events.append)
        b = plain_loop(preset, EPOCHS)
        same = [round(x, 5) for x in a] == [round(x, 5) for x in b]
        t = interleaved(
            {
                "engine": lambda p=preset: engine_run(p, out, events.append),
                "plain": lambda p=preset: plain_loop(p, EPOCHS),
            }
        )
        per_epoch = (t["engine"] - t["plain"]) / EPOCHS
        print(
            f"{name}: engine {t['engine']:.3f} s, plain loop {t['plain']:.3f} s for {EPOCHS} "
            f"epochs (median of 5); {per_epoch * 1000:.1f} ms/epoch more; losses equal to 5 "
            f"decimals: {same}"
        )
        print(
            f"overhead[{name}]: ratio={t['engine'] / t['plain']:.3f} "
            f"abs_per_epoch_s={per_epoch:.3f}"
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
