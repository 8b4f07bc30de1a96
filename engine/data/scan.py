"""Finding a person's images: the files of an image folder, one sub-folder per class (nested
folders inside a class count too), or ``train/`` and ``val/`` folders of class sub-folders.
Only names and file sizes are read here; decoding is the cache's job."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.errors import DataError

# the usual image files: those beside the class folders are named (a preset or notes are not)
VAL_NAMES = ("val", "valid", "validation")  # a train/ + val/ layout's validation folder
SPLIT_NAMES = {"train", "test", "testing", *VAL_NAMES}  # folders that are splits, not classes
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".heic"}


@dataclass(frozen=True)
class ImageFile:
    """One file of the folder (not yet known to be a readable image)."""

    rel: str  # path relative to the folder, with "/" separators
    label: int
    split: str  # "train" or "val" for a train/val layout, else ""
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class FolderScan:
    root: Path
    classes: list[str]
    files: list[ImageFile]
    has_val: bool  # a train/ + val/ layout
    loose: tuple[str, ...] = ()  # images beside the class folders, in no class (not data)
    val_only: tuple[str, ...] = ()  # class folders under val/ that train/ lacks ("val/c")

    def path(self, f: ImageFile) -> Path:
        return self.root / f.rel


def scan_folder(root: str | Path) -> FolderScan:
    """Every file under the class folders of ``root``; raises :class:`DataError` naming the
    folder when it has no class folders."""
    base = Path(root).expanduser().resolve()
    if not base.is_dir():
        raise DataError(f"image folder not found: {base} ('data.root')", "data.root")
    train_dir = base / "train"
    val_dir = next((base / n for n in VAL_NAMES if (base / n).is_dir()), None)
    if train_dir.is_dir() and val_dir is not None:
        names = [d.name for d in _class_dirs(train_dir)]
        files = _files(base, train_dir, names, "train") + _files(base, val_dir, names, "val")
        loose = _loose(base, train_dir) + _loose(base, val_dir)
        extra = sorted({d.name for d in _class_dirs(val_dir)} - set(names))
        val_only = tuple(f"{val_dir.name}/{n}" for n in extra)
        return FolderScan(base, names, files, True, loose, val_only)
    names = [d.name for d in _class_dirs(base)]
    if "train" in names and set(names) <= SPLIT_NAMES:
        others = [f"{n}/" for n in names if n != "train"]
        held = f"train/ and {', '.join(others)} folders" if others else "only a train/ folder"
        raise DataError(
            f"{base} holds {held}, not classes: Plateau reads train/ and val/ (or valid/) "
            "folders of class folders; name the one to validate on val/, or point 'data.root' "
            "at a folder of class folders",
            "data.root",
        )
    return FolderScan(base, names, _files(base, base, names, ""), False, _loose(base, base))


def _loose(base: Path, folder: Path) -> tuple[str, ...]:
    return tuple(
        p.relative_to(base).as_posix()
        for p in sorted(folder.iterdir())
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
    )


def _class_dirs(folder: Path) -> list[Path]:
    dirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not dirs:
        raise DataError(
            f"{folder} has no class sub-folders; put each class's images in a sub-folder named "
            "after the class (e.g. cats/, dogs/)",
            "data.root",
        )
    return dirs


def _files(base: Path, folder: Path, names: list[str], split: str) -> list[ImageFile]:
    out = []
    for label, name in enumerate(names):
        class_dir = folder / name
        if not class_dir.is_dir():
            continue
        for path in sorted(class_dir.rglob("*")):
            rel = path.relative_to(base)
            if any(part.startswith(".") for part in rel.parts) or not path.is_file():
                continue  # hidden files and folders (.DS_Store, .git) are not data
            stat = path.stat()
            out.append(ImageFile(rel.as_posix(), label, split, stat.st_size, stat.st_mtime_ns))
    return out
