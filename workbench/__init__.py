"""Plateau's desktop app (PySide6 + pyqtgraph). Talks to the engine only through
``workbench.session``."""


def __getattr__(name):
    if name == "MainWindow":
        from workbench.main_window import MainWindow

        return MainWindow
    raise AttributeError(name)
