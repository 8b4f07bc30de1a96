"""Runs on several local processes, started from the app: ``plateau-train --json`` relaunches
itself under torchrun, and its JSON event lines become the same events a local run sends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from engine import events as ev
from engine import preset as presets
from engine.preset import Preset

LAST_EVENTS = (ev.RunFinished, ev.RunStopped, ev.RunFailed)  # how a run's event stream ends


def read_events(lines):
    """The events of a run's JSON lines (``plateau-train --json``, the app's worker); lines that
    are not events (a stray print) are passed over."""
    for line in lines:
        try:
            yield ev.from_json(json.loads(line))
        except (ValueError, KeyError, TypeError):
            continue


def run_processes(preset: Preset, workspace, put, control, resume_dir: str | None = None) -> None:
    """Train ``preset`` (or continue ``resume_dir``) on ``train.processes`` processes; every
    event goes to ``put``; the run's flags in ``control`` stop it (Ctrl-C to torchrun)."""
    folder = Path(workspace)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="plateau-") as tmp:
        preset_file, log = Path(tmp) / "preset.toml", Path(tmp) / "stderr.txt"
        presets.save(preset, preset_file)
        if resume_dir:
            command = ["resume", str(resume_dir), "--epochs", str(preset.train.epochs)]
        else:
            command = [str(preset_file), "--out", str(folder)]
        with open(log, "w") as err:  # a file, not a pipe: a full pipe would stall the ranks
            proc = subprocess.Popen(
                [sys.executable, "-m", "engine", *command, "--json"],
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                start_new_session=True,
            )

        def watch() -> None:
            while proc.poll() is None:
                if control.stopped:
                    os.killpg(proc.pid, signal.SIGINT)  # torchrun stops every rank cleanly
                    return
                control.wait_while_paused()
                time.sleep(0.1)

        threading.Thread(target=watch, name="plateau-processes", daemon=True).start()
        ended = False
        for event in read_events(proc.stdout):
            ended = ended or isinstance(event, LAST_EVENTS)
            put(event)
        code = proc.wait()
        if not ended:
            reason = [line for line in log.read_text().splitlines() if line.strip()]
            error = f"the {preset.train.processes}-process run ended with exit code {code}: " + (
                reason[-1] if reason else "no message"
            )
            hint = "run the same preset with plateau-train to see the whole output"
            put(ev.RunFailed(error, hint, ev.RunSummary.failed_before_start(error, hint)))
