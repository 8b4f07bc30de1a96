"""Rules about the network's size and start against the data, read after every epoch once the
other rules have spoken: too small to fit even the training set, or trained from random weights on
too few photos."""

from __future__ import annotations

from engine.doctor.epoch_rules import (
    CHANCE_SIGMAS,
    FLAT_GAIN,
    MIN_EPOCHS,
    UNDERFIT_TRAIN_ACC,
    EpochContext,
    chance_level,
)
from engine.doctor.finding import Finding, fix_set
from engine.preset import PRETRAINED_ARCHS
from engine.wording import count

FEW_PER_CLASS = 1000  # training from scratch on fewer images per class than this …
NATURAL_IMAGES = ("folder", "cifar10", "cifar100")  # … of photo-like images, is slow to learn
PRETRAINED_FIX_ARCH = "resnet18"  # what a from-scratch architecture without weights becomes
# Validation accuracy above training's is no capacity problem: by this much once it is high, or
# by the larger margin at any accuracy (dropout on a small model costs training a few points)
VAL_ABOVE_TRAIN, VAL_FAR_ABOVE_TRAIN = 0.05, 0.15


def underfitting(ctx: EpochContext, others: set[str]) -> Finding | None:
    blockers = {
        "lr-too-high",
        "lr-too-low",
        "schedule-too-aggressive",
        "no-signal",
        "unnormalized-input",
        "dead-units",
        "vanishing-gradients",
        "exploding-gradients",
        "excessive-augmentation",
        "vanishing-signal",
        "train-val-mismatch",
        "frozen-random-weights",
    }
    if len(ctx.rows) < MIN_EPOCHS or others & blockers:
        return None
    train = ctx.train_acc()
    chance, sigma = chance_level(ctx)
    gain = train[-1] - train[-MIN_EPOCHS]
    if (
        fits_after_all(ctx)
        or gain >= FLAT_GAIN
        or max(ctx.val_acc()) <= chance + CHANCE_SIGMAS * sigma
    ):
        return None
    m = ctx.preset.model
    title, size = (
        "The model is too small for the data",
        f"{m.arch}, width {m.width}, depth {m.depth}",
    )
    if m.freeze not in ("none", 0):
        title = "Too little of the network trains to fit the data"
        size = f"{m.arch} with model.freeze = {m.freeze!r}: " + (
            "only the head trains"
            if m.freeze == "backbone"
            else f"the last {m.freeze} blocks train"
        )
        changes = {"model.freeze": 2 if m.freeze == "backbone" else "none"}
    elif m.arch == "simple-cnn":
        changes = {"model.arch": "convnet"}
    elif m.arch in ("convnet", "mlp"):
        changes = {"model.width": min(m.width * 4, 512), "model.depth": min(m.depth + 1, 8)}
    else:  # a torchvision network is not small: it needs longer
        title, size = "The model does not fit even the training set yet", m.arch
        changes = {"train.epochs": ctx.preset.train.epochs * 2}
    return Finding(
        "underfitting",
        "warning",
        title,
        f"training accuracy is only {train[-1]:.2f} and gained {gain:+.3f} over the last "
        f"{MIN_EPOCHS} epochs with a healthy learning rate: the model cannot fit even the "
        f"training set ({size}).",
        fix_set(**changes),
        epoch=ctx.rows[-MIN_EPOCHS].epoch,
    )


def fits_after_all(ctx: EpochContext) -> bool:
    """No capacity problem: training accuracy is high, or validation accuracy is well above it
    (training accuracy held down by dropout or augmentation, or training labels that are
    wrong)."""
    train, val = ctx.train_acc()[-1], max(ctx.val_acc())
    return (
        train >= UNDERFIT_TRAIN_ACC
        or val >= max(UNDERFIT_TRAIN_ACC, train + VAL_ABOVE_TRAIN)
        or val >= train + VAL_FAR_ABOVE_TRAIN
    )


def from_scratch_small_data(ctx: EpochContext, others: set[str]) -> Finding | None:
    """Random initialization on a few hundred photos per class, and the run over- or
    underfits: starting from pretrained weights is the usual cure."""
    m, d = ctx.preset.model, ctx.preset.data
    symptom = others & {"overfitting", "underfitting"}
    if m.pretrained or m.weights or m.init_from or d.source not in NATURAL_IMAGES or not symptom:
        return None
    counts = ctx.stats["train_counts"]
    per_class = sum(counts) / max(len(counts), 1)
    if per_class >= FEW_PER_CLASS:
        return None
    arch = m.arch if m.arch in PRETRAINED_ARCHS else PRETRAINED_FIX_ARCH
    changes = {"model.arch": arch} if arch != m.arch else {}
    changes.update(
        {"model.pretrained": True, "data.image_size": 224, "data.normalize": "pretrained"}
    )
    return Finding(
        "from-scratch-small-data",
        "warning",
        "Too few images to train from scratch",
        f"{m.arch} learns from random weights on {per_class:.0f} training images per class "
        f"({count(len(counts), 'class')}) and the run is {' and '.join(sorted(symptom))} "
        f"(best validation accuracy {max(ctx.val_acc()):.2f}); networks pretrained on ImageNet "
        "reach far higher accuracy on a few hundred photos per class.",
        fix_set(**changes),
        epoch=ctx.epoch,
    )
