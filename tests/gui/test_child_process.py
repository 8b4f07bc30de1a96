"""Runs started from the window train in a child process: every core, pause/resume/stop within a
batch, a clean stop when the window closes, and a child that dies leaves the window up with a
failed run whose last checkpoint resumes."""

from __future__ import annotations

import os
import signal
import time

from engine import preset as presets
from engine.runs import RunFiles
from engine.training.speed import x86_cpu
from tests.gui.conftest import digits_preset
from workbench.bridge.child_trainer import TRAINER_NICENESS

RUN_TIMEOUT_MS = 180_000


def _start(window, qtbot, tmp_path, **changes):
    window.load_preset(digits_preset(tmp_path, **changes))
    started = []
    window.session.started.connect(started.append)
    window.actions["actionStart"].trigger()
    qtbot.waitUntil(lambda: bool(started), timeout=RUN_TIMEOUT_MS)
    return started[0]


def _batches(window) -> list:
    seen = []
    window.session.batches.connect(seen.extend)
    return seen


def test_the_run_trains_in_a_ready_child_process_on_every_core(window, qtbot, tmp_path):
    window.session.prestart()
    ready = window.session.child._ready
    assert ready is not None and ready.pid != os.getpid()
    if hasattr(os, "getpriority"):  # nicer than the window: its paints go first on a busy core
        qtbot.waitUntil(window.session.child.is_ready, timeout=60_000)
        mine = os.getpriority(os.PRIO_PROCESS, 0)
        assert os.getpriority(os.PRIO_PROCESS, ready.pid) == min(mine + TRAINER_NICENESS, 19)
    event = _start(window, qtbot, tmp_path, **{"name": "child", "train.epochs": 2})
    assert window.session.child.current is ready  # Start took the process made ready before
    assert window.run_view.paint_timer.isActive()  # the live plots repaint while it trains …
    with qtbot.waitSignal(window.session.finished, timeout=RUN_TIMEOUT_MS) as done:
        pass
    assert not window.run_view.paint_timer.isActive()  # … and an idle window does not wake
    assert done.args[0].status == "finished" and done.args[0].run_dir == event.run_dir
    assert window.session.child.ready_info["threads"] == (os.cpu_count() or 1)
    qtbot.waitUntil(lambda: ready.poll() is not None, timeout=10_000)  # one run per process …
    qtbot.waitUntil(lambda: window.session.child._ready is not None, timeout=10_000)
    assert window.session.child._ready.pid != ready.pid  # … and the next one is made ready
    assert window.status.text("state") == "finished"
    layout = "channels-last · " if x86_cpu() else ""
    assert window.status.text("device").startswith(f"device: cpu · fp32 · {layout}eager")


def test_the_preset_shown_is_prepared_in_the_ready_child_before_start(window, qtbot, tmp_path):
    """Once the Data and Model tabs show a preset, the ready child loads its data and builds its
    model; Start then begins at the first step. An edit sends the edited preset instead."""
    child = window.session.child
    window.session.prestart()
    window.load_preset(digits_preset(tmp_path, **{"name": "ahead", "train.epochs": 1}))
    shown = presets.dumps(window.current_preset())
    qtbot.waitUntil(lambda: child._shown == shown, timeout=60_000)  # once its tabs are filled
    window.training_form.widgets["train.epochs"].setValue(2)
    qtbot.waitUntil(lambda: "epochs = 2" in child._shown, timeout=60_000)
    qtbot.waitUntil(child.is_ready, timeout=60_000)
    ready = child._ready
    qtbot.wait(1000)  # a moment, as a person takes before pressing Start
    with qtbot.waitSignal(window.session.finished, timeout=RUN_TIMEOUT_MS) as done:
        window.actions["actionStart"].trigger()
    assert done.args[0].status == "finished" and done.args[0].epochs_completed == 2
    ready.stderr_file.seek(0)
    assert "the run was prepared" in ready.stderr_file.read()


def test_pause_resume_and_stop_act_within_a_batch(window, qtbot, tmp_path):
    seen = _batches(window)
    _start(window, qtbot, tmp_path, **{"train.epochs": 30, "train.batch_size": 8})
    qtbot.waitUntil(lambda: len(seen) > 5, timeout=RUN_TIMEOUT_MS)
    window.actions["actionPause"].trigger()
    qtbot.wait(600)  # the pause reaches the child and the batch in flight ends
    paused_at = len(seen)
    qtbot.wait(800)
    assert len(seen) - paused_at <= 1, "batches went on while paused"
    assert window.status.text("state") == "paused"
    window.actions["actionPause"].trigger()  # again: resume
    qtbot.waitUntil(lambda: len(seen) > paused_at + 3, timeout=30_000)
    with qtbot.waitSignal(window.session.stopped, timeout=30_000) as stopped:
        window.actions["actionStop"].trigger()
    summary = stopped.args[0]
    assert summary.status == "stopped"
    assert RunFiles(summary.run_dir).last_checkpoint.exists()  # resumable


def test_a_killed_training_process_leaves_the_window_up_and_the_run_resumable(
    window, qtbot, tmp_path
):
    ended = []
    window.session.epoch_ended.connect(ended.append)
    event = _start(window, qtbot, tmp_path, **{"train.epochs": 40, "train.batch_size": 8})
    qtbot.waitUntil(lambda: len(ended) >= 2, timeout=RUN_TIMEOUT_MS)
    time.sleep(0.1)  # into the next epoch
    with qtbot.waitSignal(window.session.failed, timeout=30_000) as failed:
        assert window.session.child.kill_current(signal.SIGKILL)
    error, hint, summary = failed.args
    assert "killed by SIGKILL" in error and "Resume continues from it" in hint
    assert summary.status == "failed" and summary.run_dir == event.run_dir
    assert window.isVisible() and "killed by SIGKILL" in window.banner.text()
    recorded = RunFiles(event.run_dir).read_summary()
    assert recorded.status == "failed" and "SIGKILL" in recorded.error
    done = recorded.epochs_completed
    assert done >= 2
    # Resume from the run list's run: it continues from the last checkpoint and finishes.
    window.run_list.select(event.run_dir)
    resumed = []
    window.session.started.connect(resumed.append)
    window.commands.resume(event.run_dir, epochs=done + 1)
    with qtbot.waitSignal(window.session.finished, timeout=RUN_TIMEOUT_MS) as finished:
        pass
    assert resumed[-1].start_epoch == done
    assert finished.args[0].epochs_completed == done + 1


def test_closing_the_window_stops_the_child_and_keeps_the_run_resumable(window, qtbot, tmp_path):
    ended = []
    window.session.epoch_ended.connect(ended.append)
    event = _start(window, qtbot, tmp_path, **{"train.epochs": 40, "train.batch_size": 8})
    qtbot.waitUntil(lambda: len(ended) >= 1, timeout=RUN_TIMEOUT_MS)
    child = window.session.child.current
    window.close()
    qtbot.waitUntil(lambda: child.poll() is not None, timeout=10_000)  # it ends with the window
    summary = RunFiles(event.run_dir).read_summary()
    assert summary.status == "stopped" and RunFiles(event.run_dir).last_checkpoint.exists()


def test_a_child_the_kernel_killed_for_memory_is_reported_as_out_of_memory(tmp_path, monkeypatch):
    import io

    from engine.events import RunSummary
    from workbench.bridge import child_trainer

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.pt").write_bytes(b"x")
    RunFiles(run).write_summary(RunSummary("running", "r", str(run), epochs_completed=3))

    class Dead:
        stderr_file = io.StringIO("Traceback ...\nRuntimeError: a native library crashed\n")

    kills = iter([4, 5])
    monkeypatch.setattr(child_trainer, "_oom_kills", lambda: next(kills))
    before = child_trainer._oom_kills()
    failed = child_trainer._death(-signal.SIGKILL, before, str(run), Dead())
    assert "killed by SIGKILL — out of memory" in failed.error
    assert "smaller train.batch_size" in failed.hint and "Resume continues" in failed.hint
    assert RunFiles(run).read_summary().status == "failed"
    crashed = child_trainer._death(-signal.SIGSEGV, -1, None, Dead())
    assert "killed by SIGSEGV" in crashed.error and crashed.summary.status == "failed"
    exited = child_trainer._death(3, -1, None, Dead())
    assert exited.error.endswith("exit code 3: RuntimeError: a native library crashed")


def test_closing_the_app_ends_the_ready_process_at_once():
    from workbench.bridge.child_trainer import ChildTrainer

    child = ChildTrainer()
    child.prestart()
    ready = child._ready
    started = time.monotonic()
    child.shutdown()  # while it is still loading torch
    assert ready.poll() is not None and time.monotonic() - started < 2
    child.prestart()  # a run ending after the close makes no new one
    assert child._ready is None


def test_a_run_stopped_while_its_child_loads_ends_at_once(tmp_path):
    """Start then Stop before the child has loaded torch (3-10 s on 2 busy cores): nothing has
    run, so the child is ended and the run reported stopped, instead of the worker thread
    waiting for the load (it outlived the Stop by up to 10 s)."""
    import threading

    from engine import events as ev
    from engine.control import RunControl
    from engine.preset import Preset
    from workbench.bridge.child_trainer import ChildTrainer

    child, control, seen = ChildTrainer(), RunControl(), []
    child._closed = True  # no ready child is made after the run (none to clean up)
    worker = threading.Thread(target=child.run, args=(Preset(), tmp_path, seen.append, control))
    worker.start()
    time.sleep(0.2)  # a child is spawned and starts loading torch
    taken = child.current
    assert taken is not None and not taken.loaded.is_set()
    stopped = time.monotonic()
    control.stop()
    worker.join(10)
    assert not worker.is_alive() and time.monotonic() - stopped < 2
    assert [type(e) for e in seen] == [ev.RunStopped] and seen[0].summary.run_dir == ""
    assert taken.wait(5) is not None and not list(tmp_path.iterdir())  # ended; nothing written
