"""Which devices exist, and turning ``train.device`` into a ``torch.device``."""

from __future__ import annotations

import torch

from engine.errors import PresetError


def available_devices() -> list[tuple[str, str]]:
    """``(value, label)`` pairs for every usable device, CPU first."""
    devices = [("cpu", "CPU")]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            devices.append((f"cuda:{i}", f"cuda:{i} — {torch.cuda.get_device_name(i)}"))
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        devices.append(("mps", "Apple GPU (mps)"))
    return devices


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA, then MPS, then the CPU; a device that does not exist is a preset
    error naming ``train.device``."""
    have = [value for value, _ in available_devices()]
    if name == "auto":
        for value in have[1:] + ["cpu"]:
            return torch.device(value)
    if name == "cuda" and "cuda:0" in have:
        return torch.device("cuda:0")
    if name not in have:
        raise PresetError(
            f"'train.device' = {name!r} is not available on this machine; available: "
            + ", ".join(["auto", *have]),
            "train.device",
        )
    return torch.device(name)
