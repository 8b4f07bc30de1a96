"""Rules read after every epoch from the metrics so far, the sampled probes and divergence checks.

Thresholds (starting points from the issue — Karpathy's recipe, AUTOTRAINER, DeepDiagnosis —
tuned on tests/doctor's suite; see BENCHMARKS.md for its precision and recall):
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from engine.doctor.finding import Finding, fix_set
from engine.doctor.preflight import imbalance_finding, mild_augment
from engine.events import EpochMetrics
from engine.preset import Preset
from engine.wording import count

MIN_EPOCHS = 3  # most trend rules wait for this many epochs
OVERFIT_GAP = 0.10  # train − val accuracy …
OVERFIT_GAP_HIGH_TRAIN = 0.07  # … or this much once train accuracy is above 0.9
VAL_LOSS_RISE = 1.05  # validation loss this far above its best counts as rising
OVERFIT_FITTED = 0.9  # … once the training loss is below this share of ln k (it fits something)
AUGMENT_GAP = 0.05  # validation accuracy above train accuracy with augmentation on
NOISE_SIGMAS = 2.0  # ...and above what the validation set's size alone would explain
UNDERFIT_TRAIN_ACC = 0.9  # "low" training accuracy …
FLAT_GAIN = 0.01  # … and "flat": less gain than this over the last MIN_EPOCHS epochs
SMALL_LR_FACTOR = 0.1  # "small LR": below 0.1 × the optimizer's usual default
LARGE_LR_FACTOR = 10.0  # "large LR": above 10 × that default
DEFAULT_LR = {"sgd": 0.01, "adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-3}
DIVERGENCE_RATIO = 4.0  # EMA(0.98) of the loss above 4 × its best
CHANCE_SIGMAS = 3.0  # validation accuracy within 3 binomial sigmas of chance
TRAIN_RISE = 0.05  # …while training accuracy rises by at least this
MINORITY_RECALL = 0.05  # a class whose recall stays below this …
# … and that is this many times smaller than the largest class (a 1:2.5 class at recall 0.00
# for every epoch went unnamed at 3)
MINORITY_RATIO = 2.0
STUCK_EPOCHS = 2  # a training loss at ln k for this many epochs …
STUCK_LOSS = 0.97  # … (at least this share of ln k) …
TRAIN_LEARNED = 0.2  # train accuracy this far above chance has learned something …
NEAR_CHANCE = 0.1  # … while validation accuracy stays within this of chance …
MISMATCH_LOSS = 1.3  # … or validation loss is this many times ln k (worse than a guess) …
WILD_LOSS = 5.0  # … or this many times ln k at any validation accuracy, never good (tens) …
MISMATCH_EPOCHS = 2  # … over this many epochs
SHIFT_SIGMAS = 0.5  # split means this many training stds apart are different images …
SPREAD_RATIO = 1.5  # … and so are spreads this many times apart
SMALL_BN_BATCH = 16  # batch norm on batches smaller than this has noisy statistics
FEW_BN_STEPS = 10  # batch-norm statistics updated fewer times an epoch lag a fast-moving network
MIN_FIX_BATCH = 8  # the smallest batch a fix proposes for a network with batch norm
FEW_IMAGES_ADVICE = "train on more images, or start from pretrained weights (model.pretrained)"


@dataclass
class EpochContext:
    """What the epoch rules read."""

    preset: Preset
    stats: dict
    rows: list[EpochMetrics]
    probes: dict[int, dict] = field(default_factory=dict)  # epoch -> probe result
    divergence: dict | None = None  # worst EMA/best ratio seen: {"ratio", "step", "epoch"}
    steps_per_epoch: int = 0  # 0: not known (contexts made without it, as in unit tests)

    @property
    def epoch(self) -> int:
        return self.rows[-1].epoch

    def train_acc(self) -> list[float]:
        return [r.train_acc for r in self.rows]

    def val_acc(self) -> list[float]:
        return [r.val_acc for r in self.rows]

    def train_loss(self) -> list[float]:
        return [r.train_loss for r in self.rows]

    def val_loss(self) -> list[float]:
        return [r.val_loss for r in self.rows]

    @property
    def lr0(self) -> float:
        return self.preset.train.optimizer.lr

    @property
    def default_lr(self) -> float:
        return DEFAULT_LR[self.preset.train.optimizer.name]


def lower_lr(ctx: EpochContext) -> float:
    """A tenth of the learning rate, or the optimizer's usual default when it was far above."""
    new = ctx.lr0 / 10 if ctx.lr0 <= 100 * ctx.default_lr else ctx.default_lr
    return float(f"{new:.3g}")


def chance_level(ctx: EpochContext) -> tuple[float, float]:
    support = ctx.rows[-1].per_class.support
    n = max(sum(support), 1)
    chance = max(max(support) / n, 1 / len(support))
    return chance, math.sqrt(chance * (1 - chance) / n)


def overfit_gap(train_acc: float) -> float:
    """How far validation accuracy may trail training accuracy before it is overfitting."""
    return OVERFIT_GAP_HIGH_TRAIN if train_acc > 0.9 else OVERFIT_GAP


def overfitting(ctx: EpochContext) -> Finding | None:
    if len(ctx.rows) < MIN_EPOCHS:
        return None
    r = ctx.rows[-1]
    gap = r.train_acc - r.val_acc
    limit = overfit_gap(r.train_acc)
    losses = ctx.val_loss()
    best = min(range(len(losses)), key=losses.__getitem__)
    if gap < limit or losses[-1] < losses[best] * VAL_LOSS_RISE or best == len(losses) - 1:
        return None
    if r.train_loss > ctx.rows[best].train_loss:  # both losses rose: diverging, not overfitting
        return None
    if r.train_loss > OVERFIT_FITTED * math.log(len(r.per_class.support)):  # fits nothing yet
        return None
    m, o = ctx.preset.model, ctx.preset.train.optimizer
    changes = {"model.dropout": max(m.dropout, 0.5)}
    changes["train.optimizer.weight_decay"] = max(o.weight_decay, 5e-4)
    return Finding(
        "overfitting",
        "warning",
        "The model is overfitting",
        f"train accuracy {r.train_acc:.2f} vs validation {r.val_acc:.2f} at epoch "
        f"{r.epoch} (gap {gap:.2f}); validation loss rose from {losses[best]:.3g} "
        f"(epoch {best + 1}) to {losses[-1]:.3g}.",
        fix_set(**changes),
        epoch=best + 1,
    )


def excessive_augmentation(ctx: EpochContext) -> Finding | None:
    aug = ctx.preset.data.augment
    if not aug or len(ctx.rows) < MIN_EPOCHS:
        return None
    mild = mild_augment(aug, ctx.stats)
    if list(mild) == list(aug):  # only gentle augmentation: the gap has another cause
        return None
    recent = ctx.rows[-MIN_EPOCHS:]
    gap = sum(r.val_acc - r.train_acc for r in recent) / len(recent)
    # a small validation set moves its accuracy by more than the gap (15 images: 0.067 each)
    val = sum(r.val_acc for r in recent) / len(recent)
    images = max(sum(recent[-1].per_class.support), 1)
    if gap < max(AUGMENT_GAP, NOISE_SIGMAS * math.sqrt(val * (1 - val) / images)):
        return None
    return Finding(
        "excessive-augmentation",
        "warning",
        "Augmentation is too strong",
        f"validation accuracy is {gap:.2f} above training accuracy over the last "
        f"{len(recent)} epochs with augment = {aug}: the network trains on images harder than "
        "the ones it is tested on.",
        fix_set(**{"data.augment": mild}),
        epoch=recent[0].epoch,
    )


def _split_shift(stats: dict) -> str:
    """How validation images differ from training images before any augmentation: a channel
    whose mean or spread moved by more than ``SHIFT_SIGMAS`` training standard deviations."""
    raw, val = stats.get("raw"), stats.get("raw_val")
    if not raw or not val:
        return ""
    for c, (m, s, vm, vs) in enumerate(
        zip(raw["mean"], raw["std"], val["mean"], val["std"], strict=True)
    ):
        if s < 1e-6 and vs < 1e-6:  # a constant channel in both splits
            if abs(vm - m) <= 1e-6 * max(abs(m), 1.0):
                continue
        s = max(s, 1e-8)
        if abs(vm - m) / s > SHIFT_SIGMAS or not (1 / SPREAD_RATIO < vs / s < SPREAD_RATIO):
            return (
                f"validation images differ from training images before any augmentation: "
                f"channel {c} mean {vm:.3g} vs {m:.3g} in training, std {vs:.3g} vs {s:.3g}"
            )
    return ""


def batch_for_steps(ctx: EpochContext) -> int:
    """The largest power-of-two batch (at least ``MIN_FIX_BATCH``) that gives ``FEW_BN_STEPS``
    steps an epoch over the images an epoch now trains on (any batch when that is unknown)."""
    if not ctx.steps_per_epoch:
        return 1 << 30
    images = epoch_images(ctx)
    return max(MIN_FIX_BATCH, 1 << max(0, (images // FEW_BN_STEPS).bit_length() - 1))


def epoch_images(ctx: EpochContext) -> int:
    """At least how many images an epoch trains on (its last batch may be short)."""
    return (ctx.steps_per_epoch - 1) * ctx.preset.train.batch_size + 1


def train_val_mismatch(ctx: EpochContext) -> Finding | None:
    """Training accuracy improves while validation accuracy stays near chance, or validation
    loss is far above an untrained guess: the network is tested on a different world than it
    trains on. Raised only with a cause named from the data or the preset (without one, labels
    that cannot be learned are the likelier reading: ``no-signal``)."""
    if len(ctx.rows) < MIN_EPOCHS:
        return None
    r = ctx.rows[-1]
    k = len(r.per_class.support)
    chance, sigma = chance_level(ctx)
    learned = r.train_acc >= chance + TRAIN_LEARNED and r.train_acc > ctx.rows[0].train_acc
    near_chance = far = True
    # a validation loss that was never good (a network that overfits had an early best)
    never_good = min(ctx.val_loss()) >= MISMATCH_LOSS * math.log(k)
    for row in ctx.rows[-MISMATCH_EPOCHS:]:  # held over the last epochs, not one odd epoch
        near_chance &= row.val_acc <= chance + max(CHANCE_SIGMAS * sigma, NEAR_CHANCE)
        far &= row.val_loss >= MISMATCH_LOSS * math.log(k) and (
            row.val_acc <= row.train_acc / 2
            or (never_good and row.val_loss >= WILD_LOSS * math.log(k))
        )
    if not learned or not (near_chance or far):
        return None
    p = ctx.preset
    aug, bn = p.data.augment, p.model.batch_norm
    mild = mild_augment(aug, ctx.stats)
    aug = aug if mild != aug else []  # mild augmentation is not the cause (nor is its fix)
    shift = _split_shift(ctx.stats)
    fix, advice = None, ""
    if shift:
        cause = shift + " (another camera, export or preprocessing for one split)"
        advice = (
            "make both splits come from the same source and preprocessing, or move some of the "
            "validation-like images into training"
        )
    elif bn and 0 < ctx.steps_per_epoch < FEW_BN_STEPS:
        steps = ctx.steps_per_epoch
        cause = (
            f"the batch-norm statistics that score validation were updated only "
            f"{count(steps, 'time')} an epoch ({steps * r.epoch:,} so far, batches of "
            f"{p.train.batch_size}) while the weights moved fast: they describe an earlier "
            "network than the one being scored"
        )
        batch = batch_for_steps(ctx)
        if batch < p.train.batch_size:
            fix = fix_set(**{"train.batch_size": batch})
        else:
            advice = FEW_IMAGES_ADVICE
    elif aug and bn:
        cause = (
            f"batch-norm statistics are gathered on heavily augmented batches (augment = {aug}) "
            "and do not describe the clean validation images"
        )
        fix = fix_set(**{"data.augment": mild})
    elif aug:
        cause = f"augment = {aug} makes training images unlike the validation images"
        fix = fix_set(**{"data.augment": mild})
    elif bn and p.train.batch_size < SMALL_BN_BATCH:
        cause = (
            f"batch-norm statistics from batches of {p.train.batch_size} are too noisy to "
            "describe the validation images"
        )
        batch = min(SMALL_BN_BATCH * 2, batch_for_steps(ctx))
        enough = not ctx.steps_per_epoch or -(-epoch_images(ctx) // batch) >= FEW_BN_STEPS
        if batch > p.train.batch_size and enough:
            fix = fix_set(**{"train.batch_size": batch})
        else:
            advice = FEW_IMAGES_ADVICE
    else:
        return None
    return Finding(
        "train-val-mismatch",
        "error" if near_chance else "warning",
        "Validation images are a different world",
        f"training accuracy reached {r.train_acc:.2f} at epoch {r.epoch} while validation "
        f"accuracy is {r.val_acc:.2f} (chance {chance:.2f}) and validation loss "
        f"{r.val_loss:.3g} against {r.train_loss:.3g} in training (ln {k} = {math.log(k):.3g} "
        f"for an untrained guess). Likely cause: {cause}.",
        fix,
        advice,
        epoch=r.epoch,
    )


def no_signal(ctx: EpochContext) -> Finding | None:
    if len(ctx.rows) < MIN_EPOCHS:
        return None
    chance, sigma = chance_level(ctx)
    best_val = max(ctx.val_acc())
    train = ctx.train_acc()
    if best_val > chance + CHANCE_SIGMAS * sigma or train[-1] - min(train) < TRAIN_RISE:
        return None
    return Finding(
        "no-signal",
        "error",
        "The labels cannot be predicted from the inputs",
        f"validation accuracy peaks at {best_val:.3f}, within {CHANCE_SIGMAS:g} binomial sigmas "
        f"({sigma:.3f}) of the {chance:.3f} a constant guess gets, while training accuracy rose "
        f"from {min(train):.2f} to {train[-1]:.2f}: the network memorizes, nothing generalizes.",
        None,
        "no training setting fixes this: check that labels match their images (a shuffled "
        "label file, a broken data pipeline) and that the inputs carry the information",
        epoch=ctx.rows[-1].epoch,
    )


def lr_too_high(ctx: EpochContext) -> Finding | None:
    d = ctx.divergence
    r = ctx.rows[-1]
    k = len(r.per_class.support)
    stuck = ctx.lr0 > LARGE_LR_FACTOR * ctx.default_lr and len(ctx.rows) >= STUCK_EPOCHS
    stuck = stuck and min(ctx.train_loss()[-STUCK_EPOCHS:]) > 0.9 * math.log(k)  # not a slow 1st
    diverged = d is not None and d["ratio"] > DIVERGENCE_RATIO
    if not (diverged or stuck):
        return None
    evidence = []
    if diverged:
        evidence.append(
            f"the smoothed training loss climbed to {d['ratio']:.1f}× its best at step "
            f"{d['step']} (epoch {d['epoch']})"
        )
    if stuck:
        evidence.append(
            f"training loss is still {r.train_loss:.3g} at epoch {r.epoch} (an untrained "
            f"network's: ln {k} = {math.log(k):.3g}) with lr {ctx.lr0:g}, "
            f"{ctx.lr0 / ctx.default_lr:.0f}× the usual {ctx.default_lr:g} for "
            f"{ctx.preset.train.optimizer.name}"
        )
    return Finding(
        "lr-too-high",
        "warning",
        "The learning rate is too high",
        "; ".join(evidence) + ".",
        fix_set(**{"train.optimizer.lr": lower_lr(ctx)}),
        epoch=d["epoch"] if diverged else r.epoch,
    )


def lr_too_low(ctx: EpochContext) -> Finding | None:
    if len(ctx.rows) < MIN_EPOCHS or ctx.lr0 >= SMALL_LR_FACTOR * ctx.default_lr:
        return None
    r = ctx.rows[-1]
    val = ctx.val_acc()
    gain = max(val) - max(val[: -MIN_EPOCHS + 1] or val[:1])
    losses = ctx.train_loss()
    moved = (losses[0] - losses[-1]) / max(losses[0], 1e-12)
    if r.train_acc >= UNDERFIT_TRAIN_ACC or (gain >= FLAT_GAIN and moved > 0.5):
        return None
    return Finding(
        "lr-too-low",
        "warning",
        "The learning rate is too low",
        f"with lr {ctx.lr0:g} ({ctx.default_lr / ctx.lr0:.0f}× below the usual "
        f"{ctx.default_lr:g} for {ctx.preset.train.optimizer.name}) the training loss fell only "
        f"{moved:.0%} in {count(r.epoch, 'epoch')} (from {losses[0]:.3g} to "
        f"{losses[-1]:.3g}) and training accuracy is {r.train_acc:.2f}.",
        fix_set(**{"train.optimizer.lr": ctx.default_lr}),
        epoch=r.epoch,
    )


def minority_ignored(ctx: EpochContext) -> Finding | None:
    if ctx.preset.data.balance != "none" or len(ctx.rows) < MIN_EPOCHS:
        return None
    counts = ctx.stats["train_counts"]
    largest = max(counts)
    r = ctx.rows[-1]
    recall, support = r.per_class.recall, r.per_class.support
    ignored = [
        c
        for c, n in enumerate(counts)
        if n
        and largest / n >= MINORITY_RATIO
        and support[c]
        and max(row.per_class.recall[c] for row in ctx.rows[-MIN_EPOCHS:]) < MINORITY_RECALL
    ]
    if not ignored:
        return None
    c = ignored[0]
    return imbalance_finding(
        ctx.stats,
        c,
        f"); recall {recall[c]:.2f} at epoch {r.epoch} — the model never predicts it.",
        epoch=r.epoch,
    )
