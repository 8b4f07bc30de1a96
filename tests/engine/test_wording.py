"""What people read: counts with the right plural, no "class class 2", early stops explained."""

from __future__ import annotations

import dataclasses

from engine import events as ev
from engine.console import ending
from engine.doctor.preflight import class_imbalance
from engine.preset import Preset
from engine.wording import class_label, count


def test_counts_and_class_labels():
    assert count(1, "epoch") == "1 epoch" and count(2, "epoch") == "2 epochs"
    assert count(1, "validation image") == "1 validation image"
    assert count(1200, "class") == "1,200 classes"
    assert class_label("2") == "class 2" and class_label("class 2") == "class 2"
    assert class_label("cat") == "class cat"


def test_imbalance_evidence_names_synthetic_classes_once():
    stats = {"classes": ["class 0", "class 1"], "train_counts": [500, 1]}
    finding = class_imbalance(Preset(), stats)
    assert "class class" not in finding.evidence
    assert finding.evidence.startswith("class 1: 1 training sample vs 500 for class 0")


def test_an_early_stop_says_so_why_and_which_weights_best_holds():
    summary = ev.RunSummary(
        "finished",
        "digits",
        "r",
        epochs_completed=6,
        epochs_planned=20,
        best_epoch=4,
        best_val_acc=0.95,
        best_val_loss=0.123,
        best_val_loss_epoch=3,
        early_stopped=True,
        early_stopping_patience=3,
    )
    text = ending(ev.RunFinished(summary))
    assert text.startswith("stopped early after 6 of 20 epochs")
    assert "validation loss did not improve for 3 epochs after its best (0.123 at epoch 3)" in text
    assert "best.pt holds epoch 4 (best validation accuracy 0.9500)" in text
    summary = dataclasses.replace(
        summary, early_stopped=False, epochs_completed=1, epochs_planned=1
    )
    assert ending(ev.RunFinished(summary)).startswith("finished after 1 epoch;")
