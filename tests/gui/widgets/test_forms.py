"""The preset forms on their own: every key shown, values round-trip, every problem marked."""

from __future__ import annotations

from engine import preset as presets
from engine.preset import Preset
from workbench.forms.preset_panel import PresetPanel


def _edit(widget, text):
    widget.setText(text)
    widget.textEdited.emit(text)


def test_the_forms_cover_every_key_and_round_trip_each_shipped_preset(qtbot):
    panel = PresetPanel()
    qtbot.addWidget(panel)
    shown = set().union(*(form.widgets for form in panel.forms))
    assert shown == set(presets.all_keys()) - {"format"}
    for path in sorted(presets.presets_dir().glob("*.toml")):
        preset = presets.load(path)
        panel.show_preset(preset)
        assert panel.preset() == preset, path.name


def test_every_problem_is_marked_and_listed(qtbot):
    panel = PresetPanel()
    qtbot.addWidget(panel)
    panel.show_preset(Preset())
    lr = panel.training_form.widgets["train.optimizer.lr"]
    epochs = panel.training_form.widgets["train.epochs"]
    warmup = panel.training_form.widgets["train.schedule.warmup_epochs"]
    _edit(lr, "fast")
    epochs.setValue(3)
    warmup.setValue(5)  # must be below the epochs
    problems = panel.mark_problems()
    assert {p.key for p in problems} == {"train.optimizer.lr", "train.schedule.warmup_epochs"}
    assert lr.styleSheet() and warmup.styleSheet() and not epochs.styleSheet()
    assert panel.problems_label.text().count("•") == 2
    _edit(lr, "0.01")
    warmup.setValue(0)
    assert panel.mark_problems() == [] and not lr.styleSheet()
    assert panel.preset().train.optimizer.lr == 0.01


def test_rows_follow_the_choices_they_depend_on(qtbot):
    panel = PresetPanel()
    qtbot.addWidget(panel)
    panel.show_preset(Preset())
    form = panel.training_form
    form.widgets["train.optimizer.name"].setCurrentText("sgd")
    assert not form.widgets["train.optimizer.momentum"].isHidden()
    form.widgets["train.optimizer.name"].setCurrentText("adam")
    assert form.widgets["train.optimizer.momentum"].isHidden()
    panel.set_editable(False)
    assert not form.isEnabled() and panel.tabs.isEnabled()


def test_a_form_is_as_wide_as_the_rows_it_shows_now(qtbot):
    """The scroll area never scrolls sideways, so it must grow when a wider row appears."""
    from PySide6.QtWidgets import QLabel

    panel = PresetPanel()
    qtbot.addWidget(panel)
    panel.show_preset(Preset())
    scroll = panel.tabs.widget(2)
    before = scroll.minimumWidth()
    wide = QLabel("a label far wider than any of the form's own labels, as a row may be")
    panel.training_form.layout().addWidget(wide)
    qtbot.waitUntil(lambda: scroll.minimumWidth() > before)
    assert scroll.minimumWidth() >= panel.training_form.minimumSizeHint().width()
