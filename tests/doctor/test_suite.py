"""The doctor's proving suite: every broken preset raises the findings it must, healthy presets
stay silent (precision, recall and repair rate are reported in BENCHMARKS.md)."""

from __future__ import annotations

import pytest

from engine.doctor.suite import BROKEN, HEALTHY, build
from engine.runs import RunFiles
from engine.trainer import Trainer

DESIGN_IDS = {
    "class-imbalance",
    "unnormalized-input",
    "lr-too-high",
    "lr-too-low",
    "schedule-too-aggressive",
    "overfitting",
    "underfitting",
    "no-signal",
    "bad-init-loss",
    "dead-units",
    "vanishing-gradients",
    "exploding-gradients",
    "excessive-augmentation",
    "non-finite-loss",
    # issue 15: the doctor looks at the data
    "label-noise",
    "split-leakage",
    "train-val-mismatch",
    "vanishing-signal",
}


def diagnose(name, changes, runs_dir):
    summary = Trainer(build(changes).with_changes({"name": name}), out=runs_dir).fit()
    findings = RunFiles(summary.run_dir).read_diagnosis()
    return summary, findings


def test_suite_is_large_enough_and_covers_the_design():
    assert len(BROKEN) >= 22 and len(HEALTHY) >= 8
    covered = set().union(*(must for _, _, must, _ in BROKEN))
    assert covered == DESIGN_IDS


@pytest.mark.parametrize(("name", "changes", "must", "allowed"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_preset_is_diagnosed(name, changes, must, allowed, runs_dir):
    summary, findings = diagnose(name, changes, runs_dir)
    got = {f["id"] for f in findings if f["severity"] in ("warning", "error")}
    assert must <= got, f"{name}: expected {sorted(must)}, got {sorted(got)}"
    for f in findings:
        assert f["evidence"] and f["title"]
        assert f["fix"] is None or set(f["fix"]) == {"set"}
        if f["fix"]:  # every fix is a valid change to the preset, and changes it
            before = build(changes)
            assert before.with_changes(f["fix"]["set"]) != before, f"{f['id']}: a no-op fix"
        else:
            assert f["advice"]


@pytest.mark.parametrize(("name", "changes"), HEALTHY, ids=[h[0] for h in HEALTHY])
def test_healthy_preset_stays_silent(name, changes, runs_dir):
    summary, findings = diagnose(name, changes, runs_dir)
    assert summary.status == "finished"
    assert [f["id"] for f in findings if f["severity"] in ("warning", "error")] == []


def test_a_long_cosine_run_is_not_told_to_use_cosine():
    from engine.doctor.preflight import schedule_too_aggressive
    from engine.schedules import preview_lr

    p = build({"train.epochs": 200, "train.schedule.name": "cosine"})
    assert schedule_too_aggressive(p, preview_lr(p, 23), 23) is None
    fast = p.with_changes({"train.schedule.name": "exponential", "train.schedule.gamma": 0.9})
    finding = schedule_too_aggressive(fast, preview_lr(fast, 23), 23)
    assert finding.fix["set"] == {"train.schedule.name": "cosine"}
