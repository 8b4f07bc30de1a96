"""Shared test setup: Qt offscreen, small synthetic presets, a temporary runs folder."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYTHONHASHSEED", "0")
# decoded-image caches of test folders go to a temporary folder, not the user's cache
os.environ.setdefault("PLATEAU_CACHE_DIR", tempfile.mkdtemp(prefix="plateau-test-cache-"))

import pytest  # noqa: E402

from engine.preset import Preset  # noqa: E402


def tiny_preset(**changes) -> Preset:
    """A synthetic preset that trains in well under a second."""
    base = {
        "name": "tiny",
        "data.source": "synthetic",
        "data.synthetic.classes": 3,
        "data.synthetic.samples": 240,
        "data.synthetic.channels": 1,
        "data.synthetic.size": 8,
        "data.synthetic.signal": 1.0,
        "model.arch": "convnet",
        "model.width": 8,
        "model.depth": 2,
        "train.epochs": 3,
        "train.batch_size": 32,
        "train.device": "cpu",
    }
    base.update(changes)
    return Preset().with_changes(base)


@pytest.fixture
def runs_dir(tmp_path):
    path = tmp_path / "runs"
    path.mkdir()
    return path
