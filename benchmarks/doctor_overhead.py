"""What the doctor's monitoring costs: full training runs with the doctor against the same runs
with its probes and checks switched off, interleaved in one process, median of 5 rounds.

    python benchmarks/doctor_overhead.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time

import torch

import engine.trainer as trainer_module
from engine import preset as presets
from engine.trainer import Trainer

ROUNDS = 5


def timed(preset, out, doctor: bool) -> float:
    saved = (trainer_module.Trainer._start_doctor, trainer_module.Trainer._examine_epoch)
    if not doctor:
        trainer_module.Trainer._start_doctor = lambda self: None
        trainer_module.Trainer._examine_epoch = lambda self: None
    try:
        start = time.perf_counter()
        summary = Trainer(preset, out=out).fit()
        assert summary["status"] == "finished"
        return time.perf_counter() - start
    finally:
        trainer_module.Trainer._start_doctor, trainer_module.Trainer._examine_epoch = saved


def main() -> int:
    torch.set_num_threads(2)
    out = tempfile.mkdtemp()
    cases = {
        "digits convnet": presets.load(presets.default_preset_path()),
        "synthetic 3x32x32 convnet": presets.Preset().with_changes(
            {
                "data.source": "synthetic",
                "data.synthetic.samples": 2000,
                "train.epochs": 3,
                "model.width": 16,
            }
        ),
    }
    for name, preset in cases.items():
        preset = preset.with_changes({"train.device": "cpu"})
        timed(preset, out, True)  # warm-up
        with_doc, without = [], []
        for _ in range(ROUNDS):
            with_doc.append(timed(preset, out, True))
            without.append(timed(preset, out, False))
        a, b = statistics.median(with_doc), statistics.median(without)
        print(f"{name}: with doctor {a:.3f} s, without {b:.3f} s (median of {ROUNDS})")
        print(f"doctor_overhead[{name}]: ratio={a / b:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
