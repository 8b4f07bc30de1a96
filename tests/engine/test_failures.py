"""Every failure reaches the person with a reason and a hint they can act on."""

from __future__ import annotations

import pytest
import torch

from engine.errors import CheckpointError, DataError, TrainingError
from engine.failures import BUG_HINT, explain
from engine.preset import PresetError


@pytest.mark.parametrize(
    ("exc", "in_reason", "in_hint"),
    [
        (
            torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"),
            "out of memory",
            "'train.batch_size'",
        ),
        (
            RuntimeError("CUDA error: no kernel image is available for execution"),
            "GPU",
            "'train.device'",
        ),
        (
            RuntimeError("mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)"),
            "model failed",
            "'data.image_size'",
        ),
        (OSError(28, "No space left on device"), "No space left", "free disk space"),
        (
            PresetError("'train.device' = 'cuda' is not available", "train.device"),
            "cuda",
            "change 'train.device'",
        ),
        (
            DataError("image folder not found: /x ('data.root')", "data.root"),
            "not found",
            "change 'data.root'",
        ),
        (CheckpointError("not a Plateau checkpoint"), "checkpoint", "another run"),
        (
            TrainingError("the training loss became nan", "lower 'train.optimizer.lr'"),
            "nan",
            "lower",
        ),
        (
            ValueError("Expected more than 1 value per channel when training, got input size "),
            "batch norm got a single image",
            "'train.batch_size' to 2 or more",
        ),
        (KeyError("boom"), "KeyError", "plateau-train PRESET"),
    ],
)
def test_every_failure_has_a_reason_and_a_hint(exc, in_reason, in_hint):
    reason, hint = explain(exc)
    assert in_reason in reason and in_hint in hint


def test_a_failed_run_from_the_cli_prints_its_hint(runs_dir, monkeypatch, capsys):
    import engine.trainer as trainer_module
    from engine import cli

    def broken(*args):
        raise ValueError("something unexpected")

    monkeypatch.setattr(trainer_module, "train_epoch", broken)
    from engine.preset import presets_dir

    code = cli.main([str(presets_dir() / "digits.toml"), "--out", str(runs_dir), "--epochs", "1"])
    err = capsys.readouterr().err
    assert code == 1
    assert "training failed: ValueError: something unexpected" in err
    # the hint said to run plateau-train to see the traceback — from plateau-train, which had
    # caught it inside the run: now the run directory keeps it and the hint names the file
    assert BUG_HINT not in err
    (run_dir,) = runs_dir.iterdir()
    traceback = run_dir / "traceback.txt"
    assert f"the whole traceback is in {traceback}; report it" in err
    text = traceback.read_text()
    assert "ValueError: something unexpected" in text and "in broken" in text
