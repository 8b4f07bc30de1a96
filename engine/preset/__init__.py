"""The preset: a run's complete, data-only description (format ``plateau-preset/1``, TOML).

One schema (:mod:`engine.preset.schema`) is the single source of truth for keys, defaults, types
and allowed values; :mod:`~engine.preset.keys` walks it, :mod:`~engine.preset.validation`
checks data against it (every message names the key and says what would be accepted), and
:mod:`~engine.preset.files` reads and writes TOML, migrating older formats. Nothing in a preset
is ever evaluated as code. This module keeps the public names in one place.
"""

from __future__ import annotations

from typing import Any

from engine.errors import PresetError
from engine.preset import keys as _keys
from engine.preset.files import (
    MIGRATIONS,
    absolute_paths,
    default_preset_path,
    dumps,
    from_dict,
    load,
    loads,
    migrate,
    parse_overrides,
    parse_value,
    presets_dir,
    problems,
    save,
)
from engine.preset.schema import (
    ARCHS,
    BALANCE,
    COMPILE_MODES,
    FORMAT,
    NORMALIZE,
    OPTIMIZERS,
    PRETRAINED_ARCHS,
    RESIZE,
    SCHEDULES,
    SOURCES,
    SUPPORTED_FORMATS,
    DataConfig,
    ModelConfig,
    OptimizerConfig,
    Preset,
    ScheduleConfig,
    SyntheticConfig,
    TrainConfig,
)

describe = _keys.describe


def all_keys(sections: bool = False) -> list[str]:
    """Every dotted key of the schema, e.g. ``train.optimizer.lr`` (and the sections' own names,
    e.g. ``train.optimizer``, with ``sections=True``)."""
    return _keys.all_keys(Preset, "", sections)


def field_spec(key: str) -> dict[str, Any]:
    """The kind, default and rules of one dotted key (for forms and docs)."""
    return _keys.field_spec(Preset, key)


def suggest_key(key: str) -> str | None:
    """The valid dotted key nearest to a misspelt one, or None."""
    return _keys.suggest_key(Preset, key)


__all__ = [
    "ARCHS",
    "BALANCE",
    "COMPILE_MODES",
    "FORMAT",
    "MIGRATIONS",
    "absolute_paths",
    "NORMALIZE",
    "OPTIMIZERS",
    "PRETRAINED_ARCHS",
    "RESIZE",
    "SCHEDULES",
    "SOURCES",
    "SUPPORTED_FORMATS",
    "DataConfig",
    "ModelConfig",
    "OptimizerConfig",
    "Preset",
    "PresetError",
    "ScheduleConfig",
    "SyntheticConfig",
    "TrainConfig",
    "all_keys",
    "default_preset_path",
    "describe",
    "dumps",
    "field_spec",
    "from_dict",
    "load",
    "loads",
    "migrate",
    "parse_overrides",
    "parse_value",
    "presets_dir",
    "problems",
    "save",
    "suggest_key",
]
