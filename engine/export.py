"""Export a trained model from a checkpoint, then verify the written artifact.

Formats:
- ``pt``: a slim checkpoint (model state, architecture, preset, class names, normalization
  statistics, input shape); loads with ``torch.load(..., weights_only=True)``.
- ``safetensors``: the state dict, with the same metadata as JSON under ``plateau`` in the header.
- ``torchscript``: a traced module; the metadata as ``plateau.json`` in its extra files.
- ``onnx``: dynamic batch axis, the metadata in ``metadata_props``; needs the ``onnx`` extra.

After writing, every export is loaded back (a fresh model from safetensors, ``torch.jit.load``,
onnxruntime) and compared with the PyTorch model on up to 256 validation images: the largest
absolute logit difference must be ≤ 1e-4 and the top-1 predictions must all agree, or the
export fails with :class:`ExportError`.
"""

from __future__ import annotations

import io
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from engine import atomic
from engine.checkpoint import load_checkpoint, save_checkpoint
from engine.export_formats import FORMATS, SUFFIX
from engine.models import build_model
from engine.preset import from_dict
from engine.training.validation import validation_chunk

KEEP = ("model", "arch", "preset", "class_names", "normalization", "input_shape", "epoch")
MAX_ABS_DIFF = 1e-4
VERIFY_SAMPLES = 256
ONNX_OPSET = 18


class ExportError(RuntimeError):
    """An export that could not be written or did not reproduce the model."""


@dataclass(frozen=True)
class ExportReport:
    """Where the export went and how its verification came out."""

    path: str
    format: str
    samples: int
    inputs: str  # "validation images" or why random inputs were used
    max_abs_diff: float
    top1_agreement: float
    opset: int | None = None

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= MAX_ABS_DIFF and self.top1_agreement == 1.0

    def describe(self) -> str:
        extra = f", opset {self.opset}" if self.opset else ""
        return (
            f"{self.format} written to {self.path}{extra}; reloaded and compared on "
            f"{self.samples} {self.inputs}: max |logit difference| {self.max_abs_diff:.2e}, "
            f"top-1 agreement {self.top1_agreement:.0%}"
        )


def metadata(state: dict) -> dict:
    """What a model needs besides its weights to be used without the original data."""
    return {
        "format": "plateau-model/1",
        "arch": state.get("arch", state["preset"]["model"]["arch"]),
        "class_names": list(state["class_names"]),
        "normalization": state["normalization"],
        "input_shape": list(state["input_shape"]),
        "epoch": state.get("epoch"),
        "preset": state["preset"],
    }


def model_from_checkpoint(state: dict) -> torch.nn.Module:
    """Rebuild the network a checkpoint describes, load its weights, switch to eval mode."""
    preset = from_dict(state["preset"])
    shape, k = tuple(state["input_shape"]), len(state["class_names"])
    model = build_model(preset.model, shape, k, weights=False)  # the checkpoint has them all
    model.load_state_dict(state["model"])
    return model.eval()


def default_destination(checkpoint: str | Path, fmt: str) -> Path:
    checkpoint = Path(checkpoint)
    run = checkpoint.parent.parent.name if checkpoint.parent.name == "checkpoints" else "model"
    return checkpoint.parent.parent / "exports" / f"{run}-{checkpoint.stem}{SUFFIX[fmt]}"


def _destination(checkpoint: str | Path, dest: str | Path | None, fmt: str) -> Path:
    """Where the export goes: ``dest``, or in it when it is a folder (the default file name),
    checked to be writable before any work (every writer's temporary file goes in its folder)."""
    default = default_destination(checkpoint, fmt)
    if not dest:
        path = default
    elif Path(dest).is_dir() or str(dest).endswith(("/", os.sep)):
        path = Path(dest) / default.name
    else:
        path = Path(dest)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from None
    if path.is_dir() or not os.access(path.parent, os.W_OK):
        why = "it is a folder" if path.is_dir() else "its folder is not writable"
        raise ExportError(f"cannot write {path}: {why}; choose another destination")
    return path


def export(checkpoint: str | Path, dest: str | Path | None = None, fmt: str = "pt") -> ExportReport:
    """Write ``checkpoint``'s model to ``dest`` in ``fmt`` and verify it; raise ExportError."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; available: {', '.join(FORMATS)}")
    state = load_checkpoint(checkpoint)  # a checkpoint that is not there: no folder made
    dest = _destination(checkpoint, dest, fmt)
    model = model_from_checkpoint(state)
    x, inputs = verification_inputs(state)
    writer = {
        "pt": _write_pt,
        "safetensors": _write_safetensors,
        "torchscript": _write_torchscript,
        "onnx": _write_onnx,
    }[fmt]
    try:
        reload = writer(state, model, x, dest)
    except OSError as exc:
        raise ExportError(f"cannot write {dest}: {exc.strerror or exc}") from None
    chunk = validation_chunk(tuple(x.shape[1:]))  # photos: a few at a time, not 256 at once
    with torch.no_grad():
        expected = np.concatenate(
            [model(x[i : i + chunk]).float().numpy() for i in range(0, len(x), chunk)]
        )
    got = np.concatenate(
        [np.asarray(reload(x[i : i + chunk]), dtype=np.float32) for i in range(0, len(x), chunk)]
    )
    diff = float(np.abs(expected - got).max())
    agree = float((expected.argmax(1) == got.argmax(1)).mean())
    report = ExportReport(
        str(dest), fmt, len(x), inputs, diff, agree, ONNX_OPSET if fmt == "onnx" else None
    )
    if not report.ok:
        raise ExportError(f"verification failed: {report.describe()}")
    return report


def verification_inputs(state: dict) -> tuple[torch.Tensor, str]:
    """Up to 256 normalized validation images of the checkpoint's data (or, when that data is
    not on this machine, seeded random inputs of the same shape)."""
    from engine.data import load_data
    from engine.errors import DataError, PresetError

    try:
        data = load_data(from_dict(state["preset"]))
        x = data.normalizer(torch.device("cpu"))(data.x_val[:VERIFY_SAMPLES])
        return x, "validation images"
    except (DataError, PresetError, OSError) as exc:
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(64, *state["input_shape"], generator=gen)
        return x, f"random inputs (validation data unavailable: {str(exc)[:80]})"


def _write_pt(state, model, x, dest):
    save_checkpoint(dest, {k: state[k] for k in KEEP if k in state})
    reloaded = model_from_checkpoint(load_checkpoint(dest))
    return lambda inputs: reloaded(inputs).detach().numpy()


def _write_safetensors(state, model, x, dest):
    from safetensors.torch import load, save

    meta = {"plateau": json.dumps(metadata(state))}
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    atomic.write_bytes(dest, save(tensors, metadata=meta))
    data = Path(dest).read_bytes()  # verify what is on disk
    header = _safetensors_metadata(data)
    fresh = build_model(
        from_dict(header["preset"]).model,
        tuple(header["input_shape"]),
        len(header["class_names"]),
        weights=False,
    )
    fresh.load_state_dict(load(data))
    fresh.eval()
    return lambda inputs: fresh(inputs).detach().numpy()


def read_safetensors_metadata(path: str | Path) -> dict:
    """The Plateau metadata stored in a safetensors file's header."""
    return _safetensors_metadata(Path(path).read_bytes())


def _safetensors_metadata(raw: bytes) -> dict:
    size = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + size])
    return json.loads(header["__metadata__"]["plateau"])


def _write_torchscript(state, model, x, dest):
    with torch.no_grad(), warnings.catch_warnings():
        # torch ≥ 2.10 warns that TorchScript is deprecated on every call: the format is still
        # what C++ and older tools load, and the person chose it; the warning is not theirs
        warnings.simplefilter("ignore", FutureWarning)
        traced = torch.jit.trace(model, x[:2])
        buffer = io.BytesIO()
        extra = {"plateau.json": json.dumps(metadata(state))}
        torch.jit.save(traced, buffer, _extra_files=extra)
        atomic.write_bytes(dest, buffer.getvalue())
        loaded = torch.jit.load(str(dest))
    return lambda inputs: loaded(inputs).detach().numpy()


def _write_onnx(state, model, x, dest):
    try:
        import onnx
        import onnxruntime
    except ImportError:
        raise ExportError(
            "ONNX export needs the onnx extra: pip install -e '.[onnx]' "
            "(onnx, onnxscript, onnxruntime)"
        ) from None
    tmp = Path(dest).with_name(f".{Path(dest).name}.export")
    try:
        program = torch.onnx.export(
            model,
            (x[:2],),
            dynamo=True,
            opset_version=ONNX_OPSET,
            dynamic_shapes=({0: torch.export.Dim("batch")},),
            verbose=False,
        )
        program.save(str(tmp))
        proto = onnx.load(str(tmp))
    finally:
        tmp.unlink(missing_ok=True)
    entry = proto.metadata_props.add()
    entry.key, entry.value = "plateau", json.dumps(metadata(state))
    atomic.write_bytes(dest, proto.SerializeToString())
    session = onnxruntime.InferenceSession(str(dest), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda inputs: session.run(None, {name: inputs.numpy()})[0]
