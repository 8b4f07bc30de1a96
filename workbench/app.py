"""``plateau``: open the desktop app, optionally with a preset file."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    """Show the window first; the engine (and torch) load in the background."""
    parser = argparse.ArgumentParser(prog="plateau", description="Plateau desktop workbench")
    parser.add_argument("preset", nargs="?", help="preset file (.toml) to open")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)

    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Plateau")
    app.setOrganizationName("Plateau")

    from workbench.main_window import MainWindow

    window = MainWindow()
    if args.preset:
        window.load_preset(args.preset)
    window.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
