"""The error for an unusable preset (its own module so every layer can raise it cheaply)."""

from __future__ import annotations


class PresetError(ValueError):
    """A preset that cannot be used; the message names the key and what would be accepted."""

    def __init__(self, message: str, key: str | None = None):
        super().__init__(message)
        self.key = key
