"""Runs started from the window train in a child process (``python -m engine.worker``): the
trainer gets every core and its own interpreter, the window never waits on its GIL, and a crash
of the trainer (a segfault in a native library, the kernel's out-of-memory killer) cannot take
the window down. One child is kept ready ahead of time (torch imported), so Start is instant;
a fresh one is made ready after each run. The child's JSON event lines become the same events an
in-process run sends."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from engine import events as ev
from engine import preset as presets
from engine.preset import Preset
from engine.runs import RunFiles
from workbench.bridge.child_runs import LAST_EVENTS, read_events

OOM_EVENTS = Path("/sys/fs/cgroup/memory.events")  # cgroup v2: the kernel's OOM kills
# The trainer's OpenMP threads wait this many spins (a few ms) for work before they sleep
# (libgomp's default: 300,000). The window's process takes a core now and then; a thread that
# slept through it wakes late and every parallel operation waits for it. On 2 cores a process
# using 10 % of one slowed 2-thread training by 1.3-1.45x; spinning longer rides over it, and a
# paused run still sleeps.
OPENMP_SPIN = 3_000_000
# The trainer runs this much nicer than the window: when they want the same core, the window's
# short paints go first (instead of waiting out a trainer thread's time slice, which stalled the
# window for 50-60 ms), and alone on the machine the trainer loses nothing.
TRAINER_NICENESS = 2
# The next child starts loading torch this long after a run ends, not while the window shows the
# end of the run (on 2 cores the import beside the final repaint stalled the window for 45 ms).
PRESTART_DELAY_S = 1.0
# While a child taken unready loads torch, a Stop is looked for this often (only then: a ready
# child hears a Stop through its stdin)
LOAD_POLL_S = 0.05


def worker_threads() -> int:
    """The child trains on every core: the window runs in another process."""
    return os.cpu_count() or 1


class ChildTrainer:
    """Owns the ready child process and runs one training in it at a time."""

    def __init__(self) -> None:
        self._ready: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._closed = False  # the app is closing: no more children
        self.current: subprocess.Popen | None = None  # the child training now
        self.ready_info: dict = {}  # what the last child said when ready (its threads)
        self._shown = ""  # the preset the window shows, as text: each ready child prepares it

    def prestart(self) -> None:
        """Start a child now (in the background) so the next run starts without waiting."""
        with self._lock:
            if self._closed:
                return
            if self._ready is None or self._ready.poll() is not None:
                self._ready = _spawn()
                if self._shown:
                    _send(self._ready, {"cmd": "prepare", "preset": self._shown})

    def prepare(self, preset: Preset) -> None:
        """Have the ready child (and each one after it, until another preset is shown) load
        ``preset``'s data and build its model now, so that its Start begins at the first step
        (``engine.ahead``: nothing slow, and only while nothing on disk changes)."""
        text = presets.dumps(preset)
        with self._lock:
            if text == self._shown:
                return
            self._shown, proc = text, self._ready
            if proc is not None and proc.poll() is None:
                _send(proc, {"cmd": "prepare", "preset": text})

    def _prestart_later(self) -> None:
        timer = threading.Timer(PRESTART_DELAY_S, self.prestart)
        timer.daemon = True
        timer.start()

    def is_ready(self) -> bool:
        """True when a child has loaded torch and waits for a run."""
        proc = self._ready
        return proc is not None and proc.loaded.is_set() and proc.poll() is None

    def _take(self) -> subprocess.Popen:
        with self._lock:
            proc, self._ready = self._ready, None
        if proc is None or proc.poll() is not None:
            proc = _spawn()
        return proc

    def run(self, preset: Preset, workspace, put, control, resume_dir: str | None = None) -> None:
        """Train ``preset`` (or continue ``resume_dir``) in the child; every event goes to
        ``put``; ``control``'s flags are forwarded. Returns at the run's last event (the process
        is closed in the background), or when the child died without one."""
        folder = Path(workspace)
        folder.mkdir(parents=True, exist_ok=True)
        proc = self.current = self._take()
        oom_before = _oom_kills()
        start = {"cmd": "start", "preset": presets.dumps(preset), "out": str(folder)}
        start["resume_dir"] = str(resume_dir) if resume_dir else None
        ended = False
        try:
            _send(proc, start)
            control.listen(_ControlForwarder(proc, control))
            if not _loaded_unless_stopped(proc, control):
                # stopped while the child still loads torch (seconds): nothing has run or been
                # written, so it is ended now rather than waited for
                proc.kill()
                put(ev.RunStopped(ev.RunSummary("stopped", preset.name, "")))
                ended = True
                return
            self.ready_info = proc.info
            run_dir = None
            for event in read_events(proc.stdout):
                if isinstance(event, ev.RunStarted):
                    run_dir = event.run_dir
                put(event)
                if isinstance(event, LAST_EVENTS):
                    ended = True
                    break  # the run's files are complete: the process's exit is not waited on
            if not ended:
                put(_death(proc.wait(), oom_before, run_dir, proc))
        finally:
            self.current = None
            if ended:
                threading.Thread(target=_close, args=(proc,), daemon=True).start()
            else:
                _close(proc)
            self._prestart_later()  # ready for the next run

    def shutdown(self) -> None:
        """End the ready child (the app is closing); a running one is stopped by its run."""
        with self._lock:
            self._closed = True
            proc, self._ready = self._ready, None
        if proc is not None:  # idle, holding nothing: no need to wait for it to load torch
            proc.kill()
            proc.wait()

    def kill_current(self, sig: int = signal.SIGKILL) -> bool:
        """Send ``sig`` to the training child (reliability tests; a hung trainer)."""
        proc = self.current
        if proc is None or proc.poll() is not None:
            return False
        os.kill(proc.pid, sig)
        return True


def _spawn() -> subprocess.Popen:
    err = tempfile.TemporaryFile(mode="w+", prefix="plateau-worker-", errors="replace")
    env = dict(os.environ)
    if "OMP_WAIT_POLICY" not in env:  # a person's own OpenMP settings win
        env.setdefault("GOMP_SPINCOUNT", str(OPENMP_SPIN))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "engine.worker",
            "--threads",
            str(worker_threads()),
            "--nice",
            str(TRAINER_NICENESS),
        ],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=err,  # a file, not a pipe: a full pipe would stall the trainer
        text=True,
        bufsize=1,
    )
    proc.stderr_file = err  # read back when it dies
    proc.loaded, proc.info = threading.Event(), {}

    def first_line() -> None:  # {"worker": "ready", "threads": N} once torch is loaded
        try:
            proc.info.update(json.loads(proc.stdout.readline() or "{}"))
        except (ValueError, TypeError, OSError):
            pass
        finally:
            proc.loaded.set()

    threading.Thread(target=first_line, name="plateau-worker-ready", daemon=True).start()
    return proc


def _loaded_unless_stopped(proc: subprocess.Popen, control) -> bool:
    """Waits until ``proc`` has loaded (True; or ended: its end is read next) or the run was
    stopped first (False)."""
    while not proc.loaded.wait(LOAD_POLL_S):
        if control.stopped:
            return False
    return True


def _send(proc: subprocess.Popen, message: dict) -> None:
    try:
        proc.stdin.write(json.dumps(message) + "\n")
        proc.stdin.flush()
    except (BrokenPipeError, OSError, ValueError):
        pass  # it died: its end of stdout says so


class _ControlForwarder:
    """Sends the run's pause, resume and stop to the child as they happen (a listener on its
    :class:`RunControl`, called by whoever pressed them; nothing polls the flags)."""

    def __init__(self, proc: subprocess.Popen, control):
        self.proc, self.control = proc, control
        self.paused = self.stopped = False
        self.lock = threading.Lock()

    def __call__(self) -> None:
        with self.lock:
            if self.stopped or self.proc.poll() is not None:
                return
            if self.control.stopped:
                _send(self.proc, {"cmd": "stop"})
                self.stopped = True
            elif self.control.paused != self.paused:
                self.paused = self.control.paused
                _send(self.proc, {"cmd": "pause" if self.paused else "resume"})


def _close(proc: subprocess.Popen) -> None:
    try:
        proc.stdin.close()  # end of input: an idle child exits, a running one stops cleanly
    except OSError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    try:
        proc.stdout.close()
    except OSError:
        pass


def _memory_events() -> Path:
    """This process's cgroup (v2) ``memory.events``: the kernel counts its OOM kills there."""
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                return OOM_EVENTS.parent / line[3:].strip("/") / "memory.events"
    except OSError:
        pass
    return OOM_EVENTS


def _oom_kills() -> int:
    try:
        for line in _memory_events().read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == "oom_kill":
                return int(value)
    except (OSError, ValueError):
        pass
    return -1


def _death(code: int, oom_before: int, run_dir: str | None, proc):
    """The event for a child that ended without saying how its run ended: a failed run, unless
    it exited cleanly and its summary says how the run ended."""
    if code == 0 and run_dir:  # its last event was lost, not its run: trust what it wrote
        summary = RunFiles(run_dir).read_summary()
        if summary is not None and summary.status in ("finished", "stopped"):
            ended = ev.RunFinished if summary.status == "finished" else ev.RunStopped
            return ended(summary)
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:  # a real-time signal has no name
            name = f"signal {-code}"
        error = f"the training process was killed by {name}"
        if -code == signal.SIGKILL and oom_before >= 0 and _oom_kills() > oom_before:
            error += " — out of memory: the kernel's out-of-memory killer ended it"
            hint = "use a smaller train.batch_size or data.image_size, or close other programs"
        else:
            hint = "something outside Plateau ended the process (a signal, the system)"
    else:
        proc.stderr_file.seek(0)
        lines = [line for line in proc.stderr_file.read().splitlines() if line.strip()]
        error = f"the training process ended with exit code {code}: " + (
            lines[-1] if lines else "no message"
        )
        hint = "run the same preset with plateau-train to see the whole output"
    if run_dir:
        if RunFiles(run_dir).last_checkpoint.exists():
            hint += "; the last finished epoch is kept — Resume continues from it"
        return ev.RunFailed(error, hint, _mark_failed(run_dir, error, hint))
    return ev.RunFailed(error, hint, ev.RunSummary.failed_before_start(error, hint))


def _mark_failed(run_dir: str, error: str, hint: str) -> ev.RunSummary:
    """Record in the run's ``summary.json`` that it failed (the child could not)."""
    files = RunFiles(run_dir)
    summary = files.read_summary()
    if summary is None:
        return ev.RunSummary.failed_before_start(error, hint)
    failed = dataclasses.replace(summary, status="failed", error=error, hint=hint)
    try:
        files.write_summary(failed)
    except OSError:
        pass
    return failed
