"""Plateau's engine: presets, data, models and the training loop. Never imports Qt."""

from engine.preset import Preset

__all__ = ["Preset"]
