"""Single rules on hand-made inputs, the LR finder's suggestion rules, and the doctor's plumbing."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from engine.doctor import Doctor, diagnose_run
from engine.doctor import capacity_rules as capacity
from engine.doctor import epoch_rules as er
from engine.doctor import network_rules as nr
from engine.doctor import preflight as pf
from engine.doctor.finding import Finding, merge, ordered
from engine.doctor.lr_finder import find_lr, steepest, valley
from engine.events import Diagnosis, EpochMetrics, PerClassMetrics
from engine.preset import Preset
from engine.runs import RunFiles
from engine.trainer import Trainer
from tests.conftest import tiny_preset


def _row(epoch, train_acc, val_acc, train_loss=1.0, val_loss=1.0, k=10, n=50):
    per_class = PerClassMetrics((val_acc,) * k, (val_acc,) * k, (val_acc,) * k, (n,) * k)
    confusion = tuple(tuple(n if i == j else 0 for j in range(k)) for i in range(k))
    return EpochMetrics(
        epoch, train_loss, train_acc, val_loss, val_acc, 1e-3, 1.0, 1.0, 1.0, per_class, confusion
    )


STATS = {
    "train_counts": [100] * 10,
    "classes": [str(i) for i in range(10)],
    "image_shape": [1, 8, 8],
}


def test_exploding_gradients_from_probe():
    ctx = er.EpochContext(
        Preset().with_changes({"model.batch_norm": False}),
        STATS,
        [_row(1, 0.5, 0.5)],
        probes={
            1: {
                "dead": {},
                "grad_ratio": 250.0,
                "first_layer": "0.weight",
                "last_layer": "9.weight",
                "batch": 128,
            }
        },
    )
    (finding,) = nr.probe_rules(ctx)
    assert finding.id == "exploding-gradients" and "250×" in finding.evidence
    assert finding.fix == {"set": {"train.grad_clip": 1.0, "model.batch_norm": True}}


def test_a_high_rate_is_named_when_the_loss_stays_at_ln_k_not_after_one_slow_epoch():
    """SGD at 0.5 (50x its usual rate) on synthetic data: 2.11 after epoch 1, then 0.08 and
    validation accuracy 1.00 -- a run a person would call perfect was told its rate was too
    high. Two epochs at ln k are a rate that does not train; one is a slow start."""
    p = Preset().with_changes({"train.optimizer.name": "sgd", "train.optimizer.lr": 0.5})
    first = _row(1, 0.49, 0.71, train_loss=2.11)
    learned = [first, _row(2, 0.99, 0.92, train_loss=0.08)]
    assert er.lr_too_high(er.EpochContext(p, STATS, [first])) is None
    assert er.lr_too_high(er.EpochContext(p, STATS, learned)) is None
    stuck = [first, _row(2, 0.11, 0.1, train_loss=2.2)]
    f = er.lr_too_high(er.EpochContext(p, STATS, stuck))
    assert f.id == "lr-too-high" and "50×" in f.evidence
    assert f.fix == {"set": {"train.optimizer.lr": 0.05}}
    # The usual rate stuck at ln k is not the rate's fault.
    usual = Preset().with_changes({"train.optimizer.name": "sgd", "train.optimizer.lr": 0.01})
    assert er.lr_too_high(er.EpochContext(usual, STATS, stuck)) is None


def test_vanishing_and_dead_units_from_probe():
    probe = {
        "dead": {"3": 0.9, "5": 0.2},
        "grad_ratio": 1e-5,
        "first_layer": "1.weight",
        "last_layer": "40.weight",
        "batch": 128,
    }
    p = Preset().with_changes({"model.arch": "mlp", "model.depth": 12, "model.batch_norm": False})
    ids = {f.id for f in nr.probe_rules(er.EpochContext(p, STATS, [_row(1, 0.5, 0.5)], {1: probe}))}
    assert ids == {"dead-units", "vanishing-gradients"}


def test_no_signal_needs_rising_training_accuracy():
    flat = [_row(e, 0.1, 0.1) for e in range(1, 6)]
    assert er.no_signal(er.EpochContext(Preset(), STATS, flat)) is None
    rising = [_row(e, 0.1 + 0.2 * e, 0.11) for e in range(1, 6)]
    finding = er.no_signal(er.EpochContext(Preset(), STATS, rising))
    assert finding.id == "no-signal" and finding.fix is None and finding.severity == "error"


def test_underfitting_is_not_called_when_validation_is_fitted_better_than_training():
    small = [_row(e, 0.6, 0.58) for e in range(1, 6)]  # neither split fitted: too small
    found = capacity.underfitting(er.EpochContext(Preset(), STATS, small), set())
    assert found.id == "underfitting"
    # a fifth of the training labels wrong: training accuracy stays ~0.8, validation is 0.98
    noisy = [_row(e, 0.78, 0.98) for e in range(1, 6)]
    assert capacity.underfitting(er.EpochContext(Preset(), STATS, noisy), set()) is None


def test_overfitting_needs_a_gap_and_rising_validation_loss():
    rows = [
        _row(1, 0.8, 0.75, val_loss=0.8),
        _row(2, 0.95, 0.8, val_loss=0.7),
        _row(3, 1.0, 0.8, val_loss=0.9),
    ]
    assert er.overfitting(er.EpochContext(Preset(), STATS, rows)).epoch == 2
    rows[-1] = dataclasses.replace(rows[-1], val_loss=0.6)
    assert er.overfitting(er.EpochContext(Preset(), STATS, rows)) is None


def test_a_diverging_run_is_not_called_overfitting():
    """A rate too high: the training loss rises with the validation loss, and training accuracy
    is too low for anything to be overfitted (seen: 0.30 train, 0.20 val, 10 classes)."""
    rows = [
        _row(1, 0.09, 0.2, train_loss=2.3, val_loss=2.2),
        _row(2, 0.3, 0.3, train_loss=2.0, val_loss=1.9),
        _row(3, 0.3, 0.2, train_loss=2.6, val_loss=2.9),
    ]
    assert er.overfitting(er.EpochContext(Preset(), STATS, rows)) is None
    rows[-1] = dataclasses.replace(rows[-1], train_loss=2.16)  # still falling, barely: ln 10 = 2.3
    assert er.overfitting(er.EpochContext(Preset(), STATS, rows)) is None
    fitted = [
        dataclasses.replace(r, train_loss=x) for r, x in zip(rows, (1.2, 0.8, 0.5), strict=True)
    ]
    fitted[-1] = dataclasses.replace(fitted[-1], train_acc=0.4)
    assert er.overfitting(er.EpochContext(Preset(), STATS, fitted)).epoch == 2


def test_findings_merge_and_order():
    a = Finding("overfitting", "warning", "t", "old", epoch=3)
    b = Finding("overfitting", "warning", "t", "new", epoch=7)
    c = Finding("no-signal", "error", "t", "e", epoch=9)
    merged = merge(merge({}, [a]), [b, c])
    assert merged["overfitting"].evidence == "new" and merged["overfitting"].epoch == 3
    assert [f.id for f in ordered(merged.values())] == ["no-signal", "overfitting"]


def test_valley_and_steepest():
    losses = [2.3, 2.3, 2.2, 1.8, 1.2, 0.8, 0.6, 0.55, 0.9, 3.0]
    lrs = [10 ** (-6 + i * 0.6) for i in range(len(losses))]
    assert 3 <= valley(losses) <= 6
    assert steepest(lrs, losses) in (3, 4)


def test_lr_finder_suggestion_stays_on_the_falling_side():
    """A curve that dips again after its spike (the article-2 shape): the suggestion lies below
    the rate of the lowest loss, never on the rising side."""
    import numpy as np

    from engine.doctor.lr_finder import suggest

    lrs = list(np.geomspace(1e-7, 10, 60))
    losses = [2.3 - 0.5 * np.exp(-((np.log10(lr) + 2.5) ** 2)) for lr in lrs[:45]]
    losses += [2.6 - 0.02 * i for i in range(15)]  # a spike, then a long slow fall past it
    result = suggest(lrs, losses, "adam")
    lowest = lrs[int(np.argmin(losses[6:-5])) + 6]
    assert result.suggestion < lowest and result.steepest <= lowest
    assert result.warning == ""
    assert "usual 0.01 for sgd" in suggest([x * 1e5 for x in lrs], losses, "sgd").warning


def test_lr_finder_on_the_article_preset_suggests_below_its_loss_minimum():
    from engine import preset as presets

    p = presets.load(presets.presets_dir() / "article-2-steplr.toml")
    result = find_lr(p)
    lo, hi = len(result.losses) // 10, len(result.losses) - 5
    window = result.losses[lo:hi]
    lowest = result.lrs[lo + window.index(min(window))]
    assert result.suggestion < lowest and result.suggestion < 0.1
    assert "hardly fell" in result.warning  # a weak-signal sweep says so


def test_lr_finder_suggests_a_sane_rate_for_digits():
    result = find_lr(Preset().with_changes({"train.device": "cpu"}))
    assert 1e-5 < result.suggestion < 0.1
    assert len(result.lrs) <= 100 and result.lrs[0] == pytest.approx(1e-7)
    assert all(math.isfinite(v) for v in result.losses)
    best = min(result.losses)
    assert result.losses[-1] > best  # stopped once the loss ran away (or reached 10)


def test_doctor_events_files_and_rediagnosis(runs_dir):
    seen = []
    p = tiny_preset(**{"train.optimizer.lr": 3e-7, "train.epochs": 4})
    summary = Trainer(p, out=runs_dir).fit(seen.append)
    diagnoses = [e for e in seen if isinstance(e, Diagnosis)]
    # pre-flight (nothing), then lr-too-low at epoch 3 and its newer evidence at epoch 4
    assert len(diagnoses) == 3
    files = RunFiles(summary.run_dir)
    written = files.read_diagnosis()
    assert [f["id"] for f in written] == ["lr-too-low"]
    assert list(diagnoses[-1].findings) == written
    assert [f.to_dict() for f in diagnose_run(summary.run_dir)] == written
    json.loads((files.path / "doctor.json").read_text())


def test_doctor_state_survives_resume(runs_dir):
    from engine import events as ev
    from engine.control import RunControl

    p = tiny_preset(**{"train.optimizer.lr": 3e-7, "train.epochs": 5})
    full = Trainer(p, out=runs_dir / "a").fit()
    control = RunControl()
    stopped = Trainer(p, out=runs_dir / "b", control=control).fit(
        lambda e: control.stop() if isinstance(e, ev.EpochEnd) and e.epoch == 2 else None
    )
    resumed = Trainer(p, resume_dir=stopped.run_dir).fit()
    assert RunFiles(resumed.run_dir).read_diagnosis() == RunFiles(full.run_dir).read_diagnosis()


def test_monitoring_budget():
    from engine.doctor.probe import probe_every

    assert probe_every(23) == 7  # digits: a probe (~1.5 steps) per 161 training steps
    assert probe_every(400) == 1 and probe_every(100) == 2
    doctor = Doctor(Preset(), {**STATS, "raw": {}}, {}, 23)
    assert doctor.findings() == []


def test_from_scratch_on_a_few_photos_per_class_suggests_pretrained_weights():
    photos = Preset().with_changes(
        {"data.source": "folder", "data.root": "/photos", "model.arch": "convnet"}
    )
    stats = {
        "train_counts": [300, 280, 310],
        "classes": ["a", "b", "c"],
        "image_shape": [3, 64, 64],
    }
    rows = [_row(e, 0.95, 0.55, k=3) for e in (1, 2, 3)]
    ctx = er.EpochContext(photos, stats, rows)
    finding = capacity.from_scratch_small_data(ctx, {"overfitting"})
    assert (
        finding.id == "from-scratch-small-data"
        and "297 training images per class" in finding.evidence
    )
    assert finding.fix["set"] == {
        "model.arch": "resnet18",
        "model.pretrained": True,
        "data.image_size": 224,
        "data.normalize": "pretrained",
    }
    assert photos.with_changes(finding.fix["set"]) != photos  # the fix changes the preset
    assert capacity.from_scratch_small_data(ctx, set()) is None  # no symptom yet
    pretrained = photos.with_changes({"model.arch": "resnet18", "model.pretrained": True})
    assert (
        capacity.from_scratch_small_data(er.EpochContext(pretrained, stats, rows), {"overfitting"})
        is None
    )
    digits = Preset()  # not photos: ImageNet weights are no cure for 8×8 digits
    ctx = er.EpochContext(digits, stats, rows)
    assert capacity.from_scratch_small_data(ctx, {"overfitting"}) is None


def test_pretrained_weights_with_their_own_normalization_are_not_unnormalized():
    from engine.doctor import preflight as pf

    p = Preset().with_changes({"model.arch": "resnet18", "model.pretrained": True})
    stats = {"raw": {"mean": [120.0] * 3, "std": [60.0] * 3, "min": [0.0] * 3, "max": [255.0] * 3}}
    imagenet = {
        "mode": "pretrained",
        "scale": [1 / (255 * 0.226)] * 3,
        "shift": [-0.449 / 0.226] * 3,
    }
    assert (
        pf.unnormalized_input(p.with_changes({"data.normalize": "pretrained"}), stats, imagenet)
        is None
    )
    finding = pf.pretrained_normalization(p, {"mode": "standardize"})
    assert finding.fix == {"set": {"data.normalize": "pretrained"}}
    assert pf.pretrained_normalization(p, imagenet) is None
    raw = {"mode": "none", "scale": [1.0] * 3, "shift": [0.0] * 3}
    unscaled = pf.unnormalized_input(Preset(), stats, raw)
    for c in range(3):  # each channel of a colour photo, not the first two
        assert f"channel {c} mean 120 (|mean| > 0.2), std 60" in unscaled.evidence


def test_train_val_mismatch_names_the_cause():
    collapse = [
        _row(1, 0.3, 0.10, train_loss=2.0, val_loss=9.0),
        _row(2, 0.6, 0.09, train_loss=1.2, val_loss=17.0),
        _row(3, 0.8, 0.11, train_loss=0.6, val_loss=24.0),
    ]

    def finding(preset, stats=STATS, rows=collapse):
        return er.train_val_mismatch(er.EpochContext(preset, stats, rows))

    heavy = Preset().with_changes({"data.augment": ["rotate:90", "jitter:0.8", "crop:3"]})
    f = finding(heavy)
    assert f.id == "train-val-mismatch" and f.severity == "error"
    assert "batch-norm statistics" in f.evidence and "24" in f.evidence
    assert f.fix == {"set": {"data.augment": []}}  # crop:3 is over a quarter of 8 pixels
    f = finding(heavy.with_changes({"model.batch_norm": False}))
    assert "makes training images unlike" in f.evidence and f.fix["set"]["data.augment"] == []
    small = finding(Preset().with_changes({"train.batch_size": 4}))
    assert small.fix == {"set": {"train.batch_size": 32}}
    shifted = {**STATS, "raw": {"mean": [4.9], "std": [6.0]}}
    shifted["raw_val"] = {"mean": [11.1], "std": [6.1]}
    f = finding(heavy, shifted)
    assert "before any augmentation: channel 0 mean 11.1 vs 4.9" in f.evidence
    assert f.fix is None and f.advice
    # No cause to name: labels that cannot be learned are the likelier reading (no-signal).
    assert finding(Preset()) is None
    # Mild augmentation (the shipped folder and CIFAR presets') is not a cause, nor one odd
    # epoch; on 8-pixel digits crop:4 is half the image, and a cause.
    shipped = Preset().with_changes({"data.augment": ["hflip", "crop:4"]})
    assert finding(shipped, {**STATS, "image_shape": [3, 224, 224]}) is None
    assert finding(shipped, {**STATS, "image_shape": [3, 32, 32]}) is None
    assert finding(shipped).fix == {"set": {"data.augment": ["hflip"]}}
    odd = [*collapse[:2], dataclasses.replace(collapse[2], val_acc=0.7, val_loss=0.9)]
    assert finding(heavy, rows=[*odd, collapse[2]]) is None
    assert finding(heavy, rows=collapse[:2]) is None  # not before 3 epochs
    # Validation that learns too is not a mismatch.
    healthy = [dataclasses.replace(r, val_acc=r.train_acc - 0.05, val_loss=0.8) for r in collapse]
    assert finding(heavy, rows=healthy) is None
    # The doctor reports the mismatch, not no-signal, when both readings fit.
    doctor = Doctor(heavy, STATS, {}, 10)
    ids = {f.id for f in doctor.after_epoch(collapse)}
    assert "train-val-mismatch" in ids and "no-signal" not in ids


def test_batch_norm_updated_a_few_times_an_epoch_is_named_with_a_smaller_batch():
    """resnet18 from scratch on 96 photos in batches of 64 (the proving suite's
    few-bn-updates-photos): training accuracy 0.29 → 0.99 while validation stays at chance with
    a loss of 11–100, because batch norm's running statistics were updated twice an epoch. It
    had been told "overfitting" (and, with a stronger rate, "no-signal", which stayed after
    validation recovered to 0.96)."""
    stats = {"train_counts": [32] * 3, "classes": ["a", "b", "c"], "image_shape": [3, 96, 96]}
    rows = [
        _row(1, 0.29, 0.33, 1.78, 11.1, k=3, n=8),
        _row(2, 0.41, 0.33, 2.03, 39.2, k=3, n=8),
        _row(3, 0.84, 0.33, 0.46, 100.3, k=3, n=8),
        _row(4, 0.88, 0.67, 0.32, 56.7, k=3, n=8),  # off chance, but a loss in the tens
    ]
    p = Preset().with_changes({"model.arch": "resnet18", "data.image_size": 96})
    f = er.train_val_mismatch(er.EpochContext(p, stats, rows[:3], steps_per_epoch=2))
    assert f.id == "train-val-mismatch" and f.severity == "error"
    assert "updated only 2 times an epoch (6 so far, batches of 64)" in f.evidence
    assert f.fix == {"set": {"train.batch_size": 8}}  # 12 steps over the same 96 images
    wild = er.train_val_mismatch(er.EpochContext(p, stats, rows, steps_per_epoch=2))
    assert wild.severity == "warning" and "56.7" in wild.evidence
    # Ten steps an epoch or more: not this cause (and nothing else here names one).
    assert er.train_val_mismatch(er.EpochContext(p, stats, rows, steps_per_epoch=12)) is None
    # Already at the smallest batch: say so instead of a no-op fix.
    tiny = p.with_changes({"train.batch_size": 8})
    f = er.train_val_mismatch(er.EpochContext(tiny, stats, rows, steps_per_epoch=4))
    assert f.fix is None and "pretrained" in f.advice
    # The small-batch cause's fix keeps ten steps an epoch (240 images: 16, not 32).
    f = er.train_val_mismatch(er.EpochContext(tiny, stats, rows, steps_per_epoch=30))
    assert f.fix == {"set": {"train.batch_size": 16}} and "too noisy" in f.evidence

    doctor = Doctor(p, stats, {}, 2)
    for i in range(1, 5):
        ids = {f.id for f in doctor.after_epoch(rows[:i])}
    assert "train-val-mismatch" in ids and "overfitting" not in ids and "no-signal" not in ids
    # Validation recovering part way keeps the finding (it is what held the run back) …
    ids = {f.id for f in doctor.after_epoch([*rows, _row(5, 0.99, 0.79, 0.1, 1.4, k=3, n=8)])}
    assert "train-val-mismatch" in ids
    # … validation that caught up with training retires it.
    caught_up = [*rows, _row(5, 0.99, 0.79, 0.1, 1.4, k=3, n=8), _row(6, 1.0, 0.96, 0.05, 0.1, k=3)]
    assert "train-val-mismatch" not in {f.id for f in doctor.after_epoch(caught_up)}


def test_a_wild_validation_loss_is_a_mismatch_only_when_it_was_never_good():
    """A binary task that overfits hard (val loss 0.5 → 4.0, above 5 ln 2 = 3.47, at val
    accuracy 0.81) with a nameable cause (batch norm on batches of 8) is overfitting, not a
    mismatch: its validation loss had an early best (a review found it relabelled)."""
    stats = {"train_counts": [400, 400], "classes": ["a", "b"], "image_shape": [3, 32, 32]}
    p = Preset().with_changes({"train.batch_size": 8})
    losses = [0.5, 2.0, 3.6, 4.0]
    rows = [_row(i + 1, 1.0, 0.81, 0.01, v, k=2, n=100) for i, v in enumerate(losses)]
    ctx = er.EpochContext(p, stats, rows, steps_per_epoch=100)
    assert er.train_val_mismatch(ctx) is None
    doctor = Doctor(p, stats, {}, 100)
    for i in range(1, 5):
        ids = {f.id for f in doctor.after_epoch(rows[:i])}
    assert "overfitting" in ids and "train-val-mismatch" not in ids


def test_the_batch_fixes_keep_ten_steps_an_epoch_or_say_why_not():
    """66 images in batches of 64 (2 steps): batch 8 gives 9 steps — the most a batch of 8 or
    more can; the count is taken as at least (steps − 1) × batch + 1 images, not steps × batch
    (130 images at 128: 8, not 16, which would give 9 steps). Batch norm on batches of 4 over 40
    images: 32 would leave 2 steps, 8 would leave 5 — advice, not a fix the rerun undoes."""
    stats = {"train_counts": [22] * 3, "classes": ["a", "b", "c"], "image_shape": [3, 96, 96]}
    rows = [_row(i, 0.3 + 0.2 * i, 0.33, 1.0, 20.0 * i, k=3, n=8) for i in range(1, 4)]

    def fix(batch, steps):
        p = Preset().with_changes({"model.arch": "resnet18", "train.batch_size": batch})
        return er.train_val_mismatch(er.EpochContext(p, stats, rows, steps_per_epoch=steps))

    assert fix(64, 2).fix == {"set": {"train.batch_size": 8}}
    assert fix(128, 2).fix == {"set": {"train.batch_size": 8}}
    assert fix(32, 1000) is None  # enough steps, batches of 32: no cause to name …
    small = fix(4, 10)  # … 40 images in batches of 4: too noisy, and too few for 8
    assert small.fix is None and "too noisy" in small.evidence and small.advice


def test_a_listed_mismatch_keeps_overfitting_and_no_signal_away():
    stats = {"train_counts": [32] * 3, "classes": ["a", "b", "c"], "image_shape": [3, 96, 96]}
    p = Preset().with_changes({"model.arch": "resnet18", "data.image_size": 96})
    rows = [
        _row(1, 0.29, 0.33, 1.78, 11.1, k=3, n=8),
        _row(2, 0.41, 0.33, 2.03, 39.2, k=3, n=8),
        _row(3, 0.84, 0.33, 0.46, 100.3, k=3, n=8),
        _row(4, 0.99, 0.75, 0.1, 2.0, k=3, n=8),  # recovering: the mismatch is not raised now
        _row(5, 0.99, 0.80, 0.1, 2.0, k=3, n=8),  # … but still listed (0.19 behind training)
    ]
    doctor = Doctor(p, stats, {}, 2)
    for i in range(1, 6):
        ids = {f.id for f in doctor.after_epoch(rows[:i])}
    assert "train-val-mismatch" in ids and not ids & {"overfitting", "no-signal"}


def test_overfitting_seen_in_one_odd_epoch_is_withdrawn_when_validation_catches_up():
    """resnet18 on 96 photos in batches of 8: validation dipped to 0.54 at epoch 4 (training
    0.75), then 0.92 above training's 0.86 — and the finished run still said "overfitting" and
    "too few images to train from scratch, and the run is overfitting"."""
    stats = {"train_counts": [32] * 3, "classes": ["a", "b", "c"], "image_shape": [3, 96, 96]}
    p = Preset().with_changes(
        {"data.source": "folder", "data.root": "/photos", "model.arch": "resnet18"}
    )
    rows = [
        _row(1, 0.51, 0.33, 1.38, 2.0, k=3, n=8),
        _row(2, 0.58, 0.42, 0.95, 1.5, k=3, n=8),
        _row(3, 0.77, 0.88, 0.85, 1.0, k=3, n=8),
        _row(4, 0.75, 0.54, 0.79, 1.8, k=3, n=8),
    ]
    doctor = Doctor(p, stats, {}, 12)
    for i in range(1, 5):
        ids = {f.id for f in doctor.after_epoch(rows[:i])}
    assert {"overfitting", "from-scratch-small-data"} <= ids
    rows += [_row(5, 0.82, 0.92, 0.44, 0.3, k=3, n=8), _row(6, 0.86, 0.92, 0.39, 0.3, k=3, n=8)]
    for i in (5, 6):
        ids = {f.id for f in doctor.after_epoch(rows[:i])}
    assert not ids & {"overfitting", "from-scratch-small-data"}
    # A gap that stays keeps it.
    doctor = Doctor(p, stats, {}, 12)
    kept = [*rows[:4], _row(5, 0.9, 0.6, 0.3, 1.9, k=3, n=8)]
    for i in range(1, 6):
        ids = {f.id for f in doctor.after_epoch(kept[:i])}
    assert "overfitting" in ids


def test_no_signal_is_retired_when_validation_rises_above_chance():
    stuck = [_row(i, 0.2 + 0.2 * i, 0.1, val_loss=2.3) for i in range(1, 4)]
    doctor = Doctor(Preset(), STATS, {}, 10)
    assert "no-signal" in {f.id for f in doctor.after_epoch(stuck)}
    recovered = [*stuck, _row(4, 0.95, 0.9, val_loss=0.3)]
    assert "no-signal" not in {f.id for f in doctor.after_epoch(recovered)}


def test_a_dead_start_is_named_after_two_epochs_at_ln_k():
    stuck = [_row(1, 0.1, 0.1, train_loss=2.3035), _row(2, 0.1, 0.1, train_loss=2.3027)]
    init = {"batch": 64, "loss": 2.303, "spread": 2e-4, "signal": {"2": 0.1, "26": 6e-4}}
    p = Preset().with_changes({"model.arch": "vgg11", "model.batch_norm": False})
    f = nr.vanishing_signal(er.EpochContext(p, STATS, stuck, {0: init}))
    assert f.id == "vanishing-signal" and "167×" in f.evidence and "0.0002" in f.evidence
    assert f.fix == {"set": {"model.batch_norm": True}}
    moving = [stuck[0], dataclasses.replace(stuck[1], train_loss=1.5)]
    assert nr.vanishing_signal(er.EpochContext(p, STATS, moving, {0: init})) is None
    lively = {**init, "spread": 0.3}
    assert nr.vanishing_signal(er.EpochContext(p, STATS, stuck, {0: lively})) is None
    # The probe at initialization is read by its own rules, not by the sampled-probe rules.
    assert nr.probe_rules(er.EpochContext(p, STATS, stuck, {0: init})) == []


def test_a_start_whose_gradients_explode_is_named_with_fewer_layers_as_the_fix():
    stuck = [_row(1, 0.11, 0.1, train_loss=2.356), _row(2, 0.11, 0.12, train_loss=2.332)]
    init = {
        **{"batch": 64, "loss": 2.37, "spread": 0.38, "dead": {}},
        **{"first_layer": "1.weight", "last_layer": "129.weight", "grad_ratio": 261.0},
    }
    p = Preset().with_changes({"model.arch": "mlp", "model.depth": 32, "model.width": 64})
    f = nr.exploding_start(er.EpochContext(p, STATS, stuck, {0: init}))
    assert f.id == "exploding-gradients" and "261×" in f.evidence and "32-layer" in f.evidence
    assert f.fix == {"set": {"model.depth": nr.SHALLOW_DEPTH}}
    # A network that learns despite the start, a calm start, or one epoch only: no finding.
    moving = [stuck[0], dataclasses.replace(stuck[1], train_loss=1.2)]
    assert nr.exploding_start(er.EpochContext(p, STATS, moving, {0: init})) is None
    calm = {**init, "grad_ratio": 12.0}
    assert nr.exploding_start(er.EpochContext(p, STATS, stuck, {0: calm})) is None
    assert nr.exploding_start(er.EpochContext(p, STATS, stuck[:1], {0: init})) is None
    # A later probe that still explodes is not reported twice under one id.
    later = {**init, "grad_ratio": 90.0}
    assert nr.probe_rules(er.EpochContext(p, STATS, stuck, {0: init, 2: later})) == []
    # A shallow network is told to clip its gradients instead.
    resnet = Preset().with_changes({"model.arch": "resnet18"})
    f = nr.exploding_start(er.EpochContext(resnet, STATS, stuck, {0: init}))
    assert f.fix == {"set": {"train.grad_clip": 1.0}}


def test_the_start_probe_reads_the_gradients_of_the_untrained_network_on_a_copy():
    import torch
    from torch import nn

    from engine.doctor.probe import probe
    from engine.models import build_model

    x, y = torch.randn(64, 1, 8, 8), torch.randint(0, 10, (64,))
    ratios = {}
    for depth in (2, 32):
        torch.manual_seed(0)
        p = Preset().with_changes({"model.arch": "mlp", "model.depth": depth, "model.width": 64})
        model = build_model(p.model, (1, 8, 8), 10)
        before = {k: v.clone() for k, v in model.state_dict().items()}
        start = probe(model, nn.CrossEntropyLoss(), x, y, start=True)
        assert start["spread"] > 0 and len(start["signal"]) == 2 and start["batch"] == 64
        assert start["first_layer"] == "1.weight"
        ratios[depth] = start["grad_ratio"]
        for k, v in model.state_dict().items():  # weights and batch-norm statistics untouched
            assert torch.equal(v, before[k]), k
        assert all(q.grad is None for q in model.parameters())
    # Batch norm without skip connections: the gradient grows ~1.2x per layer toward the input.
    assert ratios[2] < nr.EXPLODING_RATIO < ratios[32]


def test_a_probe_read_from_the_training_step_equals_the_probe_on_a_copy_and_changes_nothing():
    import torch
    from torch import nn

    from engine.doctor.probe import StepProbe, probe

    def net():
        torch.manual_seed(0)
        return nn.Sequential(
            nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(),
            nn.Linear(32, 10),
        )  # fmt: skip

    x, y = torch.randn(48, 1, 8, 8), torch.randint(0, 10, (48,))
    loss_fn = nn.CrossEntropyLoss()
    on_copy = probe(net(), loss_fn, x, y)

    watched, plain = net(), net()
    step_probe = StepProbe(watched)
    for model, watch in ((watched, step_probe), (plain, None)):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        if watch:
            watch.arm()
        loss = loss_fn(model(x), y)
        loss.backward()
        if watch:
            watch.read(loss, len(y))
        optimizer.step()
    taken = step_probe.result()
    assert taken["dead"] == on_copy["dead"] and taken["batch"] == 48
    assert taken["first_layer"] == "1.weight" and taken["last_layer"] == "5.weight"
    assert taken["grad_ratio"] == pytest.approx(on_copy["grad_ratio"], rel=1e-6)
    assert taken["loss"] == pytest.approx(on_copy["loss"], rel=1e-6)
    for a, b in zip(watched.parameters(), plain.parameters(), strict=True):
        assert torch.equal(a, b)  # watching the step left its update as it was
    assert not any(m._forward_hooks for m in watched.modules())  # and took its hooks away
    assert step_probe.result() is None  # a probe is read once


def test_sampled_epochs_are_probed_from_their_own_steps(runs_dir, monkeypatch):
    """A run's probes come from its training steps (no extra pass) on the epochs the budget
    samples, and the last one; only the probe of the untrained network runs on a copy."""
    import engine.doctor.monitor as monitor

    copies = []
    original = monitor.probe
    monkeypatch.setattr(monitor, "probe", lambda *a: copies.append(a[-2:]) or original(*a))
    summary = Trainer(tiny_preset(), out=runs_dir).fit()
    probes = RunFiles(summary.run_dir).read_doctor_state()["probes"]
    assert sorted(probes) == ["0", "3"]  # at initialization, and the last epoch (3)
    assert probes["3"]["batch"] == 32 and probes["3"]["grad_ratio"] > 0
    # the copy: only the start's forward (start=True, grads=False); its gradient ratio is the
    # first training step's
    assert copies == [(True, False)]
    assert probes["0"]["grad_ratio"] > 0 and probes["0"]["first_layer"] == "0.weight"


def test_the_start_gradient_ratio_is_read_from_the_first_step_before_any_update(
    runs_dir, monkeypatch
):
    import torch

    import engine.doctor.monitor as monitor
    from engine.doctor.probe import StepProbe

    seen = {}
    original_start, original_read = monitor.RunMonitor.start, StepProbe.read

    def start(self, *args, **kwargs):
        seen["init"] = next(self.model.parameters()).detach().clone()
        return original_start(self, *args, **kwargs)

    def read(self, loss, batch):
        if self.step == 0:
            seen.setdefault("read", []).append(next(self.model.parameters()).detach().clone())
        return original_read(self, loss, batch)

    monkeypatch.setattr(monitor.RunMonitor, "start", start)
    monkeypatch.setattr(StepProbe, "read", read)
    Trainer(tiny_preset(), out=runs_dir).fit()
    (at_read,) = seen["read"]  # once in the run: its first step
    assert torch.equal(at_read, seen["init"])  # the untrained network's gradients


def test_freezing_a_network_that_starts_from_random_weights_is_named_before_training():
    from engine.doctor import preflight as pf

    scratch = Preset().with_changes({"model.freeze": "backbone"})
    finding = pf.frozen_random_weights(scratch)
    assert finding.id == "frozen-random-weights"
    assert finding.fix == {"set": {"model.freeze": "none"}}
    resnet = scratch.with_changes({"model.arch": "resnet18"})
    assert pf.frozen_random_weights(resnet).fix == {"set": {"model.pretrained": True}}
    assert pf.frozen_random_weights(resnet.with_changes({"model.pretrained": True})) is None
    assert pf.frozen_random_weights(Preset()) is None  # nothing frozen
    raw = {"mean": [0.0], "std": [1.0], "min": [-1.0], "max": [1.0]}
    norm = {"mode": "standardize", "scale": [1.0], "shift": [0.0]}
    doctor = Doctor(scratch, {**STATS, "raw": raw}, norm, 10)
    assert "frozen-random-weights" in {f.id for f in doctor.preflight(None, [1e-3] * 100)}


def test_a_crop_larger_than_small_images_is_named_before_training():
    """crop:4 is CIFAR's; on 8-pixel digits it shifts the digit half out of view (and crop:16
    left a digits run at chance): the doctor says so before the first step, with a crop that
    fits (an eighth of the side), and leaves the other augmentations as they are."""
    big = Preset().with_changes({"data.augment": ["hflip", "crop:16", "jitter:0.1"]})
    finding = pf.crop_beyond_image(big, STATS)
    assert finding.id == "excessive-augmentation" and "up to 16 pixels (200% of" in finding.evidence
    assert finding.fix == {"set": {"data.augment": ["hflip", "crop:1", "jitter:0.1"]}}
    fits = Preset().with_changes({"data.augment": ["crop:2"]})  # a quarter of 8 pixels
    assert pf.crop_beyond_image(fits, STATS) is None
    photos = {**STATS, "image_shape": [3, 224, 224]}  # a random-resized crop there
    assert pf.crop_beyond_image(big, photos) is None
    cifar = Preset().with_changes({"data.augment": ["hflip", "crop:4"]})
    assert pf.crop_beyond_image(cifar, {**STATS, "image_shape": [3, 32, 32]}) is None


def test_the_augmentation_fix_keeps_only_a_crop_that_fits():
    rows = [_row(e, 0.3 + 0.05 * e, 0.6 + 0.05 * e) for e in range(1, 6)]
    p = Preset().with_changes({"data.augment": ["hflip", "crop:4", "rotate:30"]})
    small = er.excessive_augmentation(er.EpochContext(p, STATS, rows))
    assert small.fix == {"set": {"data.augment": ["hflip"]}}  # crop:4 is half of 8 pixels
    cifar = er.excessive_augmentation(
        er.EpochContext(p, {**STATS, "image_shape": [3, 32, 32]}, rows)
    )
    assert cifar.fix == {"set": {"data.augment": ["hflip", "crop:4"]}}


def test_augmentation_is_not_blamed_when_already_mild_or_within_the_validation_noise():
    """A run that trains on flips only has nothing milder to switch to (its one-click fix would
    change nothing), and 15 validation images move accuracy by 0.067 each: neither is named."""
    rows = [_row(e, 0.5, 0.55 + 0.02 * e) for e in range(1, 4)]  # val 0.08 above, 500 images
    strong = Preset().with_changes({"data.augment": ["hflip", "rotate:30"]})
    assert er.excessive_augmentation(er.EpochContext(strong, STATS, rows)).fix == {
        "set": {"data.augment": ["hflip"]}
    }
    mild = Preset().with_changes({"data.augment": ["hflip"]})
    assert er.excessive_augmentation(er.EpochContext(mild, STATS, rows)) is None
    tiny = [_row(e, 0.5, 0.55 + 0.02 * e, k=3, n=5) for e in range(1, 4)]  # 15 images
    assert er.excessive_augmentation(er.EpochContext(strong, STATS, tiny)) is None


def test_a_network_started_from_a_run_is_not_judged_by_the_untrained_loss():
    stats = {
        **STATS,
        "raw": {"mean": [0.0], "std": [1.0], "min": [-2.0], "max": [2.0]},
        "net": {"mean": [0.0], "std": [1.0]},
    }
    norm = {"mode": "standardize", "scale": [1.0], "shift": [0.0]}
    init = {"loss": 0.3, "logit_std": 1.0}  # ln(10) = 2.3 expected untrained

    def found(preset):
        doctor = Doctor(preset, stats, norm, 23)
        return {f.id for f in doctor.preflight(init, [1e-3] * 23 * 10)}

    assert "bad-init-loss" in found(Preset())
    assert "bad-init-loss" not in found(Preset().with_changes({"model.init_from": "runs/a"}))


def test_a_class_two_and_a_half_times_smaller_that_is_never_predicted_is_named():
    def rows(recall_of_0):
        out = []
        for epoch in (1, 2, 3):
            row = _row(epoch, 0.9, 0.85, k=5)
            recall = (recall_of_0, 0.9, 0.9, 0.9, 0.9)
            per_class = dataclasses.replace(row.per_class, recall=recall)
            out.append(dataclasses.replace(row, per_class=per_class))
        return out

    def found(counts, recall_of_0):
        stats = {**STATS, "train_counts": counts, "classes": ["rare", "a", "b", "c", "d"]}
        ctx = er.EpochContext(Preset(), stats, rows(recall_of_0), {}, None, 10)
        return er.minority_ignored(ctx)

    finding = found([48, 120, 120, 120, 120], 0.0)
    assert finding.id == "class-imbalance" and "never predicts it" in finding.evidence
    assert found([80, 120, 120, 120, 120], 0.0) is None  # 1.5:1: not a minority
    assert found([48, 120, 120, 120, 120], 0.3) is None  # predicted: not ignored


def test_a_minority_never_predicted_is_the_imbalance_not_labels_that_cannot_be_learned():
    """The article's example 1 before its fixes: 80/20, the minority never predicted, so
    validation accuracy sits at the majority's 0.8 — what a constant guess gets. That is the
    imbalance (its fix lifts accuracy to 0.97), not labels that cannot be learned."""
    stats = {**STATS, "train_counts": [800, 200], "classes": ["0", "1"]}

    def row(epoch, train_acc, minority_recall):
        r = _row(epoch, train_acc, 0.8, k=2, n=100)
        recall = (1.0, minority_recall)
        support = (400, 100)
        per_class = dataclasses.replace(r.per_class, recall=recall, support=support)
        return dataclasses.replace(r, per_class=per_class)

    stuck = [row(e, 0.70 + 0.05 * e, 0.0) for e in range(1, 5)]
    doctor = Doctor(Preset(), stats, {}, 10)
    ids = {f.id for f in doctor.after_epoch(stuck)}
    assert "class-imbalance" in ids and "no-signal" not in ids
    # a few minority images right in one epoch (recall 0.2, then 0.03): still the imbalance
    later = [*stuck, row(5, 0.92, 0.2), row(6, 0.93, 0.03)]
    ids = {f.id for f in doctor.after_epoch(later[:5])} | {f.id for f in doctor.after_epoch(later)}
    assert "no-signal" not in ids
    predicted = [row(e, 0.70 + 0.05 * e, 0.2) for e in range(1, 5)]  # at chance all the same
    (finding,) = [
        f for f in Doctor(Preset(), stats, {}, 10).after_epoch(predicted) if f.id == "no-signal"
    ]
    assert finding.epoch == 4  # raised at an epoch, not "before training"


def test_underfitting_of_a_frozen_network_unfreezes_it_and_is_withdrawn_once_it_fits():
    """A pretrained resnet18 with its backbone frozen: its finding names what trains, offers to
    train more of it (not "a bigger model"), and goes once validation accuracy shows it fits."""
    p = Preset().with_changes(
        {"model.arch": "resnet18", "model.pretrained": True, "model.freeze": "backbone"}
    )
    flat = [_row(e, 0.6, 0.62) for e in range(1, 6)]
    doctor = Doctor(p, STATS, {}, 10)
    (finding,) = [f for f in doctor.after_epoch(flat) if f.id == "underfitting"]
    assert finding.fix["set"] == {"model.freeze": 2}
    assert "only the head trains" in finding.evidence and "width" not in finding.evidence
    assert "too small" not in finding.title
    fitted = [*flat, _row(6, 0.6, 0.95)]  # dropout held training accuracy down
    assert "underfitting" not in {f.id for f in doctor.after_epoch(fitted)}
    long = Preset().with_changes({"model.arch": "resnet18"})
    (finding,) = [
        f for f in Doctor(long, STATS, {}, 10).after_epoch(flat) if f.id == "underfitting"
    ]
    assert finding.fix["set"] == {"train.epochs": 2 * long.train.epochs}
    assert "too small" not in finding.title
