"""Datasets the proving suite writes for the doctor's data findings: labels changed through a
``data.relabel`` file (so which ones is known), an image folder with validation images copied
into training, and one whose validation images come out of a different pipeline.

Each maker writes real files (PNG/JPEG folders, a relabel list) and returns the preset changes
that point at them; tests and benchmarks share them.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
from PIL import Image


def scene(seed: int) -> Image.Image:
    """A photo-like image: smooth random structure, 96×72."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8))
    return coarse.resize((96, 72), Image.BICUBIC)


def scenes_folder(root: Path, copies: bool) -> list[str]:
    """``train/`` and ``val/`` with two classes of scenes; with ``copies``, 2 of the 40
    validation images copied into training re-encoded and resized by ±10 %, and one more under
    the other class (a label conflict). Returns the copies' paths relative to ``root``."""
    seed = 0
    for split, n in (("train", 60), ("val", 20)):
        for label in ("a", "b"):
            for i in range(n):
                path = root / split / label / f"{i}.jpg"
                path.parent.mkdir(parents=True, exist_ok=True)
                scene(seed).save(path, quality=90)
                seed += 1
    made = []
    if copies:
        for label, other, i, scale in (("a", "a", 3, 1.1), ("b", "b", 5, 0.9), ("a", "b", 7, 1.05)):
            im = Image.open(root / "val" / label / f"{i}.jpg")
            im = im.resize((round(96 * scale), round(72 * scale)))
            name = f"train/{other}/copy-{label}{i}.jpg"
            im.save(root / name, quality=70)
            made.append(name)
    return made


def inverted_validation_folder(root: Path) -> None:
    """The built-in digits as 16×16 PNGs in ``train/`` and ``val/``, the validation ones
    exported inverted (white background): a second camera or export pipeline for one split."""
    from engine.data.sources import digits

    source = digits()
    rng = np.random.default_rng(0)
    for i, (img, y) in enumerate(zip(source.x[:, 0].numpy(), source.y.tolist(), strict=True)):
        split = "val" if rng.random() < 0.2 else "train"
        a = (img.astype(np.float64) / 16 * 255).astype(np.uint8)
        if split == "val":
            a = 255 - a
        path = root / split / str(int(y)) / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(a).resize((16, 16)).save(path)


def shapes_folder(root: Path, per_class: int = 40) -> None:
    """A small photo folder a person might start with: three classes (a disc, a square, a
    triangle of a class colour, each of its own size and place) on a scene of its own
    (:func:`scene`), ``per_class`` 96×72 JPEGs each. Easy to learn — but a network trained
    from scratch on it takes only a few steps an epoch."""
    from PIL import ImageDraw

    rng = random.Random(0)
    colours = {"disc": (220, 60, 40), "square": (40, 180, 60), "triangle": (240, 210, 30)}
    w, h = 96, 72
    for k, (label, colour) in enumerate(colours.items()):
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            img = scene(10_000 + k * per_class + i)
            draw = ImageDraw.Draw(img)
            s = rng.randint(10, 22)
            cx, cy = rng.randint(s, w - s), rng.randint(s, h - s)
            fill = tuple(min(255, max(0, c + rng.randint(-30, 30))) for c in colour)
            box = [cx - s, cy - s, cx + s, cy + s]
            if label == "disc":
                draw.ellipse(box, fill=fill)
            elif label == "square":
                draw.rectangle(box, fill=fill)
            else:
                draw.polygon([(cx, cy - s), (cx - s, cy + s), (cx + s, cy + s)], fill=fill)
            img.save(root / label / f"{i}.jpg", quality=90)


def relabel_file(preset, share: float, folder: Path) -> tuple[dict, set[str]]:
    """Change ``share`` of the training labels of a position-named source (digits, synthetic) to
    another class through a ``data.relabel`` file; returns the preset changes and the changed
    sample ids. Validation keeps its true labels (the split does not move with relabelling), so
    what a fix does is measured against the truth — as label-noise studies keep a clean test
    set."""
    from engine.data import load_data

    data = load_data(preset)
    k, rng, flips = data.num_classes, random.Random(0), {}
    n = len(data.train_ids)
    for i in rng.sample(range(n), int(share * n)):
        old = int(data.y_train[i])
        flips[data.train_ids[i]] = str(rng.choice([c for c in range(k) if c != old]))
    if not flips:
        return {}, set()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"flips-{preset.data.source}-{share}.txt"
    path.write_text("".join(f"{name}\t{label}\n" for name, label in flips.items()))
    return {"data.relabel": str(path)}, set(flips)


MAKERS = {
    "leaky-scenes": lambda root: scenes_folder(root, copies=True),
    "clean-scenes": lambda root: scenes_folder(root, copies=False),
    "inverted-validation": inverted_validation_folder,
    "small-shapes": shapes_folder,
}
