"""The engine functions the window runs as background jobs (each imports torch when called).
Widgets name these functions; they never import the engine's torch side themselves."""

from __future__ import annotations


def inspect_data(preset, draw: int = 0, progress=None) -> dict:
    from engine.inspection import inspect_data

    if progress is None:
        return inspect_data(preset, draw=draw)
    return inspect_data(preset, draw=draw, progress=progress)


def model_summary(preset) -> dict:
    from engine.inspection import model_summary

    return model_summary(preset)


def lr_preview(preset) -> tuple[list[float], int]:
    from engine.inspection import lr_preview

    return lr_preview(preset)


def lr_plan(preset, steps_per_epoch: int) -> tuple[list[float], int]:
    from engine.inspection import lr_plan

    return lr_plan(preset, steps_per_epoch)


def error_samples(run_dir: str, true: int, pred: int | None, epoch: int | None) -> dict:
    from engine.inspection import error_samples

    return error_samples(run_dir, true, pred, epoch, wrong_only=pred is None)


def export(checkpoint: str, dest: str, fmt: str):
    from engine.export import export

    return export(checkpoint, dest, fmt)


def find_lr(preset) -> dict:
    from engine.doctor.lr_finder import find_lr

    return find_lr(preset).to_dict()


def available_devices() -> list[tuple[str, str]]:
    from engine.devices import available_devices

    return available_devices()


def suspect_samples(run_dir: str) -> dict:
    from engine.inspection import suspect_samples

    return suspect_samples(run_dir)


def mark_samples(path: str, samples: list[str], relabel_as: str | None) -> str:
    """Add ``samples`` to an exclude list, or (``relabel_as``) to a relabel list; the file."""
    from engine.data.sample_lists import add_to_exclude, add_to_relabel

    if relabel_as is None:
        return str(add_to_exclude(path, samples, "marked in the Errors tab"))
    return str(add_to_relabel(path, dict.fromkeys(samples, relabel_as)))


def merge_excludes(path: str, lists: list[str]) -> str:
    """A new exclude list at ``path`` with exactly the samples of every list in ``lists``."""
    from engine.data.sample_lists import SampleLists, write_exclude

    samples = [s for named in lists for s in sorted(SampleLists.read(named, "").exclude)]
    why = "merged from " + ", ".join(lists)
    return str(write_exclude(path, list(dict.fromkeys(samples)), why))
