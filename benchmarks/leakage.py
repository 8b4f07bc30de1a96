"""The doctor's split-leakage search against ground truth: 600 of benchmarks/photos.py's phone
photos in train/ and val/ (every 5th in val), and 5 % of the validation photos copied into
training re-encoded at JPEG quality 70 and resized by ±8–10 %. Prints the recall of the copies,
the false pairs, the search time, and the same folder without copies (no finding expected).
The issue's target: recall ≥ 0.95, no finding without copies.

    python -m benchmarks.leakage
"""

from __future__ import annotations

import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

SIZE = (640, 480)
PHOTOS = 600


def make_folder(sources: list[Path], out: Path, copies: bool) -> list[tuple[str, str]]:
    """train/ and val/ from ``sources``; with ``copies``, the (training copy, validation
    original) names of the copies made."""
    rng = random.Random(0)
    val = []
    for k, f in enumerate(sources):
        split = "val" if k % 5 == 0 else "train"
        im = Image.open(f)
        im.draft("RGB", (SIZE[0] * 2, SIZE[1] * 2))
        path = out / split / f.parent.name / f.name
        path.parent.mkdir(parents=True, exist_ok=True)
        im.convert("RGB").resize(SIZE).save(path, quality=90)
        if split == "val":
            val.append(path)
    made = []
    if copies:
        for p in rng.sample(val, max(1, len(val) // 20)):
            scale = rng.choice([0.9, 0.92, 1.08, 1.1])
            im = Image.open(p).resize((int(SIZE[0] * scale), int(SIZE[1] * scale)))
            name = f"train/{p.parent.name}/copy-{p.name}"
            im.save(out / name, quality=70)
            made.append((name, f"val/{p.parent.name}/{p.name}"))
    return made


def search(root: Path):
    from engine.data import load_data
    from engine.doctor.leakage import find_copies
    from engine.preset import Preset

    preset = Preset().with_changes(
        {
            "data.source": "folder",
            "data.root": str(root),
            "data.image_size": 224,
            "data.cache_dir": str(root.parent / f"{root.name}-cache"),
        }
    )
    d = load_data(preset)
    started = time.perf_counter()
    copies = find_copies(d.x_train, d.x_val)
    seconds = time.perf_counter() - started
    pairs = {(d.train_ids[i], d.val_ids[j]) for i, j in copies.train_val}
    return pairs, copies.val_val, seconds, len(d.train_ids), len(d.val_ids)


def main() -> int:
    from benchmarks.photos import PHOTOS as FOLDER
    from benchmarks.photos import make_photos

    roots = make_photos(Path(tempfile.gettempdir()) / FOLDER)
    sources = sorted(roots[max(roots)].rglob("*.jpg"))[:: max(1, max(roots) // PHOTOS)][:PHOTOS]
    work = Path(tempfile.mkdtemp(prefix="plateau-leakage-"))
    try:
        for name, with_copies in (("with copies", True), ("without copies", False)):
            root = work / name.replace(" ", "-")
            made = make_folder(sources, root, with_copies)
            pairs, val_val, seconds, n_train, n_val = search(root)
            found = sum(pair in pairs for pair in made)
            false = sorted(pairs - set(made))
            recall = found / len(made) if made else None
            print(
                f"{name}: {n_train} training and {n_val} validation photos at 224 px, "
                f"{len(made)} copies made; found {found}, false pairs {len(false)} "
                f"{false[:3]}, copies within validation {len(val_val)}; search {seconds:.2f} s"
            )
            tag = "copies" if with_copies else "clean"
            shown = "—" if recall is None else f"{recall:.3f}"
            print(f"leakage[{tag}]: recall={shown} false_pairs={len(false)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
