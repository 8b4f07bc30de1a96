"""Presets as files: TOML text in and out (atomic writes), older formats migrated on the way in,
``--set KEY=VALUE`` overrides, and where the shipped presets live."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tomli_w

from engine import atomic
from engine.errors import PresetError
from engine.preset import keys, validation
from engine.preset.schema import FORMAT, Preset

# An older format's name → a function that turns its data into the next format's (it sets the
# new "format"). A later preset format registers how to read v1 files here.
MIGRATIONS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}


def migrate(raw: dict[str, Any], origin: str = "preset") -> dict[str, Any]:
    """Plain preset data of any known format, as the current format."""
    raw = dict(raw)
    seen = []
    while (fmt := raw.get("format", FORMAT)) != FORMAT:
        if not isinstance(fmt, str) or fmt not in MIGRATIONS or fmt in seen:
            readable = sorted({FORMAT, *MIGRATIONS})
            raise PresetError(
                f"{origin}: unsupported format {fmt!r}; supported: {', '.join(readable)}",
                "format",
            )
        seen.append(fmt)
        raw = MIGRATIONS[fmt](dict(raw))
    raw["format"] = FORMAT
    return raw


def from_dict(
    raw: dict[str, Any], origin: str = "preset", overrides: dict[str, Any] | None = None
) -> Preset:
    """Validate plain data (as parsed from TOML, any known format) into a :class:`Preset`, with
    dotted-key ``overrides`` applied after migration."""
    raw = migrate(raw, origin)
    for key, value in (overrides or {}).items():
        validation.set_dotted(Preset, raw, key, value)
    return validation.validate(Preset, raw)


def problems(raw: dict[str, Any]) -> list[PresetError]:
    """Every problem of plain preset data at once (a form marks them all), not only the first
    one :func:`from_dict` raises; empty when the data is a valid preset."""
    return validation.problems(Preset, migrate(raw))


def loads(text: str, origin: str = "preset", overrides: dict[str, Any] | None = None) -> Preset:
    """Parse TOML text, apply dotted-key ``overrides`` and validate."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PresetError(f"{origin}: malformed TOML: {exc}") from None
    return from_dict(raw, origin, overrides)


def load(path: str | Path, overrides: dict[str, Any] | None = None) -> Preset:
    """Read and validate a preset file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        shipped = presets_dir() / (path.name if path.suffix == ".toml" else f"{path.name}.toml")
        hint = f"; the shipped one is {shipped}" if shipped.is_file() else ""
        raise PresetError(f"preset file not found: {path}{hint}") from None
    except IsADirectoryError:
        raise PresetError(f"{path} is a folder, not a preset file (.toml)") from None
    except UnicodeDecodeError:
        raise PresetError(f"{path} is not a text file; a preset is a UTF-8 TOML file") from None
    except OSError as exc:
        raise PresetError(f"cannot read preset {path}: {exc.strerror}") from None
    return _found_beside(loads(text, str(path), overrides), path.parent)


# keys that name files or folders: relative ones name what is beside the preset file, else
# resolve against the working directory
PATH_KEYS = (
    "data.root",
    "data.cache_dir",
    "data.exclude",
    "data.relabel",
    "model.weights",
    "model.init_from",
)


def _relative(value: str) -> bool:
    return bool(value) and not Path(value).expanduser().is_absolute()


def _found_beside(preset: Preset, folder: Path) -> Preset:
    """A relative path that names something beside the preset file means that (a preset kept
    next to its photos, opened from anywhere: the app started from a desktop icon, whose working
    directory is the home folder); else it stays relative to the working directory."""
    changes = {
        key: str((folder / value).resolve())
        for key in PATH_KEYS
        if _relative(value := preset.get(key)) and (folder / Path(value).expanduser()).exists()
    }
    return preset.with_changes(changes) if changes else preset


def absolute_paths(preset: Preset) -> Preset:
    """The preset with every relative path resolved against the working directory, as a run
    keeps it: resumed, browsed or exported from anywhere, it still names the same files."""
    changes = {
        key: str(Path(value).expanduser().resolve())
        for key in PATH_KEYS
        if _relative(value := preset.get(key))
    }
    return preset.with_changes(changes) if changes else preset


def dumps(preset: Preset) -> str:
    """The preset as TOML text with every key."""
    return tomli_w.dumps(preset.to_dict())


def save(preset: Preset, path: str | Path) -> Path:
    """Write the preset atomically as TOML."""
    return atomic.write_text(path, dumps(preset))


def parse_value(key: str, text: str) -> Any:
    """Turn the text of ``--set key=text`` into a value of the key's type."""
    spec = keys.field_spec(Preset, key)
    kind = spec["kind"]
    text = text.strip()
    if kind == "freeze":
        text = text.strip("'\"")
        return int(text) if text.isdigit() else text
    if kind in ("str", "name", "device"):
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
            return text[1:-1]
        return text
    if kind == "auto-bool" and text.strip("'\"").lower() == "auto":
        return "auto"
    if kind in ("bool", "auto-bool"):
        lowered = text.lower()
        if lowered in ("true", "yes", "on", "1"):
            return True
        if lowered in ("false", "no", "off", "0"):
            return False
        raise PresetError(f"'{key}' = {text!r} is not valid: expected {keys.describe(spec)}", key)
    if kind.startswith("list") and not text.startswith("["):
        items = [t.strip() for t in text.split(",") if t.strip()]
        text = "[" + ", ".join(t if kind == "list[int]" else _toml_str(t) for t in items) + "]"
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        raise PresetError(
            f"'{key}' = {text!r} is not valid: expected {keys.describe(spec)}", key
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
    return Path(__file__).resolve().parents[2] / "resources" / "presets"
