"""A run prepared ahead: the app's child loads the data and builds the model of the preset a
person looks at before they press Start, so the run begins at its first step.

Only what is quick and certain is prepared — never a download, a decode of images or a
computation of features (those wait for Start, with their progress shown). At Start the
preparation is used only for the very same preset text and when nothing it read has changed on
disk since (checked before the data was loaded: the folders, every image file's size and time,
the sample lists, the weights file; a torchvision dataset's files are taken to stay as they
were); otherwise the run prepares from scratch, as it always did.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from engine import preset as presets
from engine.control import RunControl
from engine.data import files_signature
from engine.data.scan import scan_folder
from engine.errors import Cancelled
from engine.preset import Preset, absolute_paths


@dataclass
class PreparedRun:
    text: str  # the preset exactly as the app sent it
    trainer: object  # engine.trainer.Trainer, prepared
    disk: tuple  # what it read, as it was before it read it
    at: float  # when it was prepared (time.monotonic)

    def take(self, start: dict) -> object | None:
        """The prepared trainer for the worker's ``start`` line, or None when that starts
        another preset or a resume, or anything it read has changed since."""
        if start.get("resume_dir") or start["preset"] != self.text:
            return None
        if _disk(self.trainer.preset) != self.disk:
            return None
        return self.trainer


def prepare_ahead(text: str) -> PreparedRun | None:
    """``text``'s run prepared now, or None when it is better left to Start: an invalid preset
    (Start reports it), a resume, several processes, a download, images to decode or features
    to compute."""
    from engine.trainer import Trainer

    try:
        preset = absolute_paths(presets.loads(text))
        if not _quick(preset):
            return None
        disk = _disk(preset)
        trainer = Trainer(preset, control=RunControl())
        trainer.prepare(_give_up)
    except Exception:  # noqa: BLE001 - anything at all: Start does it again and says what
        return None
    return PreparedRun(text, trainer, disk, time.monotonic())


def _quick(preset: Preset) -> bool:
    """Whether preparing may touch nothing but this machine's files."""
    from engine.models.pretrained import weights_file

    m = preset.model
    if preset.train.processes > 1 or preset.data.download:
        return False
    if m.pretrained and not m.weights and not m.init_from:
        return weights_file(m.arch)[1].is_file()  # else it would be downloaded
    return True


def _disk(preset: Preset) -> tuple:
    """Everything on disk the run reads, by sizes and times (an image folder: every file)."""
    from engine.models.pretrained import weights_identity

    cfg = preset.data
    folder = None
    if cfg.source == "folder" and cfg.root:
        try:
            folder = scan_folder(cfg.root)
        except Exception as exc:  # noqa: BLE001 - gone or unreadable: loading says so
            folder = str(exc)
    try:
        weights = weights_identity(preset.model)
    except Exception as exc:  # noqa: BLE001 - a missing file: Start says so
        weights = str(exc)
    return files_signature(cfg), folder, weights


def _give_up(done: int, total: int, what: str) -> None:
    """The progress of slow work (decoding, computing features, waiting for another Plateau):
    not done ahead of a Start that may never come."""
    raise Cancelled
