"""UI state in ``QSettings`` behind one table of defaults: unknown keys raise, values are coerced.

Presets are files; this is only what the window remembers (geometry, splitters, recent presets,
last folders, the workspace folder where runs go).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings


def default_workspace() -> str:
    from platformdirs import user_data_dir

    return str(Path(user_data_dir("Plateau", appauthor=False)) / "runs")


DEFAULTS: dict[str, Any] = {
    "window/geometry": QByteArray(),
    "window/splitter": QByteArray(),
    "recent/presets": [],
    "folders/presets": "",
    "folders/export": "",
    "workspace": None,  # filled lazily by default_workspace()
}
MAX_RECENT = 8


class Settings:
    """Typed access to the app's ``QSettings``."""

    def __init__(self) -> None:
        self._qs = QSettings(
            QSettings.Format.IniFormat, QSettings.Scope.UserScope, "Plateau", "Plateau"
        )

    def get(self, key: str) -> Any:
        if key not in DEFAULTS:
            raise KeyError(f"unknown setting {key!r}")
        default = DEFAULTS[key]
        if key == "workspace":
            default = default_workspace()
        value = self._qs.value(key, default)
        if isinstance(default, list):
            if value in (None, ""):
                return []
            return [str(v) for v in (value if isinstance(value, list) else [value])]
        if isinstance(default, QByteArray):
            return value if isinstance(value, QByteArray) else QByteArray()
        return str(value) if value is not None else default

    def set(self, key: str, value: Any) -> None:
        if key not in DEFAULTS:
            raise KeyError(f"unknown setting {key!r}")
        self._qs.setValue(key, value)

    def add_recent(self, path: str | Path) -> list[str]:
        path = str(Path(path).resolve())
        recent = [p for p in self.get("recent/presets") if p != path]
        recent = [path, *recent][:MAX_RECENT]
        self.set("recent/presets", recent)
        return recent

    def sync(self) -> None:
        self._qs.sync()
