"""Classify image files with a trained model, applying the preprocessing stored with it.

Works from a run checkpoint or an exported ``.pt``/``.safetensors`` file alone: the class names,
input shape and normalization travel with the weights, so neither the data nor the preset file
is needed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from engine.errors import DataError


def load_model(path: str | Path):
    """``(model, metadata)`` from a checkpoint or an exported model file."""
    from engine.checkpoint import load_checkpoint
    from engine.export import model_from_checkpoint, read_safetensors_metadata

    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            meta = read_safetensors_metadata(path)
            weights = load_file(str(path))
        except (OSError, ValueError, KeyError) as exc:
            from engine.errors import CheckpointError

            raise CheckpointError(f"{path} is not a Plateau safetensors export: {exc}") from None
        return model_from_checkpoint({**meta, "model": weights}), meta
    state = load_checkpoint(path)
    return model_from_checkpoint(state), state


def preprocess(paths: list[str | Path], meta: dict) -> torch.Tensor:
    """Images → the normalized ``N×C×H×W`` batch the model was trained on."""
    from PIL import Image, UnidentifiedImageError

    c, h, w = meta["input_shape"]
    norm = meta["normalization"]
    arrays = []
    for path in paths:
        try:
            with Image.open(path) as img:
                img = img.convert("L" if c == 1 else "RGB").resize(
                    (w, h), Image.Resampling.BILINEAR
                )
                arr = np.asarray(img, dtype=np.float32)
        except (OSError, UnidentifiedImageError) as exc:
            raise DataError(f"cannot read image {path}: {exc}") from None
        arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
        arrays.append(arr[:c] * (norm["value_max"] / 255.0))  # files hold 0–255
    x = torch.from_numpy(np.stack(arrays))
    scale = torch.tensor(norm["scale"]).view(1, -1, 1, 1)
    shift = torch.tensor(norm["shift"]).view(1, -1, 1, 1)
    return x * scale + shift


def predict(model_path: str | Path, images: list[str | Path], top: int = 3) -> list[dict]:
    """Top-``top`` classes with probabilities for every image."""
    model, meta = load_model(model_path)
    with torch.no_grad():
        probs = torch.softmax(model(preprocess(images, meta)).float(), dim=1)
    k = min(top, probs.shape[1])
    values, indices = probs.topk(k, dim=1)
    names = meta["class_names"]
    return [
        {
            "image": str(path),
            "top": [
                {"class": names[i], "index": i, "probability": round(float(p), 6)}
                for p, i in zip(values[n].tolist(), indices[n].tolist(), strict=True)
            ],
        }
        for n, path in enumerate(images)
    ]
