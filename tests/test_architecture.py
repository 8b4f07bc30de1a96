"""The one-way house: the engine never imports Qt (import-linter contract and a live check)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_linter_contract_holds():
    lint = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    result = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout  # no Qt in the engine, one bridge, no circles


def test_engine_runs_without_qt_in_the_process():
    code = (
        "import sys, engine, engine.cli, engine.trainer, engine.data, engine.models;"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('PySide6', 'shiboken6', 'pyqtgraph', 'workbench')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_code_is_ruff_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    result = subprocess.run([ruff, "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_window_module_loads_no_torch():
    """The one-bridge rule, live: the window (and every widget it imports) loads without torch,
    which arrives only when a bridge job first runs."""
    code = (
        "import sys, workbench.main_window, workbench.app;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision')));"
        "sys.exit(1 if 'torch' in sys.modules else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_module_is_over_400_lines():
    for path in sorted((ROOT / "engine").rglob("*.py")) + sorted(
        (ROOT / "workbench").rglob("*.py")
    ):
        lines = len(path.read_text().splitlines())
        assert lines <= 400, f"{path.relative_to(ROOT)} has {lines} lines"


def test_constructing_a_window_has_no_process_wide_side_effect():
    code = (
        "import gc, os, sys; os.environ['QT_QPA_PLATFORM'] = 'offscreen';"
        "from PySide6.QtWidgets import QApplication; app = QApplication([]);"
        "import pyqtgraph as pg; before = dict(pg.CONFIG_OPTIONS);"
        "from workbench.main_window import MainWindow; w = MainWindow();"
        "assert gc.isenabled(), 'garbage collection switched off';"
        "assert dict(pg.CONFIG_OPTIONS) == before, 'pyqtgraph options changed';"
        "print('ok')"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env
    )
    assert result.returncode == 0 and "ok" in result.stdout, result.stdout + result.stderr
