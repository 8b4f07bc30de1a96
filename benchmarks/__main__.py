"""Run every benchmark: ``python -m benchmarks`` (about 20 minutes on 2 cores).

Each script prints its raw figures and ends with ``NAME: ratio=X`` lines; this collects them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

RESULT = re.compile(r"^[\w-]+(\[[^\]]*\])?: \w+=")
SCRIPTS = [
    "overhead",
    "data_pipeline",
    "photos",
    "frozen_path",
    "startup",
    "gui_responsiveness",
    "window_paint_cost",
    "doctor_overhead",
    "doctor_suite",
    "label_noise",
    "leakage",
    "cpu_layout",
    "gpu_path",  # prints a note and measures nothing without CUDA
]


def main() -> int:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    summary, failed = [], []
    for name in SCRIPTS:
        print(f"== benchmarks/{name}.py", flush=True)
        result = subprocess.run(
            [sys.executable, "-m", f"benchmarks.{name}"], env=env, capture_output=True, text=True
        )
        print(result.stdout, end="")
        if result.returncode:
            failed.append(name)
            print(result.stderr[-2000:])
        summary += [line for line in result.stdout.splitlines() if RESULT.match(line)]
    print("== summary")
    print("\n".join(summary))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
