"""Stratified train/validation split and per-class thinning of the training set."""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from engine.errors import DataError


def stratified_split(
    y: torch.Tensor,
    val_fraction: float,
    generator: torch.Generator,
    names: list[str] | None = None,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (train, val) holding out ``val_fraction`` of every class (at least one sample of
    each class with two or more samples). With ``names`` (an image folder's files) each class is
    ordered by a hash of the seed and the name, not drawn at random: a file added or removed
    since moves at most one other image between training and validation, where a new draw
    would reshuffle them all (and validate on what an earlier run trained on)."""
    train, val = [], []
    ranks = None if names is None else torch.from_numpy(_ranks(seed, names))
    for c in torch.unique(y).tolist():
        idx = torch.nonzero(y == c).flatten()
        if ranks is None:
            idx = idx[torch.randperm(len(idx), generator=generator)]
        else:
            idx = idx[torch.argsort(ranks[idx], stable=True)]
        n_val = int(round(len(idx) * val_fraction))
        if len(idx) >= 2:
            n_val = min(max(n_val, 1), len(idx) - 1)
        else:
            n_val = 0
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return torch.sort(torch.cat(train)).values, torch.sort(torch.cat(val)).values


def _ranks(seed: int, names: list[str]) -> np.ndarray:
    """Each name's place in the seed's order: 63 bits of a hash of the seed and the name."""
    digests = b"".join(
        hashlib.blake2b(f"{seed}/{name}".encode(), digest_size=8).digest() for name in names
    )
    return (np.frombuffer(digests, dtype=">u8") >> 1).astype(np.int64)


def thin_classes(
    y: torch.Tensor,
    class_names: list[str],
    limit_per_class: int,
    class_fraction: dict[str, float],
    generator: torch.Generator,
) -> torch.Tensor:
    """Indices of the training samples kept after ``limit_per_class`` and ``class_fraction``."""
    fractions = {_class_index(key, class_names): f for key, f in class_fraction.items()}
    keep = []
    for c in torch.unique(y).tolist():
        idx = torch.nonzero(y == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=generator)]
        n = len(idx)
        if c in fractions:
            n = max(1, int(round(n * fractions[c])))
        if limit_per_class:
            n = min(n, limit_per_class)
        keep.append(idx[:n])
    return torch.sort(torch.cat(keep)).values


def _class_index(key: str, class_names: list[str]) -> int:
    if key in class_names:
        return class_names.index(key)
    if key.lstrip("-").isdigit() and 0 <= int(key) < len(class_names):
        return int(key)
    raise DataError(
        f"'data.class_fraction' names class {key!r}, which this dataset does not have; "
        f"use a class index 0–{len(class_names) - 1} or one of: {', '.join(class_names[:12])}"
        + (" …" if len(class_names) > 12 else ""),
        "data.class_fraction",
    )
