"""Checkpoints: one safe loader (``weights_only=True``) and one atomic saver.

A checkpoint is a plain dict: model, optimizer and schedule state, the epoch, the preset, class
names, normalization statistics and input shape, plus RNG states for an exact resume. Loading a
file never runs code from it.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from engine import atomic
from engine.errors import CheckpointError

__all__ = ["CheckpointError", "load_checkpoint", "save_checkpoint"]

FORMAT = "plateau-checkpoint/1"


def save_checkpoint(path: str | Path, state: dict[str, Any], *also: str | Path) -> Path:
    """Write a checkpoint atomically (serialized once, also to the paths in ``also``)."""
    data = torch_bytes({"format": FORMAT, **state})
    for extra in also:
        atomic.write_bytes(extra, data)
    return atomic.write_bytes(path, data)


def torch_bytes(obj: Any) -> bytes:
    """``torch.save`` into memory (a pickling error then leaves no file behind)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a Plateau checkpoint without running any code stored in it."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise CheckpointError(
            f"refused to load {path}: it holds objects other than tensors and plain data, which "
            f"could run code when unpickled ({first[:160]})"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CheckpointError(
            f"{path} is not a readable checkpoint (truncated or not a PyTorch file): "
            f"{str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__}"
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT or "model" not in state:
        raise CheckpointError(
            f"{path} is a PyTorch file but not a Plateau checkpoint (expected format {FORMAT!r})"
        )
    return state
