"""``MainWindow``: preset forms left, live plots in the middle, runs and doctor right."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine import preset as presets
from engine.preset import Preset, PresetError
from workbench import forms
from workbench.actions import apply_state, build_actions
from workbench.panels.data_inspector import DataInspector
from workbench.panels.doctor_panel import DoctorPanel
from workbench.panels.error_banner import ErrorBanner
from workbench.panels.error_browser import ErrorBrowser
from workbench.panels.model_summary_view import ModelSummaryView
from workbench.panels.run_list import RunList
from workbench.plots.training_plots import TrainingPlots
from workbench.preset_document import PresetDocument
from workbench.run_view import RunView, load_history
from workbench.session import BackgroundJobs, TrainingSession, collect_garbage_on_gui_thread
from workbench.settings import Settings
from workbench.status_bar import RunStatusBar

INSPECT_DELAY_MS = 400  # wait for typing to settle before re-inspecting data and model
STOP_WAIT_S = 5.0
DEFAULT_SIZE = (1500, 920)
SCREEN_SHARE = 0.92  # a first window takes at most this share of the screen


class MainWindow(QMainWindow):
    """The Plateau workbench. ``MainWindow()`` opens on the shipped digits preset."""

    preset_loaded = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        collect_garbage_on_gui_thread()
        self.setObjectName("MainWindow")
        self.settings = Settings()
        self.session = TrainingSession(self)
        self.jobs = BackgroundJobs(self)
        self.actions = build_actions(self)
        self.document = PresetDocument(self.settings)
        self._draws = 0  # "Draw other samples" presses, so each draw differs
        self._preset: Preset | None = None
        self._preset_valid = True
        self._build_forms()
        self._build_center()
        self._build_right()
        self._build_menus()
        self.status = RunStatusBar(self.statusBar())
        self.status_labels = self.status.labels
        self.run_view = RunView(self)
        self._wire()
        self._initial_size()
        self.setAcceptDrops(True)
        self._inspect_timer = QTimer(self, singleShot=True, interval=INSPECT_DELAY_MS)
        self._inspect_timer.timeout.connect(self.refresh_inspection)
        self.load_preset(presets.default_preset_path(), remember=False)
        self.refresh_runs()
        self.jobs.submit("devices", _available_devices, self.training_form.set_devices)
        self._update_actions()

    # ------------------------------------------------------------------ layout

    def _build_forms(self) -> None:
        self.dataset_form = forms.dataset_form()
        self.model_form = forms.model_form()
        self.training_form = forms.training_form()
        self.forms = [self.dataset_form, self.model_form, self.training_form]
        tabs = QTabWidget()
        tabs.setObjectName("presetTabs")
        for form, title in zip(self.forms, ("Dataset", "Model", "Training"), strict=True):
            scroll = QScrollArea()
            scroll.setWidgetResizable(True)
            scroll.setWidget(form)
            tabs.addTab(scroll, title)
        self.preset_error = QLabel("")
        self.preset_error.setObjectName("presetError")
        self.preset_error.setWordWrap(True)
        self.preset_error.setStyleSheet("color: #b52b27;")
        left = QWidget()
        layout = QVBoxLayout(left)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(tabs, 1)
        layout.addWidget(self.preset_error)
        left.setMinimumWidth(300)
        self.left_panel = left

    def _build_center(self) -> None:
        self.training_plots = TrainingPlots()
        p = self.training_plots
        self.loss_plot, self.accuracy_plot, self.lr_plot = p.loss, p.accuracy, p.lr
        self.per_class_plot, self.confusion_view = p.per_class, p.confusion
        self.data_inspector = DataInspector()
        self.model_summary = ModelSummaryView()
        self.error_browser = ErrorBrowser()
        self.center_tabs = QTabWidget()
        self.center_tabs.setObjectName("centerTabs")
        self.center_tabs.addTab(self.training_plots, "Training")
        self.center_tabs.addTab(self.data_inspector, "Data")
        self.center_tabs.addTab(self.model_summary, "Model")
        self.center_tabs.addTab(self.error_browser, "Errors")
        self.banner = ErrorBanner()
        center = QWidget()
        layout = QVBoxLayout(center)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.banner)
        layout.addWidget(self.center_tabs, 1)
        self.center_panel = center

    def _build_right(self) -> None:
        self.run_list = RunList()
        self.doctor_panel = DoctorPanel()
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.run_list)
        right.addWidget(self.doctor_panel)
        right.setSizes([500, 300])
        right.setMinimumWidth(290)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.addWidget(self.left_panel)
        self.splitter.addWidget(self.center_panel)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([330, 800, 330])
        state = self.settings.get("window/splitter")
        if not state.isEmpty():
            self.splitter.restoreState(state)
        self.setCentralWidget(self.splitter)

    def _build_menus(self) -> None:
        a = self.actions
        file_menu = self.menuBar().addMenu("&File")
        for name in ("actionOpenPreset", "actionSavePreset", "actionSavePresetAs"):
            file_menu.addAction(a[name])
        self.recent_menu = file_menu.addMenu("Recent presets")
        self.recent_menu.setObjectName("recentPresetsMenu")
        file_menu.addSeparator()
        file_menu.addAction(a["actionExport"])
        file_menu.addAction(a["actionPreferences"])
        file_menu.addSeparator()
        file_menu.addAction(a["actionQuit"])
        run_menu = self.menuBar().addMenu("&Run")
        for name in ("actionStart", "actionPause", "actionStop", "actionResumeRun", "actionLrFind"):
            run_menu.addAction(a[name])
        toolbar = self.addToolBar("Run")
        toolbar.setObjectName("runToolbar")
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for name in (
            "actionStart",
            "actionPause",
            "actionStop",
            "actionOpenPreset",
            "actionSavePreset",
            "actionExport",
            "actionLrFind",
        ):
            toolbar.addAction(a[name])
        self._rebuild_recent()

    def _initial_size(self) -> None:
        """The last geometry, else a size that fits the screen (a 1366×768 laptop too)."""
        geometry = self.settings.get("window/geometry")
        if not geometry.isEmpty() and self.restoreGeometry(geometry):
            return
        width, height = DEFAULT_SIZE
        screen = self.screen()
        if screen is not None:
            room = screen.availableGeometry()
            width = min(width, int(room.width() * SCREEN_SHARE))
            height = min(height, int(room.height() * SCREEN_SHARE))
        self.resize(width, height)

    def _wire(self) -> None:
        a = self.actions
        a["actionStart"].triggered.connect(self.start)
        a["actionPause"].triggered.connect(self.toggle_pause)
        a["actionStop"].triggered.connect(self.stop)
        a["actionResumeRun"].triggered.connect(
            lambda: self.resume_run(self.run_list.selected_run())
        )
        a["actionOpenPreset"].triggered.connect(self.open_preset_dialog)
        a["actionSavePreset"].triggered.connect(lambda: self.save_preset())
        a["actionSavePresetAs"].triggered.connect(lambda: self.save_preset(ask=True))
        a["actionExport"].triggered.connect(self.run_view.open_export_dialog)
        a["actionPreferences"].triggered.connect(self.open_preferences)
        a["actionLrFind"].triggered.connect(self.open_lr_finder)
        a["actionQuit"].triggered.connect(self.close)
        self.doctor_panel.apply_requested.connect(self.apply_fix)
        self.doctor_panel.value_of = self._value_of
        for form in self.forms:
            form.edited.connect(self._forms_edited)
        self.session.state_changed.connect(self._session_state)
        self.run_list.run_selected.connect(self._run_selected)
        self.run_list.runs_checked.connect(self.run_view.overlay_runs)
        self.run_list.resume_requested.connect(self.resume_run)
        self.data_inspector.redraw_requested.connect(lambda: self.refresh_inspection(redraw=True))

    # ------------------------------------------------------------------ presets

    def current_preset(self) -> Preset:
        """The preset the forms show; raises PresetError naming the first invalid value."""
        values = {}
        for form in self.forms:
            values.update(form.values())
        base = self._preset or Preset()
        return base.with_changes(values)

    def _form_problems(self) -> list[PresetError]:
        """Every problem of the forms' values: unreadable fields and invalid values alike."""
        values, problems = {}, []
        for form in self.forms:
            readable, unreadable = form.read()
            values.update(readable)
            problems += unreadable
        return problems + (self._preset or Preset()).problems_with(values)

    def load_preset(self, path: str | Path, remember: bool = True) -> bool:
        """Load a preset file into the forms; on error keep the current preset and say why."""
        try:
            preset = self.document.open(path, remember)
        except PresetError as exc:
            self.banner.show_message(
                f"Could not open the preset: {exc}", "the current preset is unchanged"
            )
            return False
        self._show_preset(preset)
        self._rebuild_recent()
        self.banner.hide()
        self._update_title()
        if self.run_view.shown is None:
            self.training_plots.show_hint(preset.name)
        self.preset_loaded.emit(str(path))
        return True

    def _show_preset(self, preset: Preset) -> None:
        self._preset = preset
        self._preset_valid = True
        for form in self.forms:
            form.set_preset(preset)
        self.preset_error.setText("")
        self._update_actions()
        self._inspect_timer.start()

    def save_preset(self, path: str | Path | None = None, ask: bool = False) -> bool:
        try:
            preset = self.current_preset()
        except PresetError as exc:
            self.banner.show_message(f"Cannot save: {exc}")
            return False
        if path is None and (ask or self.document.needs_save_as()):
            path, _ = QFileDialog.getSaveFileName(
                self, "Save preset", self.document.suggested_path(preset), "Presets (*.toml)"
            )
            if not path:
                return False
        try:
            self.document.save(preset, path)
        except OSError as exc:
            self.banner.show_message(f"Could not save {path}: {exc.strerror or exc}")
            return False
        self._preset = preset
        self._rebuild_recent()
        self._update_title()
        return True

    def ask_unsaved(self) -> str:
        """Save, discard or cancel unsaved edits: ``"save"``, ``"discard"`` or ``"cancel"``."""
        buttons = QMessageBox.StandardButton
        answer = QMessageBox.question(
            self,
            "Unsaved changes",
            f"The preset '{self._title_name()}' has unsaved changes. Save them first?",
            buttons.Save | buttons.Discard | buttons.Cancel,
            buttons.Save,
        )
        return {buttons.Save: "save", buttons.Discard: "discard"}.get(answer, "cancel")

    def confirm_discard(self) -> bool:
        """True when the forms may be replaced: nothing unsaved, or the person saved or chose to
        discard it."""
        if not self.isWindowModified():
            return True
        answer = self.ask_unsaved()
        if answer == "save":
            return self.save_preset()
        return answer == "discard"

    def open_preset(self, path: str | Path) -> bool:
        """Open a preset the person chose (menu, recent list, drop), asking about unsaved edits."""
        return self.confirm_discard() and self.load_preset(path)

    def open_preset_dialog(self) -> None:
        start = self.settings.get("folders/presets") or str(presets.presets_dir())
        path, _ = QFileDialog.getOpenFileName(self, "Open preset", start, "Presets (*.toml)")
        if path:
            self.open_preset(path)

    def _rebuild_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.document.recent():
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _=False, p=path: self.open_preset(p))
        self.recent_menu.setEnabled(bool(self.recent_menu.actions()))

    def _forms_edited(self) -> None:
        for form in self.forms:
            form.clear_errors()
        problems = self._form_problems()
        for problem in problems:
            for form in self.forms:
                form.mark_error(problem.key or "", str(problem))
        self.preset_error.setText("\n".join(f"• {p}" for p in problems))
        self._preset_valid = not problems
        if not problems:
            self._preset = self.current_preset()
            self._inspect_timer.start()
        self._update_title()
        self._update_actions()

    def _title_name(self) -> str:
        try:
            return self.current_preset().name
        except PresetError:
            return self._preset.name if self._preset else "untitled"

    def _update_title(self) -> None:
        try:
            current = self.current_preset()
        except PresetError:
            current = None
        self.setWindowTitle(f"{self._title_name()}[*] — Plateau")
        self.setWindowModified(self.document.modified(current))

    def _update_actions(self) -> None:
        apply_state(self.actions, self.session.state, self._preset_valid)
        selected = self.run_list.selected_run()
        self.actions["actionResumeRun"].setEnabled(
            self.session.state == "idle" and self.run_list.can_resume(selected)
        )

    # ------------------------------------------------------------------ inspection

    def refresh_inspection(self, redraw: bool = False) -> None:
        """Recompute the data inspector, model summary and LR preview off the GUI thread."""
        try:
            preset = self.current_preset()
        except PresetError:
            return
        self._draws += 1 if redraw else 0
        draw = self._draws
        inspect = _inspect_module
        self.jobs.submit(
            "inspect",
            lambda: inspect().inspect_data(preset, draw=draw),
            self.data_inspector.show_inspection,
            lambda e: self.data_inspector.show_error(str(e)),
        )
        if redraw:
            return
        self.jobs.submit(
            "summary",
            lambda: inspect().model_summary(preset),
            self.model_summary.show_summary,
            lambda e: self.model_summary.show_error(str(e)),
        )
        self.jobs.submit(
            "lr",
            lambda: inspect().lr_preview(preset),
            lambda result: self.run_view.set_form_plan(preset, *result),
            lambda e: None,
        )

    # ------------------------------------------------------------------ running

    def workspace(self) -> str:
        return self.settings.get("workspace")

    def start(self) -> None:
        if self.session.is_active():
            return
        try:
            preset = self.current_preset()
        except PresetError as exc:
            self.banner.show_message(f"Cannot start: {exc}")
            return
        self.banner.hide()
        self.run_view.begin_live(preset)
        self.session.start(preset, self.workspace())

    def resume_run(self, run_dir: str | None, epochs: int | None = None) -> bool:
        """Continue a run in its own directory and curves: a stopped run to its planned epochs,
        a finished one to ``epochs`` (asked for when not given)."""
        if not run_dir or self.session.is_active():
            return False
        from engine.runs import RunFiles

        files = RunFiles(run_dir)
        if not files.last_checkpoint.is_file():
            self.banner.show_message(f"Cannot resume {Path(run_dir).name}: it has no checkpoint")
            return False
        try:
            preset = files.read_preset()
        except PresetError as exc:
            self.banner.show_message(f"Cannot resume {Path(run_dir).name}: {exc}")
            return False
        history, summary = load_history(run_dir)
        done = int(summary.get("epochs_completed", len(history.epochs)))
        if epochs is None and done >= preset.train.epochs:
            epochs = self.ask_more_epochs(Path(run_dir).name, done)
            if epochs is None:
                return False
        if epochs is not None:
            preset = preset.with_changes({"train.epochs": epochs})
        self.banner.hide()
        self.run_view.begin_live(preset, history)
        self.session.start(preset, self.workspace(), resume_dir=run_dir)
        return True

    def ask_more_epochs(self, name: str, done: int) -> int | None:
        """How many epochs a finished run should reach when it trains longer (None: cancel)."""
        value, ok = QInputDialog.getInt(
            self,
            "Train longer",
            f"{name} has trained all {done} of its epochs. Train it up to how many epochs?",
            done * 2,
            done + 1,
            100_000,
        )
        return value if ok else None

    def toggle_pause(self) -> None:
        if self.session.state == "paused":
            self.session.resume()
        else:
            self.session.pause()

    def stop(self) -> None:
        self.session.stop()

    def _value_of(self, key: str):
        try:
            return self.current_preset().get(key)
        except (PresetError, AttributeError):
            return "?"

    def apply_fix(self, changes: dict, rerun: bool = False) -> bool:
        """Apply a doctor fix to the preset in the forms; with ``rerun``, start a run and overlay
        the run the finding came from."""
        if self.session.is_active():
            return False
        try:
            preset = self.current_preset().with_changes(changes)
        except PresetError as exc:
            self.banner.show_message(f"Cannot apply the fix: {exc}")
            return False
        self._show_preset(preset)
        self._update_title()
        if rerun:
            previous = self.run_view.shown.run_dir if self.run_view.shown else None
            self.start()
            if previous:
                self.run_list.set_checked(previous, True)
        return True

    def open_lr_finder(self) -> None:
        from workbench.panels.lr_finder_dialog import LrFinderDialog

        try:
            preset = self.current_preset()
        except PresetError as exc:
            self.banner.show_message(f"Cannot run the LR finder: {exc}")
            return
        dialog = LrFinderDialog(self)
        self.lr_finder_dialog = dialog

        def use(lr: float) -> None:
            self.apply_fix({"train.optimizer.lr": lr})

        def work():
            from engine.doctor.lr_finder import find_lr

            return find_lr(preset).to_dict()

        dialog.use_lr.connect(use)
        self.jobs.submit("lrfind", work, dialog.show_result, lambda e: dialog.show_error(str(e)))
        dialog.show()

    def _session_state(self, state: str) -> None:
        self.doctor_panel.set_can_apply(state == "idle")
        for form in self.forms:
            form.setEnabled(state == "idle")
        self.run_view.set_paused(state == "paused")
        self._update_actions()
        if state == "idle":
            self.refresh_runs()

    def _run_selected(self, run_dir: str) -> None:
        self.run_view.show_run(run_dir)
        self._update_actions()

    def refresh_runs(self) -> None:
        self.run_list.refresh(self.workspace())

    def open_preferences(self) -> None:
        from workbench.panels.preferences_dialog import PreferencesDialog

        dialog = PreferencesDialog(self.workspace(), self)
        if dialog.exec():
            self.settings.set("workspace", dialog.workspace.text().strip())
            self.refresh_runs()

    # ------------------------------------------------------------------ window events

    def confirm_stop_on_close(self) -> bool:
        answer = QMessageBox.question(
            self,
            "Stop training?",
            "A run is in progress. Stop it and close Plateau? The run stays resumable.",
        )
        return answer == QMessageBox.StandardButton.Yes

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        if not self.confirm_discard():
            event.ignore()
            return
        if self.session.is_active():
            if not self.confirm_stop_on_close():
                event.ignore()
                return
            self.session.stop()
            self.session.wait(STOP_WAIT_S)
        self.settings.set("window/geometry", self.saveGeometry())
        self.settings.set("window/splitter", self.splitter.saveState())
        self.settings.sync()
        super().closeEvent(event)

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt override
        urls = event.mimeData().urls()
        if urls and urls[0].toLocalFile().endswith(".toml"):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt override
        urls = event.mimeData().urls()
        if urls and not self.session.is_active():
            self.open_preset(urls[0].toLocalFile())


def _inspect_module():
    import engine.inspection

    return engine.inspection


def _available_devices():
    from engine.devices import available_devices

    return available_devices()
