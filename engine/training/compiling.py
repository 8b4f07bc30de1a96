"""``torch.compile`` for a run, paid once and never fatal: torch's compile caches live in the user
cache directory (so a second run of the same model and shapes starts fast), and a compile that
fails leaves the run training eagerly with a warning."""

from __future__ import annotations

import os
from pathlib import Path

import torch

CACHE_ENV = "TORCHINDUCTOR_CACHE_DIR"  # inductor's caches (FX graphs, AOT autograd, triton)


def cache_dir() -> Path:
    """Plateau's folder for torch's compile caches, beside its decoded-image cache."""
    from engine.data.image_cache import default_cache_dir

    return default_cache_dir().parent / "torch-compile"


def use_cache() -> str:
    """Point torch's compile caches at :func:`cache_dir` — unless ``TORCHINDUCTOR_CACHE_DIR``
    already names a folder other than torch's default in the temporary folder (the user's
    choice is kept) — with the FX-graph and AOT-autograd caches on. Returns the folder."""
    folder = os.environ.get(CACHE_ENV)
    if not folder or folder == _torch_default():  # torch sets its default there on first use
        folder = str(cache_dir())
        os.environ[CACHE_ENV] = folder
    os.makedirs(folder, exist_ok=True)
    _switch_on("torch._inductor.config", "fx_graph_cache", "TORCHINDUCTOR_FX_GRAPH_CACHE")
    _switch_on("torch._functorch.config", "enable_autograd_cache", "TORCHINDUCTOR_AUTOGRAD_CACHE")
    return folder


def _torch_default() -> str:
    try:
        from torch._inductor.runtime.cache_dir_utils import default_cache_dir
    except ImportError:  # pragma: no cover - another torch layout
        return ""
    return os.path.abspath(default_cache_dir())


def cache_in_use() -> str:
    """The folder torch's compile caches use in this process ("" before the first compile)."""
    return os.environ.get(CACHE_ENV, "")


def _switch_on(module: str, name: str, env: str) -> None:
    """Set a torch config flag, where this torch has it and the environment leaves it free."""
    if env in os.environ:
        return
    try:
        import importlib

        config = importlib.import_module(module)
    except ImportError:  # pragma: no cover - a torch without the compiler
        return
    if hasattr(config, name):
        setattr(config, name, True)


def compile_model(model: torch.nn.Module, mode: str) -> torch.nn.Module:
    """``model`` compiled for fixed shapes in ``mode`` (its caches in the user cache folder).

    Static shapes: a compiled run trains whole batches only (``Assembly.whole_batches``), one
    shape, and a graph compiled for dynamic shapes would serve it more slowly."""
    use_cache()
    return torch.compile(model, mode=None if mode == "default" else mode, dynamic=False)


def first_line(exc: BaseException) -> str:
    """An exception in one line, for a warning."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__
