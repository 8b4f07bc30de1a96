"""The app's training process (``python -m engine.worker``): ready before any run, one run from
a start line on stdin, its events as JSON lines on stdout, control lines acted on, and a clean
stop when its input ends (the app closed)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from engine import events as ev
from engine import preset as presets
from engine.runs import RunFiles
from tests.conftest import tiny_preset


def _worker() -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "engine.worker", "--threads", "2"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _send(proc, **message) -> None:
    proc.stdin.write(json.dumps(message) + "\n")
    proc.stdin.flush()


def test_one_run_streams_its_events_and_the_process_ends(tmp_path):
    proc = _worker()
    assert json.loads(proc.stdout.readline()) == {"worker": "ready", "threads": 2}
    preset = tiny_preset(**{"train.epochs": 2})
    _send(proc, cmd="start", preset=presets.dumps(preset), out=str(tmp_path), resume_dir=None)
    events = [ev.from_json(json.loads(line)) for line in proc.stdout]
    assert proc.wait(timeout=60) == 0
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] in ("Preparing", "RunStarted") and kinds[-1] == "RunFinished"
    assert kinds.count("EpochEnd") == 2 and "BatchEnd" in kinds
    assert RunFiles(events[-1].summary.run_dir).read_summary().status == "finished"


def test_stop_and_end_of_input_stop_the_run_cleanly(tmp_path):
    proc = _worker()
    proc.stdout.readline()
    preset = tiny_preset(**{"train.epochs": 500})
    _send(proc, cmd="start", preset=presets.dumps(preset), out=str(tmp_path), resume_dir=None)
    for line in proc.stdout:
        if isinstance(ev.from_json(json.loads(line)), ev.EpochEnd):
            break
    proc.stdin.close()  # the app went away
    last = [ev.from_json(json.loads(line)) for line in proc.stdout][-1]
    assert proc.wait(timeout=60) == 0
    assert isinstance(last, ev.RunStopped) and last.summary.status == "stopped"
    assert RunFiles(last.summary.run_dir).last_checkpoint.exists()


def test_a_bad_preset_is_a_failed_run_not_a_traceback(tmp_path):
    proc = _worker()
    proc.stdout.readline()
    _send(proc, cmd="start", preset="[train]\nepochs = -3\n", out=str(tmp_path), resume_dir=None)
    (line,) = proc.stdout.readlines()
    failed = ev.from_json(json.loads(line))
    assert proc.wait(timeout=60) == 1
    assert isinstance(failed, ev.RunFailed) and "train.epochs" in failed.error


def test_no_run_asked_for_ends_quietly():
    proc = _worker()
    proc.stdout.readline()
    proc.stdin.close()
    assert proc.wait(timeout=60) == 0 and proc.stdout.read() == ""


def test_an_app_that_goes_away_mid_run_leaves_a_stopped_resumable_run(tmp_path):
    proc = _worker()
    proc.stdout.readline()
    preset = tiny_preset(**{"train.epochs": 500})
    _send(proc, cmd="start", preset=presets.dumps(preset), out=str(tmp_path), resume_dir=None)
    run_dir = None
    for line in proc.stdout:
        event = ev.from_json(json.loads(line))
        run_dir = getattr(event, "run_dir", run_dir)
        if isinstance(event, ev.EpochEnd):
            break
    proc.stdout.close()  # the window's end of the event pipe is gone; its stdin stays open
    assert proc.wait(timeout=60) == 0
    files = RunFiles(run_dir)
    assert files.read_summary().status == "stopped" and files.last_checkpoint.exists()


def test_step_losses_go_out_in_bursts_and_everything_else_at_once(monkeypatch):
    """Each line wakes the app's process: step losses wait for the next burst (half a second
    apart, as the app repaints its step curves), any other event sends them all at once, and so
    does a pause (a paused run shows every step it took)."""
    import io

    from engine import worker
    from engine.control import RunControl

    clock = [100.0]
    monkeypatch.setattr(worker.time, "monotonic", lambda: clock[0])
    out, control = io.StringIO(), RunControl()
    lines = worker.EventLines(out, control)
    control.listen(lambda: lines.flush() if control.paused else None)

    def sent() -> list[str]:
        return [json.loads(line)["event"] for line in out.getvalue().splitlines()]

    batch = {"event": "BatchEnd"}
    lines.send(batch, batch=True)  # the first goes at once (nothing went out for a while)
    clock[0] += 0.1
    lines.send(batch, batch=True)
    lines.send(batch, batch=True)
    assert sent() == ["BatchEnd"]
    lines.send({"event": "EpochEnd"})
    assert sent() == ["BatchEnd"] * 3 + ["EpochEnd"]
    clock[0] += 0.1
    lines.send(batch, batch=True)
    clock[0] += worker.BATCH_FLUSH_S  # a burst's interval after the last one
    lines.send(batch, batch=True)
    assert sent()[-2:] == ["BatchEnd", "BatchEnd"]
    clock[0] += 0.1
    lines.send(batch, batch=True)
    control.pause()
    assert len(sent()) == 7


def test_the_app_hears_of_pause_resume_and_stop_as_they_happen():
    from engine.control import RunControl

    heard = []
    control = RunControl()
    control.pause()
    control.listen(lambda: heard.append((control.paused, control.stopped)))
    assert heard == [(True, False)]  # a listener hears how things stand when it starts
    control.resume()
    control.stop()
    assert heard == [(True, False), (False, False), (False, True)]


def _run(proc, preset_text: str, out) -> list:
    _send(proc, cmd="start", preset=preset_text, out=str(out), resume_dir=None)
    events = [ev.from_json(json.loads(line)) for line in proc.stdout]
    assert proc.wait(timeout=60) == 0
    return events


def _losses(events) -> list[float]:
    return [e.metrics.train_loss for e in events if isinstance(e, ev.EpochEnd)]


def test_the_shown_preset_is_prepared_before_start_and_trains_as_it_would_have(tmp_path):
    """The app sends the preset it shows; the child loads its data and builds its model while
    nobody waits. Started, that run is the very run an unprepared child trains."""
    text = presets.dumps(tiny_preset(**{"train.epochs": 3, "model.dropout": 0.3}))
    other = presets.dumps(tiny_preset(**{"train.epochs": 1, "name": "other"}))
    prepared = _worker()
    _send(prepared, cmd="prepare", preset=other)
    _send(prepared, cmd="prepare", preset=text)  # the last one shown counts
    prepared.stdout.readline()
    time.sleep(1.0)  # a moment before Start, as a person takes
    events = _run(prepared, text, tmp_path / "a")
    assert "the run was prepared" in prepared.stderr.read()
    assert events[0].preset["name"] != "other"

    plain = _worker()
    plain.stdout.readline()
    assert _losses(events) == _losses(_run(plain, text, tmp_path / "b"))  # same seed, same run
    assert len(_losses(events)) == 3


def test_a_preparation_is_not_used_for_another_preset_or_a_changed_folder(tmp_path):
    from PIL import Image

    from engine.data import load_data

    root = tmp_path / "photos"
    for c, value in (("cats", 30), ("dogs", 220)):
        (root / c).mkdir(parents=True)
        for i in range(6):
            Image.new("RGB", (16, 16), (value, i * 20, 90)).save(root / c / f"{i}.png")
    preset = tiny_preset(
        **{
            "data.source": "folder",
            "data.root": str(root),
            "data.cache_dir": str(tmp_path / "cache"),
            "data.image_size": 8,
            "train.epochs": 1,
        }
    )
    load_data(preset)  # decoded, as the Data tab leaves it: quick to prepare
    text = presets.dumps(preset)

    proc = _worker()
    _send(proc, cmd="prepare", preset=text)
    proc.stdout.readline()
    time.sleep(1.0)
    Image.new("RGB", (16, 16), (30, 200, 90)).save(root / "cats" / "new.png")  # after it
    events = _run(proc, text, tmp_path / "runs")
    assert "prepared" not in proc.stderr.read()
    started = next(e for e in events if isinstance(e, ev.RunStarted))
    assert sum(started.data_stats["train_counts"] + started.data_stats["val_counts"]) == 13

    proc = _worker()
    _send(proc, cmd="prepare", preset=text)
    proc.stdout.readline()
    time.sleep(1.0)
    changed = presets.dumps(preset.with_changes({"train.optimizer.lr": 0.01}))
    events = _run(proc, changed, tmp_path / "runs")
    assert "prepared" not in proc.stderr.read()
    assert events[-1].summary.status == "finished"
