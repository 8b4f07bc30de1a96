"""The training doctor: reads the data and the run and says, with numbers, what holds accuracy
back, each finding with a one-click preset fix where a setting can help.

:class:`Doctor` is driven by the trainer (pre-flight before the first step, rules after every
epoch); :func:`diagnose_run` re-reads a finished run directory.
"""

from __future__ import annotations

from engine.doctor import capacity_rules as capacity
from engine.doctor import epoch_rules as er
from engine.doctor import network_rules as nr
from engine.doctor import preflight as pf
from engine.doctor.finding import Finding, merge, ordered
from engine.doctor.samples import LABEL_NOISE_CAUSES
from engine.events import EpochMetrics
from engine.preset import Preset

__all__ = ["Doctor", "Finding", "diagnose_run"]


class Doctor:
    """Collects findings over a run; one finding per id, first epoch kept, newest evidence."""

    def __init__(self, preset: Preset, stats: dict, norm: dict, steps_per_epoch: int):
        self.preset, self.stats, self.norm = preset, stats, norm
        self.steps_per_epoch = steps_per_epoch
        self.found: dict[str, Finding] = {}
        self.preflight_found: list[Finding] = []
        self.minority_ignored = False  # a class the model never predicted, in some epoch
        self.probes: dict[int, dict] = {}
        self.divergence: dict | None = None

    def preflight(
        self, init: dict | None, lrs: list[float], data_found: list[Finding] = ()
    ) -> list[Finding]:
        """Checks before the first step. ``init``: the forward probe of the untrained network
        (loss, output spread; kept as probe 0 for the epoch rules); ``data_found``: findings
        about the samples themselves (``split-leakage``), made by the run's monitor, which holds
        the images."""
        p, stats = self.preset, self.stats
        unnorm = pf.pretrained_normalization(p, self.norm) or pf.unnormalized_input(
            p, stats, self.norm
        )
        found = [
            unnorm,
            pf.class_imbalance(p, stats),
            pf.schedule_too_aggressive(p, lrs, self.steps_per_epoch),
            pf.crop_beyond_image(p, stats),
            pf.frozen_random_weights(p),
        ]
        if init is not None:
            self.probes[0] = init
            if not p.model.init_from:  # a network that starts trained is not measured by ln(C)
                k, off = len(stats["classes"]), unnorm is not None
                found.append(pf.bad_init_loss(init["loss"], k, off))
        self.preflight_found = [f for f in [*found, *data_found] if f is not None]
        self.found = merge(self.found, self.preflight_found)
        return self.findings()

    def note_divergence(self, ratio: float, step: int, epoch: int) -> None:
        if self.divergence is None or ratio > self.divergence["ratio"]:
            self.divergence = {"ratio": ratio, "step": step, "epoch": epoch}

    def after_epoch(
        self, rows: list[EpochMetrics], probe: dict | None = None, samples: tuple = ()
    ) -> list[Finding]:
        """The rules over the epochs so far; ``samples``: findings about single training samples
        (``label-noise``), made by the run's monitor, which holds the samples' margins."""
        if probe is not None:
            self.probes[rows[-1].epoch] = probe
        ctx = er.EpochContext(
            self.preset, self.stats, rows, self.probes, self.divergence, self.steps_per_epoch
        )
        found = [
            er.overfitting(ctx),
            er.excessive_augmentation(ctx),
            er.train_val_mismatch(ctx),
            er.no_signal(ctx),
            er.lr_too_high(ctx),
            er.lr_too_low(ctx),
            er.minority_ignored(ctx),
            nr.vanishing_signal(ctx),
            nr.exploding_start(ctx),
            *nr.probe_rules(ctx),
        ]
        found = [f for f in found if f is not None]
        if any(f.id == "train-val-mismatch" for f in found) or "train-val-mismatch" in self.found:
            # a named cause (raised now, or still listed), not the labels; and a validation loss
            # that is wild for that cause is not the network memorizing
            found = [f for f in found if f.id not in ("no-signal", "overfitting")]
            self.found.pop("overfitting", None)
        # the epoch rules raise class-imbalance for a minority class the model never predicts
        self.minority_ignored |= any(f.id == "class-imbalance" for f in found)
        if self.minority_ignored and "class-imbalance" in self.found | {f.id: f for f in found}:
            # a class the model never predicts holds validation accuracy at the largest class's
            # share: that is the imbalance, not labels that cannot be learned
            found = [f for f in found if f.id != "no-signal"]
        now, r = {f.id for f in found}, rows[-1]
        if "no-signal" not in now:  # refuted by validation accuracy above chance
            self.found.pop("no-signal", None)
        if "train-val-mismatch" not in now and r.val_acc >= r.train_acc - er.OVERFIT_GAP:
            self.found.pop("train-val-mismatch", None)  # the two worlds agree again
        if "overfitting" not in now and r.train_acc - r.val_acc < er.overfit_gap(r.train_acc) / 2:
            self.found.pop("overfitting", None)  # validation caught up: one odd epoch
        current = {f.id for f in found} | {f.id for f in self.preflight_found}
        ids = {f.id for f in found} | set(self.found)
        if capacity.fits_after_all(ctx):  # training or validation accuracy rose since
            self.found.pop("underfitting", None)
            ids.discard("underfitting")
        found.append(capacity.underfitting(ctx, ids))
        ids |= {f.id for f in found if f is not None}
        scratch = capacity.from_scratch_small_data(ctx, ids)
        if scratch is None:  # its symptom (over- or underfitting) is gone
            self.found.pop("from-scratch-small-data", None)
        found.append(scratch)
        if current & LABEL_NOISE_CAUSES:  # a training problem, not the labels, explains them
            samples = ()
        found.extend(samples)
        if not samples:  # judged on the margins as they stand now, not kept once seen
            self.found.pop("label-noise", None)
        self.found = merge(self.found, [f for f in found if f is not None])
        return self.findings()

    def non_finite(self, message: str, epoch: int) -> list[Finding]:
        o = self.preset.train.optimizer
        new_lr = float(f"{min(o.lr / 10, er.DEFAULT_LR[o.name]):.3g}")
        finding = Finding(
            "non-finite-loss",
            "error",
            "The loss became NaN or infinite",
            f"{message}. Training stopped; the last good checkpoint is kept.",
            {"set": {"train.optimizer.lr": new_lr, "train.grad_clip": 1.0}},
            epoch=epoch,
        )
        self.found = merge(self.found, [finding])
        return self.findings()

    @classmethod
    def from_state(cls, preset: Preset, state: dict, rows: list[EpochMetrics]) -> Doctor:
        """A doctor restored from ``doctor.json``/a checkpoint, replayed over ``rows``."""
        doctor = cls(preset, state["stats"], state["normalization"], state["steps_per_epoch"])
        doctor.preflight_found = [Finding(**f) for f in state["preflight"]]
        doctor.found = merge({}, doctor.preflight_found)
        doctor.probes = {int(k): v for k, v in state["probes"].items()}
        doctor.divergence = state["divergence"]
        for i in range(1, len(rows) + 1):
            doctor.after_epoch(rows[:i])
        return doctor

    def findings(self) -> list[Finding]:
        return ordered(self.found.values())

    def state(self) -> dict:
        """What re-diagnosis needs besides the metrics (saved as ``doctor.json``)."""
        return {
            "stats": self.stats,
            "normalization": self.norm,
            "steps_per_epoch": self.steps_per_epoch,
            "preflight": [f.to_dict() for f in self.preflight_found],
            "probes": {str(k): v for k, v in self.probes.items()},
            "divergence": self.divergence,
        }


def diagnose_run(run_dir) -> list[Finding]:
    """Re-run the rules over a run directory's files (pre-flight findings as recorded)."""
    from engine.runs import RunFiles

    files = RunFiles(run_dir)
    preset = files.read_preset()
    rows = files.read_metrics()
    state = files.read_doctor_state()
    if state is None:
        return [Finding(**f) for f in files.read_diagnosis()]
    doctor = Doctor.from_state(preset, state, [])
    for i in range(1, len(rows) + 1):
        doctor.after_epoch(rows[:i])
    for f in files.read_diagnosis():
        if f["id"] in ("non-finite-loss", "label-noise"):  # recorded, not re-derivable
            doctor.found = merge(doctor.found, [Finding(**f)])
    return doctor.findings()
