"""The frozen-backbone fast path: ``mobilenet_v3_small`` from pretrained weights, backbone frozen,
no augmentation, on 3 classes × 200 phone photos at 224 px, 10 epochs, all cores. Reports the
wall time of a first run (images decoded and features computed), of a second run (both read from
their caches), and of the same run with the fast path switched off (the backbone runs every
step), in one process.

Pretrained weights cannot be downloaded on the development machine: unless TORCH_HOME already
holds torchvision's file, the benchmark writes randomly initialized weights under that file name
into a temporary TORCH_HOME (the timing is the same; the accuracy is not meaningful then).

    python -m benchmarks.frozen_path
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ARCH = "mobilenet_v3_small"
PER_CLASS = 200
EPOCHS = 10


def ensure_weights() -> str:
    import torch
    from torchvision.models import get_model

    from engine.models.pretrained import weights_file

    _, path = weights_file(ARCH)
    if path.is_file():
        return f"torchvision's weights from {path}"
    os.environ["TORCH_HOME"] = tempfile.mkdtemp(prefix="plateau-torch-home-")
    _, path = weights_file(ARCH)
    path.parent.mkdir(parents=True)
    torch.save(get_model(ARCH, weights=None).state_dict(), path)
    return f"random weights saved as {path} (no download here)"


def subset(folder: Path) -> Path:
    """3 classes × 200 of the benchmark photos (hard links)."""
    from benchmarks.photos import CLASSES, make_photos

    roots = make_photos(folder)
    big = roots[max(roots)]
    small = folder / f"photos-{PER_CLASS * len(CLASSES)}"
    for name in CLASSES:
        for i in range(PER_CLASS):
            link = small / name / f"IMG_{i:04d}.jpg"
            if not link.exists():
                link.parent.mkdir(parents=True, exist_ok=True)
                os.link(big / name / link.name, link)
    return small


def timed_run(
    root: Path, cache: Path, fast: bool, features: Path | None = None
) -> tuple[float, float, list[str]]:
    import engine.training.frozen_features as fast_path
    from engine import events as ev
    from engine.preset import Preset
    from engine.trainer import Trainer

    preset = Preset().with_changes(
        {
            "name": "frozen",
            "data.source": "folder",
            "data.root": str(root),
            "data.cache_dir": str(cache),
            "data.image_size": 224,
            "data.normalize": "pretrained",
            "model.arch": ARCH,
            "model.pretrained": True,
            "model.freeze": "backbone",
            "train.epochs": EPOCHS,
            "train.batch_size": 32,
            "train.device": "cpu",
        }
    )
    notes: list[str] = []
    original, folder = fast_path.applies, fast_path._cache_folder
    if not fast:
        fast_path.applies = lambda preset, dist: False
    if features is not None:  # features computed afresh, images from the warm cache
        fast_path._cache_folder = lambda preset: features
    try:
        start = time.perf_counter()
        summary = Trainer(preset, out=tempfile.mkdtemp()).fit(
            lambda e: (
                notes.extend(e.model_summary.get("notes", []))
                if isinstance(e, ev.RunStarted)
                else None
            )
        )
        seconds = time.perf_counter() - start
    finally:
        fast_path.applies, fast_path._cache_folder = original, folder
    return seconds, summary.best_val_acc or 0.0, notes


def main() -> int:
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    from benchmarks.photos import PHOTOS

    folder = Path(os.environ.get("PLATEAU_BENCH_PHOTOS", tempfile.gettempdir())) / PHOTOS
    root = subset(folder)
    print(ensure_weights(), flush=True)
    cache = Path(tempfile.mkdtemp(prefix="plateau-frozen-cache-"))
    first, acc, notes = timed_run(root, cache, fast=True)
    print(
        f"first run (decoding {PER_CLASS * 3} photos, computing features, {EPOCHS} epochs): "
        f"{first:.1f} s, best val acc {acc:.3f}; {' / '.join(notes)}",
        flush=True,
    )
    second, _, notes = timed_run(root, cache, fast=True)
    print(f"second run: {second:.1f} s; {' / '.join(notes)}", flush=True)
    fresh, _, _ = timed_run(root, cache, fast=True, features=Path(tempfile.mkdtemp()))
    slow, _, _ = timed_run(root, cache, fast=False)
    print(
        f"images from the cache, features computed afresh: {fresh:.1f} s; the same run without "
        f"the fast path (the backbone at every step): {slow:.1f} s",
        flush=True,
    )
    print(f"frozen_path[first_run]: seconds={first:.1f}")
    print(f"frozen_path[second_run]: seconds={second:.1f}")
    print(f"frozen_path[vs_no_feature_cache]: ratio={fresh / slow:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
