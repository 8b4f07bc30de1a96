"""Small helpers for the sentences Plateau shows people: counts with the right plural, class
names that do not repeat the word "class"."""

from __future__ import annotations

IRREGULAR = {"class": "classes", "batch": "batches", "process": "processes", "copy": "copies"}


def count(n: int, noun: str) -> str:
    """``count(1, "epoch")`` → ``"1 epoch"``; ``count(3, "class")`` → ``"3 classes"``."""
    if n == 1:
        return f"1 {noun}"
    head, _, last = noun.rpartition(" ")
    plural = IRREGULAR.get(last, last + "s")
    return f"{n:,} {head + ' ' if head else ''}{plural}"


def first_few(items, n: int) -> str:
    """``first_few(["a", "b", "c"], 2)`` → ``"a, b …"``: a list named in a message."""
    items = list(items)
    return ", ".join(items[:n]) + (" …" if len(items) > n else "")


def class_label(name: str) -> str:
    """``"3"`` → ``"class 3"``; a name that already says so (``"class 3"``) stays as it is."""
    return name if name.lower().startswith("class") else f"class {name}"


def skipped_files(skipped: list[dict], shown: int = 5) -> str:
    """``"2 files skipped: a.txt (not an image file), b.png (empty file)"``, the first ``shown``
    named; "" when nothing was skipped."""
    if not skipped:
        return ""
    named = ", ".join(f"{s['file']} ({s['reason']})" for s in skipped[:shown])
    more = f" … and {len(skipped) - shown} more" if len(skipped) > shown else ""
    return f"{count(len(skipped), 'file')} skipped: {named}{more}"
