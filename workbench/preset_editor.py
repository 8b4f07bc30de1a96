"""Editing the preset file: open (menu, recent list, drop), save, ask before unsaved edits are
lost, keep the window title and the forms' problems current."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMenu, QMessageBox

from engine import preset as presets
from engine.preset import Preset, PresetError
from workbench.forms.preset_panel import PresetPanel
from workbench.panels.error_banner import ErrorBanner
from workbench.preset_document import PresetDocument


class PresetEditor(QObject):
    """The preset in the forms and the file it belongs to."""

    loaded = Signal(str)  # a preset file was opened (its path)
    changed = Signal()  # the forms hold another valid preset (inspect it again)
    validity_changed = Signal(bool)

    def __init__(
        self,
        window: QMainWindow,
        panel: PresetPanel,
        document: PresetDocument,
        banner: ErrorBanner,
        recent_menu: QMenu,
    ):
        super().__init__(window)
        self.window, self.panel, self.document = window, panel, document
        self.banner, self.recent_menu = banner, recent_menu
        self.valid = True
        panel.edited.connect(self._edited)
        self._rebuild_recent()

    def current(self) -> Preset:
        """The preset the forms show; raises PresetError naming the first invalid value."""
        return self.panel.preset()

    def load(self, path: str | Path, remember: bool = True) -> bool:
        """Load a preset file into the forms; on error keep the current preset and say why."""
        try:
            preset = self.document.open(path, remember)
        except PresetError as exc:
            self.banner.show_message(
                f"Could not open the preset: {exc}", "the current preset is unchanged"
            )
            return False
        self.show(preset)
        self._rebuild_recent()
        self.banner.hide()
        self.update_title()
        self.loaded.emit(str(path))
        return True

    def show(self, preset: Preset) -> None:
        """Put ``preset`` in the forms (an applied fix, a loaded file)."""
        self.panel.show_preset(preset)
        self._set_valid(True)
        self.update_title()
        self.changed.emit()

    def save(self, path: str | Path | None = None, ask: bool = False) -> bool:
        try:
            preset = self.current()
        except PresetError as exc:
            self.banner.show_message(f"Cannot save: {exc}")
            return False
        if path is None and (ask or self.document.needs_save_as()):
            path, _ = QFileDialog.getSaveFileName(
                self.window, "Save preset", self.document.suggested_path(preset), "Presets (*.toml)"
            )
            if not path:
                return False
        try:
            self.document.save(preset, path)
        except OSError as exc:
            self.banner.show_message(f"Could not save {path}: {exc.strerror or exc}")
            return False
        self.panel.base = preset
        self._rebuild_recent()
        self.update_title()
        return True

    def ask_unsaved(self) -> str:
        """Save, discard or cancel unsaved edits: ``"save"``, ``"discard"`` or ``"cancel"``."""
        buttons = QMessageBox.StandardButton
        answer = QMessageBox.question(
            self.window,
            "Unsaved changes",
            f"The preset '{self._name()}' has unsaved changes. Save them first?",
            buttons.Save | buttons.Discard | buttons.Cancel,
            buttons.Save,
        )
        return {buttons.Save: "save", buttons.Discard: "discard"}.get(answer, "cancel")

    def confirm_discard(self) -> bool:
        """True when the forms may be replaced: nothing unsaved, or the person saved or chose to
        discard it."""
        if not self.window.isWindowModified():
            return True
        answer = self.ask_unsaved()
        if answer == "save":
            return self.save()
        return answer == "discard"

    def open(self, path: str | Path) -> bool:
        """Open a preset the person chose (menu, recent list, drop), asking about unsaved edits."""
        return self.confirm_discard() and self.load(path)

    def open_dialog(self) -> None:
        start = self.document.settings.get("folders/presets") or str(presets.presets_dir())
        path, _ = QFileDialog.getOpenFileName(self.window, "Open preset", start, "Presets (*.toml)")
        if path:
            self.open(path)

    def _rebuild_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.document.recent():
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _=False, p=path: self.open(p))
        self.recent_menu.setEnabled(bool(self.recent_menu.actions()))

    def _edited(self) -> None:
        problems = self.panel.mark_problems()
        self._set_valid(not problems)
        found = self.panel.found_problems()
        if not [p for p in problems if p not in found]:  # inspected again: do they remain?
            self.panel.base = self.current()
            self.changed.emit()
        self.update_title()

    def set_found_problems(self, room: str, preset: Preset, problem: PresetError | None) -> None:
        """What inspecting ``preset`` found wrong in its ``room`` ("data" or "model": loading
        the data, building the model); None: nothing. The key's field is marked and Start waits
        until that value changes or inspects clean."""
        found = self.panel.found
        for key in [k for k in found if k.startswith(room + ".")]:
            del found[key]
        key = problem.key if problem is not None else None
        while key and key.count(".") > 1 and not _is_key(preset, key):
            key = key.rsplit(".", 1)[0]  # data.class_fraction.3 -> data.class_fraction
        if key and key.startswith(room + ".") and _is_key(preset, key):
            found[key] = (preset.get(key), problem)
        self._set_valid(not self.panel.mark_problems())

    def _set_valid(self, valid: bool) -> None:
        self.valid = valid
        self.validity_changed.emit(valid)

    def _name(self) -> str:
        try:
            return self.current().name
        except PresetError:
            return self.panel.base.name

    def update_title(self) -> None:
        try:
            current = self.current()
        except PresetError:
            current = None
        self.window.setWindowTitle(f"{self._name()}[*] — Plateau")
        self.window.setWindowModified(self.document.modified(current))


def _is_key(preset: Preset, key: str) -> bool:
    try:
        preset.get(key)
    except AttributeError:
        return False
    return True
