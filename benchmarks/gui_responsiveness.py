"""The real MainWindow training offscreen with live plots: training time against the same run
headless, GUI-thread timer lateness, achieved plot refresh rate, redraw cost per curve, and how
fast Stop takes effect.

    QT_QPA_PLATFORM=offscreen python -m benchmarks.gui_responsiveness
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PySide6.QtCore import QElapsedTimer, QSettings, Qt, QTimer  # noqa: E402

ROUNDS = 5


def spin(app, until, timeout=300):
    """Run the event loop (as app.exec() would) until ``until()`` holds."""
    from PySide6.QtCore import QEventLoop

    loop = QEventLoop()
    deadline = time.monotonic() + timeout
    check = QTimer()
    check.setInterval(20)
    check.timeout.connect(lambda: loop.quit() if until() or time.monotonic() > deadline else None)
    check.start()
    if not until():
        loop.exec()
    check.stop()


def gui_run(app, w, preset, probe_timer: bool = True) -> dict:
    """Train in the window; measure the time, the paint rate and (with ``probe_timer``) a
    precise 5 ms timer's lateness. The probe needs the GIL 200 times a second, which slows the
    training thread by itself, so the training-time rounds run without it."""
    lateness, clock = [], QElapsedTimer()
    probe = QTimer()
    probe.setTimerType(Qt.TimerType.PreciseTimer)
    probe.setInterval(5)
    last = [0]

    def tick():
        now = clock.nsecsElapsed() / 1e6
        lateness.append(max(0.0, now - last[0] - 5.0))
        last[0] = now

    probe.timeout.connect(tick)
    w.editor.show(preset)
    # the preset's data inspection, model summary and LR preview settle first, as they do
    # between opening a preset and pressing Start
    spin(app, lambda: not w._inspect_timer.isActive() and w.jobs.idle(), 60)
    paints0 = w.run_view.paints
    clock.start()
    if probe_timer:
        probe.start()
    start = time.perf_counter()
    w.start()
    spin(app, lambda: not w.session.is_active())
    seconds = time.perf_counter() - start
    probe.stop()
    return {"seconds": seconds, "lateness": lateness[1:], "paints": w.run_view.paints - paints0}


def headless_run(preset, threads: int) -> float:
    import torch

    from engine.trainer import Trainer

    torch.set_num_threads(threads)
    start = time.perf_counter()
    Trainer(preset, out=tempfile.mkdtemp()).fit()
    return time.perf_counter() - start


def redraw_ms(app, points: int) -> tuple[float, float]:
    """Median ms to set the data and repaint: (the loss plot holding one curve of ``points``
    steps, the whole loss plot with its raw and smoothed step curves and per-epoch points)."""
    from workbench.plots.loss_plot import LossPlot
    from workbench.run_history import RunHistory

    class B:  # a BatchEnd stand-in
        def __init__(self, i, loss):
            self.step, self.loss, self.lr = i, loss, 1e-3

    h = RunHistory(steps_per_epoch=100)
    rng = np.random.default_rng(0)
    h.add_batches([B(i + 1, float(v)) for i, v in enumerate(rng.random(points))])
    from engine.events import EpochMetrics, PerClassMetrics

    per_class = PerClassMetrics((1.0,), (1.0,), (1.0,), (1,))
    for epoch in range(1, points // 100 + 1):
        h.add_epoch(
            EpochMetrics(epoch, 0.5, 0.9, 0.6, 0.9, 1e-3, 1.0, 1.0, 1.0, per_class, ((1,),))
        )
    x, y = h.step.view() / 100, h.loss.view()

    def median_ms(plot, draw) -> float:
        plot.resize(600, 400)
        plot.show()
        app.processEvents()
        times = []
        for _ in range(15):
            start = time.perf_counter()
            draw()
            plot.plot.viewport().repaint()
            times.append((time.perf_counter() - start) * 1000)
        plot.close()
        return statistics.median(times)

    one = LossPlot()
    one_ms = median_ms(one, lambda: one.raw.setData(x, y))
    whole = LossPlot()
    whole.show_epochs(h)
    whole_ms = median_ms(whole, lambda: whole.show_history(h))
    return one_ms, whole_ms


def main() -> int:
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tempfile.mkdtemp())
    from engine import preset as presets
    from workbench.app import build_window, start_application
    from workbench.bridge.training_session import training_threads

    app = start_application()
    w = build_window()
    w.settings.set("workspace", tempfile.mkdtemp())
    w.resize(1500, 900)
    w.show()
    spin(app, lambda: w.jobs.idle(), 120)
    digits = presets.load(presets.default_preset_path()).with_changes({"train.device": "cpu"})
    cases = {
        "digits, 15 epochs of ~0.1 s": digits,
        "synthetic 3x32x32 convnet, 4 epochs of ~0.5 s": presets.Preset().with_changes(
            {
                "data.source": "synthetic",
                "data.synthetic.samples": 2500,
                "model.width": 16,
                "train.epochs": 4,
                "train.device": "cpu",
                "name": "synthetic",
            }
        ),
    }
    gui_run(app, w, digits)  # warm-up (torch import on the worker)
    late, paint_rates, ratios = [], [], {}
    for name, preset in cases.items():
        gui, headless_same, headless_all = [], [], []
        for _ in range(ROUNDS):
            r = gui_run(app, w, preset, probe_timer=False)
            gui.append(r["seconds"])
            paint_rates.append(r["paints"] / r["seconds"])
            late += gui_run(app, w, preset)["lateness"]
            headless_same.append(headless_run(preset, training_threads()))
            headless_all.append(headless_run(preset, os.cpu_count() or 2))
        g, hs, ha = (statistics.median(v) for v in (gui, headless_same, headless_all))
        ratios[name] = (g / hs, g / ha)
        print(
            f"{name}: in the window {g:.2f} s; headless with the same {training_threads()} "
            f"training thread(s) {hs:.2f} s; headless with all {os.cpu_count()} threads "
            f"{ha:.2f} s (median of {ROUNDS})"
        )
    p99, worst = np.percentile(late, 99), max(late)
    print(
        f"5 ms precise timer on the GUI thread while training: lateness p99 {p99:.1f} ms, "
        f"worst {worst:.1f} ms over {len(late)} ticks"
    )
    preset = digits
    rate = statistics.median(paint_rates)
    configured = 1000 / w.run_view.paint_timer.interval()
    print(f"plot refresh: {rate:.1f} paints/s of {configured:.0f} configured")
    (r10k, whole10k), (r100k, whole100k) = redraw_ms(app, 10_000), redraw_ms(app, 100_000)
    print(
        f"redraw of one curve: {r10k:.2f} ms at 10k points, {r100k:.2f} ms at 100k points; "
        f"of the whole loss plot (raw and smoothed curves, epoch points, legend): "
        f"{whole10k:.2f} / {whole100k:.2f} ms"
    )
    # Stop: from the action to the training thread ending, against one batch's time
    w.editor.show(preset.with_changes({"train.epochs": 200, "train.batch_size": 64}))
    w.start()
    spin(app, lambda: len(w.run_view.live.step) > 20 if w.run_view.live else False)
    steps = w.run_view.live.step.view()
    start = time.perf_counter()
    w.session.stop()
    w.session.wait(30)
    stop_ms = (time.perf_counter() - start) * 1000
    spin(app, lambda: not w.session.is_active())
    batch_ms = 1000 * 0.1 / 23  # measured below from the run's own rate
    rows = w.run_view.live.epochs
    if rows:
        batch_ms = 1000 * rows[-1]["seconds"] / max(w.run_view.live.steps_per_epoch, 1)
    print(
        f"stop took effect in {stop_ms:.0f} ms; one batch takes {batch_ms:.1f} ms "
        f"({len(steps)} steps had run)"
    )
    for name, (same, every) in ratios.items():
        short = name.split(",")[0]
        print(f"gui_responsiveness[{short} vs headless same threads]: ratio={same:.3f}")
        print(f"gui_responsiveness[{short} vs headless all threads]: ratio={every:.3f}")
    print(f"gui_responsiveness[timer_p99_ms]: value={p99:.1f}")
    print(f"gui_responsiveness[timer_worst_ms]: value={worst:.1f}")
    print(f"gui_responsiveness[refresh_vs_configured]: ratio={rate / configured:.3f}")
    print(f"gui_responsiveness[redraw_10k_ms]: value={r10k:.2f}")
    print(f"gui_responsiveness[redraw_100k_ms]: value={r100k:.2f}")
    print(f"gui_responsiveness[stop_ms_minus_batch]: value={stop_ms - batch_ms:.0f}")
    w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
