"""The preset file being edited: where it lives, what was last saved or opened, and the recent
files — the window asks it whether the forms hold unsaved changes."""

from __future__ import annotations

from pathlib import Path

from engine import preset as presets
from engine.preset import Preset


class PresetDocument:
    """A preset file and the version of it last opened or saved."""

    def __init__(self, settings):
        self.settings = settings
        self.path: Path | None = None
        self.saved: Preset | None = None

    def open(self, path: str | Path, remember: bool = True) -> Preset:
        """Read ``path`` (raises ``PresetError`` with the reason, leaving this document as it
        was)."""
        preset = presets.load(path)
        self.path, self.saved = Path(path), preset
        if remember:
            self._remember(path)
        return preset

    def save(self, preset: Preset, path: str | Path | None = None) -> Path:
        """Write ``preset`` atomically (to ``path``, else where it came from); raises OSError."""
        target = Path(path or self.path)
        presets.save(preset, target)
        self.path, self.saved = target, preset
        self._remember(target)
        return target

    def detach(self) -> None:
        """The forms now hold a preset of no file (a run's, changed): a new, unsaved one."""
        self.path, self.saved = None, None

    def modified(self, current: Preset | None) -> bool:
        """True when the forms' preset (None: the forms hold an invalid value) differs from what
        was last opened or saved."""
        return current is None or current != self.saved

    def needs_save_as(self) -> bool:
        """A new or shipped preset is saved under a name the person chooses."""
        return self.path is None or self.path.resolve().parent == presets.presets_dir()

    def suggested_path(self, preset: Preset) -> str:
        """Beside the last preset opened or saved, but never among the shipped ones (saved
        there, the app's own preset would be overwritten): the home folder then."""
        folder = Path(self.settings.get("folders/presets") or Path.home())
        if folder.resolve() == presets.presets_dir():
            folder = Path.home()
        return str(folder / f"{preset.name}.toml")

    def recent(self) -> list[str]:
        return self.settings.get("recent/presets")

    def _remember(self, path: str | Path) -> None:
        self.settings.add_recent(path)
        self.settings.set("folders/presets", str(Path(path).resolve().parent))
