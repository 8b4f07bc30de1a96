"""The frozen-backbone fast path (what makes Teachable Machine instant): when the backbone is
frozen and nothing augments the images, the backbone gives every image the same features every
epoch — so they are computed once (and cached on disk beside the decoded images, keyed by the
weights and the data), and only the head trains, on them. Seconds, even on a CPU."""

from __future__ import annotations

import hashlib
import io
import json
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn

from engine import atomic
from engine.data import DataBundle
from engine.data.image_cache import Progress, default_cache_dir, no_progress
from engine.data.rows import Rows
from engine.distributed import Dist
from engine.models.pretrained import weights_identity
from engine.preset import PRETRAINED_ARCHS, Preset
from engine.training.validation import validation_chunk

FEATURE_VERSION = 1


def applies(preset: Preset, dist: Dist) -> bool:
    """True when every epoch would feed the backbone the same images: frozen, no augmentation
    (and one process: the features are cheap next to the data-parallel set-up)."""
    m = preset.model
    return (
        m.freeze == "backbone"
        and m.arch in PRETRAINED_ARCHS  # a network with one head module
        and not preset.data.augment
        and not dist.enabled
    )


@contextmanager
def without_head(model: nn.Module, head: nn.Module):
    """``model`` with its head swapped for an identity: its output is the head's input."""
    name = next(n for n, m in model.named_modules() if m is head)
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, nn.Identity())
    try:
        yield model
    finally:
        setattr(parent, child, head)


def feature_data(
    preset: Preset,
    data: DataBundle,
    model: nn.Module,
    head: nn.Module,
    device: torch.device,
    progress: Progress = no_progress,
) -> tuple[DataBundle, str]:
    """The data as backbone features (``N×F`` tensors), from the feature cache when the weights
    and images are the ones it was computed from; and "hit", "built" or "off"."""
    folder = _cache_folder(preset)
    key = _key(preset, data)
    path = folder / f"{key}.npz" if folder else None
    if path is not None and path.is_file():
        with np.load(path) as saved:
            train, val = torch.from_numpy(saved["train"]), torch.from_numpy(saved["val"])
        status = "hit"
    else:
        normalize = data.normalizer(device)
        total = len(data.y_train) + len(data.y_val)
        with without_head(model, head) as backbone:
            train = _features(
                backbone, data.x_train, normalize, data.input_shape, progress, 0, total
            )
            val = _features(
                backbone, data.x_val, normalize, data.input_shape, progress, len(train), total
            )
        if path is not None:
            buffer = io.BytesIO()
            np.savez(buffer, train=train.numpy(), val=val.numpy())
            atomic.write_bytes(path, buffer.getvalue())
        status = "built" if path is not None else "off"
    bundle = DataBundle(
        train,
        data.y_train,
        val,
        data.y_val,
        data.class_names,
        data.norm,
        data.stats,
        model_input=data.input_shape,
        train_ids=data.train_ids,
        val_ids=data.val_ids,
    )
    return bundle, status


@torch.no_grad()
def _features(backbone, x, normalize, shape, progress, done: int, total: int) -> torch.Tensor:
    backbone.eval()
    chunk = validation_chunk(shape)
    out = []
    for i in range(0, len(x), chunk):
        out.append(backbone(normalize(x[i : i + chunk])).float().cpu())
        progress(done + i + len(out[-1]), total, "computing features of the frozen backbone")
    return torch.cat(out) if out else torch.zeros(0, 0)


def _cache_folder(preset: Preset) -> Path | None:
    cfg = preset.data
    if not cfg.cache:
        return None
    root = Path(cfg.cache_dir).expanduser() if cfg.cache_dir else default_cache_dir().parent
    return root / "features"


def _key(preset: Preset, data: DataBundle) -> str:
    """What the features depend on: the network's weights, the input's size and scaling, and
    the very images (their labels, and their pixels' statistics or bytes)."""
    digest = hashlib.sha1()
    what = [
        FEATURE_VERSION,
        preset.model.arch,
        weights_identity(preset.model),
        list(data.input_shape),
        data.norm.as_dict(),
    ]
    digest.update(json.dumps(what, sort_keys=True).encode())
    for x, y in ((data.x_train, data.y_train), (data.x_val, data.y_val)):
        digest.update(y.cpu().numpy().tobytes())
        if isinstance(x, Rows) and x.row_stats is not None:
            digest.update(np.ascontiguousarray(x.row_stats[x.index.numpy()]).tobytes())
        else:
            for i in range(0, len(x), 4096):
                digest.update(x[i : i + 4096].cpu().numpy().tobytes())
    return digest.hexdigest()[:20]
