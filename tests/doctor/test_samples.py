"""The doctor reads single training samples: labels that look wrong (label-noise), found from
the margins the training step already computes, listed worst first in a file that the one-click
fix hands to data.exclude; data.exclude and data.relabel files applied before the split."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from engine import events as ev
from engine.data import load_data
from engine.doctor.suite import build
from engine.doctor.suite_data import relabel_file
from engine.errors import DataError
from engine.runs import RunFiles
from engine.trainer import Trainer


def _flip(preset, share: float, folder: Path) -> tuple:
    """The preset with ``share`` of its labels changed to another class (a relabel file), and
    the names of the changed samples."""
    changes, flipped = relabel_file(preset, share, folder)
    return preset.with_changes(changes), flipped


def test_flipped_labels_are_found_and_the_fix_leaves_them_out(tmp_path):
    noisy, flipped = _flip(build({"train.epochs": 8}), 0.2, tmp_path)
    summary = Trainer(noisy, out=tmp_path / "runs").fit()
    files = RunFiles(summary.run_dir)
    finding = next(f for f in files.read_diagnosis() if f["id"] == "label-noise")
    assert finding["severity"] == "warning"
    exclude = Path(finding["fix"]["set"]["data.exclude"])
    listed = [line for line in exclude.read_text().splitlines() if not line.startswith("# ")]
    # Most of the listed samples really were flipped, and most flips are listed.
    top = listed[: len(listed) // 2]
    assert sum(name in flipped for name in top) / len(top) >= 0.9
    assert sum(name in flipped for name in listed) / len(flipped) >= 0.5
    assert f"{len(listed)} of " in finding["evidence"]
    # samples.npz names every training sample, with its margin.
    samples = files.read_samples()
    assert len(samples["ids"]) == len(samples["aum"]) and samples["epochs"] == 8
    # The one-click fix: the listed samples are gone from training and validation.
    fixed = noisy.with_changes(finding["fix"]["set"])
    data = load_data(fixed)
    assert not set(listed) & set(data.train_ids) | set(data.val_ids) & set(listed)
    assert f"{len(listed)} samples left out (data.exclude)" in data.stats["notes"]


def test_a_clean_run_has_no_label_noise(tmp_path):
    summary = Trainer(build({"train.epochs": 8}), out=tmp_path / "runs").fit()
    ids = {f["id"] for f in RunFiles(summary.run_dir).read_diagnosis()}
    assert "label-noise" not in ids
    assert not (Path(summary.run_dir) / "suspected-mislabeled.txt").exists()


def test_relabel_changes_labels_and_names_bad_lines(tmp_path):
    preset = build({})
    plain = load_data(preset)
    name = plain.train_ids[0]
    old = int(plain.y_train[0])
    new = (old + 1) % plain.num_classes
    good = tmp_path / "relabel.txt"
    good.write_text(f"# corrected by hand\n{name}\t{new}\n")
    data = load_data(preset.with_changes({"data.relabel": str(good)}))
    assert int(data.y_train[data.train_ids.index(name)]) == new
    assert "1 label corrected (data.relabel)" in data.stats["notes"]
    moved = tmp_path / "moved.txt"  # a line whose image was since moved or renamed
    moved.write_text(f"{name}\t{new}\ncats/gone.jpg\t{new}\n")
    notes = load_data(preset.with_changes({"data.relabel": str(moved)})).stats["notes"]
    assert "1 label corrected (data.relabel)" in notes
    assert any(n.startswith("1 line of data.relabel names no image") for n in notes), notes
    assert "cats/gone.jpg" in " ".join(notes)

    bad = tmp_path / "bad.txt"
    bad.write_text(f"{name}\n")
    with pytest.raises(DataError, match=r"line 1 of .*bad.txt"):
        load_data(preset.with_changes({"data.relabel": str(bad)}))
    unknown = tmp_path / "unknown.txt"
    unknown.write_text(f"{name}\tgiraffe\n")
    with pytest.raises(DataError, match="giraffe"):
        load_data(preset.with_changes({"data.relabel": str(unknown)}))
    with pytest.raises(DataError, match="file not found"):
        load_data(preset.with_changes({"data.exclude": str(tmp_path / "missing.txt")}))


def test_marks_move_no_other_image_between_training_and_validation(tmp_path):
    preset = build({})
    plain = load_data(preset)
    gone = plain.train_ids[:5] + plain.val_ids[:1]  # a leakage fix, and one mislabeled
    exclude = tmp_path / "exclude.txt"
    exclude.write_text("\n".join(gone) + "\n")
    relabel = tmp_path / "relabel.txt"
    relabel.write_text(f"{plain.train_ids[6]}\t{(int(plain.y_train[6]) + 1) % 3}\n")
    data = load_data(
        preset.with_changes({"data.exclude": str(exclude), "data.relabel": str(relabel)})
    )
    assert data.val_ids == plain.val_ids[1:]  # the same validation images, less the excluded one
    assert data.train_ids == plain.train_ids[5:]
    assert "6 samples left out (data.exclude)" in data.stats["notes"]


def test_margins_survive_a_resume(tmp_path):
    from engine.control import RunControl

    stopper = RunControl()
    preset = build({"train.epochs": 4})

    def stop_after_two(event):
        if isinstance(event, ev.EpochEnd) and event.epoch == 2:
            stopper.stop()

    first = Trainer(preset, out=tmp_path / "runs", control=stopper).fit(stop_after_two)
    resumed = Trainer(preset, resume_dir=first.run_dir).fit()
    samples = RunFiles(resumed.run_dir).read_samples()
    assert samples["epochs"] == 4
    assert np.isfinite(samples["aum"]).all()


def test_margins_hold_at_most_a_bounded_number_of_steps(monkeypatch):
    """Tiny batches of few classes: each kept step costs far more than its logits' bytes (an
    allocator block, its indices), so the steps kept before the margins are taken are counted
    too."""
    import torch

    from engine.doctor import samples
    from engine.doctor.samples import SampleMargins

    monkeypatch.setattr(samples, "BUFFER_STEPS", 5)
    margins = SampleMargins(torch.zeros(100, dtype=torch.long), torch.device("cpu"))
    for b in range(12):
        margins.add(torch.tensor([b]), torch.randn(1, 2))
        assert len(margins._pending) < 5
    margins.flush()
    assert margins.epoch_count.sum() == 12


@pytest.mark.parametrize("buffer_rows", [None, 4])  # the default buffer; one that fills mid-epoch
def test_margins_equal_a_reference_computation(monkeypatch, buffer_rows):
    import torch

    from engine.doctor import samples
    from engine.doctor.samples import SampleMargins

    if buffer_rows:  # 4 rows of 4 classes: a batch of 6 is larger than it, one of 3 fits
        monkeypatch.setattr(samples, "BUFFER_BYTES", buffer_rows * 4 * 4)

    class OneRank:
        def sum(self, t):
            return t

    gen = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 4, (10,), generator=gen)
    margins = SampleMargins(labels, torch.device("cpu"))
    seen = {i: [] for i in range(10)}
    other = {i: [] for i in range(10)}
    for _ in range(3):  # epochs
        for idx in (torch.arange(0, 6), torch.arange(6, 9)):  # sample 9 never trained on
            logits = torch.randn(len(idx), 4, generator=gen)
            margins.add(idx, logits)
            for row, i in zip(logits.numpy(), idx.tolist(), strict=True):
                own = row[labels[i]]
                seen[i].append(own - np.delete(row, labels[i]).max())
                prob = np.exp(row) / np.exp(row).sum()
                other[i].append(np.delete(prob, labels[i]).max())
        margins.end_epoch(OneRank())
    summary = margins.summary()
    assert summary.epochs == 3 and summary.classes == 4
    np.testing.assert_allclose(summary.aum[:9], [np.mean(seen[i]) for i in range(9)], rtol=1e-5)
    want = [np.mean(other[i]) for i in range(9)]
    np.testing.assert_allclose(summary.other_prob[:9], want, rtol=1e-5)
    assert np.isnan(summary.aum[9]) and summary.pred[9] == -1


def _summary(other_prob, n=200, k=10):
    """Margins of a run in which 40 of ``n`` samples keep a negative margin."""
    from engine.doctor.samples import SampleSummary

    aum = np.full(n, 2.0, dtype=np.float32)
    aum[:40] = -1.0
    label = (np.arange(n) % k).astype(np.int16)
    pred = np.where(aum > 0, label, (label + 1) % k).astype(np.int16)
    other = None if other_prob is None else np.full(n, other_prob, dtype=np.float32)
    return SampleSummary(aum, pred, label, 8, other, k)


def test_samples_a_weak_network_only_finds_hard_are_not_called_mislabeled():
    """A small clean-labelled network leaves its hard samples below zero too, but unsure of
    them; a wrong label is confidently another class (digits: an MLP of width 16 had 20 % below
    the line, with a median 0.19 on the other class)."""
    from engine.doctor.samples import SampleSummary, suspects

    assert len(suspects(_summary(0.8))) == 40  # confidently another class: mislabeled
    assert len(suspects(_summary(0.19))) == 0  # barely above chance (0.1): hard, not wrong
    old = _summary(None).to_arrays()  # samples.npz from before the probability was kept
    del old["classes"]
    assert len(suspects(SampleSummary.from_arrays(old))) == 40  # judged on the margins alone
    assert SampleSummary.from_arrays(_summary(0.5).to_arrays()).classes == 10


def test_samples_a_run_still_learning_the_task_is_not_read_for_wrong_labels():
    """resnet18 on 96 clean photos (training accuracy 0.75, 0.82, 0.86; validation best 0.88,
    then 0.92): 12 % of samples had a negative mean margin from the slow start and were called
    mislabeled. A run still learning the task waits; one memorizing (validation flat while
    training rises, as wrong labels are fitted one by one) is read."""
    from engine.doctor.samples import SampleSummary, still_learning, suspects

    assert still_learning([0.58, 0.77, 0.75, 0.82, 0.86], [0.42, 0.88, 0.54, 0.92, 0.92])
    # synthetic data with 20 % flipped: validation 0.99 from epoch 1, training memorizing
    memorizing = [0.66, 0.8, 0.8, 0.81, 0.88, 0.94, 0.98, 0.99]
    assert not still_learning(memorizing, [0.99, 0.98, 0.7, 0.8, 0.97, 0.78, 0.93, 0.95])
    assert not still_learning([0.84, 0.85, 0.86], [0.5, 0.7, 0.9])  # training settled
    assert not still_learning([0.5, 0.9], [0.5, 0.9])  # too young to tell
    assert len(suspects(_summary(0.6))) == 40
    learning = dataclasses.replace(_summary(0.6), learning=True)
    assert len(suspects(learning)) == 0
    # the flag is kept in samples.npz, so the Errors tab reads what the doctor read
    assert SampleSummary.from_arrays(learning.to_arrays()).learning
    old = learning.to_arrays()
    del old["learning"]  # files from before it was kept
    assert not SampleSummary.from_arrays(old).learning


def test_a_small_network_on_clean_digits_has_no_label_noise(tmp_path):
    preset = build({"model.arch": "mlp", "model.width": 16, "train.epochs": 6})
    summary = Trainer(preset, out=tmp_path / "runs").fit()
    files = RunFiles(summary.run_dir)
    assert summary.final_val_acc < 0.95  # weak: many samples still wrong
    assert "label-noise" not in {f["id"] for f in files.read_diagnosis()}
    samples = files.read_samples()
    assert samples["other_prob"].shape == samples["aum"].shape and samples["classes"] == 10


def test_a_class_the_network_never_learned_is_not_called_mislabeled():
    """A small class the network ignores keeps all its samples below zero, confidently another
    class: that is the class not learned (class-imbalance), not wrong labels — leaving them out
    would take the class out of training."""
    from engine.doctor.samples import suspects

    summary = _summary(0.8)  # 40 flipped labels spread over 10 classes (4 of each 20)
    ignored = np.flatnonzero(summary.label == 3)
    summary.aum[ignored] = -1.5  # every sample of class 3
    picks = suspects(summary)
    assert not set(picks.tolist()) & set(ignored.tolist())
    assert len(picks) == 36  # the other classes' wrong labels are still found
