"""The ``folder`` source: a person's own images, one sub-folder per class.

Layouts: ``root/<class>/*`` (split by ``val_fraction``) or ``root/train/<class>/*`` plus
``root/val/<class>/*``. Files that are not readable images are skipped and counted; grayscale,
palette and RGBA images are converted (to RGB whenever any image has colour); every image is
resized to ``image_size`` or, when that is 0, to the first image's size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from engine.data.decode import GRAY_MODES, UnreadableImage, open_image, to_array
from engine.data.source_data import SourceData
from engine.errors import DataError
from engine.wording import count


def image_folder(root: str, image_size: int = 0) -> SourceData:
    """Read ``root`` into tensors; raise :class:`DataError` when it holds no usable classes."""
    base = Path(root).expanduser()
    if not base.is_dir():
        raise DataError(f"image folder not found: {base} ('data.root')", "data.root")
    train_dir, val_dir = base / "train", base / "val"
    if train_dir.is_dir() and val_dir.is_dir():
        classes = _class_dirs(train_dir)
        names = [d.name for d in classes]
        train, skipped = _read_split(train_dir, names, base)
        val, skipped_val = _read_split(val_dir, names, base)
        skipped += skipped_val
    else:
        names = [d.name for d in _class_dirs(base)]
        train, skipped = _read_split(base, names, base)
        val = None
    images = train[0] + (val[0] if val else [])
    if len(images) == 0:
        raise DataError(
            f"no readable images in {base} ({count(len(skipped), 'file')} skipped); expected one "
            "sub-folder per class holding .png/.jpg/.bmp/… images",
            "data.root",
        )
    present = sorted(set(train[1]))
    if len(present) < 2:
        raise DataError(
            f"{base}: found images for {len(present)} class(es) only "
            f"({', '.join(names[i] for i in present) or 'none'}); a classifier needs at least "
            "two class sub-folders with images",
            "data.root",
        )
    color = any(img.mode not in GRAY_MODES for img in images)
    size = (image_size, image_size) if image_size else images[0].size
    x = _stack(train[0], color, size)
    y = torch.tensor(train[1], dtype=torch.int64)
    source = SourceData(x, y, names, 255.0, skipped=skipped, origin=f"folder {base}")
    if val:
        source.x_val = _stack(val[0], color, size)
        source.y_val = torch.tensor(val[1], dtype=torch.int64)
    return source


def _class_dirs(folder: Path) -> list[Path]:
    dirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not dirs:
        raise DataError(
            f"{folder} has no class sub-folders; put each class's images in a sub-folder named "
            "after the class (e.g. cats/, dogs/)",
            "data.root",
        )
    return dirs


def _read_split(folder: Path, names: list[str], base: Path):
    images, labels, skipped = [], [], []
    for label, name in enumerate(names):
        class_dir = folder / name
        if not class_dir.is_dir():
            continue
        for path in sorted(p for p in class_dir.rglob("*") if p.is_file()):
            if path.name.startswith("."):
                continue
            try:
                images.append(open_image(path))
            except UnreadableImage as exc:
                skipped.append({"file": str(path.relative_to(base)), "reason": exc.reason})
                continue
            labels.append(label)
    return (images, labels), skipped


def _stack(images, color: bool, size: tuple[int, int]) -> torch.Tensor:
    return torch.from_numpy(np.stack([to_array(img, color, size) for img in images]))
