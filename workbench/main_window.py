"""``MainWindow``: preset forms left, live plots in the middle, runs and doctor right; the menus,
toolbar and the commands behind them."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine import preset as presets
from engine.preset import Preset, PresetError
from workbench.actions import apply_state, build_actions
from workbench.bridge import engine_calls
from workbench.bridge.jobs import BackgroundJobs
from workbench.bridge.training_session import TrainingSession
from workbench.forms.preset_panel import PresetPanel
from workbench.panels.data_inspector import DataInspector
from workbench.panels.doctor_panel import DoctorPanel
from workbench.panels.error_banner import ErrorBanner
from workbench.panels.error_browser import ErrorBrowser
from workbench.panels.model_summary_view import ModelSummaryView
from workbench.panels.run_list import RunList
from workbench.plots.training_plots import TrainingPlots
from workbench.preset_document import PresetDocument
from workbench.preset_editor import PresetEditor
from workbench.run_commands import RunCommands
from workbench.run_presenter import RunPresenter
from workbench.settings import Settings
from workbench.status_bar import RunStatusBar

INSPECT_DELAY_MS = 400  # wait for typing to settle before re-inspecting data and model
STOP_WAIT_S = 5.0
DEFAULT_SIZE = (1500, 920)
SCREEN_SHARE = 0.92  # a first window takes at most this share of the screen


class MainWindow(QMainWindow):
    """The Plateau workbench. ``MainWindow()`` opens on the shipped digits preset; the
    application hands in its settings, training session and job runner (tests may pass fakes)."""

    preset_loaded = Signal(str)

    def __init__(
        self,
        settings: Settings | None = None,
        session: TrainingSession | None = None,
        jobs: BackgroundJobs | None = None,
    ) -> None:
        super().__init__()
        self.setObjectName("MainWindow")
        self.settings = settings or Settings()
        self.session = session or TrainingSession(self)
        self.jobs = jobs or BackgroundJobs(self)
        self.actions = build_actions(self)
        self._draws = 0  # "Draw other samples" presses, so each draw differs
        self._build_panels()
        self._build_menus()
        self.editor = PresetEditor(
            self,
            self.preset_panel,
            PresetDocument(self.settings),
            self.banner,
            self.recent_menu,
        )
        self.status = RunStatusBar(self.statusBar())
        self.status_labels = self.status.labels
        self.run_view = RunPresenter(
            self.session,
            self.training_plots,
            self.status,
            self.run_list,
            self.doctor_panel,
            self.error_browser,
            self.banner,
            self.jobs,
            lambda: self.center_tabs.setCurrentWidget(self.error_browser),
            self.refresh_runs,
            self,
        )
        self.commands = RunCommands(
            self,
            self.session,
            self.run_view,
            self.editor,
            self.run_list,
            self.banner,
            self.jobs,
            self.settings,
            self.workspace,
        )
        self._inspect_timer = QTimer(self, singleShot=True, interval=INSPECT_DELAY_MS)
        self._inspect_timer.timeout.connect(self.refresh_inspection)
        self._wire()
        self._initial_size()
        self.setAcceptDrops(True)
        self.load_preset(presets.default_preset_path(), remember=False)
        self.refresh_runs()
        self.jobs.submit("devices", engine_calls.available_devices, self.preset_panel.set_devices)
        self._update_actions()

    # ------------------------------------------------------------------ layout

    def _build_panels(self) -> None:
        self.preset_panel = PresetPanel()
        p = self.preset_panel
        self.dataset_form, self.model_form, self.training_form = p.forms
        self.forms, self.preset_error = p.forms, p.problems_label
        self.training_plots = TrainingPlots()
        t = self.training_plots
        self.loss_plot, self.accuracy_plot, self.lr_plot = t.loss, t.accuracy, t.lr
        self.per_class_plot, self.confusion_view = t.per_class, t.confusion
        self.data_inspector = DataInspector()
        self.model_summary = ModelSummaryView()
        self.error_browser = ErrorBrowser()
        self.center_tabs = QTabWidget()
        self.center_tabs.setObjectName("centerTabs")
        for widget, title in (
            (t, "Training"),
            (self.data_inspector, "Data"),
            (self.model_summary, "Model"),
            (self.error_browser, "Errors"),
        ):
            self.center_tabs.addTab(widget, title)
        self.banner = ErrorBanner()
        center = QWidget()
        layout = QVBoxLayout(center)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.banner)
        layout.addWidget(self.center_tabs, 1)
        self.run_list = RunList()
        self.doctor_panel = DoctorPanel()
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.run_list)
        right.addWidget(self.doctor_panel)
        right.setSizes([500, 300])
        right.setMinimumWidth(290)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("mainSplitter")
        for panel in (self.preset_panel, center, right):
            self.splitter.addWidget(panel)
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
        a["actionPause"].triggered.connect(self.commands.toggle_pause)
        a["actionStop"].triggered.connect(self.session.stop)
        a["actionResumeRun"].triggered.connect(
            lambda: self.resume_run(self.run_list.selected_run())
        )
        a["actionOpenPreset"].triggered.connect(self.editor.open_dialog)
        a["actionSavePreset"].triggered.connect(lambda: self.save_preset())
        a["actionSavePresetAs"].triggered.connect(lambda: self.save_preset(ask=True))
        a["actionExport"].triggered.connect(self.commands.open_export_dialog)
        a["actionPreferences"].triggered.connect(self.open_preferences)
        a["actionLrFind"].triggered.connect(self.commands.open_lr_finder)
        a["actionQuit"].triggered.connect(self.close)
        self.doctor_panel.apply_requested.connect(self.apply_fix)
        self.error_browser.suspects_requested.connect(self.run_view.browse_suspects)
        self.error_browser.mark_requested.connect(self.commands.mark_samples)
        self.doctor_panel.set_value_source(self.commands.value_of, self.commands.fix_target)
        self.editor.changed.connect(self._inspect_timer.start)
        self.editor.changed.connect(self.doctor_panel.refresh)
        self.editor.validity_changed.connect(lambda _: self._update_actions())
        self.editor.loaded.connect(self._preset_loaded)
        self.session.state_changed.connect(self._session_state)
        self.run_list.run_selected.connect(self._run_selected)
        self.run_list.runs_checked.connect(self.run_view.overlay_runs)
        self.run_list.resume_requested.connect(self.resume_run)
        self.data_inspector.redraw_requested.connect(lambda: self.refresh_inspection(redraw=True))
        self.data_inspector.cancel_requested.connect(lambda: self.jobs.cancel("inspect"))

    # ------------------------------------------------------------------ the preset

    def current_preset(self) -> Preset:
        """The preset the forms show; raises PresetError naming the first invalid value."""
        return self.editor.current()

    def load_preset(self, path: str | Path, remember: bool = True) -> bool:
        """Load a preset file into the forms; on error keep the current preset and say why."""
        return self.editor.load(path, remember)

    def save_preset(self, path: str | Path | None = None, ask: bool = False) -> bool:
        return self.editor.save(path, ask)

    def _preset_loaded(self, path: str) -> None:
        if self.run_view.shown is None:
            self.training_plots.show_hint(self.editor.panel.base.name)
        self.preset_loaded.emit(path)

    def _update_actions(self) -> None:
        apply_state(self.actions, self.session.state, self.editor.valid)
        self.actions["actionResumeRun"].setEnabled(
            self.session.state == "idle" and self.run_list.can_resume(self.run_list.selected_run())
        )

    def refresh_inspection(self, redraw: bool = False) -> None:
        """Recompute the data inspector, model summary and LR preview off the GUI thread."""
        try:
            preset = self.current_preset()
        except PresetError:
            return
        self._draws += 1 if redraw else 0
        found = bool(self.editor.panel.found)  # e.g. a weights file since put in place
        draw = self._draws

        def inspected(result) -> None:
            self.editor.set_found_problems("data", preset, None)
            self.data_inspector.show_inspection(result)
            if not redraw or found:  # the data is loaded now: the summary and LR plan reuse it
                self._summarize(preset)

        self.jobs.submit(
            "inspect",
            lambda progress: engine_calls.inspect_data(preset, draw, progress),
            inspected,
            lambda error: self._inspection_failed(preset, error),
            self.data_inspector.show_progress,
        )

    def _inspection_failed(self, preset: Preset, error: BaseException) -> None:
        from engine.errors import Cancelled

        cancelled = isinstance(error, Cancelled)
        message = "cancelled (the images decoded so far are kept)" if cancelled else str(error)
        key = getattr(error, "key", None)  # e.g. a missing data.root: its field is marked
        self.editor.set_found_problems("data", preset, PresetError(message, key) if key else None)
        self.data_inspector.show_error(message, "Continue decoding" if cancelled else "Try again")
        self.model_summary.show_error(f"the data is not loaded: {message}")
        self.run_view.set_form_plan(preset, [], 1)  # not the plan of the preset before

    def _summarize(self, preset: Preset) -> None:
        def summarized(summary) -> None:
            self.editor.set_found_problems("model", preset, None)
            self.model_summary.show_summary(summary)
            self.session.prepare(preset)  # its data and model are good: made ready for Start

        def failed(error) -> None:  # e.g. a missing weights file: its field is marked
            key = getattr(error, "key", None)
            found = PresetError(str(error), key) if key else None
            self.editor.set_found_problems("model", preset, found)
            self.model_summary.show_error(str(error))

        self.jobs.submit("summary", lambda: engine_calls.model_summary(preset), summarized, failed)
        self.jobs.submit(
            "lr",
            lambda: engine_calls.lr_preview(preset),
            lambda result: self.run_view.set_form_plan(preset, *result),
            lambda e: None,
        )

    # ------------------------------------------------------------------ runs

    def workspace(self) -> str:
        return self.settings.get("workspace")

    def start(self) -> None:
        self.commands.start()

    def resume_run(self, run_dir: str | None, epochs: int | None = None) -> bool:
        return self.commands.resume(run_dir, epochs)

    def apply_fix(self, changes: dict, rerun: bool = False) -> bool:
        applied = self.commands.apply_fix(changes, rerun)
        self.doctor_panel.refresh()
        return applied

    def _session_state(self, state: str) -> None:
        self.doctor_panel.set_can_apply(state == "idle")
        self.preset_panel.set_editable(state == "idle")
        self.run_view.set_paused(state == "paused")
        self._update_actions()
        # the run's end updates its own row in the run list (RunPresenter._ended): re-reading
        # every run's files here cost ~0.13 ms a run, 40 ms at the end of each run with 300

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

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt override
        """Back in the window (from a file manager, say) with values the data or the model
        refuted: look again — the missing folder or weights file may be there now."""
        super().changeEvent(event)
        if event.type() == QEvent.Type.ActivationChange and self.isActiveWindow():
            if self.editor.panel.found and not self.session.is_active():
                self._inspect_timer.start()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        if not self.editor.confirm_discard():
            event.ignore()
            return
        if self.session.is_active():
            if not self.confirm_stop_on_close():
                event.ignore()
                return
            self.session.stop()
            self.session.wait(STOP_WAIT_S)
        self.session.shutdown()
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
            self.editor.open(urls[0].toLocalFile())
