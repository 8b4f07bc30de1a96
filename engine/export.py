"""Export a trained model from a run's checkpoint to a standalone file, verified after writing.

Formats: ``pt`` (a slim checkpoint: model state, architecture, preset, class names,
normalization statistics and input shape; loads with ``weights_only=True``). More formats are
listed in :data:`FORMATS` as they arrive.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from engine.checkpoint import load_checkpoint, save_checkpoint
from engine.models import build_model
from engine.preset import from_dict

FORMATS = {"pt": "PyTorch checkpoint (.pt)"}
KEEP = ("model", "arch", "preset", "class_names", "normalization", "input_shape", "epoch")


@dataclass(frozen=True)
class ExportReport:
    """Where the export went and how its verification came out."""

    path: str
    format: str
    samples: int
    max_abs_diff: float
    top1_agreement: float

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= 1e-4 and self.top1_agreement == 1.0


def model_from_checkpoint(state: dict) -> torch.nn.Module:
    """Rebuild the network a checkpoint describes and load its weights."""
    preset = from_dict(state["preset"])
    shape = tuple(state["input_shape"])
    model = build_model(preset.model, shape, len(state["class_names"]))
    model.load_state_dict(state["model"])
    return model.eval()


def export(checkpoint: str | Path, dest: str | Path, fmt: str = "pt") -> ExportReport:
    """Write ``checkpoint``'s model to ``dest`` in ``fmt`` and verify it by loading it back."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; available: {', '.join(FORMATS)}")
    state = load_checkpoint(checkpoint)
    slim = {k: state[k] for k in KEEP if k in state}
    save_checkpoint(dest, slim)
    return verify(state, dest)


def verify(state: dict, dest: str | Path, samples: int = 64) -> ExportReport:
    """Compare the exported model's logits with the original's on the same inputs."""
    original = model_from_checkpoint(state)
    reloaded = model_from_checkpoint(load_checkpoint(dest))
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(samples, *state["input_shape"], generator=gen)
    with torch.no_grad():
        a, b = original(x), reloaded(x)
    diff = float((a - b).abs().max())
    agree = float((a.argmax(1) == b.argmax(1)).float().mean())
    return ExportReport(str(dest), "pt", samples, diff, agree)
