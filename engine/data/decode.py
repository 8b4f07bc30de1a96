"""Decoding one image file into the uint8 ``C×H×W`` array the network is trained on.

The single place where files become pixels: the folder source and its cache, ``predict`` and
export verification all call it, so what the network sees in prediction is what it saw in
training. JPEGs are decoded at a reduced scale where the target size allows (PIL's draft mode:
the DCT does the down-scaling, several times faster than a full decode), EXIF orientation is
applied as photo viewers do, 16-bit and float images are scaled to 0–255, alpha is composited on
white, and the image is resized by the preset's policy: ``crop`` (shorter side to the size,
centre crop) or ``squash``.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import DataError

GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}
HIGH_DEPTH_MODES = {"I", "I;16", "I;16B", "I;16L", "F"}
ROTATED = {5, 6, 7, 8}  # EXIF orientations that swap width and height
ORIENTATION_TAG = 0x0112


class UnreadableImage(DataError):
    """A file that is not a readable image; ``reason`` says why in a few words."""

    def __init__(self, path: str | Path, reason: str):
        super().__init__(f"cannot read image {path}: {reason}")
        self.path, self.reason = str(path), reason


@dataclass(frozen=True)
class Header:
    """What an image file's header says, read without decoding its pixels."""

    width: int  # as displayed, EXIF orientation applied
    height: int
    mode: str

    @property
    def color(self) -> bool:
        return self.mode not in GRAY_MODES


def _open(source, name):
    """``Image.open`` with PIL's errors turned into :class:`UnreadableImage`."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Image.open(source)
    except UnidentifiedImageError:
        raise UnreadableImage(name, "not an image file") from None
    except Image.DecompressionBombError:
        raise UnreadableImage(name, "too large (decompression bomb)") from None
    except OSError as exc:  # gone since it was listed, or not readable
        raise UnreadableImage(name, (exc.strerror or _reason(exc)).lower()) from None
    except Exception as exc:  # noqa: BLE001 - PIL raises many types for a broken file
        raise UnreadableImage(name, _reason(exc)) from None


def _reason(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _orientation(img) -> int:
    try:
        return int(img.getexif().get(ORIENTATION_TAG, 1))
    except Exception:  # noqa: BLE001 - a broken EXIF block is no orientation
        return 1


def _check_file(path: str | Path, name) -> None:
    """A file that exists, is not a folder and is not empty, or :class:`UnreadableImage`."""
    try:
        stat = Path(path).stat()
    except OSError as exc:  # missing, a broken link, no permission
        raise UnreadableImage(name, (exc.strerror or _reason(exc)).lower()) from None
    if Path(path).is_dir():
        raise UnreadableImage(name, "a folder, not an image file")
    if stat.st_size == 0:
        raise UnreadableImage(name, "empty file")


def probe(path: str | Path) -> Header:
    """The size and mode of an image file from its header; raises :class:`UnreadableImage`."""
    _check_file(path, path)
    img = _open(path, path)
    with img:
        width, height = img.size
        if _orientation(img) in ROTATED:
            width, height = height, width
        return Header(width, height, img.mode)


def open_image(path: str | Path):
    """The decoded PIL image of a file, EXIF orientation applied; raises
    :class:`UnreadableImage` naming the file and why."""
    return _decode(path, path, None, True, "squash")


def decode(
    source: str | Path | bytes,
    color: bool,
    size_hw: tuple[int, int],
    policy: str = "crop",
    name: str | Path = "",
) -> np.ndarray:
    """An image file (a path, or its bytes) as the ``C×H×W`` uint8 array of ``size_hw``: RGB
    when ``color``, else grayscale, resized by ``policy`` (``crop`` or ``squash``)."""
    h, w = size_hw
    img = _decode(source, name or source, (w, h), color, policy)
    return to_array(img, color, (w, h), policy)


def _decode(source, name, size_wh, color: bool, policy: str):
    from PIL import ImageOps

    if isinstance(source, bytes):
        if not source:
            raise UnreadableImage(name, "empty file")
        source = io.BytesIO(source)
    else:
        _check_file(source, name)
    img = _open(source, name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if size_wh is not None and img.format == "JPEG":
                _draft(img, color, size_wh, policy)
            img.load()
            return ImageOps.exif_transpose(img)
    except UnreadableImage:
        raise
    except Exception as exc:  # noqa: BLE001 - a truncated or corrupt file
        raise UnreadableImage(name, _reason(exc)) from None


def _draft(img, color: bool, size_wh: tuple[int, int], policy: str) -> None:
    """Let the JPEG decoder scale down by 1/2, 1/4 or 1/8 while staying at or above what the
    resize needs (in the file's own orientation)."""
    width, height = img.size
    want_w, want_h = size_wh
    if _orientation(img) in ROTATED:
        want_w, want_h = want_h, want_w
    if policy == "crop":
        scale = max(want_w / width, want_h / height)
        need = (math.ceil(width * scale), math.ceil(height * scale))
    else:
        need = (want_w, want_h)
    img.draft("RGB" if color else "L", need)


def to_array(img, color: bool, size_wh: tuple[int, int], policy: str = "squash") -> np.ndarray:
    """A PIL image → ``C×H×W`` uint8 of ``size_wh`` (width, height): 16-bit and float images
    scaled to 0–255, alpha composited on white, grayscale or RGB as ``color`` says, resized by
    ``policy``."""
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
    img = resize(img, size_wh, policy)
    arr = np.asarray(img, dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def resize(img, size_wh: tuple[int, int], policy: str):
    """``squash``: to exactly ``size_wh``; ``crop``: the shorter side to fit, then the centre."""
    from PIL import Image

    if img.size == tuple(size_wh):
        return img
    if policy == "squash":
        return img.resize(size_wh, Image.Resampling.BILINEAR)
    width, height = img.size
    want_w, want_h = size_wh
    scale = max(want_w / width, want_h / height)
    scaled = (max(want_w, round(width * scale)), max(want_h, round(height * scale)))
    left, top = (scaled[0] - want_w) // 2, (scaled[1] - want_h) // 2
    return img.resize(
        size_wh, Image.Resampling.BILINEAR, box=_box(img.size, scaled, left, top, size_wh)
    )


def _box(size, scaled, left, top, want) -> tuple[float, float, float, float]:
    """The source rectangle that, resized to ``want``, is the centre crop of the image scaled to
    ``scaled`` (one resampling instead of a resize and a crop)."""
    fx, fy = size[0] / scaled[0], size[1] / scaled[1]
    return (left * fx, top * fy, (left + want[0]) * fx, (top + want[1]) * fy)


def decode_for_model(
    path: str | Path, channels: int, size_hw: tuple[int, int], data: dict | None = None
) -> np.ndarray:
    """An image file as the ``C×H×W`` uint8 array a model with that input shape takes, resized
    by the policy it was trained with (``data``: the training preset's ``[data]`` section)."""
    policy = (data or {}).get("resize", "squash")  # runs from before the key resized so
    return decode(path, channels >= 3, size_hw, policy, path)[:channels]
