"""The ``folder`` source: a person's own images, one sub-folder per class.

Layouts: ``root/<class>/…`` (split by ``val_fraction``; nested folders inside a class count) or
``root/train/<class>/…`` plus ``root/val/<class>/…``. Images come from the decoded-image cache
(:mod:`engine.data.image_cache`), resized to the run's image size by ``data.resize``, as views
of one memory-mapped array, so memory does not grow with the number of photos. Files that are
not readable images are skipped and named with the reason; duplicates and classes too small to
split are reported.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from engine.data.image_cache import Progress, decode_folder, default_cache_dir, no_progress
from engine.data.rows import Rows
from engine.data.scan import scan_folder
from engine.data.source_data import SourceData
from engine.errors import DataError
from engine.preset import DataConfig
from engine.wording import count, first_few


def image_folder(cfg: DataConfig, progress: Progress = no_progress, size: int = 0) -> SourceData:
    """The images under ``cfg.root`` at ``size`` (0: as :mod:`image_cache` decides); raises
    :class:`DataError` when they make no classifier."""
    scan = scan_folder(cfg.root)
    cache_root = (
        (Path(cfg.cache_dir) if cfg.cache_dir else default_cache_dir()) if cfg.cache else None
    )
    try:
        decoded = decode_folder(scan, size, cfg.resize, cache_root, progress)
    except OSError as exc:  # the images' own read errors are skipped files: this is the cache
        if cache_root is None:
            raise
        raise DataError(
            f"cannot write the decoded-image cache in {Path(cache_root).expanduser()} "
            f"({exc.strerror or exc}); set 'data.cache_dir' (or the PLATEAU_CACHE_DIR "
            "environment variable) to a folder you can write, or 'data.cache' = false to decode "
            "into memory",
            "data.cache_dir",
        ) from None
    base = scan.root
    kept = [f for f in scan.files if f.rel in decoded.rows]
    if not kept:
        raise DataError(
            f"no readable images in {base} ({count(len(decoded.skipped), 'file')} skipped); "
            "expected one sub-folder per class holding .jpg/.png/.webp/… images",
            "data.root",
        )
    train = [f for f in kept if f.split != "val"]
    present = sorted({f.label for f in train})
    if len(present) < 2:
        raise DataError(
            f"{base}: found images for {count(len(present), 'class')} only "
            f"({', '.join(scan.classes[i] for i in present) or 'none'}); a classifier needs at "
            "least two class sub-folders with images",
            "data.root",
        )

    # a class folder with no readable training image is no class: the network could never
    # predict it, yet it would take an output, a confusion-matrix row and a name in every export
    classes, left_out, val_left_out = scan.classes, [], 0
    if len(present) < len(scan.classes):
        new_label = {old: new for new, old in enumerate(present)}
        classes = [scan.classes[i] for i in present]
        left_out = [name for i, name in enumerate(scan.classes) if i not in new_label]
        val_left_out = sum(f.label not in new_label for f in kept)  # a train/ + val/ layout
        kept = [replace(f, label=new_label[f.label]) for f in kept if f.label in new_label]
        train = [f for f in kept if f.split != "val"]

    def view(files) -> Rows:
        index = torch.tensor([decoded.rows[f.rel] for f in files], dtype=torch.long)
        return Rows(decoded.storage, index, decoded.row_stats, False, decoded.thumbnails_file)

    source = SourceData(
        view(train),
        torch.tensor([f.label for f in train], dtype=torch.int64),
        classes,
        255.0,
        skipped=decoded.skipped,
        origin=f"folder {base}",
        info={
            "cache": decoded.status,
            "cache_location": decoded.location,
            "images": len(kept),
            "decoded": decoded.decoded,
            "duplicates": decoded.duplicates,
            "notes": decoded.notes
            + _left_out(left_out, scan.has_val, val_left_out)
            + _notes(scan.has_val, classes, train, decoded.duplicates)
            + _loose(scan.loose)
            + _val_only(scan.val_only),
        },
        ids=[f.rel for f in train],
    )
    if scan.has_val:
        val = [f for f in kept if f.split == "val"]
        source.x_val = view(val)
        source.y_val = torch.tensor([f.label for f in val], dtype=torch.int64)
        source.val_ids = [f.rel for f in val]
    return source


def _left_out(names: list[str], has_val: bool, val_images: int) -> list[str]:
    if not names:
        return []
    shown = first_few(names, 5)
    where = " in train/" if has_val else ""
    their = "its" if len(names) == 1 else "their"
    also = f", and {their} {count(val_images, 'validation image')} too" if val_images else ""
    return [
        f"left out {count(len(names), 'class folder')} with no readable image{where}: {shown}"
        f"{also} (not a class of this run: put images in it, or remove it)"
    ]


def _loose(files: tuple[str, ...]) -> list[str]:
    if not files:
        return []
    shown = first_few(files, 3)
    return [
        f"{count(len(files), 'image')} beside the class folders, in no class, left out: "
        f"{shown} (move each into its class's folder to use it)"
    ]


def _val_only(names: tuple[str, ...]) -> list[str]:
    if not names:
        return []
    shown = first_few(names, 5)
    return [
        f"left out {count(len(names), 'class folder')} with no training images: {shown} (a class "
        "the network never trains on cannot be predicted: add it under train/ too)"
    ]


def _notes(has_val: bool, classes: list[str], train, duplicates: list[list[str]]) -> list[str]:
    """What a person should know about the folder: tiny classes, copies of the same file."""
    notes = []
    counts = [0] * len(classes)
    for f in train:
        counts[f.label] += 1
    small = [classes[c] for c, n in enumerate(counts) if n == 1]
    if small and not has_val:
        notes.append(
            f"{count(len(small), 'class')} with a single image ({', '.join(small[:5])}): used "
            "for training only, none of it is validated"
        )
    if duplicates:
        first = " = ".join(duplicates[0][:3])
        notes.append(
            f"{count(len(duplicates), 'group')} of identical files ({first}"
            + (" …" if len(duplicates) > 1 else "")
            + "): each copy counts as another image"
        )
    return notes
