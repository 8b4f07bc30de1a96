"""Images that are in the training and the validation split at once (or twice in validation):
exact copies, and near copies — re-encoded, resized a few per cent. Each image is reduced to a
16×16 grey thumbnail, centred and scaled to unit length; two images are copies when their
thumbnails correlate above ``NEAR``. Calibrated on benchmarks/photos.py's phone photos at 224 px
with copies re-encoded at JPEG quality 70 and resized by ±8–10 %: copies correlate ≥ 0.9998,
the closest unrelated pair 0.964; small 96×72 JPEGs resized by 10 % at quality 70 still
correlate 0.994 (tests/doctor/test_leakage.py). A 64-bit difference hash, fastdup's and
cleanvision's default, did not separate them: copies 3–10 bits apart, unrelated pairs from 8.
The search is a chunked matrix product, once per run. Images under ``MIN_SIDE`` px are compared
by their bytes: at that size unrelated images have near-identical thumbnails (two written 1s).

A candidate pair gets a second look at 32×32 (:func:`_same_picture`): pictures of one background
with the subject moved (a fixed camera, shapes on one backdrop) also correlate above ``NEAR`` at
16×16 — 0.987–0.997 — and were reported as copies, with "label conflicts" where the subjects were
different classes. A copy differs a little everywhere (largest difference 0.03–0.52 standard
deviations over the suite's scenes and benchmarks/leakage.py's photos); a moved subject differs
a lot in one place (largest 0.70–0.94, 8–17 × the mean difference). Other shapes on one smooth
backdrop (a gradient, a sky) in grainy pictures differ everywhere too; their fine detail (the
32×32 look less its blur) does not correlate (0.05–0.28, against ≥ 0.92 for copies), nor does
that of a synthetic class's independent noise draws."""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from engine import atomic
from engine.data.rows import Rows
from engine.doctor.finding import Finding
from engine.wording import count

NEAR = 0.985
MIN_SIDE = 32
THUMB = 16
CHUNK = 1024
CHUNK_BYTES = 16 * 2**20
LOOK = 32  # the second look's side
MOVED_DIFF = 0.6  # a pair that differs this much (standard deviations) somewhere …
MOVED_RATIO = 7.5  # … and that many times its mean difference there: a subject moved, not a copy
# a colour that moved this far somewhere (each channel less the channels' average, over a 4×4
# grid of the picture, in standard deviations of the image) is another picture of the same
# shapes: a red and a green fruit on one backdrop correlate 0.9996 in grey; a green pear and a
# blue plum at one place on look-alike backdrops differ by 3.1-3.4 (their mean colours by only
# 0.11); benchmarks/leakage.py's copies (re-encoded, resized) at 32-224 px by 0.004-0.135
COLOUR_DIFF = 0.5
COLOUR_GRID = 4
# the second look's fine detail (the 32×32 thumbnail less its 8×8 blur) of two copies correlates
# ≥ 0.92 (benchmarks/leakage.py's re-encoded, resized copies at 32–224 px: 0.92–0.9996); other
# shapes on one smooth backdrop (a gradient, a sky), which the 16×16 thumbnails cannot tell
# apart, 0.05–0.28
DETAIL_MIN = 0.6
FLAT = 1e-3  # detail below this share of an image's spread: a flat picture, detail says nothing


@dataclass(frozen=True)
class Copies:
    """Pairs (training position, validation position) and (validation, validation, i < j)."""

    train_val: list[tuple[int, int]]
    val_val: list[tuple[int, int]]


def thumbnails(x) -> torch.Tensor:
    """N×256 unit vectors: each image's centred 16×16 grey thumbnail (tensor or Rows). Cached
    images keep their thumbnails beside the decoded rows, so each is made once per dataset."""
    if isinstance(x, Rows) and x.thumbnails_file is not None:
        return _cached(x.storage, x.thumbnails_file)[x.index]
    return _compute(x)


def _cached(storage: torch.Tensor, path: Path) -> torch.Tensor:
    """Thumbnails of every row of a cache's array: read from ``path``, the rows added since
    made and the file rewritten (atomically; a cache opened read-only just recomputes)."""
    n, width = len(storage), THUMB * THUMB
    known = np.zeros((0, width), np.float32)
    if path.exists():
        known = np.fromfile(path, np.float32)
        known = known.reshape(-1, width) if known.size % width == 0 else known[:0].reshape(0, width)
        if len(known) > n:  # not this array's (rows are only ever appended)
            known = known[:0]
    if len(known) == n:
        return torch.from_numpy(known)
    fresh = _compute(storage[len(known) :]).numpy()
    every = np.concatenate([known, fresh])
    try:
        atomic.write_bytes(path, every.tobytes())
    except OSError:
        pass
    return torch.from_numpy(every)


def _compute(x, side: int = THUMB) -> torch.Tensor:
    """N×side² unit vectors: each image's centred grey ``side``×``side`` thumbnail."""
    out = []
    step = max(1, CHUNK_BYTES // (4 * math.prod(x.shape[1:])))  # float copies stay small
    for start in range(0, len(x), step):
        grey = x[start : start + step].float().mean(1, keepdim=True)
        t = torch.nn.functional.interpolate(grey, size=(side, side), mode="area").flatten(1)
        t = t - t.mean(1, keepdim=True)
        out.append(t / t.norm(dim=1, keepdim=True).clamp_min(1e-6))
    return torch.cat(out) if out else torch.zeros(0, side * side)


def _near_pairs(a: torch.Tensor, b: torch.Tensor, same: bool) -> list[tuple[int, int]]:
    pairs = []
    step = max(1, CHUNK_BYTES // (4 * max(len(b), 1)))  # rows of the product at a time
    for start in range(0, len(a), step):
        corr = a[start : start + step] @ b.T
        if same:  # each pair once, never an image with itself
            corr = torch.triu(corr, diagonal=start + 1)
        i, j = torch.nonzero(corr >= NEAR, as_tuple=True)
        pairs += zip((i + start).tolist(), j.tolist(), strict=True)
    return pairs


def _exact_keys(x) -> list[bytes]:
    keys = []
    for start in range(0, len(x), CHUNK):
        batch = x[start : start + CHUNK].cpu().contiguous()
        keys += [hashlib.blake2b(row.numpy().tobytes(), digest_size=16).digest() for row in batch]
    return keys


def _exact_pairs(a: list[bytes], b: list[bytes], same: bool) -> list[tuple[int, int]]:
    where = defaultdict(list)
    for j, key in enumerate(b):
        where[key].append(j)
    return [(i, j) for i, key in enumerate(a) for j in where.get(key, ()) if not same or i < j]


def _looks(x, positions: list[int]) -> dict[int, tuple[torch.Tensor, ...]]:
    """The second look: the images at ``positions`` as 32×32 grey thumbnails in standard
    deviations (unit vectors × 32), their colour where it is (each channel less the channels'
    average over a 4×4 grid, in standard deviations of the image: the thumbnails are grey and
    centred, they cannot tell a red picture from a green one; a brighter copy keeps its colour)
    and their fine detail."""
    out = {}
    step = max(1, CHUNK_BYTES // (4 * math.prod(x.shape[1:])))  # a chunk of images at a time
    for start in range(0, len(positions), step):
        chunk = positions[start : start + step]
        images = x[torch.tensor(chunk)].float()
        grid = torch.nn.functional.interpolate(images, size=(COLOUR_GRID,) * 2, mode="area")
        spread = images.flatten(1).std(1).clamp_min(1e-6)[:, None, None, None]
        colour = ((grid - grid.mean(1, keepdim=True)) / spread).flatten(1)  # hue: grey all 0
        grey = _compute(images, LOOK) * LOOK
        out.update(zip(chunk, zip(grey, colour, _detail(grey), strict=True), strict=True))
    return out


def _detail(grey: torch.Tensor) -> torch.Tensor:
    """N×LOOK² unit vectors: the thumbnails (in standard deviations) less their 8×8 blur —
    edges and texture, without the backdrop's smooth light; zero for a flat picture."""
    t = grey.view(-1, 1, LOOK, LOOK)
    blur = torch.nn.functional.avg_pool2d(t, 4)
    low = torch.nn.functional.interpolate(blur, size=(LOOK, LOOK), mode="bilinear")
    d = (t - low).flatten(1)
    d = d - d.mean(1, keepdim=True)
    norm = d.norm(dim=1, keepdim=True)
    return torch.where(norm > FLAT * LOOK, d / norm.clamp_min(1e-6), torch.zeros_like(d))


def _same_picture(a: tuple, b: tuple) -> bool:
    (grey_a, colour_a, detail_a), (grey_b, colour_b, detail_b) = a, b
    if float((colour_a - colour_b).abs().max()) > COLOUR_DIFF:  # another colour: not a copy
        return False
    flat = not detail_a.any() or not detail_b.any()
    if not flat and float(detail_a @ detail_b) < DETAIL_MIN:  # other shapes on one backdrop
        return False
    diff = (grey_a - grey_b).abs()
    biggest = float(diff.max())
    return not (biggest >= MOVED_DIFF and biggest >= MOVED_RATIO * float(diff.mean()))


def _confirmed(pairs, x_a, x_b) -> list[tuple[int, int]]:
    if not pairs:
        return pairs
    a = _looks(x_a, sorted({i for i, _ in pairs}))
    b = _looks(x_b, sorted({j for _, j in pairs}))
    return [(i, j) for i, j in pairs if _same_picture(a[i], b[j])]


def find_copies(x_train, x_val) -> Copies:
    """Copies between the splits and within validation."""
    if min(x_train.shape[-2:]) >= MIN_SIDE:
        tt, tv = thumbnails(x_train), thumbnails(x_val)
        return Copies(
            _confirmed(_near_pairs(tt, tv, False), x_train, x_val),
            _confirmed(_near_pairs(tv, tv, True), x_val, x_val),
        )
    kt, kv = _exact_keys(x_train), _exact_keys(x_val)
    return Copies(_exact_pairs(kt, kv, False), _exact_pairs(kv, kv, True))


def split_leakage(
    copies: Copies, y_train, y_val, train_ids: list[str], val_ids: list[str], exclude_file: str
):
    """The ``split-leakage`` finding (None without copies)."""
    if not copies.train_val and not copies.val_val:
        return None
    y_train, y_val = np.asarray(y_train), np.asarray(y_val)
    leaked = sorted({i for i, _ in copies.train_val})
    shown_val = len({j for _, j in copies.train_val})
    conflicts = sum(y_train[i] != y_val[j] for i, j in copies.train_val) + sum(
        y_val[i] != y_val[j] for i, j in copies.val_val
    )
    examples = "; ".join(f"{train_ids[i]} = {val_ids[j]}" for i, j in copies.train_val[:3])
    parts = []
    if copies.train_val:
        parts.append(
            f"{shown_val} of {len(y_val)} validation images ({shown_val / len(y_val):.1%}) also "
            f"appear in training ({count(len(leaked), 'training copy')}, e.g. {examples})"
        )
    if copies.val_val:
        n = len(copies.val_val)
        parts.append(
            f"{count(n, 'pair')} of validation images {'is a copy' if n == 1 else 'are copies'} "
            "of each other"
        )
    evidence = (
        "; ".join(parts)
        + ". Validation accuracy on images the network trained on overstates how it does on "
        "new ones."
        + (
            f" {conflicts} of these copies carry different labels (label conflicts)."
            if conflicts
            else ""
        )
    )
    return Finding(
        "split-leakage",
        "warning",
        "Validation images also appear in training",
        evidence,
        {"set": {"data.exclude": exclude_file}} if leaked else None,
        advice="Leave the training copies out with the fix (the list is a text file you can "
        "edit), or remove the duplicate files from the folder.",
        extra={
            "train_copies": len(leaked),
            "val_copies": shown_val,
            "conflicts": int(conflicts),
            "exclude": exclude_file,
        },
    )
