"""``MainWindow``: preset forms left, live plots in the middle, runs and doctor right."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QGridLayout,
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
from workbench.plots.accuracy_plot import AccuracyPlot
from workbench.plots.confusion_matrix_view import ConfusionMatrixView
from workbench.plots.loss_plot import LossPlot
from workbench.plots.lr_plot import LrPlot
from workbench.plots.per_class_plot import PerClassPlot
from workbench.run_view import RunView
from workbench.session import BackgroundJobs, TrainingSession, collect_garbage_on_gui_thread
from workbench.settings import Settings

PAINT_INTERVAL_MS = 100  # plots repaint at most 10 times a second
INSPECT_DELAY_MS = 400  # wait for typing to settle before re-inspecting data and model
STOP_WAIT_S = 5.0


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
        self.preset_path: Path | None = None
        self._draws = 0  # "Draw other samples" presses, so each draw differs
        self.saved_preset: Preset | None = None
        self._preset: Preset | None = None
        self._build_forms()
        self._build_center()
        self._build_right()
        self._build_menus()
        self.run_view = RunView(self)
        self._wire()
        self.resize(1500, 920)
        self.setAcceptDrops(True)
        geometry = self.settings.get("window/geometry")
        if not geometry.isEmpty():
            self.restoreGeometry(geometry)
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
        left.setMinimumWidth(330)
        self.left_panel = left

    def _build_center(self) -> None:
        self.loss_plot = LossPlot()
        self.accuracy_plot = AccuracyPlot()
        self.lr_plot = LrPlot()
        self.per_class_plot = PerClassPlot()
        self.confusion_view = ConfusionMatrixView()
        plots = QWidget()
        grid = QGridLayout(plots)
        grid.setContentsMargins(2, 2, 2, 2)
        grid.addWidget(self.loss_plot, 0, 0)
        grid.addWidget(self.accuracy_plot, 0, 1)
        grid.addWidget(self.lr_plot, 0, 2)
        grid.addWidget(self.per_class_plot, 1, 0, 1, 2)
        grid.addWidget(self.confusion_view, 1, 2)
        for col, stretch in enumerate((4, 3, 3)):
            grid.setColumnStretch(col, stretch)
        grid.setRowStretch(0, 1)
        grid.setRowStretch(1, 1)
        self.data_inspector = DataInspector()
        self.model_summary = ModelSummaryView()
        self.error_browser = ErrorBrowser()
        self.center_tabs = QTabWidget()
        self.center_tabs.setObjectName("centerTabs")
        self.center_tabs.addTab(plots, "Training")
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
        right.setMinimumWidth(320)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.addWidget(self.left_panel)
        self.splitter.addWidget(self.center_panel)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([350, 800, 350])
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
        for name in ("actionStart", "actionPause", "actionStop", "actionLrFind"):
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
        status = self.statusBar()
        self.status_labels = {}
        # the widest text each label shows, so labels do not jump as their numbers change
        widest = {
            "epoch": "epoch 999/999 · batch 9999/9999",
            "speed": "9,999,999 samples/s",
            "elapsed": "0:00:00",
            "eta": "ETA 0:00:00",
        }
        for key in ("device", "epoch", "speed", "elapsed", "eta"):
            label = QLabel("")
            label.setObjectName(f"status_{key}")
            label.setStyleSheet("padding: 0 10px;")
            if key in widest:
                label.setMinimumWidth(label.fontMetrics().horizontalAdvance(widest[key]) + 20)
            status.addPermanentWidget(label)
            self.status_labels[key] = label

    def _wire(self) -> None:
        a = self.actions
        a["actionStart"].triggered.connect(self.start)
        a["actionPause"].triggered.connect(self.toggle_pause)
        a["actionStop"].triggered.connect(self.stop)
        a["actionOpenPreset"].triggered.connect(self.open_preset_dialog)
        a["actionSavePreset"].triggered.connect(lambda: self.save_preset())
        a["actionSavePresetAs"].triggered.connect(lambda: self.save_preset(ask=True))
        a["actionExport"].triggered.connect(self.run_view.open_export_dialog)
        a["actionPreferences"].triggered.connect(self.open_preferences)
        a["actionLrFind"].triggered.connect(self.open_lr_finder)
        self.doctor_panel.apply_requested.connect(self.apply_fix)
        self.doctor_panel.value_of = self._value_of
        a["actionQuit"].triggered.connect(self.close)
        for form in self.forms:
            form.edited.connect(self._forms_edited)
        self.session.state_changed.connect(self._session_state)
        self.run_list.run_selected.connect(self.run_view.show_run)
        self.run_list.runs_checked.connect(self.run_view.overlay_runs)
        self.data_inspector.redraw_requested.connect(lambda: self.refresh_inspection(redraw=True))

    # ------------------------------------------------------------------ presets

    def current_preset(self) -> Preset:
        """The preset the forms show; raises PresetError naming the first invalid value."""
        values = {}
        for form in self.forms:
            values.update(form.values())
        base = self._preset or Preset()
        return base.with_changes(values)

    def load_preset(self, path: str | Path, remember: bool = True) -> bool:
        """Load a preset file into the forms; on error keep the current preset and say why."""
        try:
            preset = presets.load(path)
        except PresetError as exc:
            self.banner.show_message(
                f"Could not open the preset: {exc}", "the current preset is unchanged"
            )
            return False
        self._show_preset(preset)
        self.preset_path = Path(path)
        self.saved_preset = preset
        if remember:
            self.settings.add_recent(path)
            self.settings.set("folders/presets", str(Path(path).resolve().parent))
            self._rebuild_recent()
        self.banner.hide()
        self._update_title()
        self.preset_loaded.emit(str(path))
        return True

    def _show_preset(self, preset: Preset) -> None:
        self._preset = preset
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
        if path is None and (ask or self.preset_path is None or _is_shipped(self.preset_path)):
            start = str(Path(self.settings.get("folders/presets") or ".") / f"{preset.name}.toml")
            path, _ = QFileDialog.getSaveFileName(self, "Save preset", start, "Presets (*.toml)")
            if not path:
                return False
        path = Path(path or self.preset_path)
        try:
            presets.save(preset, path)
        except OSError as exc:
            self.banner.show_message(f"Could not save {path}: {exc.strerror or exc}")
            return False
        self.preset_path, self.saved_preset, self._preset = path, preset, preset
        self.settings.add_recent(path)
        self._rebuild_recent()
        self._update_title()
        return True

    def open_preset_dialog(self) -> None:
        start = self.settings.get("folders/presets") or str(presets.presets_dir())
        path, _ = QFileDialog.getOpenFileName(self, "Open preset", start, "Presets (*.toml)")
        if path:
            self.load_preset(path)

    def _rebuild_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.settings.get("recent/presets"):
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _=False, p=path: self.load_preset(p))
        self.recent_menu.setEnabled(bool(self.recent_menu.actions()))

    def _forms_edited(self) -> None:
        for form in self.forms:
            form.clear_errors()
        try:
            preset = self.current_preset()
        except PresetError as exc:
            for form in self.forms:
                form.mark_error(exc.key or "", str(exc))
            self.preset_error.setText(str(exc))
            self._preset_valid = False
        else:
            self._preset = preset
            self.preset_error.setText("")
            self._preset_valid = True
            self._inspect_timer.start()
        self._update_title()
        self._update_actions()

    def _update_title(self) -> None:
        try:
            current = self.current_preset()
        except PresetError:
            current = None
        name = current.name if current else (self._preset.name if self._preset else "untitled")
        self.setWindowTitle(f"{name}[*] — Plateau")
        self.setWindowModified(current != self.saved_preset)

    def _update_actions(self) -> None:
        apply_state(self.actions, self.session.state, getattr(self, "_preset_valid", True))

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
            lambda result: self.lr_plot.show_preview(*result),
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
        self._update_actions()
        if state == "idle":
            self.refresh_runs()

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
            self.load_preset(urls[0].toLocalFile())


def _is_shipped(path: Path) -> bool:
    return Path(path).resolve().parent == presets.presets_dir()


def _inspect_module():
    import engine.inspection

    return engine.inspection


def _available_devices():
    from engine.devices import available_devices

    return available_devices()
