"""The same preset data-parallel under torchrun: 2 CPU processes with gloo."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine import preset as presets
from engine.runs import RunFiles
from engine.trainer import Trainer

DIGITS = presets.default_preset_path()
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def torchrun(*args, timeout=600):
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "engine",
        *map(str, args),
    ]
    return subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=timeout)


def plateau_train(*args, timeout=600):
    """``plateau-train ARGS`` (``python -m engine``), as a person runs it."""
    cmd = [sys.executable, "-m", "engine", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=timeout)


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    result = torchrun(DIGITS, "--out", out, "--epochs", "6", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    return out, result


def test_two_processes_complete_one_run_directory(ddp_run):
    out, result = ddp_run
    runs = list(out.iterdir())
    assert len(runs) == 1
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["event"] for e in events].count("RunStarted") == 1  # only rank 0 reports
    assert events[-1]["event"] == "RunFinished"
    rows = RunFiles(runs[0]).read_metrics()
    assert len(rows) == 6
    for row in rows:  # validation covers the whole split, all-reduced across ranks
        assert sum(map(sum, row.confusion)) == 359 == sum(row.per_class.support)
    assert RunFiles(runs[0]).read_summary().status == "finished"
    # started by torchrun itself: the run says it trained on 2 processes (a resume needs as many)
    assert RunFiles(runs[0]).read_preset().train.processes == 2


def test_accuracy_matches_a_single_process_run(ddp_run, tmp_path):
    out, _ = ddp_run
    ddp_best = RunFiles(next(out.iterdir())).read_summary().best_val_acc
    single = Trainer(presets.load(DIGITS).with_changes({"train.epochs": 6}), out=tmp_path).fit()
    assert abs(ddp_best - single.best_val_acc) <= 0.02


def test_checkpoint_holds_the_plain_model(ddp_run):
    from engine.checkpoint import load_checkpoint
    from engine.export import model_from_checkpoint

    out, _ = ddp_run
    state = load_checkpoint(RunFiles(next(out.iterdir())).best_checkpoint)
    assert not any(k.startswith("module.") for k in state["model"])
    model_from_checkpoint(state)  # loads anywhere, without DDP


def test_resume_under_torchrun(tmp_path):
    first = torchrun(DIGITS, "--out", tmp_path, "--epochs", "2")
    assert first.returncode == 0, first.stderr[-2000:]
    run_dir = next(tmp_path.iterdir())
    again = torchrun("resume", run_dir, "--epochs", "3")
    assert again.returncode == 0, again.stderr[-2000:]
    assert [r.epoch for r in RunFiles(run_dir).read_metrics()] == [1, 2, 3]
    assert len(list(tmp_path.iterdir())) == 1


def test_processes_key_relaunches_under_torchrun(tmp_path):
    result = plateau_train(
        DIGITS, "--out", tmp_path, "--epochs", "2", "--set", "train.processes=2", "--json"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    runs = list(tmp_path.iterdir())
    assert len(runs) == 1 and len(RunFiles(runs[0]).read_metrics()) == 2
    assert Path(runs[0] / "preset.toml").read_text().count("processes = 2") == 1


def test_bad_input_with_two_processes_is_one_error_line_and_exit_code_2(tmp_path):
    """As with one process: the reason once, no traceback of torchrun's, the documented code."""
    result = plateau_train(
        presets.presets_dir() / "folder.toml",
        "--out",
        tmp_path,
        "--set",
        f"data.root={tmp_path / 'nowhere'}",
        "--set",
        "train.processes=2",
    )
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "image folder not found" in errors[0]
    assert "Traceback" not in result.stderr and "ChildFailedError" not in result.stderr


@pytest.mark.parametrize("balance", ["oversample", "undersample", "class-weights"])
def test_balance_modes_run_distributed(tmp_path, balance):
    result = torchrun(
        DIGITS,
        "--out",
        tmp_path,
        "--epochs",
        "1",
        "--json",
        "--set",
        f"data.balance={balance}",
        "--set",
        "data.class_fraction={'3' = 0.1}",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    started = json.loads(result.stdout.splitlines()[0])
    train_counts = started["data_stats"]["train_counts"]
    expected = sum(train_counts) if balance != "undersample" else min(train_counts) * 10
    # each rank takes half an epoch (padded to an even split), so together they see one, not two
    per_rank = math.ceil(expected / 2)
    assert started["steps_per_epoch"] == math.ceil(per_rank / 64)
    assert json.loads(result.stdout.splitlines()[-1])["event"] == "RunFinished"


def test_doctor_on_two_processes_reports_once(tmp_path):
    article = presets.presets_dir() / "article-2-steplr.toml"
    result = plateau_train("doctor", article, "--out", tmp_path, "--set", "train.processes=2")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("schedule-too-aggressive:") == 1  # rank 0 only
