"""Faults and hostile input: nothing crashes, nothing saved is lost, no half-written file."""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.checkpoint import load_checkpoint
from engine.errors import DataError
from engine.preset import Preset
from engine.runs import RunFiles
from engine.trainer import Trainer
from tests.conftest import tiny_preset

MARKER = Path("/tmp/plateau-pwned-by-checkpoint")


class _Evil:
    def __reduce__(self):
        return (open, (str(MARKER), "w"))


def _cli(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "engine", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def evil_run(tmp_path):
    run = Trainer(tiny_preset(**{"train.epochs": 1}), out=tmp_path).fit()
    last = RunFiles(run.run_dir).last_checkpoint
    torch.save({"format": "plateau-checkpoint/1", "model": {}, "payload": _Evil()}, last)
    MARKER.unlink(missing_ok=True)
    return Path(run.run_dir), last


@pytest.mark.parametrize("command", ["resume", "predict", "export"])
def test_checkpoint_that_would_run_code_is_refused_everywhere(evil_run, tmp_path, command):
    run_dir, last = evil_run
    image = tmp_path / "x.png"
    from PIL import Image

    Image.new("L", (8, 8)).save(image)
    args = {
        "resume": [run_dir],
        "predict": [last, image],
        "export": [last, "--out", tmp_path / "m.pt"],
    }
    result = _cli(command, *args[command])
    assert result.returncode == 2, result.stderr
    assert "refused to load" in result.stderr and "Traceback" not in result.stderr
    assert not MARKER.exists()


def test_truncated_checkpoint_gives_a_clear_message(tmp_path):
    run = Trainer(tiny_preset(**{"train.epochs": 1}), out=tmp_path).fit()
    last = RunFiles(run.run_dir).last_checkpoint
    last.write_bytes(last.read_bytes()[:200])
    result = _cli("export", last)
    assert result.returncode == 2 and "not a readable checkpoint" in result.stderr


def _check_run_files(run_dir: Path) -> None:
    """Every file is absent or complete and loadable (temporary files are not the run's)."""
    for path in run_dir.rglob("*"):
        if path.is_dir() or path.name.startswith("."):
            continue
        if path.suffix == ".pt":
            load_checkpoint(path)
        elif path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".jsonl":
            [json.loads(line) for line in path.read_text().splitlines()]
        elif path.suffix == ".npz":
            with np.load(path) as data:
                [data[k] for k in data.files]
        elif path.suffix == ".toml":
            from engine import preset

            preset.load(path)


def test_sigkill_at_random_moments_never_leaves_a_broken_file(tmp_path):
    """A run is killed 20 times at random moments (writes included) and resumed each time; the
    files stay whole, and the final metrics equal an uninterrupted run's."""
    from engine import preset as presets

    p = tiny_preset(
        **{
            # ~10 s of training (0.08 s epochs, a write each): 20 kills 0–0.6 s into a resumed
            # run (~6 s in all) land inside it
            "train.epochs": 120,
            "model.width": 48,
            "train.batch_size": 16,
            "data.synthetic.samples": 600,
            "name": "killed",
        }
    )
    preset_file = tmp_path / "p.toml"
    presets.save(p, preset_file)
    reference = Trainer(p, out=tmp_path / "ref").fit()
    expected = [r.without_timing() for r in RunFiles(reference.run_dir).read_metrics()]
    out = tmp_path / "runs"
    rng = random.Random(0)
    run_dir = None
    kills = 0
    for _ in range(60):
        if run_dir and (run_dir / "checkpoints" / "last.pt").exists():
            cmd = ["resume", run_dir]
        else:
            if run_dir:  # killed before the first checkpoint: start over
                import shutil

                shutil.rmtree(run_dir)
            cmd = [preset_file, "--out", out]
        proc = subprocess.Popen(
            [sys.executable, "-m", "engine", *map(str, cmd), "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        if kills < 20:
            assert (
                not run_dir or getattr(RunFiles(run_dir).read_summary(), "status", "") != "finished"
            )
            # wait for the run to start, then kill it a random moment later
            first = proc.stdout.readline()
            if first and run_dir is None:
                run_dir = Path(json.loads(first)["run_dir"])
            time.sleep(rng.uniform(0.0, 0.6))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait()
            if run_dir:
                _check_run_files(run_dir)
            continue
        for line in proc.stdout:
            if run_dir is None:
                run_dir = Path(json.loads(line)["run_dir"])
        assert proc.wait() == 0
        break
    assert kills == 20
    _check_run_files(run_dir)
    rows = [r.without_timing() for r in RunFiles(run_dir).read_metrics()]
    assert rows == expected
    assert RunFiles(run_dir).read_summary().status == "finished"


def test_exception_in_forward_names_layer_and_shapes(runs_dir, monkeypatch):
    import engine.models

    class BreaksOnBigBatches(torch.nn.Module):
        def __init__(self, classes):
            super().__init__()
            self.flat = torch.nn.Flatten()
            self.head = torch.nn.Linear(64, classes)
            self.odd = torch.nn.Linear(32, classes)

        def forward(self, x):
            x = self.flat(x)
            return self.head(x) if len(x) <= 2 else self.odd(x)

    monkeypatch.setitem(
        engine.models.BUILDERS, "mlp", lambda cfg, shape, classes: BreaksOnBigBatches(classes)
    )
    summary = Trainer(tiny_preset(**{"model.arch": "mlp"}), out=runs_dir).fit()
    assert summary.status == "failed"
    assert "layer 'odd' (Linear with input (32, 64))" in summary.error
    assert RunFiles(summary.run_dir).read_summary().status == "failed"


def test_out_of_memory_suggests_a_smaller_batch(runs_dir, monkeypatch):
    import engine.trainer as trainer_module

    def oom(*args):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(trainer_module, "train_epoch", oom)
    summary = Trainer(tiny_preset(), out=runs_dir).fit()
    assert summary.status == "failed" and "out of memory" in summary.error
    assert "train.batch_size" in summary.hint


def test_unwritable_output_folder_is_bad_input(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # running as root: permissions do not bind
            target = tmp_path / "file-not-folder"
            target.write_text("x")
            locked = target
        with pytest.raises(DataError, match="cannot create a run directory"):
            Trainer(tiny_preset(), out=locked / "runs").fit()
        result = _cli(tmp_path / "nope.toml")  # and the CLI never shows a traceback
        assert "Traceback" not in result.stderr
    finally:
        (tmp_path / "locked").chmod(0o700)


def test_disk_full_mid_run_fails_clearly_and_keeps_last_checkpoint(runs_dir, monkeypatch):
    import engine.runs

    real = engine.runs.RunFiles.write_metrics
    calls = {"n": 0}

    def full_disk(self, rows):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path / "metrics.jsonl"))
        real(self, rows)

    monkeypatch.setattr(engine.runs.RunFiles, "write_metrics", full_disk)
    summary = Trainer(tiny_preset(), out=runs_dir).fit()
    assert summary.status == "failed"
    assert "No space left on device" in summary.error and "free disk space" in summary.hint
    run = RunFiles(summary.run_dir)
    assert load_checkpoint(run.last_checkpoint)["epoch"] == 1
    assert len(run.read_metrics()) == 1


def test_huge_and_odd_images_are_skipped_or_converted(tmp_path):
    from PIL import Image

    from engine.data import load_data

    for cls in ("a", "b"):
        for i, mode in enumerate(["L", "RGB", "RGBA", "P", "I;16", "1"]):
            Image.new(mode, (12, 10)).save(tmp_path / cls / f"{i}.png") if (tmp_path / cls).mkdir(
                exist_ok=True
            ) is None else None
    bomb = tmp_path / "a" / "huge.png"
    Image.new("L", (20000, 20000)).save(bomb)  # beyond PIL's decompression-bomb limit
    (tmp_path / "b" / "empty.jpg").write_bytes(b"")
    data = load_data(Preset().with_changes({"data.source": "folder", "data.root": str(tmp_path)}))
    assert data.stats["skipped_files"] == 2
    assert data.input_shape == (3, 10, 12)
