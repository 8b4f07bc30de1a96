"""Validating plain preset data (as parsed from TOML) against the schema: each value coerced to
its kind and checked against its rules, then the rules that tie several keys together. Every
message names the key and says what would be accepted. Generic over the root class."""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from typing import Any

from engine.errors import PresetError
from engine.preset.keys import (
    describe,
    field_spec,
    is_section,
    section_type,
    unknown_key_message,
)

DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
AUTO_BOOL_WORDS = {"auto": "auto", "true": True, "false": False}


def _toml(value: Any) -> str:
    """A value as a preset file spells it (``true``, not Python's ``True``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _check_range(key: str, value: float, spec: dict[str, Any]) -> None:
    lo, hi = spec.get("min"), spec.get("max")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise PresetError(
            f"'{key}' = {_toml(value)} is out of range: expected {describe(spec)}", key
        )


def coerce(key: str, value: Any, spec: dict[str, Any]) -> Any:
    """Check one value against its spec; return it in canonical type."""
    kind = spec["kind"]
    bad = PresetError(f"'{key}' = {_toml(value)} is not valid: expected {describe(spec)}", key)
    if kind == "bool":
        if not isinstance(value, bool):
            raise bad
        return value
    if kind == "auto-bool":  # "auto", or true/false (forms and --set may give their words)
        if isinstance(value, str) and value.strip().lower() in AUTO_BOOL_WORDS:
            return AUTO_BOOL_WORDS[value.strip().lower()]
        if not isinstance(value, bool):
            raise bad
        return value
    if kind == "freeze":  # "none", "backbone", or a number of trainable final blocks
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if value in ("none", "backbone"):
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        _check_range(key, value, spec)
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise bad
        _check_range(key, value, spec)
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        value = float(value)
        if not math.isfinite(value):
            raise bad
        _check_range(key, value, spec)
        return value
    if kind in ("str", "name", "device"):
        if not isinstance(value, str):
            raise bad
        if kind == "name" and not value.strip():
            raise bad
        if kind == "device" and not DEVICE_PATTERN.match(value):
            raise bad
        if "choices" in spec and value not in spec["choices"]:
            close = difflib.get_close_matches(value, spec["choices"], n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise PresetError(
                f"'{key}' = {value!r} is not valid: expected {describe(spec)}{hint}", key
            )
        return value
    if kind == "list[str]":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad
        return list(value)
    if kind == "list[int]":
        if not isinstance(value, list):
            raise bad
        out = []
        for v in value:
            if isinstance(v, bool) or not isinstance(v, int):
                raise bad
            _check_range(key, v, spec)
            out.append(v)
        return out
    if kind == "dict[float]":
        if not isinstance(value, dict):
            raise bad
        out = {}
        for k, v in value.items():
            sub = f"{key}.{k}"
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise PresetError(f"'{sub}' = {v!r} is not valid: expected a number", sub)
            _check_range(sub, float(v), spec)
            out[str(k)] = float(v)
        return out
    raise AssertionError(f"unknown kind {kind}")  # pragma: no cover - schema bug


def build(
    root: type, cls: type, raw: Any, prefix: str = "", errors: list[PresetError] | None = None
) -> Any:
    """The section ``cls`` of the schema ``root`` from ``raw``; the first problem raises, unless
    ``errors`` collects every problem (invalid values then keep their defaults)."""

    def problem(error: PresetError) -> None:
        if errors is None:
            raise error
        errors.append(error)

    if not isinstance(raw, dict):
        section = prefix.rstrip(".")
        problem(PresetError(f"'{section}' must be a table (a [{section}] section)", section))
        raw = {}
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in fields:
            problem(PresetError(unknown_key_message(root, prefix + key), prefix + key))
    values = {}
    for name, f in fields.items():
        dotted = prefix + name
        if is_section(f):
            values[name] = build(root, section_type(f), raw.get(name, {}), dotted + ".", errors)
        elif name in raw:
            try:
                values[name] = coerce(dotted, raw[name], dict(f.metadata))
            except PresetError as exc:
                problem(exc)
    return cls(**values)


def set_dotted(root: type, raw: dict[str, Any], key: str, value: Any) -> None:
    """Put ``value`` at the dotted ``key`` of plain data (a PresetError for an unknown key)."""
    field_spec(root, key)  # raises a PresetError naming the key if it does not exist
    node = raw
    parts = key.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def validate(root: type, raw: dict[str, Any]) -> Any:
    """An instance of ``root`` from current-format data; raises the first problem."""
    preset = build(root, root, raw)
    for problem in consistency_problems(preset):
        raise problem
    return preset


def problems(root: type, raw: dict[str, Any]) -> list[PresetError]:
    """Every problem of current-format data at once (a form marks them all); empty when valid."""
    errors: list[PresetError] = []
    preset = build(root, root, dict(raw), "", errors)
    return errors + consistency_problems(preset)


def consistency_problems(preset) -> list[PresetError]:
    """Every rule that ties several keys together and is broken."""
    from engine.augment_spec import parse_augment

    found = []
    for spec in preset.data.augment:
        try:
            parse_augment(spec)
        except PresetError as exc:
            found.append(exc)
    sched = preset.train.schedule
    if sched.milestones != sorted(set(sched.milestones)):
        found.append(
            PresetError(
                f"'train.schedule.milestones' = {sched.milestones} must be strictly increasing",
                "train.schedule.milestones",
            )
        )
    if sched.warmup_epochs >= preset.train.epochs:
        found.append(
            PresetError(
                f"'train.schedule.warmup_epochs' = {sched.warmup_epochs} must be smaller than "
                f"'train.epochs' = {preset.train.epochs} (fewer warm-up epochs, or 0 for none)",
                "train.schedule.warmup_epochs",
            )
        )
    if sched.name == "multistep" and not sched.milestones:
        found.append(
            PresetError(
                "'train.schedule.milestones' must list at least one epoch when "
                "'train.schedule.name' = 'multistep'",
                "train.schedule.milestones",
            )
        )
    if preset.train.batch_size < 2 and preset.model.has_batch_norm:
        m = preset.model
        way_out = " or 'model.batch_norm' = false" if m.from_scratch else ""
        found.append(
            PresetError(
                f"'train.batch_size' = {preset.train.batch_size}: {m.arch}'s batch norm needs at "
                "least 2 images a batch to normalize over; set 'train.batch_size' to 2 or more "
                f"(16-128 is usual){way_out}",
                "train.batch_size",
            )
        )
    if preset.data.source == "folder" and not preset.data.root:
        found.append(
            PresetError(
                "'data.root' must name the image folder when 'data.source' = 'folder'",
                "data.root",
            )
        )
    return found
