"""The doctor's side of a training run: pre-flight checks, sampled probes, and findings that are
written to the run directory and announced as ``Diagnosis`` events whenever they change."""

from __future__ import annotations

import numpy as np
import torch

from engine import events as ev
from engine.doctor import Doctor
from engine.doctor.leakage import find_copies, split_leakage
from engine.doctor.preflight import NEVER_TOO_AGGRESSIVE
from engine.doctor.probe import PROBE_BATCH, StepProbe, probe, probe_batch, probe_every
from engine.doctor.samples import (
    SampleMargins,
    SampleSummary,
    label_noise,
    still_learning,
    suspects,
)
from engine.schedules import preview_lr


class RunMonitor:
    """Owned by the trainer; what it measures is read from the training steps or run on copies,
    so training is untouched."""

    def __init__(self, preset, data, model, loss_fn, normalize, steps_per_epoch: int, device):
        self.preset, self.data, self.model = preset, data, model
        self.loss_fn, self.normalize = loss_fn, normalize
        self.steps_per_epoch = steps_per_epoch
        picks = torch.randperm(
            len(data.y_train), generator=torch.Generator().manual_seed(preset.seed + 3)
        )
        self.probe_idx = picks[: probe_batch(preset.train.batch_size)].to(device)
        self.every = probe_every(steps_per_epoch)
        self.doctor = Doctor(preset, data.stats, data.norm.as_dict(), steps_per_epoch)
        self.margins = SampleMargins(data.y_train, device)
        self.last_input: torch.Tensor | None = None  # for locating a failing layer
        self.files = self.events = None
        self._published: list[dict] | None = None
        self._summary: SampleSummary | None = None
        self._probed = 0  # the epoch of the last probe
        self._watch: StepProbe | None = None  # the probe of the current epoch's last step
        self._first: StepProbe | None = None  # the run's first step: the start's gradients
        self._steps_watched = True  # whether the trainer lets training steps be watched

    def start(self, files, events, rows: list, state: dict | None, watchable=True) -> None:
        """Pre-flight checks on a fresh run; the saved doctor state on a resumed one.
        ``watchable``: whether training steps may be watched (see ``Trainer._watchable``)."""
        self.files, self.events = files, events
        self._steps_watched = watchable and self.preset.train.batch_size >= PROBE_BATCH[0]
        if state is not None:
            self.doctor = Doctor.from_state(self.preset, state, rows)
            return
        lrs = []  # the planned rates, for schedules that can decay too fast
        if self.preset.train.schedule.name not in NEVER_TOO_AGGRESSIVE:
            lrs = preview_lr(self.preset, self.steps_per_epoch)
        # the start's gradients come from the first training step when it is watched
        start = self.probe(start=True, grads=not self._steps_watched)
        self.publish(self.doctor.preflight(start, lrs, self._leakage()))

    def _leakage(self) -> list:
        """Copies of validation images in training (images only, not cached features). Not
        for the synthetic source: its samples are independent draws by construction, and at
        64 px and more the pixel noise that tells them apart averages out of the thumbnails, so
        every pair of one class looked like a copy."""
        d = self.data
        if d.model_input is not None or self.preset.data.source == "synthetic":
            return []
        copies = find_copies(d.x_train, d.x_val)
        leaked = sorted({i for i, _ in copies.train_val})
        exclude = ""
        if leaked:
            exclude = str(
                self.files.write_sample_list(
                    "leaked-into-training.txt",
                    "Training copies of validation images (doctor: split-leakage).",
                    [d.train_ids[i] for i in leaked],
                )
            )
        found = split_leakage(
            copies, d.y_train.cpu(), d.y_val.cpu(), d.train_ids, d.val_ids, exclude
        )
        return [found] if found is not None else []

    def probe(self, start: bool = False, grads: bool = True) -> dict:
        x = self.normalize(self.data.x_train[self.probe_idx])
        self.last_input = x
        return probe(self.model, self.loss_fn, x, self.data.y_train[self.probe_idx], start, grads)

    def sampled(self, epoch: int) -> bool:
        """Whether ``epoch`` is probed: every N epochs, and the last one unless the last probe
        is recent (epoch 14 of 15)."""
        if epoch % self.every == 0:
            return True
        recent = self._probed and epoch - self._probed < (self.every + 1) // 2
        return epoch == self.preset.train.epochs and not recent

    def step_probes(self, epoch: int) -> tuple[StepProbe, ...]:
        """The probes to take from ``epoch``'s training steps, when steps may be watched (see
        :meth:`start`) and batches hold at least 32 images: its last step when the epoch is
        sampled, and on a fresh run's first epoch its first step, whose gradients are the
        untrained network's (probe 0's gradient ratio, for no extra pass)."""
        self._watch = self._first = None
        if not self._steps_watched:
            return ()
        if self.sampled(epoch):
            self._watch = StepProbe(self.model)
        start = self.doctor.probes.get(0)
        if epoch == 1 and start is not None and "grad_ratio" not in start:
            self._first = StepProbe(self.model, step=0)
        return tuple(w for w in (self._watch, self._first) if w is not None)

    def after_epoch(self, rows: list) -> None:
        epoch = rows[-1].epoch
        first = self._first.result() if self._first is not None else None
        if first is not None and "grad_ratio" in first:
            self.doctor.probes[0].update({k: first[k] for k in StepProbe.GRADS})
        self._first = None
        taken = None
        if self.sampled(epoch):
            taken = self._watch.result() if self._watch is not None else None
            taken = taken or self.probe()
            self._probed = epoch
        self._watch = None
        learning = still_learning([r.train_acc for r in rows], [r.val_acc for r in rows])
        self._summary = self.margins.summary(learning)
        picks = suspects(self._summary)
        found = ()
        if len(picks):  # the Likely mislabeled view reads them while the run goes on
            self.write_samples()
            exclude = self.files.write_sample_list(
                "suspected-mislabeled.txt",
                "Training samples whose label looks wrong (doctor: label-noise), worst first.",
                [self.data.train_ids[i] for i in picks],
            )
            classes = self.data.stats["classes"]
            found = (
                label_noise(
                    self._summary, picks, self.data.train_ids, classes, epoch, str(exclude)
                ),
            )
        self.publish(self.doctor.after_epoch(rows, taken, found))

    def samples(self) -> SampleSummary:
        """The training samples' margins as of the last epoch, on the host."""
        if self._summary is None:
            self._summary = self.margins.summary()
        return self._summary

    def write_samples(self) -> None:
        """``samples.npz``: every training sample's margin, last prediction, label and name —
        written when suspects are listed and at the end of the run, not every epoch (the
        margins themselves are in each checkpoint)."""
        if self.files is None:
            return
        ids = np.array(self.data.train_ids, str)
        self.files.write_samples({**self.samples().to_arrays(), "ids": ids})

    def non_finite(self, message: str, epoch: int) -> None:
        self.publish(self.doctor.non_finite(message, epoch))

    def publish(self, findings) -> None:
        """Write and announce the findings when they changed."""
        dicts = [f.to_dict() for f in findings]
        if dicts == self._published:
            return
        self._published = dicts
        self.files.write_diagnosis(dicts)
        self.files.write_doctor_state(self.doctor.state())
        self.events(ev.Diagnosis(tuple(dicts)))

    def finish(self) -> None:
        """The probes and state of the whole run, once at the end (a full disk is tolerated)."""
        if self._published is None:
            return
        try:
            self.files.write_doctor_state(self.doctor.state())
        except OSError:
            pass
