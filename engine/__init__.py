"""Plateau's engine: presets, data, models and the training loop. Never imports Qt."""

from engine.preset import Preset, PresetError

__all__ = ["Preset", "PresetError"]
