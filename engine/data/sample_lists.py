"""Samples a person has marked: left out of training (``data.exclude``) or given another label
(``data.relabel``). Both are small text files a preset refers to, written by the doctor's and
the app's one-click fixes and readable by hand.

A sample is named by its file (the path relative to ``data.root``) for an image folder, else by
its position in the source: ``#12`` is the 13th image (``val#3``: of the source's own
validation split). ``exclude`` lists one sample per line; ``relabel`` a sample and its class
(name or index) per line, separated by a tab or spaces. ``#`` starts a comment, except when it
begins a sample name with digits after it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from engine import atomic
from engine.errors import DataError

POSITION = re.compile(r"^(val)?#\d+$")


@dataclass(frozen=True)
class SampleLists:
    exclude: frozenset[str] = frozenset()
    relabel: dict[str, str] = field(default_factory=dict)  # sample → class name or index

    @classmethod
    def read(cls, exclude: str, relabel: str) -> SampleLists:
        """The lists ``data.exclude`` and ``data.relabel`` name ("" for none)."""
        excluded = frozenset(line for line, _ in _lines(exclude, "data.exclude") if line)
        relabelled = {}
        for line, number in _lines(relabel, "data.relabel"):
            parts = line.rsplit(None, 1) if "\t" not in line else line.rsplit("\t", 1)
            if len(parts) != 2:
                raise DataError(
                    f"'data.relabel': line {number} of {relabel} is {line!r}; expected a sample "
                    "and its class separated by a tab, e.g. 'cats/IMG_0042.jpg\tdogs'",
                    "data.relabel",
                )
            relabelled[parts[0].strip()] = parts[1].strip()
        return cls(excluded, relabelled)

    def __bool__(self) -> bool:
        return bool(self.exclude or self.relabel)


def _lines(path: str, key: str):
    if not path:
        return
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"'{key}': file not found: {file}", key) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"'{key}': cannot read {file}: {exc}", key) from None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("#") and not POSITION.match(line.split()[0]):
            continue
        yield line, number


def label_of(name: str, class_names: list[str], path: str) -> int:
    """The class index a relabel line names (a class name, or its index)."""
    if name in class_names:
        return class_names.index(name)
    if name.isdigit() and int(name) < len(class_names):
        return int(name)
    raise DataError(
        f"'data.relabel' ({path}) names class {name!r}, which this dataset does not have; "
        f"classes: {', '.join(class_names[:12])}" + (" …" if len(class_names) > 12 else ""),
        "data.relabel",
    )


def add_to_exclude(path: str | Path, samples: list[str], why: str = "") -> Path:
    """Append ``samples`` to an exclude file (created when missing), each once."""
    path = Path(path).expanduser()
    known = set(SampleLists.read(str(path), "").exclude) if path.is_file() else set()
    text = path.read_text(encoding="utf-8") if path.is_file() else _HEADER_EXCLUDE
    new = [s for s in samples if s not in known]
    if why and new:
        text += f"# {why}\n"
    text += "".join(f"{s}\n" for s in new)
    return atomic.write_text(path, text)


def write_exclude(path: str | Path, samples: list[str], why: str = "") -> Path:
    """A new exclude file with exactly ``samples`` (replacing any file at ``path``)."""
    text = _HEADER_EXCLUDE + (f"# {why}\n" if why else "") + "".join(f"{s}\n" for s in samples)
    return atomic.write_text(Path(path).expanduser(), text)


def add_to_relabel(path: str | Path, labels: dict[str, str]) -> Path:
    """Set each sample's class in a relabel file (created when missing); the latest wins."""
    path = Path(path).expanduser()
    current = SampleLists.read("", str(path)).relabel if path.is_file() else {}
    current.update(labels)
    text = _HEADER_RELABEL + "".join(f"{s}\t{c}\n" for s, c in current.items())
    return atomic.write_text(path, text)


_HEADER_EXCLUDE = "# samples left out of training (Plateau data.exclude), one per line\n"
_HEADER_RELABEL = "# samples with corrected labels (Plateau data.relabel): sample<TAB>class\n"
