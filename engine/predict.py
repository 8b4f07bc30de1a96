"""Classify image files with a trained model, applying the preprocessing stored with it.

Works from a run checkpoint or any file ``plateau-train export`` writes (``.pt``,
``.safetensors``, TorchScript ``.ts.pt``, ``.onnx``): the class names, input shape and
normalization travel with the weights, so neither the data nor the preset file is needed.
"""

from __future__ import annotations

import json
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from engine.errors import CheckpointError, DataError

Forward = Callable[[torch.Tensor], np.ndarray]  # normalized N×C×H×W → N×K logits


def load_model(path: str | Path) -> tuple[Forward, dict]:
    """``(forward, metadata)`` from a checkpoint or an exported model file of any format."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"model file not found: {path}")
    if path.suffix == ".onnx":
        return _load_onnx(path)
    if path.suffix == ".safetensors":
        return _load_safetensors(path)
    if _is_torchscript(path):
        return _load_torchscript(path)
    from engine.checkpoint import load_checkpoint
    from engine.export import model_from_checkpoint

    state = load_checkpoint(path)
    return _torch_forward(model_from_checkpoint(state)), state


def _torch_forward(model: torch.nn.Module) -> Forward:
    def forward(x: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            return model(x).float().numpy()

    return forward


def _load_safetensors(path: Path) -> tuple[Forward, dict]:
    from safetensors.torch import load_file

    from engine.export import model_from_checkpoint, read_safetensors_metadata

    try:
        meta = read_safetensors_metadata(path)
        weights = load_file(str(path))
    except (OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{path} is not a Plateau safetensors export: {exc}") from None
    return _torch_forward(model_from_checkpoint({**meta, "model": weights})), meta


def _is_torchscript(path: Path) -> bool:
    """A TorchScript archive carries compiled code and, from Plateau, ``extra/plateau.json``."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return any(n.endswith("/extra/plateau.json") for n in names)


def _load_torchscript(path: Path) -> tuple[Forward, dict]:
    files = {"plateau.json": ""}
    try:
        with warnings.catch_warnings():  # TorchScript's deprecation: not the person's concern
            warnings.simplefilter("ignore", FutureWarning)
            module = torch.jit.load(str(path), map_location="cpu", _extra_files=files)
        meta = json.loads(files["plateau.json"])
    except (RuntimeError, ValueError) as exc:
        raise CheckpointError(f"{path} is not a readable TorchScript export: {exc}") from None
    module.eval()
    return _torch_forward(module), meta


def _load_onnx(path: Path) -> tuple[Forward, dict]:
    try:
        import onnx
        import onnxruntime
    except ImportError:
        raise CheckpointError(
            f"{path}: reading ONNX models needs the onnx extra: pip install -e '.[onnx]'"
        ) from None
    try:
        proto = onnx.load(str(path), load_external_data=False)
        meta = json.loads({p.key: p.value for p in proto.metadata_props}["plateau"])
        session = onnxruntime.InferenceSession(
            proto.SerializeToString(), providers=["CPUExecutionProvider"]
        )
    except KeyError:
        raise CheckpointError(f"{path} is an ONNX model without Plateau's metadata") from None
    except Exception as exc:  # noqa: BLE001 - onnx raises many types for a broken file
        raise CheckpointError(f"{path} is not a readable ONNX model: {exc}") from None
    name = session.get_inputs()[0].name

    def forward(x: torch.Tensor) -> np.ndarray:
        return np.asarray(session.run(None, {name: x.numpy()})[0], dtype=np.float32)

    return forward, meta


def preprocess(path: str | Path, meta: dict) -> torch.Tensor:
    """One image file → the normalized ``1×C×H×W`` input the model was trained on; raises
    :class:`DataError` naming the file when it is not a readable image."""
    from engine.data.decode import decode_for_model

    c, h, w = meta["input_shape"]
    norm = meta["normalization"]
    arr = decode_for_model(path, c, (h, w), meta.get("preset", {}).get("data", {}))
    x = torch.from_numpy(arr[None].astype(np.float32) * (norm["value_max"] / 255.0))
    scale = torch.tensor(norm["scale"]).view(1, -1, 1, 1)
    shift = torch.tensor(norm["shift"]).view(1, -1, 1, 1)
    return x * scale + shift


def predict(model_path: str | Path, images: list[str | Path], top: int = 3) -> list[dict]:
    """Top-``top`` classes with probabilities for every image; an unreadable image gets an
    ``error`` entry instead, so one bad file hides no result."""
    forward, meta = load_model(model_path)
    names = meta["class_names"]
    k = min(top, len(names))
    results = []
    for path in images:
        try:
            x = preprocess(path, meta)
        except DataError as exc:
            results.append({"image": str(path), "error": str(exc)})
            continue
        probs = torch.softmax(torch.from_numpy(forward(x)), dim=1)[0]
        values, indices = probs.topk(k)
        results.append(
            {
                "image": str(path),
                "top": [
                    {"class": names[i], "index": i, "probability": round(float(p), 6)}
                    for p, i in zip(values.tolist(), indices.tolist(), strict=True)
                ],
            }
        )
    return results
