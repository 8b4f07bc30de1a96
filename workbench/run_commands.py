"""The commands that start and steer runs: start, resume (or train longer), pause, apply a
doctor fix (and rerun), the learning-rate finder and export."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QInputDialog, QMainWindow

from engine.preset import PresetError
from engine.runs import RunFiles
from engine.wording import count
from workbench.bridge import engine_calls
from workbench.bridge.jobs import BackgroundJobs
from workbench.bridge.training_session import TrainingSession
from workbench.panels.error_banner import ErrorBanner
from workbench.panels.run_list import RunList
from workbench.preset_editor import PresetEditor
from workbench.run_history import RunHistory
from workbench.run_presenter import RunPresenter
from workbench.settings import Settings


class RunCommands(QObject):
    """What the Run menu, the toolbar, the run list and the doctor panel ask for."""

    def __init__(
        self,
        window: QMainWindow,
        session: TrainingSession,
        presenter: RunPresenter,
        editor: PresetEditor,
        run_list: RunList,
        banner: ErrorBanner,
        jobs: BackgroundJobs,
        settings: Settings,
        workspace: Callable[[], str],
    ):
        super().__init__(window)
        self.window, self.session, self.presenter, self.editor = window, session, presenter, editor
        self.run_list, self.banner, self.jobs, self.settings = run_list, banner, jobs, settings
        self.workspace = workspace

    def start(self) -> None:
        if self.session.is_active():
            return
        try:
            preset = self.editor.current()
        except PresetError as exc:
            self.banner.show_message(f"Cannot start: {exc}")
            return
        self.banner.hide()
        self.session.start(preset, self.workspace())  # the child sets up while the views reset
        self.presenter.begin_live(preset)

    def resume(self, run_dir: str | None, epochs: int | None = None) -> bool:
        """Continue a run in its own directory and curves: a stopped run to its planned epochs,
        a finished one to ``epochs`` (asked for when not given)."""
        if not run_dir or self.session.is_active():
            return False
        files, name = RunFiles(run_dir), Path(run_dir).name
        if not files.last_checkpoint.is_file():
            self.banner.show_message(f"Cannot resume {name}: it has no checkpoint")
            return False
        try:
            preset = files.read_preset()
        except PresetError as exc:
            self.banner.show_message(f"Cannot resume {name}: {exc}")
            return False
        history = RunHistory.from_run_dir(run_dir)
        done = len(history.epochs)
        if epochs is None and done >= preset.train.epochs:
            epochs = self.ask_more_epochs(name, done)
            if epochs is None:
                return False
        if epochs is not None:
            preset = preset.with_changes({"train.epochs": epochs})
        self.banner.hide()
        self.presenter.begin_live(preset, history)
        self.session.start(preset, self.workspace(), resume_dir=run_dir)
        return True

    def resume_selected(self) -> bool:
        return self.resume(self.run_list.selected_run())

    def ask_more_epochs(self, name: str, done: int) -> int | None:
        """How many epochs a finished run should reach when it trains longer (None: cancel)."""
        value, ok = QInputDialog.getInt(
            self.window,
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

    def value_of(self, key: str):
        """The value of a dotted key in the preset a doctor fix changes (the panel's diff)."""
        try:
            return self._fix_base()[0].get(key)
        except (PresetError, AttributeError):
            return "?"

    def fix_target(self) -> str:
        """What the doctor panel says of where a fix goes, when that is not the forms' preset."""
        base, in_forms = self._fix_base()
        if in_forms or base is None:
            return ""
        return (
            f"This is a change to the preset of the run it was found in ('{base.name}'), which "
            "the forms do not show: applying it puts that run's preset, changed, in the forms."
        )

    def _fix_base(self):
        """The preset a fix changes, and whether it is the forms' one: the forms' preset when
        they show the preset the shown run was trained from (its name: fixes applied one after
        another, or a value edited since, stay), else that run's own preset."""
        try:
            current = self.editor.current()
        except PresetError:
            current = None
        run = self.presenter.shown_preset
        if run is None or (current is not None and current.name == run.name):
            return current, True
        return run, False

    def apply_fix(self, changes: dict, rerun: bool = False) -> bool:
        """Apply a doctor fix to the preset of the run it was found in — the forms' preset when
        they hold it, else that run's preset goes into the forms (once unsaved edits are saved
        or discarded), as a new preset; with ``rerun``, start a run and overlay that run."""
        if self.session.is_active():
            return False
        base, in_forms = self._fix_base()
        if base is None:
            self.banner.show_message("Cannot apply the fix: the forms hold an invalid value")
            return False
        if not in_forms and not self.editor.confirm_discard():
            return False
        try:
            preset = base.with_changes(self._keeping_marks(base, changes))
        except (ValueError, OSError) as exc:  # a bad value, an exclude list that cannot be read
            self.banner.show_message(f"Cannot apply the fix: {exc}")
            return False
        if not in_forms:
            self.editor.document.detach()  # not the file the forms showed: saved under a new name
        self.editor.show(preset)
        if rerun:
            previous = self.presenter.shown.run_dir if self.presenter.shown else None
            self.start()
            if previous:
                self.run_list.set_checked(previous, True)
        return True

    def _keeping_marks(self, preset, changes: dict) -> dict:
        """A fix naming another exclude list (a run's ``leaked-into-training.txt``) leaves out
        the images the preset's list already leaves out too: both go into a new list in the
        workspace, named after the preset and the run, which the preset then names."""
        fix, named = changes.get("data.exclude"), preset.data.exclude
        if not fix or not named or Path(fix) == Path(named):
            return changes
        run = Path(fix).parent.name
        path = Path(self.workspace()) / "labels" / f"{preset.name}-exclude-{run}.txt"
        merged = engine_calls.merge_excludes(str(path), [named, fix])
        return {**changes, "data.exclude": merged}

    def open_lr_finder(self) -> None:
        from workbench.panels.lr_finder_dialog import LrFinderDialog

        try:
            preset = self.editor.current()
        except PresetError as exc:
            self.banner.show_message(f"Cannot run the LR finder: {exc}")
            return
        dialog = self.lr_finder_dialog = LrFinderDialog(self.window)
        dialog.use_lr.connect(lambda lr: self.apply_fix({"train.optimizer.lr": lr}))
        dialog.sweep(self.jobs, preset)
        dialog.show()

    def open_export_dialog(self) -> None:
        from workbench.panels.export_dialog import ExportDialog

        selected = self.run_list.selected_run()
        runs = [r for r in self.run_list.runs() if RunFiles(r.path).last_checkpoint.is_file()]
        runs.sort(key=lambda r: r.path != selected)

        def export(src, dest, fmt, on_done, on_error):
            self.jobs.submit(
                "export", lambda: engine_calls.export(src, dest, fmt), on_done, on_error
            )

        folder = self.settings.get("folders/export")
        self.export_dialog = ExportDialog(runs, export, folder, self.window)
        self.export_dialog.remember_folder = lambda f: self.settings.set("folders/export", f)
        self.export_dialog.show()

    def mark_samples(self, samples: list[str], relabel_as: str | None) -> None:
        """Add samples marked in the Errors tab to the preset's exclude (or relabel) list —
        the one the preset names, else ``<workspace>/labels/<preset>-exclude.txt`` — and point
        the preset at it, so the next run uses it."""
        key = "data.exclude" if relabel_as is None else "data.relabel"
        try:
            preset = self.editor.current()
        except PresetError as exc:
            self.presenter.error_browser.show_marked(f"Cannot mark: {exc}")
            return
        named = preset.data.exclude if relabel_as is None else preset.data.relabel
        kind = "exclude" if relabel_as is None else "relabel"
        path = named or str(Path(self.workspace()) / "labels" / f"{preset.name}-{kind}.txt")
        try:
            written = engine_calls.mark_samples(path, samples, relabel_as)
        except (OSError, ValueError) as exc:
            self.presenter.error_browser.show_marked(f"Cannot write {path}: {exc}")
            return
        what = "left out" if relabel_as is None else f"relabelled as {relabel_as}"
        done = f"{count(len(samples), 'image')} {what} in {written}"
        if named == written or self.apply_fix({key: written}):
            self.presenter.error_browser.show_marked(f"{done}; the next run uses it ({key}).")
        else:
            self.presenter.error_browser.show_marked(
                f"{done}; set {key} to it once the run ends (the preset cannot change while "
                "a run is active)."
            )
