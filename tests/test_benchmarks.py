"""The benchmarks keep working as the code they measure changes (they are run by hand, so a
refactor could otherwise break one unnoticed)."""

from __future__ import annotations

import importlib
import pkgutil

import benchmarks
from benchmarks.__main__ import RESULT, SCRIPTS
from engine.doctor.monitor import RunMonitor
from engine.runs import list_runs
from tests.conftest import tiny_preset


def test_every_benchmark_imports_and_is_run_by_the_runner():
    names = {m.name for m in pkgutil.iter_modules(benchmarks.__path__)}
    for name in names:
        importlib.import_module(f"benchmarks.{name}")
    assert set(SCRIPTS) <= names
    assert names - set(SCRIPTS) <= {"__main__", "common", "soak"}  # soak: RELIABILITY.md


def test_result_lines_are_collected_by_the_runner():
    assert RESULT.match("overhead[digits convnet]: ratio=1.173 abs_per_epoch_s=0.012")
    assert RESULT.match("gpu_path[NVIDIA H100 80GB HBM3, amp+channels_last]: ratio=2.00")
    assert RESULT.match("startup: ratio=0.594")
    assert not RESULT.match("gpu_path: CUDA is not available on this machine; nothing measured")


def test_doctor_overhead_switches_the_doctor_off_and_back_on(tmp_path):
    from benchmarks.doctor_overhead import timed

    original = RunMonitor.after_epoch
    timed(tiny_preset(**{"train.epochs": 1}), tmp_path / "off", doctor=False)
    assert RunMonitor.after_epoch is original
    (run,) = list_runs(tmp_path / "off")
    assert not (run / "diagnosis.json").exists()  # no doctor ran
    assert not (run / "samples.npz").exists()  # nor its per-sample margins
    timed(tiny_preset(**{"train.epochs": 1}), tmp_path / "on", doctor=True)
    (run,) = list_runs(tmp_path / "on")
    assert (run / "diagnosis.json").exists() and (run / "samples.npz").exists()


def test_gpu_path_without_cuda_says_so(capsys, monkeypatch):
    import torch

    from benchmarks import gpu_path

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr("sys.argv", ["gpu_path"])
    assert gpu_path.main() == 0
    assert "CUDA is not available" in capsys.readouterr().out
