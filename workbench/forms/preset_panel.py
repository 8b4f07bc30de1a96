"""The preset as forms: Dataset, Model and Training tabs, and under them every problem of the
values entered (each invalid field is marked too)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtWidgets import QLabel, QScrollArea, QTabWidget, QVBoxLayout, QWidget

from engine.preset import Preset, PresetError
from workbench import forms


class PresetPanel(QWidget):
    """Edits one preset; ``edited`` fires on every change a person makes."""

    edited = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.dataset_form = forms.dataset_form()
        self.model_form = forms.model_form()
        self.training_form = forms.training_form()
        self.forms = [self.dataset_form, self.model_form, self.training_form]
        self.tabs = QTabWidget()
        self.tabs.setObjectName("presetTabs")
        for form, title in zip(self.forms, ("Dataset", "Model", "Training"), strict=True):
            self.tabs.addTab(FormScroll(form), title)
            form.edited.connect(self.edited)
        self.problems_label = QLabel("")
        self.problems_label.setObjectName("presetError")
        self.problems_label.setWordWrap(True)
        self.problems_label.setStyleSheet("color: #b52b27;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.problems_label)
        self.setMinimumWidth(300)
        self.base = Preset()  # the keys no form shows come from here
        # what loading the data or building the model said about a key (a missing data.root,
        # a class_fraction naming no class, a missing weights file), and for which value of
        # it: the forms cannot know it, the inspection does
        self.found: dict[str, tuple[Any, PresetError]] = {}
        pretrained = self.model_form.widgets["model.pretrained"]
        pretrained.toggled.connect(self._pretrained_toggled)

    def _pretrained_toggled(self, on: bool) -> None:
        """Pretrained weights expect inputs scaled as theirs were: ticking the box switches
        standardization to the weights' mean and std (and back), in plain sight in the form."""
        if self.model_form.loading:
            return
        normalize = self.dataset_form.widgets["data.normalize"]
        if on and normalize.currentText() == "standardize":
            normalize.setCurrentText("pretrained")
        elif not on and normalize.currentText() == "pretrained":
            normalize.setCurrentText("standardize")

    def show_preset(self, preset: Preset) -> None:
        """Fill every form (emits no ``edited``) and clear the marks."""
        self.base = preset
        for form in self.forms:
            form.set_preset(preset)
        self.problems_label.setText("")

    def preset(self) -> Preset:
        """The preset the forms show; raises PresetError naming the first invalid value."""
        values = {}
        for form in self.forms:
            values.update(form.values())
        return self.base.with_changes(values)

    def problems(self) -> list[PresetError]:
        """Every problem of the forms' values: unreadable fields and invalid values alike."""
        values, problems = {}, []
        for form in self.forms:
            readable, unreadable = form.read()
            values.update(readable)
            problems += unreadable
        problems += self.base.problems_with(values)
        for key, (value, problem) in self.found.items():
            if values.get(key, self.base.get(key)) == value:  # still that value
                problems.append(problem)
        return problems

    def found_problems(self) -> list[PresetError]:
        return [problem for _, problem in self.found.values()]

    def mark_problems(self) -> list[PresetError]:
        """Mark every invalid field and list every problem; return them."""
        for form in self.forms:
            form.clear_errors()
        problems = self.problems()
        for problem in problems:
            for form in self.forms:
                form.mark_error(problem.key or "", str(problem))
        self.problems_label.setText("\n".join(f"• {p}" for p in problems))
        return problems

    def set_devices(self, devices: list[tuple[str, str]]) -> None:
        self.training_form.set_devices(devices)

    def set_editable(self, editable: bool) -> None:
        """Forms locked while a run trains (the tabs can still be looked through)."""
        for form in self.forms:
            form.setEnabled(editable)


class FormScroll(QScrollArea):
    """A form that scrolls down, never sideways: as wide as the form beside the vertical scroll
    bar, whichever rows it shows now (a long Training form scrolled sideways by the bar's width
    at 1366×768)."""

    def __init__(self, form: QWidget):
        super().__init__()
        self.setWidgetResizable(True)
        self.setWidget(form)  # also makes this the form's event filter (see eventFilter)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._fit()

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt override
        if watched is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            self._fit()  # rows shown or hidden
        return super().eventFilter(watched, event)

    def _fit(self) -> None:
        bar = self.verticalScrollBar().sizeHint().width()
        self.setMinimumWidth(self.widget().minimumSizeHint().width() + bar + 2 * self.frameWidth())
