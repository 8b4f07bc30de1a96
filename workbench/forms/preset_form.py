"""A form for some sections of the preset, generated from the preset schema.

Each key gets the widget its kind calls for (choices → combo box, int → spin box, number → text
field that accepts 1e-4, bool → check box, lists → comma-separated text). ``values()`` reads the
widgets back as dotted-key values; ``set_preset()`` fills them. Rows show or hide with the
choices they depend on (momentum only for SGD/RMSprop, milestones only for multistep, …).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine import preset as presets
from engine.preset import Preset, PresetError
from workbench.panels.path_field import PathField

DATA_COMBOS = ("device", "auto-bool")  # combo boxes whose items carry the value as data
ERROR_STYLE = "border: 1px solid #d9534f; background: #fdecea;"

LABELS = {
    "val_fraction": "Validation fraction",
    "image_size": "Image size (0 = native)",
    "limit_per_class": "Max samples per class",
    "class_fraction": "Class fractions",
    "label_noise": "Label noise",
    "batch_norm": "Batch norm",
    "batch_size": "Batch size",
    "label_smoothing": "Label smoothing",
    "grad_clip": "Gradient clip (0 = off)",
    "early_stopping": "Early-stopping patience",
    "amp": "Mixed precision (CUDA)",
    "lr": "Learning rate",
    "weight_decay": "Weight decay",
    "step_size": "Step size (epochs)",
    "warmup_epochs": "Warmup epochs",
    "arch": "Architecture",
    "pretrained": "Pretrained weights",
    "weights": "Weights file (offline)",
    "freeze": "Freeze",
    "init_from": "Start from run…",
    "backbone_lr_factor": "Backbone LR factor",
    "cache": "Decoded-image cache",
    "cache_dir": "Cache folder",
    "resize": "Resize",
}

# path fields with a "…" button: (dialog title, a folder?, file pattern, button name)
BROWSE = {
    "data.root": ("Image or dataset folder", True, "", "browseRoot"),
    "data.cache_dir": ("Folder for the decoded-image cache", True, "", "browseCacheDir"),
    "model.weights": (
        "Weights file",
        False,
        "State dicts (*.pth *.pt *.safetensors)",
        "browseWeights",
    ),
    "model.init_from": ("Start from run (its run directory)", True, "", "browseInitFrom"),
}

PLACEHOLDERS = {
    "data.augment": "e.g. hflip, crop:4, rotate:10",
    "data.class_fraction": "e.g. 3=0.05 (class index or name = fraction)",
    "train.schedule.milestones": "e.g. 5, 8",
    "data.root": "folder of images, or where dataset files are",
    "data.cache_dir": "default: the user cache folder",
    "model.weights": "a .pth/.safetensors state dict instead of the download",
    "model.init_from": "a run directory or checkpoint to start from",
}


class PresetForm(QWidget):
    """Edits the keys of some preset sections; emits ``edited`` on every change by the user."""

    edited = Signal()

    def __init__(
        self,
        object_name: str,
        sections: list[tuple[str, list[str]]],
        visibility: Callable[[dict[str, Any]], dict[str, bool]] | None = None,
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self.setObjectName(object_name)
        self._visibility = visibility
        self.widgets: dict[str, QWidget] = {}
        self._rows: dict[str, tuple[QFormLayout, QWidget]] = {}
        self.loading = False
        self._groups: list[tuple[QGroupBox, list[str]]] = []
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        for title, keys in sections:
            box = QGroupBox(title)
            form = QFormLayout(box)
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
            for key in keys:
                widget = self._make_widget(key)
                self.widgets[key] = widget
                label = LABELS.get(
                    key.rsplit(".", 1)[-1], key.rsplit(".", 1)[-1].replace("_", " ").capitalize()
                )
                field = widget
                if key in BROWSE:
                    field = self._with_browse(widget, key)
                form.addRow(label, field)
                self._rows[key] = (form, field)
            outer.addWidget(box)
            self._groups.append((box, keys))
        outer.addStretch(1)

    # ------------------------------------------------------------------ widgets

    def _make_widget(self, key: str) -> QWidget:
        spec = presets.field_spec(key)
        kind = spec["kind"]
        tip = f"{key}: {presets.describe(spec)} (default {spec['default']!r})"
        if "choices" in spec:
            w = QComboBox()
            w.addItems(list(spec["choices"]))
            w.currentIndexChanged.connect(self._changed)
        elif kind == "freeze":
            w = QComboBox()
            w.setEditable(True)  # any number of final blocks
            w.addItems(["none", "backbone", "1", "2", "3", "4"])
            w.currentTextChanged.connect(self._changed)
        elif kind == "device":
            w = QComboBox()
            w.addItem("auto", "auto")
            w.addItem("CPU", "cpu")
            w.currentIndexChanged.connect(self._changed)
        elif kind == "auto-bool":  # "auto" lets the run pick for its device
            w = QComboBox()
            for text, value in (("auto", "auto"), ("on", True), ("off", False)):
                w.addItem(text, value)
            w.currentIndexChanged.connect(self._changed)
        elif kind == "bool":
            w = QCheckBox()
            w.toggled.connect(self._changed)
        elif kind == "int":
            w = QSpinBox()
            w.setRange(int(spec["min"]), int(min(spec["max"], 2**31 - 1)))
            w.setKeyboardTracking(False)
            w.valueChanged.connect(self._changed)
        else:
            w = QLineEdit()
            w.setPlaceholderText(PLACEHOLDERS.get(key, ""))
            w.textEdited.connect(self._changed)
        w.setObjectName("field_" + key.replace(".", "_"))
        w.setToolTip(tip)
        w.setProperty("plateauKey", key)
        return w

    def _with_browse(self, line: QLineEdit, key: str) -> QWidget:
        title, folder, pattern, name = BROWSE[key]

        def choose(current: str) -> str:
            if folder:
                return QFileDialog.getExistingDirectory(self, title, current)
            return QFileDialog.getOpenFileName(self, title, current, pattern)[0]

        field = PathField(line, choose, self._changed)
        field.button.setObjectName(name)
        return field

    def set_devices(self, devices: list[tuple[str, str]]) -> None:
        """Offer ``(value, label)`` devices in the device list (after the engine has probed)."""
        w = self.widgets.get("train.device")
        if not isinstance(w, QComboBox):
            return
        current = self._read(w, "train.device")
        self.loading = True
        w.clear()
        w.addItem("auto", "auto")
        for value, label in devices:
            w.addItem(label, value)
        self._write(w, "train.device", current)
        self.loading = False
        self.update_visibility()

    # ------------------------------------------------------------------ values

    def set_preset(self, preset: Preset) -> None:
        """Show ``preset``'s values (does not emit ``edited``)."""
        self.loading = True
        try:
            for key, w in self.widgets.items():
                self._write(w, key, preset.get(key))
        finally:
            self.loading = False
        self.clear_errors()
        self.update_visibility()

    def values(self) -> dict[str, Any]:
        """Dotted-key values as typed; raises PresetError naming the first unreadable field."""
        values, errors = self.read()
        if errors:
            raise errors[0]
        return values

    def read(self) -> tuple[dict[str, Any], list[PresetError]]:
        """The readable fields' values, and a PresetError for every field that cannot be read."""
        values, errors = {}, []
        for key, w in self.widgets.items():
            try:
                values[key] = self._read(w, key)
            except PresetError as exc:
                errors.append(exc)
        return values, errors

    def _write(self, w: QWidget, key: str, value: Any) -> None:
        kind = presets.field_spec(key)["kind"]
        if isinstance(w, QComboBox):
            if kind == "freeze":
                w.setCurrentText(str(value))
                return
            index = w.findData(value) if kind in DATA_COMBOS else w.findText(str(value))
            if index < 0:
                w.addItem(str(value), value)
                index = w.count() - 1
            w.setCurrentIndex(index)
        elif isinstance(w, QCheckBox):
            w.setChecked(bool(value))
        elif isinstance(w, QSpinBox):
            w.setValue(int(value))
        elif isinstance(w, QLineEdit):
            w.setText(format_value(kind, value))

    def _read(self, w: QWidget, key: str) -> Any:
        kind = presets.field_spec(key)["kind"]
        if isinstance(w, QComboBox):
            if kind == "freeze":
                text = w.currentText().strip()
                return int(text) if text.isdigit() else text
            return w.currentData() if kind in DATA_COMBOS else w.currentText()
        if isinstance(w, QCheckBox):
            return w.isChecked()
        if isinstance(w, QSpinBox):
            return w.value()
        return parse_text(key, kind, w.text())

    # ------------------------------------------------------------------ feedback

    def _changed(self, *_: Any) -> None:
        if self.loading:
            return
        self.update_visibility()
        self.edited.emit()

    def update_visibility(self) -> None:
        if not self._visibility:
            return
        try:
            current = self.values()
        except PresetError:
            return
        shown = self._visibility(current)
        for key, visible in shown.items():
            if key in self._rows:
                form, field = self._rows[key]
                form.setRowVisible(field, visible)
        for box, keys in self._groups:
            box.setVisible(any(shown.get(k, True) for k in keys))
        amp = self.widgets.get("train.amp")
        if amp is not None:
            device = current.get("train.device", "auto")
            devices = self.widgets["train.device"]
            has_cuda = any(
                str(devices.itemData(i)).startswith("cuda") for i in range(devices.count())
            )
            amp.setEnabled(device.startswith("cuda") or (device == "auto" and has_cuda))

    def mark_error(self, key: str, message: str) -> bool:
        """Mark the field for ``key`` (or its section's first field); True if it is in this form."""
        target = self.widgets.get(key)
        if target is None:
            for k, w in self.widgets.items():
                if key and (k.startswith(key + ".") or key.startswith(k + ".")):
                    target = w
                    break
        if target is None:
            return False
        target.setStyleSheet(ERROR_STYLE)
        target.setToolTip(message)
        return True

    def clear_errors(self) -> None:
        for key, w in self.widgets.items():
            if w.styleSheet():
                w.setStyleSheet("")
                spec = presets.field_spec(key)
                w.setToolTip(f"{key}: {presets.describe(spec)} (default {spec['default']!r})")


def format_value(kind: str, value: Any) -> str:
    """The text a field shows for ``value``."""
    if kind == "float":
        return repr(float(value))
    if kind in ("list[str]", "list[int]"):
        return ", ".join(str(v) for v in value)
    if kind == "dict[float]":
        return ", ".join(f"{k}={v!r}" for k, v in value.items())
    return str(value)


def parse_text(key: str, kind: str, text: str) -> Any:
    """Read a text field back; raises PresetError naming ``key``."""
    text = text.strip()
    if kind == "float":
        try:
            return float(text)
        except ValueError:
            raise PresetError(f"'{key}' = {text!r} is not a number", key) from None
    if kind in ("list[str]", "list[int]"):
        return presets.parse_value(key, text) if text else []
    if kind == "dict[float]":
        out: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, sep, number = part.partition("=")
            try:
                out[name.strip().strip("'\"")] = float(number)
            except ValueError:
                raise PresetError(
                    f"'{key}': {part!r} is not CLASS=FRACTION (e.g. 3=0.05)", key
                ) from None
            if not sep:
                raise PresetError(f"'{key}': {part!r} is not CLASS=FRACTION (e.g. 3=0.05)", key)
        return out
    return text
