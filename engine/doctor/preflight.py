"""Pre-flight rules: what the data, the first batch and the planned schedule say before training.

Thresholds (from Karpathy's recipe and the issue's published starting points; kept because the
suite in tests/doctor passes with them):
"""

from __future__ import annotations

import math

from engine.augment_spec import PHOTO_MIN_SIZE, parse_augment
from engine.doctor.finding import Finding, fix_set
from engine.preset import PRETRAINED_ARCHS, Preset
from engine.wording import class_label, count

NEVER_TOO_AGGRESSIVE = ("none", "plateau", "onecycle", "cosine")  # schedules never flagged
INIT_LOSS_TOLERANCE = 0.25  # loss at init outside ln(C) ± 25 % …
INIT_LOSS_MIN_ABS = 0.3  # … and at least this far off (ln 2 = 0.69 leaves little room)
INPUT_MEAN_MAX = 0.2  # |mean| of a channel as the network receives it
INPUT_STD_RANGE = (0.5, 2.0)
INPUT_ABS_MAX = 10.0  # values beyond ±10
IMBALANCE_RATIO = 10.0  # largest : smallest class
MIN_CLASS_SHARE = 0.1  # a class with less than 0.1/K of the samples
LR_FLOOR_FRACTION = 1e-3  # schedule: lr below 1e-3 × initial …
LR_FLOOR_BY = 0.5  # … before half the epochs
LR_ABSOLUTE_FLOOR = 1e-7
LR_LOW_FRACTION = 1e-2  # … or this share of the run …
LR_LOW_SHARE = 0.4  # … spent at or below 1e-2 × the initial learning rate
CROP_SHIFT_MAX = 0.25  # crop:N shifting small images by more than this share of their side


def network_input(stats: dict, norm: dict) -> list[dict]:
    """Per-channel mean, std, min and max of what the network receives (after normalization)."""
    raw = stats["raw"]
    out = []
    for c, (scale, shift) in enumerate(zip(norm["scale"], norm["shift"], strict=True)):
        lo, hi = raw["min"][c] * scale + shift, raw["max"][c] * scale + shift
        out.append(
            {
                "mean": raw["mean"][c] * scale + shift,
                "std": raw["std"][c] * abs(scale),
                "min": min(lo, hi),
                "max": max(lo, hi),
            }
        )
    return out


def pretrained_normalization(preset: Preset, norm: dict) -> Finding | None:
    """Pretrained weights fed inputs scaled another way than the images they learnt from."""
    m = preset.model
    if not (m.pretrained or m.weights) or norm["mode"] == "pretrained":
        return None
    return Finding(
        "unnormalized-input",
        "warning",
        "Inputs are not scaled as the pretrained weights expect",
        f"{m.arch} starts from weights trained on images normalized with ImageNet's mean and std "
        f"(data.normalize = 'pretrained'); with data.normalize = '{preset.data.normalize}' its "
        "first layers see inputs on another scale, and what they learnt fits less well.",
        fix_set(**{"data.normalize": "pretrained"}),
    )


def unnormalized_input(preset: Preset, stats: dict, norm: dict) -> Finding | None:
    """The scale of what the network actually receives. With ``normalize = "pretrained"`` the
    inputs are meant to follow the pretraining images' statistics, not the data's own, so only
    extreme values count."""
    problems = []
    as_pretrained = norm["mode"] == "pretrained"
    for c, ch in enumerate(network_input(stats, norm)):
        parts = []
        if not as_pretrained and abs(ch["mean"]) > INPUT_MEAN_MAX:
            parts.append(f"mean {ch['mean']:.3g} (|mean| > {INPUT_MEAN_MAX})")
        if not as_pretrained and not INPUT_STD_RANGE[0] <= ch["std"] <= INPUT_STD_RANGE[1]:
            lo, hi = INPUT_STD_RANGE
            parts.append(f"std {ch['std']:.3g} (outside {lo}–{hi})")
        if max(abs(ch["min"]), abs(ch["max"])) > INPUT_ABS_MAX:
            parts.append(f"values {ch['min']:.3g}…{ch['max']:.3g} (beyond ±10)")
        if parts:  # every channel named: a colour image's third one too
            problems.append(f"channel {c} " + ", ".join(parts))
    if not problems:
        return None
    return Finding(
        "unnormalized-input",
        "warning",
        "Inputs are not normalized",
        f"with data.normalize = '{preset.data.normalize}' the network receives "
        + "; ".join(problems)
        + ". Large or off-centre inputs slow or stall learning.",
        fix_set(**{"data.normalize": "standardize"}),
    )


def class_imbalance(preset: Preset, stats: dict) -> Finding | None:
    """Training classes of very different sizes, with no balancing."""
    if preset.data.balance != "none":
        return None
    counts = stats["train_counts"]
    k, total = len(counts), sum(counts)
    present = [c for c in counts if c > 0]
    smallest, largest = min(present), max(present)
    i_small = counts.index(smallest)
    ratio = largest / smallest
    share = smallest / total
    if ratio <= IMBALANCE_RATIO and share >= MIN_CLASS_SHARE / k:
        return None
    return imbalance_finding(
        stats,
        i_small,
        f", {share:.1%} of the data); a model can score well by ignoring the small classes.",
    )


def imbalance_finding(stats: dict, small: int, tail: str, epoch: int = 0) -> Finding:
    """The ``class-imbalance`` finding for class ``small`` against the largest class; ``tail``
    ends the evidence (it starts "(ratio R:1")."""
    counts, names = stats["train_counts"], stats["classes"]
    largest = max(counts)
    return Finding(
        "class-imbalance",
        "warning",
        "Classes are imbalanced",
        f"{class_label(names[small])}: {count(counts[small], 'training sample')} vs {largest} "
        f"for {class_label(names[counts.index(largest)])} "
        f"(ratio {largest / counts[small]:.0f}:1{tail}",
        fix_set(**{"data.balance": "oversample"}),
        epoch=epoch,
    )


def bad_init_loss(loss: float, num_classes: int, inputs_off: bool) -> Finding | None:
    """Loss at initialization far from ln(C), the loss of uniform predictions."""
    expected = math.log(num_classes)
    deviation = abs(loss - expected) / expected if math.isfinite(loss) else math.inf
    if deviation <= INIT_LOSS_TOLERANCE or abs(loss - expected) < INIT_LOSS_MIN_ABS:
        return None
    fix = fix_set(**{"data.normalize": "standardize"}) if inputs_off else None
    return Finding(
        "bad-init-loss",
        "warning",
        "Loss at initialization is off",
        f"first-batch loss {loss:.3g} vs ln({num_classes}) = {expected:.3g} expected for an "
        f"untrained classifier ({deviation:.0%} off); the network starts out confidently wrong.",
        fix,
        "" if fix else "check the input scale and the final layer's initialization",
    )


def schedule_too_aggressive(
    preset: Preset, lrs: list[float], steps_per_epoch: int
) -> Finding | None:
    """The planned learning rate collapses long before training ends. Cosine annealing is the
    fix, so it is never the finding (its last epochs are meant to be small)."""
    if not lrs or preset.train.schedule.name in NEVER_TOO_AGGRESSIVE:
        return None
    initial = max(lrs[: max(1, steps_per_epoch)])
    epochs = preset.train.epochs
    half = int(epochs * LR_FLOOR_BY * steps_per_epoch)
    early = [i for i, lr in enumerate(lrs[:half]) if lr < initial * LR_FLOOR_FRACTION]
    tiny = [i for i, lr in enumerate(lrs) if lr < LR_ABSOLUTE_FLOOR]
    low = [i for i, lr in enumerate(lrs) if lr <= initial * LR_LOW_FRACTION * (1 + 1e-9)]
    if not early and not tiny and len(low) < LR_LOW_SHARE * len(lrs):
        return None
    first = (early or tiny or low)[0]
    epoch = first // steps_per_epoch + 1
    s = preset.train.schedule
    what = {
        "step": f"StepLR(step_size={s.step_size}, gamma={s.gamma})",
        "multistep": f"MultiStepLR(milestones={s.milestones}, gamma={s.gamma})",
        "exponential": f"ExponentialLR(gamma={s.gamma})",
        "cosine": "cosine annealing",
    }.get(s.name, s.name)
    return Finding(
        "schedule-too-aggressive",
        "warning",
        "The learning-rate schedule decays too fast",
        f"{what} takes the learning rate from {initial:.3g} to {lrs[first]:.3g} by epoch {epoch} "
        f"of {epochs} and to {lrs[-1]:.2g} at the end; later epochs can barely change the model.",
        fix_set(**{"train.schedule.name": "cosine"}),
        epoch=epoch,
    )


def frozen_random_weights(preset: Preset) -> Finding | None:
    """``model.freeze`` on a network that starts from random weights: the frozen layers never
    learn, and the head trains on features nobody trained (digits: 0.80 instead of 0.99)."""
    m = preset.model
    if m.freeze in ("none", 0) or m.pretrained or m.weights or m.init_from:
        return None
    kept = "the whole backbone" if m.freeze == "backbone" else f"all but the last {m.freeze} blocks"
    if m.arch in PRETRAINED_ARCHS:
        fix, offer = {"model.pretrained": True}, "start from pretrained weights"
    else:
        fix, offer = {"model.freeze": "none"}, "train every layer"
    return Finding(
        "frozen-random-weights",
        "warning",
        "The frozen layers were never trained",
        f"model.freeze = {m.freeze!r} keeps {kept} of {m.arch} fixed at its random start (no "
        "pretrained weights, weights file or model.init_from): only the rest learns, on "
        f"features of an untrained network. Freezing pays off on trained layers: {offer}.",
        fix_set(**fix),
    )


def crop_beyond_image(preset: Preset, stats: dict) -> Finding | None:
    """``crop:N`` pads small images by N pixels and crops them back: a shift of up to N pixels.
    Copied from a preset for larger images (``crop:4`` is CIFAR's), it can move the content of
    a small image half or wholly out of view: the network trains on mostly empty crops and is
    tested on whole images, and it learns slowly or not at all (digits with ``crop:16``: chance
    after 6 epochs). Photos (``PHOTO_MIN_SIZE`` and up) take a random-resized crop instead."""
    side = min(stats["image_shape"][1:])
    crop = next((a for a in preset.data.augment if parse_augment(a)[0] == "crop"), None)
    if side >= PHOTO_MIN_SIZE or crop is None:
        return None
    pad = parse_augment(crop)[1]
    if pad <= CROP_SHIFT_MAX * side:
        return None
    mild = f"crop:{max(1, side // 8)}"
    return Finding(
        "excessive-augmentation",
        "warning",
        "The random crop is too large for these images",
        f"{crop} shifts the {side}-pixel images by up to {pad:g} pixels ({pad / side:.0%} of "
        "their side): many training crops show only part of the image, or none of it, while "
        "validation sees whole images.",
        fix_set(**{"data.augment": [mild if a == crop else a for a in preset.data.augment]}),
    )


def mild_augment(augment: list[str], stats: dict) -> list[str]:
    """The gentle part of ``augment``: flips, and a crop of at most 4 pixels that is no more
    than a quarter of a small image's side (photos take a random-resized crop instead)."""
    side = min(stats["image_shape"][1:])
    most = 4 if side >= PHOTO_MIN_SIZE else min(4, CROP_SHIFT_MAX * side)  # pixels
    gentle = []
    for spec in augment:
        name, value = parse_augment(spec)
        if name == "hflip" or (name == "crop" and value <= most):
            gentle.append(spec)
    return gentle
