"""``plateau-train`` end to end, as a subprocess, the way a person runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.preset import presets_dir
from engine.runs import RunFiles

DIGITS = presets_dir() / "digits.toml"


def run_cli(*args, cwd=None):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "engine", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
    )


def test_digits_preset_reaches_97_percent(tmp_path):
    result = run_cli(DIGITS, "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "epoch   1/15" in out and "finished after 15 epochs" in out
    assert "epoch 1/15" not in result.stderr  # no progress bar off a terminal
    run_dir = Path(out.strip().splitlines()[-1].removeprefix("run directory: "))
    rows = RunFiles(run_dir).read_metrics()
    assert len(rows) == 15
    assert max(r.val_acc for r in rows) >= 0.97


def test_json_mode_prints_one_event_per_line(tmp_path):
    result = run_cli(DIGITS, "--out", tmp_path, "--epochs", "2", "--json")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "RunStarted" and kinds[-1] == "RunFinished"
    assert kinds.count("EpochEnd") == 2
    assert events[-1]["summary"]["epochs_completed"] == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "learning_rate=0.1"], "did you mean 'train.optimizer.lr'?"),
        (["--set", "train.optimizer.lr=fast"], "'train.optimizer.lr' = 'fast' is not valid"),
        (["--device", "cuda:7"], "'train.device' = 'cuda:7' is not available"),
        (["--epochs", "0"], "'train.epochs' = 0 is out of range"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, args, message):
    result = run_cli(DIGITS, "--out", tmp_path, *args)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written for bad input


def test_bad_preset_files(tmp_path):
    (tmp_path / "bad.toml").write_text("[train\nepochs = 3\n")
    result = run_cli(tmp_path / "bad.toml")
    assert (
        result.returncode == 2 and "malformed TOML" in result.stderr and "line 1" in result.stderr
    )
    result = run_cli(tmp_path / "missing.toml")
    assert result.returncode == 2 and "preset file not found" in result.stderr


def test_missing_dataset_files_exit_2(tmp_path):
    result = run_cli(presets_dir() / "mnist.toml", "--set", f"data.root={tmp_path}")
    assert result.returncode == 2
    assert "'data.download' = true" in result.stderr and "Traceback" not in result.stderr


def test_resume_continues_a_stopped_run(tmp_path):
    first = run_cli(DIGITS, "--out", tmp_path, "--epochs", "2", "--json")
    assert first.returncode == 0
    run_dir = json.loads(first.stdout.splitlines()[-1])["summary"]["run_dir"]
    second = run_cli("resume", run_dir, "--epochs", "3")
    assert second.returncode == 0, second.stderr
    rows = RunFiles(run_dir).read_metrics()
    assert [r.epoch for r in rows] == [1, 2, 3]
    assert RunFiles(run_dir).read_preset().train.epochs == 3
    bad = run_cli("resume", tmp_path / "nothing-here")
    assert bad.returncode == 2 and "does not exist; give a run directory" in bad.stderr


def test_help_works():
    result = run_cli("--help")
    assert result.returncode == 0 and "--set KEY=VALUE" in result.stdout


def test_doctor_on_a_preset_and_on_its_run(tmp_path):
    article = presets_dir() / "article-2-steplr.toml"
    result = run_cli("doctor", article, "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "schedule-too-aggressive" in result.stdout
    assert "fix: --set train.schedule.name=cosine" in result.stdout
    run_dir = next(tmp_path.iterdir())
    again = run_cli("doctor", run_dir, "--json")
    assert again.returncode == 0
    ids = [f["id"] for f in json.loads(again.stdout)]
    assert ids == ["unnormalized-input", "schedule-too-aggressive"]


def test_lr_find_prints_a_suggestion():
    result = run_cli("lr-find", DIGITS, "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert 1e-5 < out["suggestion"] < 0.1 and len(out["lrs"]) == len(out["losses"])


def test_onnx_export_and_predict_on_a_fresh_run(tmp_path):
    """A run with no exports/ folder yet exports to ONNX at the default destination; predict
    reads the export, prints a line per readable image and an error line per unreadable one."""
    first = run_cli(DIGITS, "--out", tmp_path, "--epochs", "1", "--json")
    run_dir = Path(json.loads(first.stdout.splitlines()[-1])["summary"]["run_dir"])
    assert not (run_dir / "exports").exists()
    exported = run_cli("export", run_dir / "checkpoints" / "best.pt", "--format", "onnx")
    assert exported.returncode == 0, exported.stderr
    onnx_file = next((run_dir / "exports").glob("*.onnx"))
    from PIL import Image

    Image.new("L", (8, 8), 128).save(tmp_path / "good.png")
    (tmp_path / "notes.txt").write_text("hello")
    result = run_cli("predict", onnx_file, tmp_path / "good.png", tmp_path / "notes.txt")
    assert result.returncode == 2
    assert result.stdout.startswith(f"{tmp_path / 'good.png'}: ")
    assert result.stderr.startswith("error: cannot read image") and "notes.txt" in result.stderr
    assert "Traceback" not in result.stderr
    # the format follows the file name; a name that says another format is refused
    named = run_cli("export", run_dir / "checkpoints" / "best.pt", "--out", tmp_path / "m.onnx")
    assert named.returncode == 0 and "onnx written to" in named.stdout.lower(), named.stderr
    clash = tmp_path / "clash.onnx"
    wrong = run_cli("export", run_dir / "checkpoints" / "best.pt", "--format", "pt", "--out", clash)
    assert wrong.returncode == 2 and "--format onnx" in wrong.stderr and not clash.exists()
    forgot = run_cli("predict", tmp_path / "good.png", tmp_path / "good.png")  # no model given
    assert forgot.returncode == 2 and "is not a checkpoint: it is a PNG image" in forgot.stderr


def test_help_and_bad_input_answer_without_loading_torch():
    """``--help`` and a preset error come back at once (torch takes seconds to load)."""
    probe = (
        "import sys, engine.cli; "
        "code = engine.cli.main(['resources/presets/missing.toml']); "
        "print(code, 'torch' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=presets_dir().parents[1]
    )
    assert done.stdout.split() == ["2", "False"], done.stderr


def test_skipped_files_are_named_and_logs_have_no_progress_frames(tmp_path):
    """Off a terminal (stderr to a file) the output has the per-epoch lines and no carriage-return
    frames; the run says which files it skipped and why."""
    from PIL import Image

    for cls, value in (("cats", 40), ("dogs", 200)):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(6):
            Image.new("L", (8, 8), value + i).save(tmp_path / "imgs" / cls / f"{i}.png")
    (tmp_path / "imgs" / "cats" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnope")
    (tmp_path / "imgs" / "dogs" / "notes.txt").write_text("hello")
    result = run_cli(
        DIGITS,
        "--out",
        tmp_path / "runs",
        "--epochs",
        "2",
        "--set",
        "data.source=folder",
        "--set",
        f"data.root={tmp_path / 'imgs'}",
    )
    assert result.returncode == 0, result.stderr
    assert "2 files skipped: cats/broken.png (" in result.stdout
    assert "dogs/notes.txt (not an image file)" in result.stdout
    assert "\r" not in result.stdout + result.stderr
    assert "epoch   2/2" in result.stdout


def test_progress_bar_on_a_terminal(tmp_path):
    import fcntl
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine", str(DIGITS), "--out", str(tmp_path), "--epochs", "2"],
        stdout=subprocess.PIPE,
        stderr=follower,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=300)
    os.close(leader)
    terminal = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0
    assert "epoch 1/2" in terminal and "batch" in terminal and "\r" in terminal
