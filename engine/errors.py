"""Errors the engine raises for bad input or failed runs; each carries a message for a person.
(No imports: every layer, the window included, can raise and catch them cheaply.)"""

from __future__ import annotations


class PresetError(ValueError):
    """A preset that cannot be used; the message names the key and what would be accepted."""

    def __init__(self, message: str, key: str | None = None):
        super().__init__(message)
        self.key = key


class DataError(ValueError):
    """The data a preset points at cannot be used (missing files, no images, one class, …);
    ``key`` names the preset key to change."""

    def __init__(self, message: str, key: str | None = None):
        super().__init__(message)
        self.key = key


class TrainingError(RuntimeError):
    """Training could not go on; ``hint`` says what to change."""

    def __init__(self, message: str, hint: str = "", non_finite: bool = False):
        super().__init__(message)
        self.hint = hint
        self.non_finite = non_finite


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded; the message names the file and why."""


class Cancelled(Exception):
    """The person stopped a run (or an inspection) before training began, e.g. while a folder's
    images were being decoded."""
