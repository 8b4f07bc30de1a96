"""Soak test: open the real window in N fresh processes, train a short preset with live plots,
close; count crashes (any non-zero exit, abort or signal). Not part of the test run.

    python -m benchmarks.soak [N]       # default 50; QT_QPA_PLATFORM=offscreen is set
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import os, sys, time
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, sys.argv[1])
from workbench.app import build_window, start_application
from engine import preset
app = start_application()
w = build_window()
w.settings.set("workspace", sys.argv[2])
w.show()
w.editor.show(preset.load(preset.default_preset_path()).with_changes({"train.epochs": 3}))
w.start()
deadline = time.monotonic() + 120
while w.session.is_active() and time.monotonic() < deadline:
    app.processEvents()
    time.sleep(0.005)
status = "finished" if not w.session.is_active() else "timeout"
w.editor.ask_unsaved = lambda: "discard"  # the shown preset is unsaved: no dialog to answer
w.close()
app.processEvents()
print(status, w.run_view.paints)
sys.exit(0 if status == "finished" else 3)
"""


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    crashes, started = [], time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(n):
            result = subprocess.run(
                [sys.executable, "-c", CHILD, f"{tmp}/qs{i}", f"{tmp}/runs"],
                capture_output=True,
                text=True,
                env=env,
                timeout=300,
            )
            ok = result.returncode == 0 and result.stdout.startswith("finished")
            if not ok:
                crashes.append((i, result.returncode, result.stderr.strip()[-300:]))
            print(f"run {i + 1}/{n}: exit {result.returncode} {result.stdout.strip()}", flush=True)
    for i, code, err in crashes:
        print(f"crash in run {i + 1}: exit {code}: {err}")
    print(f"{n} windows, {len(crashes)} crashes, {time.perf_counter() - started:.0f} s")
    print(f"soak: crashes={len(crashes)} runs={n}")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
