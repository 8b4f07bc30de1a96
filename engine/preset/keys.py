"""Walking the preset schema (a tree of frozen dataclasses whose fields carry their kind and
rules): every dotted key, one key's spec, the nearest key to a misspelt one, and what a key
accepts in words. Generic over the root class, so it imports no schema."""

from __future__ import annotations

import dataclasses
import difflib
import functools
from typing import Any

from engine.errors import PresetError

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


def is_section(f: dataclasses.Field) -> bool:
    return "kind" not in f.metadata


def section_type(f: dataclasses.Field) -> type:
    return f.default_factory  # type: ignore[return-value]


def all_keys(cls: type, prefix: str = "", sections: bool = False) -> list[str]:
    """Every dotted key of the schema, e.g. ``train.optimizer.lr`` (and the sections' own names,
    e.g. ``train.optimizer``, with ``sections=True``)."""
    keys = []
    for f in dataclasses.fields(cls):
        dotted = prefix + f.name
        if is_section(f):
            if sections:
                keys.append(dotted)
            keys.extend(all_keys(section_type(f), dotted + ".", sections))
        else:
            keys.append(dotted)
    return keys


@functools.cache
def _fields(cls: type) -> dict[str, dataclasses.Field]:
    """A schema class's fields by name (the forms look up every key at each Start)."""
    return {f.name: f for f in dataclasses.fields(cls)}


def field_spec(root: type, key: str) -> dict[str, Any]:
    """The kind, default and rules of one dotted key (for forms and docs)."""
    cls: type = root
    parts = key.split(".")
    for i, part in enumerate(parts):
        fields = _fields(cls)
        if part not in fields:
            raise PresetError(unknown_key_message(root, key), key)
        f = fields[part]
        if is_section(f):
            cls = section_type(f)
            if i == len(parts) - 1:
                raise PresetError(f"'{key}' is a section, not a value", key)
            continue
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default
        return {"default": default, **f.metadata}
    raise PresetError(unknown_key_message(root, key), key)


def suggest_key(root: type, key: str) -> str | None:
    """The valid dotted key nearest to a misspelt one, or None."""
    known = all_keys(root, sections=True)
    leaf = key.rsplit(".", 1)[-1].lower()
    if leaf in ALIASES and ALIASES[leaf] != key:
        return ALIASES[leaf]
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
    if close:
        return close[0]
    leaves = {k.rsplit(".", 1)[-1]: k for k in known}
    close = difflib.get_close_matches(leaf, list(leaves), n=1, cutoff=0.7)
    return leaves[close[0]] if close else None


def unknown_key_message(root: type, key: str) -> str:
    suggestion = suggest_key(root, key)
    hint = f"; did you mean '{suggestion}'?" if suggestion else ""
    return f"unknown key '{key}'{hint}"


def describe(spec: dict[str, Any]) -> str:
    """What a key accepts, in words ("a number from 0 to 1", "one of 'sgd', 'adam'")."""
    kind = spec["kind"]
    if "choices" in spec:
        return "one of " + ", ".join(repr(c) for c in spec["choices"])
    noun = {
        "int": "an integer",
        "float": "a number",
        "bool": "true or false",
        "auto-bool": 'true, false or "auto"',
        "str": "a string",
        "name": "a non-empty name",
        "device": "'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'",
        "list[str]": "a list of strings",
        "list[int]": "a list of integers",
        "dict[float]": "a table of numbers",
        "freeze": "'none', 'backbone' or the number of final blocks that train",
    }[kind]
    if "min" in spec and "max" in spec and kind in ("int", "float", "list[int]", "dict[float]"):
        noun += f" from {fmt(spec['min'])} to {fmt(spec['max'])}"
    return noun


def fmt(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)
