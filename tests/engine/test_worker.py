"""The app's training process (``python -m engine.worker``): ready before any run, one run from
a start line on stdin, its events as JSON lines on stdout, control lines acted on, and a clean
stop when its input ends (the app closed)."""

from __future__ import annotations

import json
import subprocess
import sys

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
