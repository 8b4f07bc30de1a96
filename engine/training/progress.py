"""Where a run stands: its epoch records, the best epochs so far (``best.pt`` follows validation
accuracy, ties broken by validation loss; early stopping follows validation loss), every epoch's
predictions, the step readings, and the :class:`RunSummary` written to ``summary.json``."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np

from engine.events import EpochMetrics, RunSummary
from engine.metrics import per_class
from engine.preset import Preset
from engine.runs import StepLog
from engine.training.epoch import EpochTotals
from engine.training.validation import Validation


@dataclass
class Best:
    """The best epochs so far (kept in checkpoints as a plain dict)."""

    val_acc: float = -1.0
    epoch: int = 0  # of the best validation accuracy: what best.pt holds
    # that epoch's validation loss: of two epochs with the same accuracy, the one with the lower
    # loss is the better model (on easy data accuracy reaches 1.0 at epoch 1, far from trained)
    val_acc_loss: float = math.inf
    val_loss: float = math.inf
    val_loss_epoch: int = 0
    bad_epochs: int = 0  # epochs since validation loss last improved

    @classmethod
    def from_state(cls, state: dict) -> Best:
        return cls(**{k: v for k, v in state.items() if k in cls.__dataclass_fields__})


def epoch_metrics(epoch: int, train: EpochTotals, val: Validation, seconds: float) -> EpochMetrics:
    """One epoch's record from its training totals and its validation."""
    return EpochMetrics(
        epoch=epoch,
        train_loss=train.loss,
        train_acc=train.acc,
        val_loss=val.loss,
        val_acc=val.acc,
        lr=train.lr,
        seconds=round(seconds, 4),
        samples_per_s=round(train.samples / max(seconds, 1e-9), 1),
        grad_norm=train.grad_norm,
        per_class=per_class(val.confusion),
        confusion=val.confusion,
    )


class RunProgress:
    """The records of one run, as the trainer adds epochs to them."""

    def __init__(
        self,
        preset: Preset,
        class_names: list[str],
        device: str,
        steps_per_epoch: int,
        speed: str = "",
    ):
        self.preset = preset
        self.class_names = list(class_names)
        self.device, self.speed = device, speed
        self.steps_per_epoch = steps_per_epoch
        self.rows: list[EpochMetrics] = []
        self.best = Best()
        self.early_stopped = False
        self.predictions: dict[str, np.ndarray] = {}
        self.step_log = StepLog()
        self.started = time.perf_counter()
        self.run_dir = ""

    def record(
        self, metrics: EpochMetrics, val: Validation, y_val: np.ndarray, val_ids: list[str]
    ) -> bool:
        """Add an epoch; True when its validation accuracy is the best so far. ``val_ids`` name
        the validation samples, so their images can be found again after the data changed."""
        self.rows.append(metrics)
        epoch = metrics.epoch
        best = self.best
        improved = val.acc > best.val_acc or (
            val.acc == best.val_acc and val.loss < best.val_acc_loss
        )
        if improved:
            best.val_acc, best.epoch, best.val_acc_loss = val.acc, epoch, val.loss
        if val.loss < self.best.val_loss:
            self.best.val_loss, self.best.bad_epochs = val.loss, 0
            self.best.val_loss_epoch = epoch
        else:
            self.best.bad_epochs += 1
        self._keep_predictions(epoch, val, y_val, improved)
        if "val_ids" not in self.predictions and val_ids:
            self.predictions["val_ids"] = np.char.encode(np.asarray(val_ids, dtype=str), "utf-8")
        return improved

    def stops_early(self) -> bool:
        """True once validation loss has not improved for ``train.early_stopping`` epochs."""
        patience = self.preset.train.early_stopping
        self.early_stopped = bool(patience) and self.best.bad_epochs >= patience
        return self.early_stopped

    def _keep_predictions(self, epoch: int, val: Validation, y_true: np.ndarray, improved: bool):
        y_true = y_true.astype(np.int16)
        n = len(y_true)
        # every epoch's predicted class and its confidence, so any epoch's errors can be shown
        done = self.predictions.get("epoch_pred", np.zeros((0, n), np.int16))[: epoch - 1]
        conf = self.predictions.get("epoch_conf", np.zeros((0, n), np.float16))[: epoch - 1]
        pred = val.pred.astype(np.int16)
        self.predictions.update(
            val_index=np.arange(n, dtype=np.int32),
            y_true=y_true,
            last_pred=val.pred,
            last_prob=val.prob,
            last_epoch=np.array(epoch),
            epoch_pred=np.concatenate([done, pred[None]]),
            epoch_conf=np.concatenate(
                [conf, val.prob[np.arange(n), pred].astype(np.float16)[None]]
            ),
        )
        if improved:
            self.predictions.update(
                best_pred=val.pred, best_prob=val.prob, best_epoch=np.array(epoch)
            )

    def best_state(self) -> dict:
        return asdict(self.best)

    def summary(self, status: str, error: str = "", hint: str = "") -> RunSummary:
        last = self.rows[-1] if self.rows else None
        return RunSummary(
            status=status,
            name=self.preset.name,
            run_dir=self.run_dir,
            device=self.device,
            speed=self.speed,
            class_names=tuple(self.class_names),
            epochs_planned=self.preset.train.epochs,
            steps_per_epoch=self.steps_per_epoch,
            epochs_completed=len(self.rows),
            best_epoch=self.best.epoch or None,
            best_val_acc=self.best.val_acc if self.rows else None,
            final_val_acc=last.val_acc if last else None,
            final_train_acc=last.train_acc if last else None,
            best_val_loss=self.best.val_loss if self.rows else None,
            best_val_loss_epoch=self.best.val_loss_epoch or None,
            early_stopped=self.early_stopped,
            early_stopping_patience=self.preset.train.early_stopping,
            seconds=round(time.perf_counter() - self.started, 3),
            finished_at=time.strftime("%Y-%m-%dT%H:%M:%S"),
            error=error,
            hint=hint,
        )
