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


# how other files a person might pass for a checkpoint begin
OTHER_FILES = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"RIFF": "an image or media file (RIFF)",
    b"\x08": "an ONNX model (or another protobuf file)",
    b"\x89HDF": "an HDF5 file (Keras?)",
}


def _file_kind(path: Path) -> str:
    """What ``path`` is when it is plainly no PyTorch file (those are zip archives, or pickles
    from older versions), else ""."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        return ""  # torch.load says why it cannot read it
    if head.startswith((b"PK", b"\x80")):  # a zip archive (torch.save) or a pickle (older)
        return ""
    for magic, kind in OTHER_FILES.items():
        if head.startswith(magic):
            return kind
    if not head:
        return "empty"
    if all(32 <= b < 127 or b in b"\t\r\n" for b in head):
        return "a text file"
    return "not a PyTorch file"


def torch_bytes(obj: Any) -> bytes:
    """``torch.save`` into memory (a pickling error then leaves no file behind)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a Plateau checkpoint without running any code stored in it."""
    path = Path(path)
    if path.is_dir():
        best = path / "checkpoints" / "best.pt"
        what = (
            f"a run directory; give one of its checkpoints: {best} (best validation accuracy) "
            f"or {best.with_name('last.pt')}"
            if best.is_file()
            else "a folder, not a checkpoint (.pt)"
        )
        raise CheckpointError(f"{path} is {what}")
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    kind = _file_kind(path)
    if kind:
        raise CheckpointError(f"{path} is not a checkpoint: it is {kind}")
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
