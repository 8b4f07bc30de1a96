"""The window's actions in one table, and which are enabled in which run state."""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QStyle, QWidget

# objectName: (text, shortcut, standard icon, checkable, tip)
ACTIONS = {
    "actionStart": ("&Start", "F5", "SP_MediaPlay", False, "Start training the preset"),
    "actionPause": ("&Pause", "F6", "SP_MediaPause", True, "Pause or resume the run"),
    "actionStop": ("S&top", "Shift+F5", "SP_MediaStop", False, "Stop the run (it stays resumable)"),
    "actionResumeRun": (
        "Res&ume selected run…",
        "Ctrl+Shift+F5",
        None,
        False,
        "Continue the selected run in its own directory (a finished run: train it longer)",
    ),
    "actionOpenPreset": (
        "&Open preset…",
        QKeySequence.StandardKey.Open,
        "SP_DialogOpenButton",
        False,
        "Open a preset file",
    ),
    "actionSavePreset": (
        "&Save preset",
        QKeySequence.StandardKey.Save,
        "SP_DialogSaveButton",
        False,
        "Save the preset",
    ),
    "actionSavePresetAs": (
        "Save preset &as…",
        QKeySequence.StandardKey.SaveAs,
        None,
        False,
        "Save the preset to a new file",
    ),
    "actionExport": (
        "&Export model…",
        "Ctrl+E",
        "SP_ArrowDown",
        False,
        "Export a run's model, verified",
    ),
    "actionLrFind": (
        "Find &learning rate",
        "Ctrl+L",
        "SP_FileDialogContentsView",
        False,
        "Sweep the learning rate on copies of the model and suggest one",
    ),
    "actionPreferences": (
        "Pre&ferences…",
        QKeySequence.StandardKey.Preferences,
        None,
        False,
        "Workspace folder",
    ),
    "actionQuit": ("&Quit", QKeySequence.StandardKey.Quit, None, False, "Quit Plateau"),
}

# Which actions are enabled in each session state ("paused" as "running").
ENABLED = {
    "idle": {
        "actionStart",
        "actionResumeRun",
        "actionOpenPreset",
        "actionSavePreset",
        "actionSavePresetAs",
        "actionExport",
        "actionLrFind",
        "actionPreferences",
        "actionQuit",
    },
    "running": {
        "actionPause",
        "actionStop",
        "actionSavePreset",
        "actionSavePresetAs",
        "actionExport",
        "actionQuit",
    },
    "stopping": {"actionSavePreset", "actionSavePresetAs", "actionQuit"},
}


ENABLED["paused"] = ENABLED["running"]


def build_actions(parent: QWidget) -> dict[str, QAction]:
    actions = {}
    style = parent.style()
    for name, (text, shortcut, icon, checkable, tip) in ACTIONS.items():
        action = QAction(text, parent)
        action.setObjectName(name)
        action.setShortcut(QKeySequence(shortcut))
        action.setStatusTip(tip)
        action.setToolTip(tip)
        action.setCheckable(checkable)
        if icon:
            action.setIcon(style.standardIcon(getattr(QStyle.StandardPixmap, icon)))
        actions[name] = action
    return actions


def apply_state(actions: dict[str, QAction], state: str, preset_valid: bool) -> None:
    enabled = ENABLED[state]
    for name, action in actions.items():
        on = name in enabled
        if name in ("actionStart", "actionLrFind"):
            on = on and preset_valid
        action.setEnabled(on)
    actions["actionPause"].setChecked(state == "paused")
    actions["actionPause"].setText("&Resume" if state == "paused" else "&Pause")
