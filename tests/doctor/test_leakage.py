"""split-leakage: validation images that also appear in training — re-encoded and resized
copies included — are found before the first step, with label conflicts counted, and the
one-click fix leaves the training copies out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from engine.data import load_data
from engine.doctor.leakage import find_copies
from engine.preset import Preset
from engine.runs import RunFiles
from engine.trainer import Trainer


def _scene(seed: int) -> Image.Image:
    """A photo-like image: smooth random structure, 96×72."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8))
    return coarse.resize((96, 72), Image.BICUBIC)


def _folder(root: Path, copies: bool) -> list[str]:
    """train/ and val/ with two classes; with ``copies``, 2 of the 40 validation images copied
    into training re-encoded and resized by ±10 %, and one more under the other class."""
    seed = 0
    for split, n in (("train", 60), ("val", 20)):
        for label in ("a", "b"):
            for i in range(n):
                path = root / split / label / f"{i}.jpg"
                path.parent.mkdir(parents=True, exist_ok=True)
                _scene(seed).save(path, quality=90)
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


def _preset(root: Path, tmp_path: Path) -> Preset:
    return Preset().with_changes(
        {
            "data.source": "folder",
            "data.root": str(root),
            "data.cache_dir": str(tmp_path / "cache"),
            "data.image_size": 64,
            "model.width": 8,
            "train.epochs": 1,
            "train.batch_size": 32,
            "train.device": "cpu",
        }
    )


def test_copies_between_the_splits_are_found_and_left_out(tmp_path):
    root = tmp_path / "photos"
    made = _folder(root, copies=True)
    preset = _preset(root, tmp_path)
    summary = Trainer(preset, out=tmp_path / "runs").fit()
    found = {f["id"]: f for f in RunFiles(summary.run_dir).read_diagnosis()}
    leak = found["split-leakage"]
    assert leak["epoch"] == 0  # before the first step
    assert leak["extra"]["val_copies"] == 3 and leak["extra"]["train_copies"] == 3
    assert leak["extra"]["conflicts"] == 1
    assert "3 of 40 validation images (7.5%) also appear in training" in leak["evidence"]
    assert "1 of these copies carry different labels" in leak["evidence"]
    listed = Path(leak["fix"]["set"]["data.exclude"]).read_text().splitlines()[1:]
    assert sorted(listed) == sorted(made)
    fixed = load_data(preset.with_changes(leak["fix"]["set"]))
    copies = find_copies(fixed.x_train, fixed.x_val)
    assert copies.train_val == [] and copies.val_val == []


def test_no_finding_without_copies(tmp_path):
    root = tmp_path / "photos"
    _folder(root, copies=False)
    summary = Trainer(_preset(root, tmp_path), out=tmp_path / "runs").fit()
    ids = {f["id"] for f in RunFiles(summary.run_dir).read_diagnosis()}
    assert "split-leakage" not in ids


def test_small_images_are_compared_exactly():
    import torch

    x = torch.randint(0, 255, (20, 1, 8, 8), dtype=torch.uint8)
    val = torch.cat([x[:3].clone(), torch.randint(0, 255, (5, 1, 8, 8), dtype=torch.uint8)])
    val[2, 0, 0, 0] ^= 1  # one pixel differs: not a copy at 8×8
    val = torch.cat([val, val[:1]])  # and a copy within validation
    copies = find_copies(x, val)
    assert copies.train_val == [(0, 0), (0, 8), (1, 1)]  # val 8 is val 0 again
    assert copies.val_val == [(0, 8)]
