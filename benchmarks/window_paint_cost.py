"""What the window's live painting costs a run: the real MainWindow trains the built-in digits
preset with its plots painted as usual and with the live paint suppressed, alternated round by
round, against a fresh headless run (as ``plateau-train``) in each round.

    QT_QPA_PLATFORM=offscreen python -m benchmarks.window_paint_cost [--rounds 14]

The painted ÷ unpainted paired median is the window's own cost to the trainer; the spread of
each against the fresh headless run shows how much of the app ÷ headless figure of
``benchmarks.gui_responsiveness`` this machine's run-to-run noise can move.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings  # noqa: E402

from benchmarks.gui_responsiveness import (  # noqa: E402
    fresh_headless_run,
    open_window,
    paired_interval,
    ready_to_start,
    until_run_ends,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.window_paint_cost")
    parser.add_argument("--rounds", type=int, default=14)
    opts = parser.parse_args(argv)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tempfile.mkdtemp())
    from engine import preset as presets
    from workbench.app import start_application

    app = start_application()
    w = open_window(app)
    digits = presets.load(presets.default_preset_path()).with_changes({"train.device": "cpu"})
    w.editor.show(digits)
    schedule = w.run_view.schedule  # what the paint timer and a run's end repaint through

    def window_run(painted: bool) -> float:
        ready_to_start(app, w)
        if not painted:
            schedule.paint = lambda *args, **kwargs: None
        start = time.perf_counter()
        w.start()
        until_run_ends(w)
        seconds = time.perf_counter() - start
        vars(schedule).pop("paint", None)
        return seconds

    window_run(True)  # warm-up
    runs: dict[str, list[float]] = {"painted": [], "unpainted": [], "fresh": []}
    for round_ in range(opts.rounds):
        order = ("painted", "unpainted") if round_ % 2 else ("unpainted", "painted")
        for kind in order:  # alternated: what ran just before moves a run by ±5 % here
            runs[kind].append(window_run(kind == "painted"))
        ready_to_start(app, w)
        runs["fresh"].append(fresh_headless_run(digits, os.cpu_count() or 2))
        print(f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in runs.items()))

    def paired(a: str, b: str) -> tuple[float, float, float]:
        ratios = [x / y for x, y in zip(runs[a], runs[b], strict=True)]
        return (statistics.median(ratios), *paired_interval(ratios))

    for a, b in (("painted", "unpainted"), ("painted", "fresh"), ("unpainted", "fresh")):
        median, low, high = paired(a, b)
        print(
            f"window_paint_cost[{a} vs {b}]: ratio={median:.3f} "
            f"(90 % interval of the paired median {low:.3f}-{high:.3f}, {opts.rounds} rounds)"
        )
    w.editor.ask_unsaved = lambda: "discard"  # no dialog: nobody is there to answer it
    w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
