"""What the doctor's monitoring costs: full training runs with the doctor against the same runs
with its probes and checks switched off, interleaved in one process, median of 5 rounds.

    python -m benchmarks.doctor_overhead
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time

import torch

from benchmarks.common import cases
from engine.doctor.monitor import RunMonitor
from engine.trainer import Trainer

ROUNDS = 5


SWITCHED = ("start", "after_epoch", "finish")  # the RunMonitor methods that do the doctor's work


def timed(preset, out, doctor: bool) -> float:
    saved = {name: getattr(RunMonitor, name) for name in SWITCHED}
    if not doctor:
        for name in SWITCHED:
            setattr(RunMonitor, name, lambda self, *args: None)
    try:
        start = time.perf_counter()
        summary = Trainer(preset, out=out).fit()
        assert summary.status == "finished"
        return time.perf_counter() - start
    finally:
        for name, method in saved.items():
            setattr(RunMonitor, name, method)


def main() -> int:
    torch.set_num_threads(2)
    out = tempfile.mkdtemp()
    runs = cases()
    runs["synthetic 3x32x32 convnet"] = runs["synthetic 3x32x32 convnet"].with_changes(
        {"train.epochs": 3}
    )
    for name, preset in runs.items():
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
