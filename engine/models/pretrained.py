"""Where a network's starting weights come from: torchvision's pretrained weights (cached where
torchvision caches them, ``TORCH_HOME``), a local state-dict file (``model.weights``), or a
Plateau run (``model.init_from``, a warm start). Offline, a missing download fails within
seconds with a message that names the file, its URL and where to put it."""

from __future__ import annotations

import hashlib
import re
import urllib.error
import urllib.request
from pathlib import Path

import torch
from torch import nn

from engine import atomic
from engine.errors import CheckpointError, DataError
from engine.models.torchvision_nets import TORCHVISION

DOWNLOAD_TIMEOUT_S = 10  # no answer from the server in this long: treat as offline
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # what every torchvision weights' transforms use
IMAGENET_STD = (0.229, 0.224, 0.225)
WEIGHTS_SIZE = 224  # the image size the weights were trained at
HASH_IN_NAME = re.compile(r"-([a-f0-9]+)\.")


class WeightsUnavailable(DataError):
    """Pretrained weights that are neither on this machine nor downloadable now."""


def weights_file(arch: str) -> tuple[str, Path]:
    """The URL of ``arch``'s default pretrained weights and where torchvision keeps them."""
    from torchvision.models import get_model_weights

    url = get_model_weights(TORCHVISION[arch]).DEFAULT.url
    return url, Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def weights_identity(cfg) -> str:
    """What names the starting weights (for the frozen-feature cache key)."""
    if cfg.init_from:
        path = start_checkpoint(cfg.init_from)
        return f"run {path} {path.stat().st_mtime_ns}"
    if cfg.weights:
        path = Path(cfg.weights).expanduser()
        return f"file {path.resolve()} {path.stat().st_mtime_ns}"
    if cfg.pretrained:
        return f"torchvision {weights_file(cfg.arch)[1].name}"
    return "random"


def pretrained_state(cfg) -> dict:
    """The state dict ``model.weights`` names, or torchvision's default weights for the arch
    (downloaded once into ``TORCH_HOME``)."""
    if cfg.weights:
        return _read_state(Path(cfg.weights).expanduser(), "model.weights")
    url, path = weights_file(cfg.arch)
    if not path.is_file():
        _download(url, path, cfg.arch)
    return _read_state(path, "model.pretrained")


def _read_state(path: Path, key: str) -> dict:
    if not path.is_file():
        raise DataError(f"'{key}': weights file not found: {path}", key)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as exc:
        raise DataError(f"'{key}': cannot read {path}: {exc.strerror or exc}", key) from None
    except Exception:  # noqa: BLE001 - any unreadable file is bad input (the loaders' own
        again = " (delete it and it is downloaded again)" if key == "model.pretrained" else ""
        raise DataError(  # errors, e.g. "pop from empty list", say nothing to a person)
            f"'{key}': {path} is not a readable weights file: expected a PyTorch state dict "
            "(.pth, .pt) or a .safetensors file; if it is one, it may be incomplete (a download "
            f"or copy cut short){again}",
            key,
        ) from None
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]  # a Plateau checkpoint or a training script's dict
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise DataError(f"'{key}': {path} holds no state dict of tensors", key)
    return state


def _download(url: str, path: Path, arch: str) -> None:
    """Fetch ``url`` to ``path`` (atomically, its hash checked) or say how to put it there."""
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            data = response.read()
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise WeightsUnavailable(
            f"the pretrained weights for {arch} are not on this machine and could not be "
            f"downloaded ({reason}). Download {url} and save it as {path} (TORCH_HOME chooses "
            "the folder), or set 'model.weights' to a local copy",
            "model.pretrained",
        ) from None
    expected = HASH_IN_NAME.search(path.name)
    if expected and not hashlib.sha256(data).hexdigest().startswith(expected.group(1)):
        raise WeightsUnavailable(
            f"the download of {url} was damaged (its hash does not match); try again",
            "model.pretrained",
        )
    atomic.write_bytes(path, data)


def check_start_files(cfg) -> None:
    """Raises :class:`DataError` naming the key when ``model.weights`` or ``model.init_from``
    names no file there (nothing is read: the window says so before Start)."""
    if cfg.weights and not Path(cfg.weights).expanduser().is_file():
        path = Path(cfg.weights).expanduser()
        raise DataError(f"'model.weights': weights file not found: {path}", "model.weights")
    if cfg.init_from:
        start_checkpoint(cfg.init_from)


def start_checkpoint(init_from: str) -> Path:
    """The checkpoint ``model.init_from`` names: a checkpoint file, or a run directory's
    ``best.pt`` (its ``last.pt`` when it has no best yet)."""
    path = Path(init_from).expanduser()
    if path.is_dir():
        for name in ("best.pt", "last.pt"):
            if (path / "checkpoints" / name).is_file():
                return path / "checkpoints" / name
        raise DataError(
            f"'model.init_from': {path} has no checkpoints/best.pt or last.pt to start from",
            "model.init_from",
        )
    if not path.is_file():
        raise DataError(f"'model.init_from': no run or checkpoint at {path}", "model.init_from")
    return path


def warm_start(model: nn.Module, arch: str, init_from: str) -> str:
    """Load a Plateau run's weights into ``model``; the head is replaced (and the note says so)
    when the classes differ. Returns a note for the run."""
    from engine.checkpoint import load_checkpoint

    path = start_checkpoint(init_from)
    try:
        state = load_checkpoint(path)
    except CheckpointError as exc:
        raise DataError(f"'model.init_from': {exc}", "model.init_from") from None
    if state.get("arch") != arch:
        raise DataError(
            f"'model.init_from': {path} holds a {state.get('arch')} network and this preset "
            f"builds {arch}; choose a run of the same architecture or set 'model.arch' = "
            f"{state.get('arch')!r}",
            "model.init_from",
        )
    own = model.state_dict()
    fits = {k: v for k, v in state["model"].items() if k in own and own[k].shape == v.shape}
    mismatched = [k for k in state["model"] if k in own and k not in fits]
    if not set(mismatched) <= _head_keys(own):
        raise DataError(
            f"'model.init_from': {path} does not fit this data ({mismatched[0]}: "
            f"{tuple(state['model'][mismatched[0]].shape)} vs {tuple(own[mismatched[0]].shape)});"
            " a warm start needs the same image channels and layer sizes",
            "model.init_from",
        )
    model.load_state_dict(fits, strict=False)
    old, new = len(state.get("class_names", [])), _num_classes(own)
    if mismatched:
        return f"warm start from {path}: head replaced ({old} classes → {new}), the rest loaded"
    return f"warm start from {path}: every layer loaded"


def _last_linear(state: dict) -> str:
    return [k for k in state if k.endswith(".weight") and state[k].dim() == 2][-1]


def _head_keys(state: dict) -> set[str]:
    """The final linear layer's weight and bias: what differs when the classes do."""
    last = _last_linear(state)
    return {last, last.removesuffix("weight") + "bias"}


def _num_classes(state: dict) -> int:
    return int(state[_last_linear(state)].shape[0])
