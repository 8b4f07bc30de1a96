"""``plateau``: open the desktop app, optionally with a preset file."""

from __future__ import annotations

import argparse
import ctypes
import os
import sys

# What Qt's xcb platform plugin needs beyond the wheel (Debian/Ubuntu package names); without
# them Qt aborts with "Could not load the Qt platform plugin "xcb"".
XCB_LIBRARIES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libEGL.so.1": "libegl1",
}


def display_problem(environ=os.environ, platform: str = sys.platform, load=ctypes.CDLL) -> str:
    """Why Qt could not open a window here, with what to do ("" when nothing is in the way).
    Checked before Qt starts, because Qt aborts the process on a platform plugin it cannot
    load."""
    if not platform.startswith("linux"):
        return ""
    chosen = environ.get("QT_QPA_PLATFORM", "")
    if chosen and not chosen.startswith("xcb"):
        return ""  # offscreen, wayland, … : Qt's own choice
    if not chosen and environ.get("WAYLAND_DISPLAY"):
        return ""
    if not environ.get("DISPLAY"):
        return (
            "no display to open the window on (DISPLAY is not set): start Plateau from a "
            "desktop session, or use plateau-train for headless training"
        )
    missing = []
    for library, package in XCB_LIBRARIES.items():
        try:
            load(library)
        except OSError:
            missing.append(package)
    if not missing:
        return ""
    return (
        "Qt's xcb platform plugin needs system libraries that are missing ("
        + ", ".join(missing)
        + "). On Debian/Ubuntu: sudo apt-get install -y "
        + " ".join(XCB_LIBRARIES.values())
    )


def main(argv: list[str] | None = None) -> int:
    """Show the window first; the engine (and torch) load in the background."""
    parser = argparse.ArgumentParser(prog="plateau", description="Plateau desktop workbench")
    parser.add_argument("preset", nargs="?", help="preset file (.toml) to open")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)

    problem = display_problem()
    if problem:
        print(f"plateau: {problem}", file=sys.stderr)
        return 1

    app = start_application()
    window = build_window()
    window.session.prestart()  # torch loads in the training process while the window opens
    if args.preset:
        window.load_preset(args.preset)
    window.show()
    return app.exec()


def start_application():
    """The QApplication and the process-wide policies that belong to it: its names, and garbage
    collection on the GUI thread only (see :mod:`workbench.bridge.gc_policy`)."""
    from PySide6.QtWidgets import QApplication

    from workbench.bridge.gc_policy import collect_garbage_on_gui_thread

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Plateau")
    app.setOrganizationName("Plateau")
    collect_garbage_on_gui_thread()
    return app


def build_window():
    """The composition root: settings, the training session and the job runner, handed to the
    window."""
    from workbench.bridge.jobs import BackgroundJobs
    from workbench.bridge.training_session import TrainingSession
    from workbench.main_window import MainWindow
    from workbench.settings import Settings

    window = MainWindow(Settings(), TrainingSession(), BackgroundJobs())
    window.session.setParent(window)
    window.jobs.setParent(window)
    return window


if __name__ == "__main__":
    sys.exit(main())
