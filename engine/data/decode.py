"""Decoding one image file into the uint8 ``C×H×W`` array the network is trained on.

The single place where files become pixels: the folder source, ``predict`` and export
verification all call it, so what the network sees in prediction is what it saw in training.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from engine.errors import DataError

GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}
HIGH_DEPTH_MODES = {"I", "I;16", "I;16B", "I;16L", "F"}


class UnreadableImage(DataError):
    """A file that is not a readable image; ``reason`` says why in a few words."""

    def __init__(self, path: str | Path, reason: str):
        super().__init__(f"cannot read image {path}: {reason}")
        self.path, self.reason = str(path), reason


def open_image(path: str | Path):
    """The decoded PIL image of a file; raises :class:`UnreadableImage` naming the file and
    why."""
    from PIL import Image, UnidentifiedImageError

    try:
        if Path(path).stat().st_size == 0:
            raise UnreadableImage(path, "empty file")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as img:
                img.load()
                return img.copy()
    except UnreadableImage:
        raise
    except UnidentifiedImageError:
        raise UnreadableImage(path, "not an image file") from None
    except Image.DecompressionBombError:
        raise UnreadableImage(path, "too large (decompression bomb)") from None
    except Exception as exc:  # noqa: BLE001 - PIL raises many types for a broken file
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UnreadableImage(path, reason) from None


def to_array(img, color: bool, size: tuple[int, int]) -> np.ndarray:
    """A PIL image → ``C×H×W`` uint8 of ``size`` (width, height): 16-bit and float images
    scaled to 0–255, alpha composited on white, grayscale or RGB as ``color`` says."""
    from PIL import Image

    if img.mode in HIGH_DEPTH_MODES:
        arr = np.asarray(img, dtype=np.float32)
        top = max(float(arr.max()), 1.0)
        img = Image.fromarray((arr * (255.0 / top)).clip(0, 255).astype(np.uint8))
    if img.mode in ("RGBA", "LA", "P", "PA"):
        img = img.convert("RGBA")
        backdrop = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(backdrop, img)
    img = img.convert("RGB" if color else "L")
    if img.size != size:
        img = img.resize(size, Image.Resampling.BILINEAR)
    arr = np.asarray(img, dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def decode_for_model(
    path: str | Path, channels: int, size_hw: tuple[int, int], data: dict | None = None
) -> np.ndarray:
    """An image file as the ``C×H×W`` uint8 array a model with that input shape takes."""
    h, w = size_hw
    return to_array(open_image(path), channels >= 3, (w, h))[:channels]
