"""A training process for the app: started ahead of time (torch imported, threads set to every
core), it waits for one run on stdin, trains it, and streams the run's events as JSON lines on
stdout — the same lines as ``plateau-train --json``.

Protocol (one JSON object per line):
- stdout, first: ``{"worker": "ready", "threads": N}`` once torch is loaded and warmed up;
- stdin: any number of ``{"cmd": "prepare", "preset": "<TOML text>"}`` (the preset the app
  shows: its data and model are made ready while nobody waits, see
  :mod:`engine.ahead`), then
  ``{"cmd": "start", "preset": "<TOML text>", "out": DIR, "resume_dir": DIR|null}``, then
  any of ``{"cmd": "pause"}``, ``{"cmd": "resume"}``, ``{"cmd": "stop"}`` (acted on between two
  batches); end of stdin (the app closed or died) stops the run cleanly, last checkpoint kept;
- stdout: one line per event (``engine.events.to_json``); the process exits after the run.

    python -m engine.worker [--threads N] [--nice N]
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.ahead import PreparedRun

# Step losses (``BatchEnd``) go out in bursts this far apart — the app repaints its step curves
# twice a second while training — and every other event at once. Each line wakes the app's
# process, and on a busy 2-core machine every wakeup is time taken from the trainer's threads.
BATCH_FLUSH_S = 0.5


class EventLines:
    """The run's events as JSON lines on ``out``. When the app is gone (closed or died), the run
    stops cleanly instead of failing on the broken pipe."""

    def __init__(self, out, control):
        self.out, self.control = out, control
        self.lock = threading.Lock()
        self.pending: list[str] = []
        self.flushed_at = 0.0
        self.gone = False

    def send(self, obj: dict, batch: bool = False) -> None:
        """One event; a ``batch`` one may wait for the next burst."""
        with self.lock:
            self.pending.append(json.dumps(obj) + "\n")
            if not batch or time.monotonic() - self.flushed_at >= BATCH_FLUSH_S:
                self._flush()

    def flush(self) -> None:
        with self.lock:
            self._flush()

    def _flush(self) -> None:
        lines, self.pending = self.pending, []
        self.flushed_at = time.monotonic()
        if self.gone or not lines:
            return
        try:
            self.out.write("".join(lines))
            self.out.flush()
        except (BrokenPipeError, OSError, ValueError):
            self.gone = True
            self.control.stop()


def _commands(control, inbox: queue.Queue) -> None:
    """Reads stdin: prepare lines and the start line go to ``inbox`` (the main thread's), then
    pause/resume/stop act on the run; end of input stops the run (``None`` in ``inbox``)."""
    started = False
    for line in sys.stdin:
        try:
            message = json.loads(line)
        except ValueError:
            continue
        cmd = message.get("cmd")
        if cmd in ("prepare", "start") and not started:
            started = cmd == "start"
            inbox.put(message)
        elif cmd == "pause":
            control.pause()
        elif cmd == "resume":
            control.resume()
        elif cmd == "stop":
            control.stop()
    control.stop()
    inbox.put(None)  # no run was asked for: the process ends


def _next_start(inbox: queue.Queue) -> tuple[dict | None, PreparedRun | None]:
    """Waits for the start line (None: input ended), preparing the last preset the app showed
    while it waits (a preparation that a newer line already replaces is skipped)."""
    from engine.ahead import prepare_ahead

    prepared = None
    while True:
        message = inbox.get()
        if message is None or message["cmd"] == "start":
            return message, prepared
        if inbox.empty():
            prepared = None  # the one before is let go first: one preset's memory at a time
            prepared = prepare_ahead(message["preset"])


def _warm_up(torch) -> None:
    """Pay now, while nobody waits, what a fresh process pays on its first run: the imports an
    optimizer and the built-in digits pull in (torch._dynamo, scikit-learn: 1.6 s and 1.2 s on
    2 cores) and the first convolution's backward."""
    import torchvision  # noqa: F401 - models and datasets

    try:
        import sklearn.datasets  # noqa: F401 - the built-in digits
    except ImportError:
        pass
    weight = torch.randn(4, 3, 3, 3, requires_grad=True)
    optimizer = torch.optim.AdamW([weight], lr=1e-3)
    torch.nn.functional.conv2d(torch.randn(8, 3, 16, 16), weight).relu().mean().backward()
    optimizer.step()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.worker")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--nice", type=int, default=0, help="lower this process's priority by N")
    args = parser.parse_args(argv)
    if args.nice and hasattr(os, "nice"):  # the app's window goes first on a busy core
        os.nice(args.nice)
    # The events go out on a copy of fd 1; fd 1 itself (and sys.stdout) now lead to stderr, so
    # nothing else — a print, native code, a compiler subprocess — can garble the event stream.
    sys.stdout.flush()
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    import torch

    from engine import events as ev
    from engine import preset as presets
    from engine.control import RunControl
    from engine.failures import explain
    from engine.trainer import Trainer

    torch.set_num_threads(max(1, args.threads))
    _warm_up(torch)
    control, inbox = RunControl(), queue.Queue()
    lines = EventLines(out, control)
    control.listen(lambda: lines.flush() if control.paused else None)  # a paused run shows all
    threading.Thread(
        target=_commands, args=(control, inbox), name="plateau-commands", daemon=True
    ).start()
    lines.send({"worker": "ready", "threads": torch.get_num_threads()})
    start, prepared = _next_start(inbox)
    if start is None:
        return 0
    try:
        trainer = prepared.take(start) if prepared else None
        if trainer is None:
            prepared = None  # not this run's: its memory goes before the run loads its own
            preset = presets.loads(start["preset"])
            trainer = Trainer(preset, control=control, resume_dir=start.get("resume_dir"))
        else:
            seconds = time.monotonic() - prepared.at
            print(f"plateau worker: the run was prepared {seconds:.1f} s before Start")
            trainer.control = control
        trainer.out = Path(start["out"])
        trainer.fit(lambda event: lines.send(ev.to_json(event), isinstance(event, ev.BatchEnd)))
    except Exception as exc:  # noqa: BLE001 - bad input or a bug: reported as a failed run
        message, hint = explain(exc)
        summary = ev.RunSummary.failed_before_start(message, hint)
        lines.send(ev.to_json(ev.RunFailed(message, hint, summary)))
        return 1
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # every file of the run is written and synced: skip torch's slow teardown
