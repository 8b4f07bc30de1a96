"""What the doctor's monitoring costs: full training runs with the doctor against the same runs
with all of it switched off (pre-flight and leakage search, probes, epoch rules, per-sample
margins), interleaved in one process, median of 9 rounds (``--rounds N`` for more).

    python -m benchmarks.doctor_overhead [--rounds 25]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time

import torch

from benchmarks.common import cases
from engine.doctor.monitor import RunMonitor
from engine.doctor.samples import SampleMargins
from engine.trainer import Trainer

ROUNDS = 9


# What does the doctor's work: pre-flight (leakage search included), epoch rules and probes,
# the per-sample margins accumulated inside each step (label-noise) and their file.
SWITCHED = {
    RunMonitor: ("start", "after_epoch", "finish", "write_samples"),
    SampleMargins: ("add", "end_epoch"),
}


def timed(preset, out, doctor: bool) -> float:
    saved = {(cls, name): getattr(cls, name) for cls, names in SWITCHED.items() for name in names}
    if not doctor:
        for cls, name in saved:
            setattr(cls, name, lambda self, *args: None)
    try:
        start = time.perf_counter()
        summary = Trainer(preset, out=out).fit()
        assert summary.status == "finished"
        return time.perf_counter() - start
    finally:
        for (cls, name), method in saved.items():
            setattr(cls, name, method)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.doctor_overhead")
    parser.add_argument(  # on a noisy machine: medians of 9 moved by ±5 % between runs
        "--rounds", type=int, default=ROUNDS, help=f"interleaved rounds (default {ROUNDS})"
    )
    rounds = parser.parse_args().rounds
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
        for _ in range(rounds):
            with_doc.append(timed(preset, out, True))
            without.append(timed(preset, out, False))
        a, b = statistics.median(with_doc), statistics.median(without)
        print(f"{name}: with doctor {a:.3f} s, without {b:.3f} s (median of {rounds})")
        print(f"doctor_overhead[{name}]: ratio={a / b:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
