"""Dataset sources: each turns a preset's ``[data]`` section into in-memory image tensors.

Every source returns a :class:`SourceData` with images as ``N×C×H×W`` tensors in their stored
dtype (uint8 where the files hold bytes) and the largest value the format can hold, so that
normalization can be applied per batch on the training device.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from engine.data.folder import image_folder
from engine.data.image_cache import Progress, no_progress
from engine.data.source_data import SourceData
from engine.errors import DataError
from engine.preset import DataConfig


def load_source(
    cfg: DataConfig, seed: int, progress: Progress = no_progress, image_size: int | None = None
) -> SourceData:
    """Load the images ``cfg.source`` names (``progress`` hears about a long decode; an image
    folder is decoded at ``image_size``, by default ``cfg.image_size``)."""
    if cfg.source == "digits":
        return digits()
    if cfg.source == "synthetic":
        return synthetic(cfg, seed)
    if cfg.source == "folder":
        size = cfg.image_size if image_size is None else image_size
        return image_folder(cfg, progress, size)
    return torchvision_dataset(cfg)


def digits() -> SourceData:
    """scikit-learn's bundled 1,797 real 8×8 handwritten digits, pixel values 0–16."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.from_numpy(bunch.images.astype(np.uint8)).unsqueeze(1)
    y = torch.from_numpy(bunch.target.astype(np.int64))
    return SourceData(x, y, [str(c) for c in bunch.target_names], 16.0, origin="sklearn digits")


def synthetic(cfg: DataConfig, seed: int) -> SourceData:
    """Generated images: a per-class pattern mixed with uniform noise.

    The pattern weighs ``0.5 * signal**2`` against the noise: 0 = labels independent of the images
    (like the article's ``torch.rand`` data), about 0.3 = learnable with effort, 1 = half
    pattern, half noise, which is easy to learn. ``imbalance`` makes
    class counts fall geometrically from the first class to the last by that ratio, and
    ``label_noise`` replaces that fraction of labels with uniformly random ones.
    """
    s = cfg.synthetic
    gen = torch.Generator().manual_seed(seed + 7919)
    k = s.classes
    counts = _geometric_counts(s.samples, k, s.imbalance)
    y = torch.repeat_interleave(torch.arange(k), torch.tensor(counts))
    y = y[torch.randperm(len(y), generator=gen)]
    # Smooth class patterns: low-resolution noise upsampled to the image size.
    coarse = torch.rand(k, s.channels, 4, 4, generator=gen)
    patterns = torch.nn.functional.interpolate(
        coarse, size=(s.size, s.size), mode="bilinear", align_corners=False
    )
    patterns = (patterns - patterns.mean(dim=(1, 2, 3), keepdim=True)) * 2.0 + 0.5
    noise = torch.rand(len(y), s.channels, s.size, s.size, generator=gen)
    weight = 0.5 * s.signal**2
    x = ((1.0 - weight) * noise + weight * patterns[y]).clamp_(0.0, 1.0)
    if s.label_noise > 0:
        flip = torch.rand(len(y), generator=gen) < s.label_noise
        y = torch.where(flip, torch.randint(0, k, (len(y),), generator=gen), y)
    names = [f"class {i}" for i in range(k)]
    return SourceData(x.float(), y, names, 1.0, origin="synthetic")


def _geometric_counts(total: int, k: int, ratio: float) -> list[int]:
    """Class counts summing to ``total`` that fall geometrically by ``ratio`` (first:last)."""
    weights = [ratio ** (-i / (k - 1)) for i in range(k)]
    scale = total / sum(weights)
    counts = [max(1, math.floor(w * scale)) for w in weights]
    counts[0] += total - sum(counts)
    return counts


# torchvision class, its folder under root, number of channels
_TORCHVISION = {
    "mnist": ("MNIST", "MNIST/raw"),
    "fashion-mnist": ("FashionMNIST", "FashionMNIST/raw"),
    "cifar10": ("CIFAR10", "cifar-10-batches-py"),
    "cifar100": ("CIFAR100", "cifar-100-python"),
}


def torchvision_dataset(cfg: DataConfig) -> SourceData:
    """MNIST, Fashion-MNIST, CIFAR-10/100 through ``torchvision.datasets`` (train + test split)."""
    import torchvision

    cls_name, folder = _TORCHVISION[cfg.source]
    cls = getattr(torchvision.datasets, cls_name)
    root = Path(cfg.root or "data").expanduser().resolve()
    try:
        train = cls(root=str(root), train=True, download=cfg.download)
        test = cls(root=str(root), train=False, download=cfg.download)
    except RuntimeError as exc:
        if cfg.download:
            raise DataError(
                f"{cfg.source}: download into {root} failed: {exc}", "data.root"
            ) from None
        raise DataError(_files_missing(cfg.source, root, folder), "data.download") from None
    except OSError as exc:
        raise DataError(
            f"{cfg.source}: cannot read or fetch files under {root}: {exc}", "data.root"
        ) from None
    x, y = _as_tensors(train.data, train.targets)
    xv, yv = _as_tensors(test.data, test.targets)
    return SourceData(
        x, y, list(train.classes), 255.0, x_val=xv, y_val=yv, origin=f"torchvision {cls_name}"
    )


def _files_missing(source: str, root: Path, folder: str) -> str:
    """Why torchvision did not find a dataset: no files, files still compressed (the MNIST
    downloads are .gz: torchvision unpacks them only when it downloads), or files whose checksum
    does not match (a CIFAR batch from elsewhere, or cut short)."""
    where = root / folder
    present = sorted(p.name for p in where.iterdir() if p.is_file()) if where.is_dir() else []
    fix = (
        f"Set 'data.download' = true to download them into {root}, or point 'data.root' at the "
        f"folder that holds '{folder.split('/')[0]}'"
    )
    if present and all(name.endswith(".gz") for name in present):
        return (
            f"{source}: the files in {where} are still compressed ({', '.join(present[:4])}). "
            "Set 'data.download' = true: with the .gz files in place torchvision unpacks them "
            "without going online (or gunzip them yourself)"
        )
    if present:
        return (
            f"{source}: the files in {where} are not the ones torchvision expects, or are "
            f"damaged (their checksum differs): {', '.join(present[:6])}. {fix}"
        )
    return f"{source}: dataset files not found in {where}. {fix}"


def _as_tensors(data, targets) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.as_tensor(np.asarray(data))
    if x.ndim == 3:  # N×H×W grayscale
        x = x.unsqueeze(1)
    else:  # N×H×W×C (CIFAR)
        x = x.permute(0, 3, 1, 2)
    y = torch.as_tensor(np.asarray(targets), dtype=torch.int64)
    return x.contiguous(), y
