"""Rules read from the sampled network probes: dead ReLU units, gradients that vanish or explode
toward the first layers, and two starts that cannot learn, read from the probe of the untrained
network (probe 0): an output that ignores its input, and gradients that explode."""

from __future__ import annotations

import math

from engine.doctor.epoch_rules import (
    LARGE_LR_FACTOR,
    STUCK_EPOCHS,
    STUCK_LOSS,
    EpochContext,
    lower_lr,
)
from engine.doctor.finding import Finding, fix_set
from engine.wording import count

DEAD_FRACTION = 0.7  # a ReLU layer with this share of units never positive
VANISHING_RATIO = 1e-3  # first/last layer gradient-norm ratio below this …
EXPLODING_RATIO = 70.0  # … or above this
SHALLOW_DEPTH = 4  # the depth a vanishing-gradient fix goes back to
SIGNAL_SPREAD = 0.01  # … with initial logits that differ across images by less than this


def vanishing_signal(ctx: EpochContext) -> Finding | None:
    """A dead start: the loss stays at ln k because the untrained network's output barely
    depends on its input (a deep plain network whose activations shrink layer by layer), so the
    gradients carry almost nothing about the images."""
    init = ctx.probes.get(0)
    if init is None or "spread" not in init or len(ctx.rows) < STUCK_EPOCHS:
        return None
    k = len(ctx.rows[-1].per_class.support)
    stuck = all(loss >= STUCK_LOSS * math.log(k) for loss in ctx.train_loss())
    if not stuck or init["spread"] >= SIGNAL_SPREAD or ctx.lr0 > LARGE_LR_FACTOR * ctx.default_lr:
        return None
    m = ctx.preset.model
    shrink = ""
    if len(init.get("signal", {})) == 2:
        (first, a), (last, b) = init["signal"].items()
        shrink = (
            f"; the activations shrink {a / max(b, 1e-30):.0f}× from the first ReLU ('{first}', "
            f"std {a:.2g}) to the last ('{last}', std {b:.2g})"
        )
    fix = None if m.batch_norm else fix_set(**{"model.batch_norm": True})
    return Finding(
        "vanishing-signal",
        "error",
        "The network's output ignores its input",
        f"training loss has stayed at {ctx.train_loss()[-1]:.4g} ≈ ln {k} = {math.log(k):.4g} "
        f"(an untrained guess) for {count(len(ctx.rows), 'epoch')}: at initialization the "
        f"{m.arch}'s outputs differ across a probe batch of {init['batch']} images by only "
        f"{init['spread']:.2g} (standard deviation of the logits; a start that learns shows "
        f"≥ {SIGNAL_SPREAD:g}){shrink}. The signal fades before the output, so the gradients "
        "say almost nothing about the images and no step moves the loss.",
        fix,
        "" if fix else "use an architecture with batch norm or skip connections (resnet18)",
        epoch=1,
    )


def probe_rules(ctx: EpochContext) -> list[Finding]:
    """Dead units and vanishing/exploding gradients from the latest sampled probe (probe 0, the
    untrained network's, is read by :func:`vanishing_signal` and :func:`exploding_start`)."""
    epochs = [e for e in ctx.probes if e > 0]
    if not epochs:
        return []
    epoch = max(epochs)
    p = ctx.probes[epoch]
    found = []
    bn = ctx.preset.model.batch_norm
    dead = {name: frac for name, frac in p["dead"].items() if frac >= DEAD_FRACTION}
    if dead:
        name, frac = max(dead.items(), key=lambda kv: kv[1])
        fix = (
            fix_set(**{"model.batch_norm": True})
            if not bn
            else fix_set(**{"train.optimizer.lr": lower_lr(ctx)})
        )
        found.append(
            Finding(
                "dead-units",
                "warning",
                "Many ReLU units are dead",
                f"{frac:.0%} of the units after layer '{name}' never output a positive value on a "
                f"probe batch of {p['batch']} training images at epoch {epoch} "
                f"({count(len(dead), 'layer')} ≥ {DEAD_FRACTION:.0%}); dead units stop learning.",
                fix,
                epoch=epoch,
            )
        )
    ratio = p["grad_ratio"]
    first, last = p["first_layer"], p["last_layer"]
    if ratio < VANISHING_RATIO:
        m = ctx.preset.model
        changes = {} if bn else {"model.batch_norm": True}
        if m.arch in ("mlp", "convnet") and m.depth > SHALLOW_DEPTH:
            changes["model.depth"] = SHALLOW_DEPTH
        fix = fix_set(**changes) if changes else None
        found.append(
            Finding(
                "vanishing-gradients",
                "warning",
                "Gradients vanish before the first layers",
                f"gradient norm of '{first}' is {ratio:.1e} × that of '{last}' at epoch "
                f"{epoch}: the early layers barely learn.",
                fix,
                "use fewer layers or an architecture with skip connections (resnet18)"
                if fix is None
                else "",
                epoch=epoch,
            )
        )
    elif ratio > EXPLODING_RATIO and not _stuck_after_exploding_start(ctx):
        changes = {"train.grad_clip": 1.0}
        if not bn:
            changes["model.batch_norm"] = True
        found.append(
            Finding(
                "exploding-gradients",
                "warning",
                "Gradients explode toward the first layers",
                f"gradient norm of '{first}' is {ratio:.0f}× that of '{last}' at epoch {epoch}.",
                fix_set(**changes),
                epoch=epoch,
            )
        )
    return found


def _stuck_after_exploding_start(ctx: EpochContext) -> bool:
    init = ctx.probes.get(0, {})
    if init.get("grad_ratio", 0.0) <= EXPLODING_RATIO or len(ctx.rows) < STUCK_EPOCHS:
        return False
    k = len(ctx.rows[-1].per_class.support)
    return ctx.train_loss()[-1] >= STUCK_LOSS * math.log(k)


def exploding_start(ctx: EpochContext) -> Finding | None:
    """A start that cannot learn because its gradients explode toward the input: the untrained
    network's first-layer gradient is many times its last layer's, and the training loss is
    still at ln k. Deep stacks with batch norm and no skip connections do this at any learning
    rate (the gradient grows ~1.2× per layer at initialization: Yang et al., "A Mean Field
    Theory of Batch Normalization", 2019), so the fix is fewer layers."""
    if not _stuck_after_exploding_start(ctx):
        return None
    init, m = ctx.probes[0], ctx.preset.model
    k = len(ctx.rows[-1].per_class.support)
    deep = m.arch in ("mlp", "convnet") and m.depth > SHALLOW_DEPTH
    fix = fix_set(**({"model.depth": SHALLOW_DEPTH} if deep else {"train.grad_clip": 1.0}))
    why = (
        f"a {m.depth}-layer {m.arch} with batch norm and no skip connections multiplies the "
        "gradient by about 1.2 at each layer on its way back to the input"
        if m.batch_norm and deep
        else f"the {m.arch}'s gradient grows on its way back to the input"
    )
    return Finding(
        "exploding-gradients",
        "warning",
        "Gradients explode toward the first layers from the start",
        f"at initialization the gradient norm of '{init['first_layer']}' was "
        f"{init['grad_ratio']:.0f}× that of '{init['last_layer']}' (a trainable start shows "
        f"below {EXPLODING_RATIO:.0f}×): {why}. Training loss is still "
        f"{ctx.train_loss()[-1]:.4g} ≈ ln {k} = {math.log(k):.4g} after "
        f"{count(len(ctx.rows), 'epoch')}.",
        fix,
        epoch=1,
    )
