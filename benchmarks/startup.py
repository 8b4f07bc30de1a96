"""Start-up: launching the app until its window is shown, against ``python -c "import torch"``,
both as fresh processes from this one, interleaved, median of 5 (after a warm-up of each).

    python -m benchmarks.startup
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

SHOW = r"""
import sys
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, sys.argv[1])
from workbench.app import build_window, start_application
app = start_application()
w = build_window()
w.show()
app.processEvents()
print("shown", "torch" in sys.modules and hasattr(sys.modules["torch"], "nn"), flush=True)
"""


def window_shown(settings: str) -> tuple[float, str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", SHOW, settings], stdout=subprocess.PIPE, text=True, env=env
    )
    line = proc.stdout.readline()
    elapsed = time.perf_counter() - start
    proc.kill()
    proc.wait()
    return elapsed, line.strip()


def import_torch() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch"], check=True)
    return time.perf_counter() - start


def main() -> int:
    settings = tempfile.mkdtemp()
    window_shown(settings)
    import_torch()
    app, torch_times, lines = [], [], []
    for _ in range(5):
        t, line = window_shown(settings)
        app.append(t)
        lines.append(line)
        torch_times.append(import_torch())
    a, b = statistics.median(app), statistics.median(torch_times)
    print(f"window shown after {a:.2f} s (median of 5); import torch takes {b:.2f} s")
    print(f"torch fully imported when the window showed: {lines}")
    print(f"startup: ratio={a / b:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
