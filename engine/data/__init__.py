"""Data for a run: load a source, split, thin, measure, and describe how to normalize batches.

The result, :class:`DataBundle`, holds the train and validation split in their stored dtype —
tensors, or for an image folder :class:`~engine.data.rows.Rows` views of the memory-mapped
cache; batches are taken by indexing and normalized on the training device
(``x * scale + shift`` per channel), so the hot path has no per-sample Python.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from engine.data.balance import class_counts
from engine.data.image_cache import Progress, no_progress
from engine.data.rows import Rows, take
from engine.data.sample_lists import SampleLists, label_of
from engine.data.source_data import SourceData
from engine.data.sources import load_source
from engine.data.split import stratified_split, thin_classes
from engine.errors import DataError
from engine.preset import DataConfig, Preset
from engine.wording import class_label, count

MOMENT_CHUNK_BYTES = 16 << 20  # channel statistics are summed in float64 chunks of this size
# how the validation split was made (``stats["split"]``): the source's own (train/ and val/
# folders, a torchvision test set), by a hash of each file's name (an image folder), or drawn
GIVEN, BY_NAME, DRAWN = "given", "by file name", "drawn"

__all__ = ["BY_NAME", "DataBundle", "DataError", "Normalization", "load_data"]


@dataclass(frozen=True)
class Normalization:
    """Per-channel affine map applied to raw pixel values: ``x * scale + shift``."""

    mode: str
    mean: list[float]  # of the raw training inputs, per channel
    std: list[float]
    scale: list[float]
    shift: list[float]
    value_max: float

    def as_dict(self) -> dict:
        return {
            "mode": self.mode,
            "mean": self.mean,
            "std": self.std,
            "scale": self.scale,
            "shift": self.shift,
            "value_max": self.value_max,
        }


@dataclass
class DataBundle:
    """A run's data, ready for batching."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    class_names: list[str]
    norm: Normalization
    stats: dict = field(default_factory=dict)
    upsample: tuple[int, int] | None = None  # enlarge each batch to this (height, width)
    model_input: tuple[int, int, int] | None = None  # features: the images the model takes
    train_ids: list[str] = field(default_factory=list)  # each sample's name (sample_lists)
    val_ids: list[str] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """What the whole network takes: C×H×W (also for a bundle of backbone features)."""
        if self.model_input is not None:
            return self.model_input
        c, h, w = self.x_train.shape[1:]
        return (c, *self.upsample) if self.upsample else (c, h, w)

    @property
    def resident(self) -> bool:
        """True when the images are tensors (kept on the training device for the whole run);
        False for cached images, read from the memory map a batch at a time."""
        return not isinstance(self.x_train, Rows)

    def to(self, device: torch.device) -> DataBundle:
        """Move the data to ``device``: tensors all at once; cached images stay in host memory
        (page-locked batches for a GPU) while their labels move."""
        if self.y_train.device == device and (not self.resident or self.x_train.device == device):
            return self
        pin = device.type == "cuda"
        return DataBundle(
            self.x_train.to(device) if self.resident else _pinned(self.x_train, pin),
            self.y_train.to(device),
            self.x_val.to(device) if self.resident else _pinned(self.x_val, pin),
            self.y_val.to(device),
            self.class_names,
            self.norm,
            self.stats,
            self.upsample,
            self.model_input,
            self.train_ids,
            self.val_ids,
        )

    def normalizer(self, device: torch.device):
        """A function mapping a raw batch to normalized float32 on ``device`` (features, which
        are normalized already, only move there)."""
        if self.model_input is not None:
            return lambda xb: xb.to(device, non_blocking=True).float()
        c = len(self.norm.scale)
        scale = torch.tensor(self.norm.scale, device=device).view(1, c, 1, 1)
        shift = torch.tensor(self.norm.shift, device=device).view(1, c, 1, 1)

        size = self.upsample

        def normalize(xb: torch.Tensor) -> torch.Tensor:
            x = torch.addcmul(shift, xb.to(device, non_blocking=True).float(), scale)
            if size is not None:
                x = torch.nn.functional.interpolate(x, size=size, mode="bilinear")
            return x

        return normalize


def load_data(preset: Preset, progress: Progress = no_progress) -> DataBundle:
    """Load, split, thin and measure the data a preset describes (``progress`` hears about a
    long decode of an image folder, and may raise ``Cancelled``)."""
    started = time.perf_counter()
    cfg = preset.data
    size = image_size(preset)
    source = load_source(cfg, preset.seed, progress, size)
    lists = SampleLists.read(cfg.exclude, cfg.relabel)
    gen = torch.Generator().manual_seed(preset.seed)
    x, y, ids = source.x, source.y, np.asarray(source.ids, dtype=object)
    upsample = None
    if size and tuple(x.shape[-2:]) != (size, size):
        if size > min(x.shape[-2:]):  # enlarged batch by batch: never a bigger copy in memory
            upsample = (size, size)
        else:
            x = _resize(x, [size, size])
    names = None
    if source.x_val is not None:
        x_val, y_val = source.x_val, source.y_val
        if x_val.shape[1:] != x.shape[1:]:
            x_val = _resize(x_val, list(x.shape[-2:]))
        x_train, y_train, train_ids = x, y, ids
        val_ids = np.asarray(source.val_ids, dtype=object)
    else:
        names = list(source.ids) if cfg.source == "folder" else None  # stable as files change
        train_idx, val_idx = stratified_split(y, cfg.val_fraction, gen, names, preset.seed)
        x_train, y_train, train_ids = take(x, train_idx), y[train_idx], ids[train_idx.numpy()]
        x_val, y_val, val_ids = take(x, val_idx), y[val_idx], ids[val_idx.numpy()]
    # marks apply after the split, which stays that of the unmarked data: leaving out or
    # relabelling a few images moves no other image between training and validation
    (x_train, y_train, train_ids), (x_val, y_val, val_ids), marked = apply_marks(
        lists,
        (x_train, y_train, train_ids),
        (x_val, y_val, val_ids),
        source.class_names,
        cfg.relabel,
    )
    if cfg.limit_per_class or cfg.class_fraction:
        keep = thin_classes(
            y_train, source.class_names, cfg.limit_per_class, cfg.class_fraction, gen
        )
        x_train, y_train, train_ids = take(x_train, keep), y_train[keep], train_ids[keep.numpy()]
    if len(y_val) == 0:
        raise DataError(
            f"the validation split is empty ({len(y_train)} training samples); raise "
            "'data.val_fraction' or add images",
            "data.val_fraction",
        )
    moments = _channel_moments(x_train)
    norm = _normalization(moments, cfg.normalize, source.value_max)
    stats = _stats(source, x_train, y_train, y_val, norm, moments)
    val_mean, val_std, _, _ = _channel_moments(x_val)
    stats["raw_val"] = {"mean": val_mean, "std": val_std}
    stats["split"] = GIVEN if source.x_val is not None else (BY_NAME if names else DRAWN)
    stats["load_seconds"] = round(time.perf_counter() - started, 3)
    stats["notes"] = [*stats["notes"], *marked, *_untrained(stats)]
    if upsample:
        stats["image_shape"] = [stats["image_shape"][0], *upsample]
        stats["notes"] = [*stats["notes"], f"images enlarged to {size}×{size} batch by batch"]
    return DataBundle(
        x_train.contiguous(),
        y_train,
        x_val.contiguous(),
        y_val,
        source.class_names,
        norm,
        stats,
        upsample,
        train_ids=list(train_ids),
        val_ids=list(val_ids),
    )


Part = tuple  # one split: (images, labels, sample ids as a numpy array)


def apply_marks(
    lists: SampleLists, train: Part, val: Part, class_names: list[str], relabel_path: str
) -> tuple[Part, Part, list[str]]:
    """Leave out the excluded samples (from both splits: an excluded file is gone entirely) and
    correct the relabelled ones; return both splits and notes saying how many."""
    if not lists:
        return train, val, []
    removed = changed = 0
    parts = []
    for x, y, ids in (train, val):
        keep = [i for i, name in enumerate(ids) if name not in lists.exclude]
        removed += len(ids) - len(keep)
        y = y.clone()
        for i, name in enumerate(ids):
            if name in lists.relabel:
                y[i] = label_of(lists.relabel[name], class_names, relabel_path)
                changed += 1
        index = torch.tensor(keep, dtype=torch.long)
        parts.append((take(x, index), y[index], ids[index.numpy()]))
    notes = []
    if lists.exclude:
        notes.append(f"{count(removed, 'sample')} left out (data.exclude)")
    if lists.relabel:
        notes.append(f"{count(changed, 'label')} corrected (data.relabel)")
    known = {*train[2], *val[2]}
    for key, names in (("data.exclude", lists.exclude), ("data.relabel", lists.relabel)):
        if unknown := sorted(name for name in names if name not in known):
            verb = "names" if len(unknown) == 1 else "name"
            notes.append(
                f"{count(len(unknown), 'line')} of {key} {verb} no image of the data "
                f"(e.g. {unknown[0]}: moved, renamed or deleted?)"
            )
    return parts[0], parts[1], notes


def _pinned(x, pin: bool):
    return x.pinned() if pin else x


def _resize(x: torch.Tensor, size: list[int]) -> torch.Tensor:
    from torchvision.transforms.v2 import functional as TF

    chunks = [TF.resize(x[i : i + 4096], size, antialias=True) for i in range(0, len(x), 4096)]
    return torch.cat(chunks)


def _channel_moments(x) -> tuple[list[float], list[float], list[float], list[float]]:
    """Per-channel mean, std, min and max of raw values: from cached images' row statistics
    (no pixel read), else computed in chunks in float64."""
    if isinstance(x, Rows) and (moments := x.moments()) is not None:
        return moments
    c = x.shape[1]
    total = torch.zeros(c, dtype=torch.float64)
    total_sq = torch.zeros(c, dtype=torch.float64)
    lo = torch.full((c,), float("inf"), dtype=torch.float64)
    hi = torch.full((c,), float("-inf"), dtype=torch.float64)
    step = max(1, MOMENT_CHUNK_BYTES // max(1, 8 * math.prod(x.shape[1:])))
    for i in range(0, len(x), step):
        chunk = x[i : i + step].double().transpose(0, 1).reshape(c, -1)
        total += chunk.sum(1)
        total_sq += (chunk * chunk).sum(1)
        lo = torch.minimum(lo, chunk.min(1).values)
        hi = torch.maximum(hi, chunk.max(1).values)
    n = x.numel() / c
    mean = total / n
    std = (total_sq / n - mean * mean).clamp(min=0).sqrt()
    return mean.tolist(), std.tolist(), lo.tolist(), hi.tolist()


def _normalization(moments, mode: str, value_max: float) -> Normalization:
    mean, std, _, _ = moments
    c = len(mean)
    if mode == "standardize":
        safe = [s if s > 1e-8 else 1.0 for s in std]
        scale = [1.0 / s for s in safe]
        shift = [-m / s for m, s in zip(mean, safe, strict=True)]
    elif mode == "unit":
        scale, shift = [1.0 / value_max] * c, [0.0] * c
    elif mode == "pretrained":  # the mean and std the pretrained weights were trained with
        from engine.models.pretrained import IMAGENET_MEAN, IMAGENET_STD

        rgb_mean, rgb_std = _per_channel(IMAGENET_MEAN, c), _per_channel(IMAGENET_STD, c)
        scale = [1.0 / (value_max * s) for s in rgb_std]
        shift = [-m / s for m, s in zip(rgb_mean, rgb_std, strict=True)]
    else:
        scale, shift = [1.0] * c, [0.0] * c
    return Normalization(mode, mean, std, scale, shift, value_max)


def _per_channel(rgb: tuple[float, float, float], channels: int) -> list[float]:
    """RGB constants for ``channels`` inputs: their mean for a gray image, repeated beyond 3."""
    if channels == 1:
        return [sum(rgb) / 3]
    return [rgb[i % 3] for i in range(channels)]


def _untrained(stats: dict) -> list[str]:
    """A note naming the classes left with no training image (all left out or thinned away):
    the network cannot learn to predict them."""
    names, counts = stats["classes"], stats["train_counts"]
    empty = [class_label(name) for name, n in zip(names, counts, strict=True) if not n]
    if not empty:
        return []
    return [
        f"{count(len(empty), 'class')} with no training image ({', '.join(empty[:5])}"
        + (" …" if len(empty) > 5 else "")
        + "): the network cannot learn to predict "
        + ("it" if len(empty) == 1 else "them")
        + " (see data.exclude, data.class_fraction, data.limit_per_class)"
    ]


def files_signature(cfg: DataConfig) -> tuple:
    """What of the disk the data reads, cheaply: the modification time of every folder of an
    image folder (a file added, removed or renamed changes its folder's) and the sample lists'
    sizes and times. Equal signatures mean nothing was added, removed or renamed since."""
    folder: tuple = ()
    if cfg.source == "folder" and cfg.root:
        folder = tuple(_folder_times(Path(cfg.root).expanduser()))
    return folder, _stat(cfg.exclude), _stat(cfg.relabel)


def _folder_times(root: Path):
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            yield str(folder), folder.stat().st_mtime_ns
            with os.scandir(folder) as entries:
                stack += [
                    Path(e.path)
                    for e in entries
                    if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)
                ]
        except OSError as exc:  # a folder that is gone or unreadable: loading says so
            yield str(folder), str(exc)


def _stat(path: str) -> tuple:
    try:
        stat = Path(path).expanduser().stat() if path else None
    except OSError:
        return (path, "missing")
    return (path, stat.st_size, stat.st_mtime_ns) if stat else ()


def image_size(preset: Preset) -> int:
    """The run's image size: ``data.image_size``, or, when that is 0 and the network starts
    from pretrained weights, the size they were trained at."""
    from engine.models.pretrained import WEIGHTS_SIZE

    m = preset.model
    if preset.data.image_size or not (m.pretrained or m.weights):
        return preset.data.image_size
    return WEIGHTS_SIZE


def _stats(source: SourceData, x_train, y_train, y_val, norm: Normalization, moments) -> dict:
    k = len(source.class_names)
    mean, std, lo, hi = moments
    return {
        "source": source.origin,
        "classes": source.class_names,
        "train_counts": class_counts(y_train, k).tolist(),
        "val_counts": class_counts(y_val, k).tolist(),
        "image_shape": list(x_train.shape[1:]),
        "raw": {"mean": mean, "std": std, "min": lo, "max": hi},
        "value_max": source.value_max,
        "normalize": norm.mode,
        "skipped_files": len(source.skipped),
        "skipped": source.skipped,
        "images": source.info.get(
            "images", len(source.y) + len(y_val) * (source.y_val is not None)
        ),
        "cache": source.info.get("cache", "off"),
        "cache_location": source.info.get("cache_location", ""),
        "notes": source.info.get("notes", []),
        "duplicates": source.info.get("duplicates", []),
    }
