"""The doctor's proving suite: broken presets with the findings they must raise, and healthy
presets that must raise no warning or error. Used by tests/doctor and benchmarks/doctor_suite.py.

Each case is (name, changes to the digits preset, expected ids). Changes use ``--set`` keys.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

WORK = Path(tempfile.gettempdir()) / f"plateau-doctor-suite-{os.getpid()}"  # made datasets

SYNTHETIC = {
    "data.source": "synthetic",
    "data.synthetic.classes": 10,
    "data.synthetic.samples": 1000,
    "data.synthetic.channels": 3,
    "data.synthetic.size": 16,
}

# Two classes of random scenes (nothing to learn: kept to two epochs, before the trend rules)
SCENES = {"data.image_size": 64, "model.width": 8, "train.epochs": 2, "train.batch_size": 32}

# (name, changes, must raise, may also raise: true but secondary findings)
BROKEN = [
    (
        "imbalanced-digits",
        {"data.class_fraction": {"3": 0.03, "8": 0.03}, "train.epochs": 6},
        {"class-imbalance"},
        set(),
    ),
    (
        "imbalanced-digits-3",
        {"data.class_fraction": {"1": 0.04, "7": 0.04, "9": 0.04}, "train.epochs": 6},
        {"class-imbalance"},
        set(),
    ),
    (
        "unnormalized-digits",
        {
            "data.normalize": "none",
            "model.arch": "mlp",
            "model.width": 64,
            "model.depth": 2,
            "model.batch_norm": False,
            "train.optimizer.name": "sgd",
            "train.optimizer.lr": 0.05,
            "train.epochs": 6,
        },
        {"unnormalized-input"},
        {"bad-init-loss"},
    ),
    (
        "unnormalized-wide-mlp",
        {
            "data.normalize": "none",
            "model.arch": "mlp",
            "model.width": 512,
            "model.depth": 1,
            "model.batch_norm": False,
            "train.optimizer.name": "sgd",
            "train.optimizer.lr": 0.05,
            "train.epochs": 6,
        },
        {"unnormalized-input", "bad-init-loss"},
        set(),
    ),
    (
        "lr-x1000",
        {"train.optimizer.lr": 3.0, "train.epochs": 6},
        {"lr-too-high"},
        {"dead-units", "vanishing-gradients"},
    ),
    ("lr-div1000", {"train.optimizer.lr": 3e-6, "train.epochs": 6}, {"lr-too-low"}, set()),
    (
        "article-steplr",
        {"preset": "article-2-steplr.toml"},
        {"schedule-too-aggressive", "unnormalized-input"},
        set(),
    ),
    (
        "exponential-decay",
        {"train.schedule.name": "exponential", "train.schedule.gamma": 0.05, "train.epochs": 8},
        {"schedule-too-aggressive"},
        set(),
    ),
    (
        "pure-noise-labels",
        {**SYNTHETIC, "data.synthetic.signal": 0.0, "train.epochs": 12, "model.width": 64},
        {"no-signal"},
        {"overfitting"},
    ),
    (
        "tiny-set-big-model",
        {
            **SYNTHETIC,
            "data.synthetic.samples": 400,
            "data.synthetic.signal": 0.35,
            "model.width": 128,
            "train.epochs": 30,
            "train.schedule.name": "none",
        },
        {"overfitting"},
        set(),
    ),
    (
        "too-small-model",
        {
            "model.arch": "mlp",
            "model.width": 2,
            "model.depth": 1,
            "train.epochs": 12,
            "train.optimizer.lr": 0.01,
        },
        {"underfitting"},
        set(),
    ),
    (
        "heavy-augmentation",
        {"data.augment": ["rotate:90", "blur:2.0", "jitter:0.8", "crop:3"], "train.epochs": 8},
        {"excessive-augmentation"},
        set(),
    ),
    (  # CIFAR's crop on 8-pixel digits, twice over: most crops are empty
        "crop-larger-than-digits",
        {"data.augment": ["crop:16"], "train.epochs": 6},
        {"excessive-augmentation"},
        set(),
    ),
    (
        "deep-no-bn-high-sgd",
        {
            "model.arch": "mlp",
            "model.width": 64,
            "model.depth": 6,
            "model.batch_norm": False,
            "train.optimizer.name": "sgd",
            "train.optimizer.lr": 0.5,
            "train.epochs": 5,
        },
        {"lr-too-high"},
        {"dead-units", "vanishing-gradients"},
    ),
    (
        "deep-bn-high-sgd",
        {
            "model.arch": "mlp",
            "model.depth": 8,
            "model.width": 64,
            "train.optimizer.name": "sgd",
            "train.optimizer.lr": 2.0,
            "train.epochs": 3,
        },
        {"dead-units"},
        {"lr-too-high"},
    ),
    (
        "dead-relus-unnormalized",
        {
            "model.arch": "mlp",
            "model.batch_norm": False,
            "data.normalize": "none",
            "train.optimizer.name": "sgd",
            "train.optimizer.lr": 5.0,
            "train.epochs": 4,
        },
        {"dead-units", "lr-too-high", "unnormalized-input"},
        {"vanishing-gradients"},
    ),
    (
        "deep-plain-mlp",
        {
            "model.arch": "mlp",
            "model.width": 32,
            "model.depth": 20,
            "model.batch_norm": False,
            "train.epochs": 6,
        },
        {"vanishing-gradients"},
        set(),
    ),
    (  # batch norm without skip connections: gradients grow ~1.2x per layer toward the input
        "deep-batchnorm-mlp",
        {"model.arch": "mlp", "model.width": 64, "model.depth": 32, "train.epochs": 6},
        {"exploding-gradients"},
        set(),
    ),
    (
        "diverging-sgd",
        {
            "model.arch": "mlp",
            "model.batch_norm": False,
            "train.optimizer.name": "sgd",
            "train.optimizer.lr": 50.0,
            "train.epochs": 3,
        },
        {"non-finite-loss"},
        set(),
    ),
    (
        "vgg11-no-bn-sgd",
        {
            "model.arch": "vgg11",
            "model.batch_norm": False,
            "train.optimizer.name": "sgd",
            "train.optimizer.lr": 0.05,
            "train.epochs": 2,
        },
        {"vanishing-signal"},
        set(),
    ),
    (
        "inverted-validation",
        {"make": "inverted-validation", "train.epochs": 4},
        {"train-val-mismatch"},
        set(),
    ),
    (  # 96 training photos in batches of 64: batch norm's statistics lag, validation at chance
        "few-bn-updates-photos",
        {
            "make": "small-shapes",
            "model.arch": "resnet18",
            "data.image_size": 96,
            "train.epochs": 6,
        },
        {"train-val-mismatch"},
        {"bad-init-loss"},  # an untrained resnet18 starts confidently wrong here (loss 1.5)
    ),
    ("flipped-labels-digits", {"flip": 0.2, "train.epochs": 8}, {"label-noise"}, set()),
    (
        "flipped-labels-synthetic",
        {
            **SYNTHETIC,
            "data.synthetic.signal": 0.6,
            "data.synthetic.samples": 2000,
            "flip": 0.2,
            "train.epochs": 8,
        },
        {"label-noise"},
        {"overfitting"},  # the network memorizes the flipped labels in the end
    ),
    ("leaky-folder", {**SCENES, "make": "leaky-scenes"}, {"split-leakage"}, set()),
]

HEALTHY = [
    ("digits", {}),
    (
        "digits-sgd-cosine",
        {"train.optimizer.name": "sgd", "train.optimizer.lr": 0.05, "train.epochs": 12},
    ),
    ("digits-mlp", {"model.arch": "mlp", "model.width": 128, "model.depth": 2, "train.epochs": 12}),
    ("digits-mild-augment", {"data.augment": ["crop:1"], "train.epochs": 12}),
    ("synthetic-convnet", {**SYNTHETIC, "data.synthetic.signal": 0.6, "train.epochs": 8}),
    (
        "synthetic-imbalanced-oversampled",
        {
            **SYNTHETIC,
            "data.synthetic.imbalance": 20.0,
            "data.synthetic.signal": 0.6,
            "data.balance": "oversample",
            "train.epochs": 8,
        },
    ),
    (  # 50x SGD's usual rate: loss 4.8 after epoch 1, then validation 0.99 (once "too high")
        "synthetic-sgd-fast-start",
        {
            **SYNTHETIC,
            "data.synthetic.signal": 0.6,
            "train.optimizer.name": "sgd",
            "train.optimizer.lr": 0.5,
            "train.schedule.name": "none",
            "train.epochs": 8,
        },
    ),
    ("article-1", {"preset": "article-1-imbalance.toml"}),
    ("folder-without-copies", {**SCENES, "make": "clean-scenes"}),
]


def build(changes: dict):
    """The preset a case describes (digits unless ``preset`` names another shipped one).
    ``make`` names a dataset of :mod:`engine.doctor.suite_data` to write as the image folder
    (once per process); ``flip`` changes that share of labels through a ``data.relabel`` file."""
    from engine import preset as presets
    from engine.doctor import suite_data

    changes = dict(changes)
    name = changes.pop("preset", "digits.toml")
    make, flip = changes.pop("make", None), changes.pop("flip", 0.0)
    if make:
        root = WORK / make
        if not root.exists():
            suite_data.MAKERS[make](root)
        changes.update({"data.source": "folder", "data.root": str(root)})
        changes.setdefault("data.cache_dir", str(WORK / "cache"))
    base = presets.load(presets.presets_dir() / name)
    preset = base.with_changes({"train.device": "cpu", **changes})
    if flip:
        relabel, _ = suite_data.relabel_file(preset, flip, WORK / "relabel")
        preset = preset.with_changes(relabel)
    return preset
