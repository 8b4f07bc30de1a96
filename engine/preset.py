"""The preset: a run's complete, data-only description (format ``plateau-preset/1``, TOML).

One schema (the frozen dataclasses below) is the single source of truth for keys, defaults,
types and allowed values. Loading validates everything and raises :class:`PresetError` with a
message that names the offending key and says what would be accepted. Nothing in a preset is
ever evaluated as code.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from engine import atomic
from engine.preset_error import PresetError

FORMAT = "plateau-preset/1"
SUPPORTED_FORMATS = (FORMAT,)

SOURCES = ("digits", "synthetic", "mnist", "fashion-mnist", "cifar10", "cifar100", "folder")
NORMALIZE = ("none", "unit", "standardize")
BALANCE = ("none", "oversample", "undersample", "class-weights", "focal")
ARCHS = ("simple-cnn", "convnet", "resnet18", "vgg11", "mlp")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")
SCHEDULES = ("none", "step", "multistep", "exponential", "cosine", "onecycle", "plateau")
DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")

# Names people often write for a key; checked before fuzzy matching.
ALIASES = {
    "learning_rate": "train.optimizer.lr",
    "learningrate": "train.optimizer.lr",
    "lr": "train.optimizer.lr",
    "optimizer": "train.optimizer.name",
    "optim": "train.optimizer.name",
    "scheduler": "train.schedule.name",
    "schedule": "train.schedule.name",
    "batch": "train.batch_size",
    "batchsize": "train.batch_size",
    "epoch": "train.epochs",
    "epochs": "train.epochs",
    "architecture": "model.arch",
    "arch": "model.arch",
    "dataset": "data.source",
    "weight_decay": "train.optimizer.weight_decay",
    "wd": "train.optimizer.weight_decay",
    "momentum": "train.optimizer.momentum",
    "dropout": "model.dropout",
    "device": "train.device",
    "augmentation": "data.augment",
    "augmentations": "data.augment",
}


def _spec(kind: str, **rules: Any) -> dict[str, Any]:
    return {"kind": kind, **rules}


def _field(default: Any, kind: str, **rules: Any) -> Any:
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=_spec(kind, **rules))
    return field(default=default, metadata=_spec(kind, **rules))


@dataclass(frozen=True)
class SyntheticConfig:
    """``[data.synthetic]``: generated images with a controllable amount of signal."""

    classes: int = _field(10, "int", min=2, max=1000)
    samples: int = _field(2000, "int", min=4, max=10_000_000)
    channels: int = _field(3, "int", min=1, max=4)
    size: int = _field(32, "int", min=4, max=512)
    imbalance: float = _field(1.0, "float", min=1.0, max=10_000.0)
    label_noise: float = _field(0.0, "float", min=0.0, max=1.0)
    signal: float = _field(1.0, "float", min=0.0, max=1.0)


@dataclass(frozen=True)
class DataConfig:
    """``[data]``: where the images come from and how they are prepared."""

    source: str = _field("digits", "str", choices=SOURCES)
    root: str = _field("", "str")
    download: bool = _field(False, "bool")
    val_fraction: float = _field(0.2, "float", min=0.01, max=0.9)
    image_size: int = _field(0, "int", min=0, max=1024)
    normalize: str = _field("standardize", "str", choices=NORMALIZE)
    balance: str = _field("none", "str", choices=BALANCE)
    augment: list = _field([], "list[str]")
    limit_per_class: int = _field(0, "int", min=0, max=10_000_000)
    class_fraction: dict = _field({}, "dict[float]", min=0.0, max=1.0)
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)


@dataclass(frozen=True)
class ModelConfig:
    """``[model]``: the architecture and its size."""

    arch: str = _field("convnet", "str", choices=ARCHS)
    width: int = _field(32, "int", min=1, max=4096)
    depth: int = _field(3, "int", min=1, max=64)
    batch_norm: bool = _field(True, "bool")
    dropout: float = _field(0.0, "float", min=0.0, max=0.99)


@dataclass(frozen=True)
class OptimizerConfig:
    """``[train.optimizer]``."""

    name: str = _field("adam", "str", choices=OPTIMIZERS)
    lr: float = _field(0.001, "float", min=1e-12, max=100.0)
    momentum: float = _field(0.9, "float", min=0.0, max=0.9999)
    weight_decay: float = _field(0.0, "float", min=0.0, max=10.0)


@dataclass(frozen=True)
class ScheduleConfig:
    """``[train.schedule]``: how the learning rate changes over the run."""

    name: str = _field("none", "str", choices=SCHEDULES)
    step_size: int = _field(1, "int", min=1, max=100_000)
    gamma: float = _field(0.1, "float", min=1e-6, max=1.0)
    milestones: list = _field([], "list[int]", min=1, max=100_000)
    patience: int = _field(3, "int", min=0, max=100_000)
    warmup_epochs: int = _field(0, "int", min=0, max=100_000)


@dataclass(frozen=True)
class TrainConfig:
    """``[train]``: the loop's settings."""

    epochs: int = _field(10, "int", min=1, max=100_000)
    batch_size: int = _field(64, "int", min=1, max=1_000_000)
    label_smoothing: float = _field(0.0, "float", min=0.0, max=0.99)
    grad_clip: float = _field(0.0, "float", min=0.0, max=1e6)
    early_stopping: int = _field(0, "int", min=0, max=100_000)
    device: str = _field("auto", "device")
    amp: bool = _field(False, "bool")
    processes: int = _field(1, "int", min=1, max=256)
    channels_last: bool = _field(False, "bool")
    compile: bool = _field(False, "bool")
    compile_mode: str = _field("default", "str", choices=COMPILE_MODES)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)


@dataclass(frozen=True)
class Preset:
    """A complete run description. Build with :func:`from_dict`, :func:`load` or ``Preset()``."""

    format: str = _field(FORMAT, "str", choices=SUPPORTED_FORMATS)
    name: str = _field("untitled", "name")
    seed: int = _field(0, "int", min=0, max=2**32 - 1)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        """The preset as plain TOML-ready data (every key, defaults included)."""
        return dataclasses.asdict(self)

    def with_changes(self, changes: dict[str, Any]) -> Preset:
        """A copy with dotted-key changes applied (``{"train.optimizer.lr": 3e-4}``), validated."""
        raw = self.to_dict()
        for key, value in changes.items():
            _set_dotted(raw, key, value)
        return from_dict(raw)

    def problems_with(self, changes: dict[str, Any]) -> list[PresetError]:
        """Every problem the dotted-key ``changes`` would cause (empty: ``with_changes`` works)."""
        raw = self.to_dict()
        for key, value in changes.items():
            _set_dotted(raw, key, value)
        return problems(raw)

    def get(self, key: str) -> Any:
        """The value at a dotted key, e.g. ``preset.get("train.optimizer.lr")``."""
        node: Any = self
        for part in key.split("."):
            node = getattr(node, part)
        return node


# ----------------------------------------------------------------------------- schema walking


def _is_section(f: dataclasses.Field) -> bool:
    return "kind" not in f.metadata


def _section_type(f: dataclasses.Field) -> type:
    return f.default_factory  # type: ignore[return-value]


def all_keys(cls: type = Preset, prefix: str = "", sections: bool = False) -> list[str]:
    """Every dotted key of the schema, e.g. ``train.optimizer.lr`` (and the sections' own names,
    e.g. ``train.optimizer``, with ``sections=True``)."""
    keys = []
    for f in dataclasses.fields(cls):
        dotted = prefix + f.name
        if _is_section(f):
            if sections:
                keys.append(dotted)
            keys.extend(all_keys(_section_type(f), dotted + ".", sections))
        else:
            keys.append(dotted)
    return keys


def field_spec(key: str) -> dict[str, Any]:
    """The kind, default and rules of one dotted key (for forms and docs)."""
    cls: type = Preset
    parts = key.split(".")
    for i, part in enumerate(parts):
        fields = {f.name: f for f in dataclasses.fields(cls)}
        if part not in fields:
            raise PresetError(_unknown_key_message(key), key)
        f = fields[part]
        if _is_section(f):
            cls = _section_type(f)
            if i == len(parts) - 1:
                raise PresetError(f"'{key}' is a section, not a value", key)
            continue
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default
        return {"default": default, **f.metadata}
    raise PresetError(_unknown_key_message(key), key)


def suggest_key(key: str) -> str | None:
    """The valid dotted key nearest to a misspelt one, or None."""
    known = all_keys(sections=True)
    leaf = key.rsplit(".", 1)[-1].lower()
    if leaf in ALIASES and ALIASES[leaf] != key:
        return ALIASES[leaf]
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
    if close:
        return close[0]
    leaves = {k.rsplit(".", 1)[-1]: k for k in known}
    close = difflib.get_close_matches(leaf, list(leaves), n=1, cutoff=0.7)
    return leaves[close[0]] if close else None


def _unknown_key_message(key: str) -> str:
    suggestion = suggest_key(key)
    hint = f"; did you mean '{suggestion}'?" if suggestion else ""
    return f"unknown key '{key}'{hint}"


def describe(spec: dict[str, Any]) -> str:
    kind = spec["kind"]
    if "choices" in spec:
        return "one of " + ", ".join(repr(c) for c in spec["choices"])
    noun = {
        "int": "an integer",
        "float": "a number",
        "bool": "true or false",
        "str": "a string",
        "name": "a non-empty name",
        "device": "'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'",
        "list[str]": "a list of strings",
        "list[int]": "a list of integers",
        "dict[float]": "a table of numbers",
    }[kind]
    if "min" in spec and "max" in spec and kind in ("int", "float", "list[int]", "dict[float]"):
        noun += f" from {_fmt(spec['min'])} to {_fmt(spec['max'])}"
    return noun


def _fmt(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _check_range(key: str, value: float, spec: dict[str, Any]) -> None:
    lo, hi = spec.get("min"), spec.get("max")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise PresetError(f"'{key}' = {value!r} is out of range: expected {describe(spec)}", key)


def _coerce(key: str, value: Any, spec: dict[str, Any]) -> Any:
    """Check one value against its spec; return it in canonical type."""
    kind = spec["kind"]
    bad = PresetError(f"'{key}' = {value!r} is not valid: expected {describe(spec)}", key)
    if kind == "bool":
        if not isinstance(value, bool):
            raise bad
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


def _build(cls: type, raw: Any, prefix: str, errors: list[PresetError] | None = None) -> Any:
    """The section ``cls`` from ``raw``; the first problem raises, unless ``errors`` collects
    every problem (invalid values then keep their defaults)."""

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
            problem(PresetError(_unknown_key_message(prefix + key), prefix + key))
    values = {}
    for name, f in fields.items():
        dotted = prefix + name
        if _is_section(f):
            values[name] = _build(_section_type(f), raw.get(name, {}), dotted + ".", errors)
        elif name in raw:
            try:
                values[name] = _coerce(dotted, raw[name], dict(f.metadata))
            except PresetError as exc:
                problem(exc)
    return cls(**values)


# ----------------------------------------------------------------------------- cross-field rules


def _consistency_problems(preset: Preset) -> list[PresetError]:
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
                f"'train.epochs' = {preset.train.epochs}",
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
    if preset.data.source == "folder" and not preset.data.root:
        found.append(
            PresetError(
                "'data.root' must name the image folder when 'data.source' = 'folder'",
                "data.root",
            )
        )
    return found


# ----------------------------------------------------------------------------- public API


def from_dict(raw: dict[str, Any], origin: str = "preset") -> Preset:
    """Validate plain data (as parsed from TOML) into a :class:`Preset`."""
    raw = dict(raw)
    fmt = raw.get("format", FORMAT)
    if fmt not in SUPPORTED_FORMATS:
        raise PresetError(
            f"{origin}: unsupported format {fmt!r}; supported: {', '.join(SUPPORTED_FORMATS)}",
            "format",
        )
    raw["format"] = fmt
    preset = _build(Preset, raw, "")
    for problem in _consistency_problems(preset):
        raise problem
    return preset


def problems(raw: dict[str, Any]) -> list[PresetError]:
    """Every problem of plain preset data at once (a form marks them all), not only the first
    one :func:`from_dict` raises; empty when the data is a valid preset."""
    errors: list[PresetError] = []
    preset = _build(Preset, dict(raw), "", errors)
    return errors + _consistency_problems(preset)


def loads(text: str, origin: str = "preset", overrides: dict[str, Any] | None = None) -> Preset:
    """Parse TOML text, apply dotted-key ``overrides`` and validate."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PresetError(f"{origin}: malformed TOML: {exc}") from None
    for key, value in (overrides or {}).items():
        _set_dotted(raw, key, value)
    return from_dict(raw, origin)


def load(path: str | Path, overrides: dict[str, Any] | None = None) -> Preset:
    """Read and validate a preset file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PresetError(f"preset file not found: {path}") from None
    except IsADirectoryError:
        raise PresetError(f"{path} is a folder, not a preset file (.toml)") from None
    except UnicodeDecodeError:
        raise PresetError(f"{path} is not a text file; a preset is a UTF-8 TOML file") from None
    except OSError as exc:
        raise PresetError(f"cannot read preset {path}: {exc.strerror}") from None
    return loads(text, str(path), overrides)


def dumps(preset: Preset) -> str:
    """The preset as TOML text with every key."""
    return tomli_w.dumps(preset.to_dict())


def save(preset: Preset, path: str | Path) -> Path:
    """Write the preset atomically as TOML."""
    return atomic.write_text(path, dumps(preset))


def _set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    field_spec(key)  # raises a PresetError naming the key if it does not exist
    node = raw
    parts = key.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def parse_value(key: str, text: str) -> Any:
    """Turn the text of ``--set key=text`` into a value of the key's type."""
    spec = field_spec(key)
    kind = spec["kind"]
    text = text.strip()
    if kind in ("str", "name", "device"):
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
            return text[1:-1]
        return text
    if kind == "bool":
        lowered = text.lower()
        if lowered in ("true", "yes", "on", "1"):
            return True
        if lowered in ("false", "no", "off", "0"):
            return False
        raise PresetError(f"'{key}' = {text!r} is not valid: expected true or false", key)
    if kind.startswith("list") and not text.startswith("["):
        items = [t.strip() for t in text.split(",") if t.strip()]
        text = "[" + ", ".join(t if kind == "list[int]" else _toml_str(t) for t in items) + "]"
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        raise PresetError(
            f"'{key}' = {text!r} is not valid: expected {describe(spec)}", key
        ) from None


def _toml_str(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """Parse ``["train.epochs=3", "data.balance=oversample"]`` into typed dotted-key values."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise PresetError(f"--set {item!r}: expected KEY=VALUE, e.g. train.optimizer.lr=0.01")
        key, text = item.split("=", 1)
        key = key.strip()
        out[key] = parse_value(key, text)
    return out


def default_preset_path() -> Path:
    """The shipped digits preset the app and quick start open by default."""
    return presets_dir() / "digits.toml"


def presets_dir() -> Path:
    """The folder of shipped presets (``resources/presets``)."""
    return Path(__file__).resolve().parent.parent / "resources" / "presets"
