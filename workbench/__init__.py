"""Plateau's desktop app (PySide6 + pyqtgraph). Widgets read presets and run files; everything
that runs torch goes through :mod:`workbench.bridge` (its docstring states the rule)."""


def __getattr__(name):
    if name == "MainWindow":
        from workbench.main_window import MainWindow

        return MainWindow
    raise AttributeError(name)
