"""A person's own photos: phone-sized JPEGs (4032×3024, a learnable class pattern, a quarter with
EXIF orientation 6) in 3 classes, made here once and kept. Measures, at 224 px:

- peak memory of a training run (cold cache, so decoding included) on 300 and on 1,200 photos;
- building the cache for 1,200 photos ÷ one pass of torchvision's ImageFolder + DataLoader
  (num_workers = cores) with Resize(224) over the same files;
- a second run's data phase (cache hit) on the 1,200 photos;
- an epoch trained from the cache ÷ the same epoch from in-memory tensors of the same images.

    python -m benchmarks.photos [--folder DIR]     # default: $PLATEAU_BENCH_PHOTOS or /tmp
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

CLASSES = ("beach", "forest", "city")
PHONE = (4032, 3024)
SIZES = (300, 1200)
PHOTOS = "plateau-photos-2"  # the folder under the temp dir (2: scenes, not stripes)


def _scene(label: int, rng: np.random.Generator, w: int, h: int):
    """A photo-like scene of its class, composed at random: a beach (sky, sea, sand, a sun,
    umbrellas), a forest (trunks and foliage) or a city (buildings with lit windows)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (w, h))
    draw = ImageDraw.Draw(img)

    def colour(base, spread=30):
        return tuple(int(np.clip(c + rng.normal(0, spread), 0, 255)) for c in base)

    if label == 0:
        horizon = int(h * rng.uniform(0.35, 0.6))
        draw.rectangle([0, 0, w, horizon], fill=colour((120, 170, 230)))
        shore = int(horizon + (h - horizon) * rng.uniform(0.2, 0.6))
        draw.rectangle([0, horizon, w, shore], fill=colour((40, 100, 170)))
        draw.rectangle([0, shore, w, h], fill=colour((220, 200, 150)))
        x, y, r = rng.uniform(0, w), rng.uniform(0, horizon * 0.7), rng.uniform(15, 45)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=colour((255, 230, 120), 10))
        for _ in range(rng.integers(1, 6)):
            x, y = rng.uniform(0, w), rng.uniform(shore, h)
            s = rng.uniform(15, 60)
            draw.pieslice([x - s, y - s, x + s, y + s], 180, 360, fill=colour((200, 60, 60), 80))
    elif label == 1:
        draw.rectangle([0, 0, w, h], fill=colour((60, 110, 50)))
        for _ in range(rng.integers(4, 12)):
            x, tw = rng.uniform(0, w), rng.uniform(8, 40)
            draw.rectangle([x, rng.uniform(0, h * 0.4), x + tw, h], fill=colour((80, 55, 35), 20))
        for _ in range(rng.integers(5, 15)):
            x, y, r = rng.uniform(0, w), rng.uniform(0, h * 0.6), rng.uniform(20, 80)
            draw.ellipse([x - r, y - r * 0.7, x + r, y + r * 0.7], fill=colour((40, 140, 40), 40))
    else:
        draw.rectangle([0, 0, w, h], fill=colour((170, 175, 185)))
        x = 0.0
        while x < w:
            bw, bh = rng.uniform(30, 110), rng.uniform(h * 0.2, h * 0.9)
            grey = int(rng.uniform(60, 150))
            draw.rectangle([x, h - bh, x + bw, h], fill=colour((grey, grey, grey + 10), 10))
            for _ in range(int(bw * bh / 900)):
                wx, wy = rng.uniform(x + 3, x + bw - 8), rng.uniform(h - bh + 3, h - 8)
                draw.rectangle([wx, wy, wx + 5, wy + 7], fill=colour((240, 220, 140), 20))
            x += bw + rng.uniform(0, 15)
    return img


def _photo(args) -> None:
    """One phone photo of a random scene of its class, with sensor noise; every 4th stored
    sideways with EXIF orientation 6, as phones do."""
    from PIL import Image

    path, label, index = args
    if path.exists():
        return
    rng = np.random.default_rng(index)
    w, h = 504, 378  # composed at 1/8 and upscaled: fast to make
    scene = np.asarray(_scene(label, rng, w, h), dtype=np.float32)
    noisy = (scene + rng.normal(0, 8, scene.shape)).clip(0, 255).astype(np.uint8)
    img = Image.fromarray(noisy).resize(PHONE, Image.Resampling.BILINEAR)
    exif = Image.Exif()
    if index % 4 == 0:
        exif[0x0112] = 6  # stored sideways, shown upright
        img = img.transpose(Image.Transpose.ROTATE_90)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    img.save(tmp, "JPEG", quality=88, exif=exif.tobytes())
    tmp.rename(path)


def make_photos(folder: Path) -> dict[int, Path]:
    """``folder/photos-N`` for each size (the smaller a hard-linked subset of the larger)."""
    big = folder / f"photos-{max(SIZES)}"
    jobs = [
        (big / name / f"IMG_{i:04d}.jpg", label, label * 10_000 + i)
        for label, name in enumerate(CLASSES)
        for i in range(max(SIZES) // len(CLASSES))
    ]
    missing = [j for j in jobs if not j[0].exists()]
    if missing:
        print(f"making {len(missing)} phone-sized photos in {big} …", flush=True)
        with ProcessPoolExecutor(os.cpu_count()) as pool:
            list(pool.map(_photo, missing, chunksize=8))
    roots = {max(SIZES): big}
    for n in SIZES:
        if n == max(SIZES):
            continue
        small = folder / f"photos-{n}"
        for name in CLASSES:
            for i in range(n // len(CLASSES)):
                link = small / name / f"IMG_{i:04d}.jpg"
                if not link.exists():
                    link.parent.mkdir(parents=True, exist_ok=True)
                    os.link(big / name / link.name, link)
        roots[n] = small
    return roots


def preset_for(root: Path, cache: Path, **changes):
    from engine.preset import Preset

    return Preset().with_changes(
        {
            "name": "photos",
            "data.source": "folder",
            "data.root": str(root),
            "data.cache_dir": str(cache),
            "data.image_size": 224,
            "model.arch": "convnet",
            "model.width": 8,
            "model.depth": 4,
            "train.batch_size": 32,
            "train.device": "cpu",
            **changes,
        }
    )


def peak_memory_mb(root: Path, work: Path) -> tuple[float, float]:
    """Peak RSS of ``plateau-train`` for one epoch on ``root`` with a cold cache, and its
    wall time."""
    code = (
        "import resource, subprocess, sys;"
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL);"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    preset = preset_for(root, work / "cache")
    from engine import preset as presets

    presets.save(preset, work / "p.toml")
    start = time.perf_counter()
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            sys.executable,
            "-m",
            "engine",
            str(work / "p.toml"),
            "--out",
            str(work / "runs"),
            "--epochs",
            "1",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.split()[-1]) / 1024, time.perf_counter() - start


def torchvision_pass(root: Path) -> float:
    """Seconds of one pass of ImageFolder + DataLoader(num_workers = cores), Resize(224)."""
    import torch
    from torchvision import datasets, transforms

    tf = transforms.Compose(
        [transforms.Resize(224), transforms.CenterCrop(224), transforms.PILToTensor()]
    )
    loader = torch.utils.data.DataLoader(
        datasets.ImageFolder(str(root), tf), batch_size=32, num_workers=os.cpu_count()
    )
    start = time.perf_counter()
    for _ in loader:
        pass
    return time.perf_counter() - start


def cache_build(root: Path, cache: Path) -> tuple[float, str]:
    from engine.data.image_cache import decode_folder
    from engine.data.scan import scan_folder

    start = time.perf_counter()
    decoded = decode_folder(scan_folder(root), 224, "crop", cache)
    return time.perf_counter() - start, decoded.status


def data_phase(root: Path, cache: Path) -> tuple[float, str]:
    from engine.data import load_data

    start = time.perf_counter()
    data = load_data(preset_for(root, cache))
    return time.perf_counter() - start, data.stats["cache"]


def epoch_seconds(root: Path, cache: Path, in_memory: bool, epochs: int = 3) -> float:
    """Median epoch time (after the first) of a run trained from the cache, or from the same
    images gathered into in-memory tensors first."""
    import engine.trainer as trainer_module
    from engine.data import load_data
    from engine.runs import RunFiles

    original = trainer_module.load_data

    def materialized(preset, progress=None):
        data = load_data(preset)
        data.x_train, data.x_val = data.x_train[:], data.x_val[:]  # gathered into tensors
        return data

    if in_memory:
        trainer_module.load_data = materialized
    try:
        preset = preset_for(root, cache, **{"train.epochs": epochs})
        summary = trainer_module.Trainer(preset, out=tempfile.mkdtemp()).fit()
    finally:
        trainer_module.load_data = original
    return statistics.median(r.seconds for r in RunFiles(summary.run_dir).read_metrics()[1:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(os.environ.get("PLATEAU_BENCH_PHOTOS", tempfile.gettempdir())) / PHOTOS
    parser.add_argument("--folder", type=Path, default=default)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    roots = make_photos(args.folder)
    big = roots[max(SIZES)]
    size_mb = sum(p.stat().st_size for p in big.rglob("*.jpg")) / 2**20
    print(f"{max(SIZES)} photos of {PHONE[0]}×{PHONE[1]}, {size_mb:,.0f} MB of JPEG", flush=True)
    work = Path(tempfile.mkdtemp(prefix="plateau-photos-bench-"))
    try:
        return measure(roots, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure(roots: dict[int, Path], work: Path) -> int:
    big = roots[max(SIZES)]
    memory = {}
    for n in SIZES:
        mb, seconds = peak_memory_mb(roots[n], work / f"mem-{n}")
        memory[n] = mb
        print(
            f"training run on {n} photos (cold cache, 1 epoch): peak RSS {mb:,.0f} MB, "
            f"{seconds:.1f} s",
            flush=True,
        )

    tv = torchvision_pass(big)
    build, status = cache_build(big, work / "cache")
    hit, hit_status = data_phase(big, work / "cache")
    print(
        f"torchvision ImageFolder + DataLoader({os.cpu_count()} workers), Resize(224): "
        f"{tv:.1f} s; Plateau cache build ({status}): {build:.1f} s; a second run's data phase "
        f"({hit_status}): {hit:.2f} s",
        flush=True,
    )

    small = roots[min(SIZES)]
    cache_build(small, work / "cache-small")  # both sides then read the same cached images
    cached = [epoch_seconds(small, work / "cache-small", False) for _ in range(2)]
    memory_run = [epoch_seconds(small, work / "cache-small", True) for _ in range(2)]
    c, m = statistics.median(cached), statistics.median(memory_run)
    print(
        f"epoch on {min(SIZES)} photos at 224: from the cache {c:.2f} s, from in-memory "
        f"tensors {m:.2f} s",
        flush=True,
    )

    print(
        f"photos[peak_memory_{max(SIZES)}]: ratio={memory[max(SIZES)] / memory[min(SIZES)]:.3f} "
        f"mb={memory[max(SIZES)]:.0f}"
    )
    print(f"photos[cache_build_vs_torchvision]: ratio={build / tv:.3f}")
    print(f"photos[cache_hit_data_phase]: seconds={hit:.2f}")
    print(f"photos[epoch_cache_vs_memory]: ratio={c / m:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
