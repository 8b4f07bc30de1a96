"""The training loop: one synchronous :meth:`Trainer.fit` that emits events.

``fit`` runs on whatever thread calls it (engine tests call it directly; the desktop app calls it
on a plain worker thread). Control comes in through :class:`RunControl` flags checked between
batches; data goes out as frozen events (:mod:`engine.events`). Per-step loss and accuracy are
accumulated on the device and read at most ~20 times a second.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from engine import events as ev
from engine.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from engine.control import RunControl
from engine.data import DataBundle, load_data
from engine.data.augment import BatchAugment
from engine.data.balance import (
    class_weights,
    epoch_length,
    epoch_order,
    focal_loss,
    steps_per_epoch,
)
from engine.devices import resolve_device
from engine.distributed import Dist
from engine.doctor.monitor import RunMonitor
from engine.errors import DataError, TrainingError
from engine.failures import explain
from engine.metrics import confusion_matrix, per_class
from engine.models import build_model, locate_failure, summarize
from engine.preset import Preset, PresetError
from engine.readout import Readout
from engine.runs import ReadOnlyRunFiles, RunFiles, StepLog, create_run_dir
from engine.schedules import Schedule, build_optimizer, reset_rates

BATCH_EVENT_INTERVAL_S = 0.05  # at most ~20 BatchEnd events (and loss reads) per second
EMA_WEIGHT = 0.98  # smoothing of the per-step loss for the divergence check
DIVERGENCE_WARMUP_STEPS = 20
TIMING_FIELDS = ("seconds", "samples_per_s")

__all__ = ["RunControl", "Trainer", "TIMING_FIELDS"]


class _Stopped(Exception):
    pass


class Trainer:
    """Trains one preset into a run directory (new, or an existing one to resume)."""

    def __init__(
        self,
        preset: Preset,
        out: str | Path = "runs",
        control: RunControl | None = None,
        resume_dir: str | Path | None = None,
        num_threads: int | None = None,
    ):
        self.preset = preset
        self.out = Path(out)
        self.control = control or RunControl()
        self.resume_dir = Path(resume_dir) if resume_dir else None
        self.num_threads = num_threads
        self.run_dir: Path | None = None

    # ------------------------------------------------------------------ setup

    def fit(self, events: Callable[[ev.Event], None] = lambda e: None) -> dict:
        """Train to the end (or until stopped); return the run summary.

        Bad input (an unusable preset or data) raises ``PresetError``/``DataError`` before the run
        directory is created. Failures during training end the run with status ``failed``, a
        ``RunFailed`` event and a complete run directory.
        """
        self.dist = Dist.from_env(self.preset.train.device)
        try:
            return self._fit(events if self.dist.is_main else (lambda e: None))
        finally:
            self.dist.close()

    def _fit(self, events: Callable[[ev.Event], None]) -> dict:
        if self.num_threads:
            torch.set_num_threads(self.num_threads)
        p = self.preset
        device = self.dist.device(resolve_device(p.train.device))
        torch.manual_seed(p.seed)
        data = load_data(p)
        model = build_model(p.model, data.input_shape, data.num_classes).to(device)
        try:
            model_summary = summarize(model, data.input_shape)
        except RuntimeError as exc:
            message, hint = explain(exc)
            raise TrainingError(
                f"'{p.model.arch}' cannot run on {tuple(data.input_shape)} images: {message}", hint
            ) from None
        data = data.to(device)
        self._setup(model, data, device)
        if self.resume_dir:
            self.run_dir = self.resume_dir
            self._restore(load_checkpoint(RunFiles(self.run_dir).last_checkpoint, device))
        else:
            created = None
            if self.dist.is_main:
                try:
                    created = str(create_run_dir(self.out, p.name))
                except OSError as exc:
                    raise DataError(
                        f"cannot create a run directory under {self.out}: "
                        f"{exc.strerror or exc}; choose another output folder (--out)",
                        "out",
                    ) from None
            self.run_dir = Path(self.dist.broadcast(created))
        self.files = RunFiles(self.run_dir) if self.dist.is_main else ReadOnlyRunFiles(self.run_dir)
        self.started = time.perf_counter()
        try:
            self.files.remove_stale_temporaries()
            self.files.write_preset(p)
            self.files.write_summary(self._summary("running"))
        except OSError as exc:
            raise DataError(
                f"cannot write to the run directory {self.run_dir}: {exc.strerror or exc}",
                "out",
            ) from None
        self.events = events
        events(
            ev.RunStarted(
                p.to_dict(),
                str(self.run_dir),
                model_summary,
                data.stats,
                device=_device_label(device),
                start_epoch=self.epoch,
                steps_per_epoch=self.steps_per_epoch,
            )
        )
        try:
            self.monitor.start(self.files, events, self.rows, getattr(self, "doctor_state", None))
            self._loop(events)
        except _Stopped:
            return self._finish(events, "stopped")
        except Exception as exc:  # noqa: BLE001 - any failure ends the run with a reason
            message, hint = explain(exc)
            failing = self._last_batch if self._last_batch is not None else self.monitor.last_input
            if not isinstance(exc, (TrainingError, OSError)) and failing is not None:
                where = locate_failure(self.model, failing)
                if where:
                    message = f"{message} — in {where}"
            if isinstance(exc, TrainingError) and exc.non_finite:
                self.monitor.non_finite(message, self.epoch + 1)
            return self._finish(events, "failed", error=message, hint=hint)
        return self._finish(events, "finished")

    def _setup(self, model: torch.nn.Module, data: DataBundle, device: torch.device) -> None:
        p = self.preset
        self.model, self.data, self.device = model, data, device
        self.normalize = data.normalizer(device)
        self.y_train_cpu = data.y_train.cpu()
        n = epoch_length(self.y_train_cpu, data.num_classes, p.data.balance)
        n = -(-n // self.dist.world)  # this rank's share of an epoch
        self.steps_per_epoch = steps_per_epoch(n, p.train.batch_size)
        self.memory_format = (
            torch.channels_last if p.train.channels_last else torch.contiguous_format
        )
        model.to(memory_format=self.memory_format)
        self.train_model = model
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            ids = [device.index] if device.type == "cuda" else None
            self.train_model = DistributedDataParallel(model, device_ids=ids)
        if p.train.compile:  # after DDP, as PyTorch recommends
            # Static shapes: an epoch has at most two batch sizes (full and the remainder), and a
            # graph compiled for dynamic shapes would serve the full batches too, more slowly.
            mode = None if p.train.compile_mode == "default" else p.train.compile_mode
            self.train_model = torch.compile(self.train_model, mode=mode, dynamic=False)
        self.optimizer = build_optimizer(model.parameters(), p.train)
        self.schedule = Schedule(self.optimizer, p.train, self.steps_per_epoch)
        self.order_gen = torch.Generator().manual_seed(p.seed + 1)
        self.augment = BatchAugment(
            p.data.augment, torch.Generator(device=device).manual_seed(p.seed + 2)
        )
        weight = class_weights(self.y_train_cpu, data.num_classes).to(device)
        smoothing = p.train.label_smoothing
        if p.data.balance == "class-weights":
            self.loss_fn = lambda logits, y: F.cross_entropy(
                logits, y, weight=weight, label_smoothing=smoothing
            )
        elif p.data.balance == "focal":
            self.loss_fn = lambda logits, y: focal_loss(logits, y, label_smoothing=smoothing)
        else:
            self.loss_fn = lambda logits, y: F.cross_entropy(logits, y, label_smoothing=smoothing)
        self.amp_dtype = None
        if p.train.amp and device.type == "cuda":
            self.amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.epoch = 0
        self.step = 0
        self.early_stopped = False
        self.rows: list[dict] = []
        self.best = {"val_acc": -1.0, "epoch": 0, "val_loss": math.inf, "bad_epochs": 0}
        self.predictions: dict[str, np.ndarray] = {}
        self.step_log = StepLog()
        self._last_batch = None
        self.ema = torch.zeros((), device=device)
        self.ema_best = torch.full((), math.inf, device=device)
        self.monitor = RunMonitor(
            p, data, model, self.loss_fn, self.normalize, self.steps_per_epoch, device
        )

    def _restore(self, state: dict) -> None:
        p = self.preset
        done, planned = state["epoch"], p.train.epochs
        if planned <= done:
            raise PresetError(
                f"{self.resume_dir} has already trained {done} epoch{'s' * (done != 1)} and "
                f"'train.epochs' = {planned}; to train longer, set more epochs "
                f"(plateau-train resume RUN_DIR --epochs {done + max(1, done // 2)})",
                "train.epochs",
            )
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as exc:
            raise CheckpointError(
                f"{self.resume_dir}: the checkpoint does not fit the run's preset "
                f"({str(exc).splitlines()[0][:160]})"
            ) from None
        self.rows = RunFiles(self.resume_dir).read_metrics()[:done]
        if _schedule_plan(state["preset"]) == _schedule_plan(p.to_dict()):
            self.schedule.load_state_dict(state["schedule"])
        else:  # a longer run: re-plan the schedule for the new length, at the same position
            reset_rates(self.optimizer, p.train)
            self.schedule = Schedule(self.optimizer, p.train, self.steps_per_epoch)
            self.schedule.fast_forward([r["val_loss"] for r in self.rows])
        self.scaler.load_state_dict(state["scaler"])
        self.epoch = done
        self.step = state["step"]
        self.best = dict(state["best"])
        rng = state["rng"]
        torch.set_rng_state(rng["torch"])
        self.order_gen.set_state(rng["order"])
        self.augment.generator.set_state(rng["augment"])
        if rng.get("cuda") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        self.ema, self.ema_best = state["ema"].to(self.device), state["ema_best"].to(self.device)
        self.doctor_state = state.get("doctor")
        try:
            self.predictions = RunFiles(self.resume_dir).read_predictions()
        except (FileNotFoundError, ValueError, OSError):
            self.predictions = {}
        self.step_log = RunFiles(self.resume_dir).read_steps().up_to(self.step)

    # ------------------------------------------------------------------ the loop

    def _loop(self, events: Callable[[ev.Event], None]) -> None:
        p = self.preset
        while self.epoch < p.train.epochs:
            t0 = time.perf_counter()
            train = self._train_epoch(events)
            val = self._validate()
            self.epoch += 1
            seconds = time.perf_counter() - t0
            row = {
                "epoch": self.epoch,
                "train_loss": train["loss"],
                "train_acc": train["acc"],
                "val_loss": val["loss"],
                "val_acc": val["acc"],
                "lr": train["lr"],
                "seconds": round(seconds, 4),
                "samples_per_s": round(train["samples"] / max(seconds, 1e-9), 1),
                "grad_norm": train["grad_norm"],
                "per_class": per_class(val["confusion"]),
                "confusion": val["confusion"],
            }
            self.rows.append(row)
            self.monitor.after_epoch(self.rows)
            self.schedule.after_epoch(val["loss"])
            improved = val["acc"] > self.best["val_acc"]
            if improved:
                self.best["val_acc"], self.best["epoch"] = val["acc"], self.epoch
            if val["loss"] < self.best["val_loss"]:
                self.best["val_loss"], self.best["bad_epochs"] = val["loss"], 0
                self.best["val_loss_epoch"] = self.epoch
            else:
                self.best["bad_epochs"] += 1
            self._keep_predictions(val, improved)
            self.files.write_metrics(self.rows)
            self.files.write_steps(self.step_log)
            self.files.write_predictions(self.predictions)
            if self.dist.is_main:
                best = [self.files.best_checkpoint] if improved else []
                save_checkpoint(self.files.last_checkpoint, self._checkpoint_state(), *best)
            self.files.write_summary(self._summary("running"))
            events(ev.EpochEnd(self.epoch, row))
            patience = p.train.early_stopping
            if patience and self.best["bad_epochs"] >= patience:
                self.early_stopped = True
                break
            if self.control.stopped:
                raise _Stopped

    def _train_epoch(self, events: Callable[[ev.Event], None]) -> dict:
        p, model, data = self.preset, self.model, self.data
        model.train()
        order = epoch_order(self.y_train_cpu, data.num_classes, p.data.balance, self.order_gen)
        order = self.dist.shard(order).to(self.device)
        bs = p.train.batch_size
        params = [q for q in model.parameters() if q.requires_grad]
        zero = torch.zeros((), device=self.device)
        loss_sum, correct, grad_sum, pending = (
            zero.clone(),
            zero.clone(),
            zero.clone(),
            zero.clone(),
        )
        seen = pending_n = steps = 0
        last_emit = time.perf_counter()
        readout = Readout(self.device, 3)
        lr = self.optimizer.param_groups[0]["lr"]
        autocast = (
            torch.autocast(self.device.type, dtype=self.amp_dtype)
            if self.amp_dtype
            else nullcontext()
        )
        for b in range(self.steps_per_epoch):
            self.control.wait_while_paused()
            if self.dist.any(self.control.stopped, self.device):
                raise _Stopped
            idx = order[b * bs : (b + 1) * bs]
            if b == self.steps_per_epoch - 1 and len(order) > (b + 1) * bs:
                idx = order[b * bs :]
            xb, yb = self.normalize(data.x_train[idx]), data.y_train[idx]
            if self.augment:
                xb = self.augment(xb)
            xb = xb.contiguous(memory_format=self.memory_format)
            self._last_batch = xb
            with autocast:
                logits = self.train_model(xb)
                loss = self.loss_fn(logits.float(), yb)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
            if p.train.grad_clip:
                norm = torch.nn.utils.clip_grad_norm_(params, p.train.grad_clip)
            else:
                norm = torch.nn.utils.get_total_norm([q.grad for q in params if q.grad is not None])
            lr = self.optimizer.param_groups[0]["lr"]
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.schedule.after_batch()
            n = len(yb)
            detached = loss.detach()
            loss_sum += detached * n
            correct += (logits.argmax(1) == yb).sum()
            grad_sum += norm.detach()
            pending += detached
            pending_n += 1
            if self.step == 0:
                self.ema.copy_(detached)
            else:
                self.ema.mul_(EMA_WEIGHT).add_(detached, alpha=1 - EMA_WEIGHT)
            if self.step >= DIVERGENCE_WARMUP_STEPS:
                torch.minimum(self.ema_best, self.ema, out=self.ema_best)
            seen += n
            steps += 1
            self.step += 1
            now = time.perf_counter()
            if now - last_emit >= BATCH_EVENT_INTERVAL_S or b == self.steps_per_epoch - 1:
                values = readout.read(
                    torch.stack([pending / pending_n, self.ema / self.ema_best, correct / seen])
                )
                pending.zero_()
                pending_n = 0
                last_emit = now
                if values is None:  # GPU: the first copy is still on its way
                    continue
                mean_loss, ratio, acc = values
                if math.isfinite(ratio) and ratio > 1.0:
                    self.monitor.doctor.note_divergence(ratio, self.step, self.epoch + 1)
                if not math.isfinite(mean_loss):
                    raise _non_finite(f"{mean_loss} at step {self.step} (epoch {self.epoch + 1})")
                self.step_log.add(self.step, mean_loss, lr)
                events(
                    ev.BatchEnd(
                        self.step, mean_loss, lr, self.epoch + 1, b + 1, self.steps_per_epoch, acc
                    )
                )
        totals = self.dist.sum(
            torch.stack(
                [loss_sum, correct, grad_sum, torch.tensor(float(seen), device=self.device)]
            )
        )
        loss_sum, correct, grad_sum, seen_all = totals.tolist()
        if not math.isfinite(loss_sum):  # caught here too when a GPU readout lagged behind
            raise _non_finite(f"{loss_sum} in epoch {self.epoch + 1}")
        return {
            "loss": loss_sum / max(seen_all, 1),
            "acc": correct / max(seen_all, 1),
            "grad_norm": grad_sum / self.dist.world / max(steps, 1),
            "lr": lr,
            "samples": int(seen_all),
        }

    @torch.no_grad()
    def _validate(self) -> dict:
        model, data = self.model, self.data
        model.eval()
        chunk = max(self.preset.train.batch_size, 512)
        loss_sum = torch.zeros((), device=self.device)
        probs = []
        autocast = (
            torch.autocast(self.device.type, dtype=self.amp_dtype)
            if self.amp_dtype
            else nullcontext()
        )
        mine = torch.arange(self.dist.rank, len(data.y_val), self.dist.world, device=self.device)
        for i in range(0, len(mine), chunk):
            idx = mine[i : i + chunk]
            xb = self.normalize(data.x_val[idx])
            with autocast:
                logits = model(xb).float()
            loss_sum += F.cross_entropy(logits, data.y_val[idx], reduction="sum")
            probs.append(torch.softmax(logits, dim=1))
        prob = torch.cat(probs) if probs else torch.zeros(0, data.num_classes, device=self.device)
        cm = self.dist.sum(confusion_matrix(data.y_val[mine], prob.argmax(1), data.num_classes))
        loss_sum = self.dist.sum(loss_sum)
        if self.dist.enabled:  # every rank's probabilities, back in validation order
            parts = self.dist.gather((mine.cpu(), prob.cpu()))
            full = torch.zeros(len(data.y_val), data.num_classes)
            for part_idx, part_prob in parts:
                full[part_idx] = part_prob
            prob = full
        pred = prob.argmax(1)
        n = len(data.y_val)
        cm = cm.cpu()
        return {
            "loss": (loss_sum / n).item(),
            "acc": float(cm.diag().sum()) / n,
            "confusion": cm.tolist(),
            "pred": pred.cpu().numpy().astype(np.int16),
            "prob": prob.cpu().numpy().astype(np.float32),
        }

    # ------------------------------------------------------------------ records

    def _keep_predictions(self, val: dict, improved: bool) -> None:
        y_true = self.data.y_val.cpu().numpy().astype(np.int16)
        n = len(y_true)
        # every epoch's predicted class and its confidence, so any epoch's errors can be shown
        done = self.predictions.get("epoch_pred", np.zeros((0, n), np.int16))[: self.epoch - 1]
        conf = self.predictions.get("epoch_conf", np.zeros((0, n), np.float16))[: self.epoch - 1]
        pred = val["pred"].astype(np.int16)
        self.predictions.update(
            val_index=np.arange(n, dtype=np.int32),
            y_true=y_true,
            last_pred=val["pred"],
            last_prob=val["prob"],
            last_epoch=np.array(self.epoch),
            epoch_pred=np.concatenate([done, pred[None]]),
            epoch_conf=np.concatenate(
                [conf, val["prob"][np.arange(n), pred].astype(np.float16)[None]]
            ),
        )
        if improved:
            self.predictions.update(
                best_pred=val["pred"], best_prob=val["prob"], best_epoch=np.array(self.epoch)
            )

    def _checkpoint_state(self) -> dict:
        rng = {
            "torch": torch.get_rng_state(),
            "order": self.order_gen.get_state(),
            "augment": self.augment.generator.get_state(),
            "cuda": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else None,
        }
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "best": dict(self.best),
            "preset": self.preset.to_dict(),
            "class_names": list(self.data.class_names),
            "normalization": self.data.norm.as_dict(),
            "input_shape": list(self.data.input_shape),
            "arch": self.preset.model.arch,
            "rng": rng,
            "doctor": self.monitor.doctor.state(),
            "ema": self.ema.detach().cpu(),
            "ema_best": self.ema_best.detach().cpu(),
        }

    def _summary(self, status: str, **extra) -> dict:
        last = self.rows[-1] if self.rows else {}
        return {
            "status": status,
            "name": self.preset.name,
            "run_dir": str(self.run_dir),
            "device": _device_label(self.device),
            "class_names": list(self.data.class_names),
            "epochs_planned": self.preset.train.epochs,
            "steps_per_epoch": self.steps_per_epoch,
            "epochs_completed": self.epoch,
            "best_epoch": self.best["epoch"] or None,
            "best_val_acc": self.best["val_acc"] if self.rows else None,
            "final_val_acc": last.get("val_acc"),
            "final_train_acc": last.get("train_acc"),
            "best_val_loss": self.best["val_loss"] if self.rows else None,
            "best_val_loss_epoch": self.best.get("val_loss_epoch"),
            "early_stopped": self.early_stopped,
            "early_stopping_patience": self.preset.train.early_stopping,
            "seconds": round(time.perf_counter() - self.started, 3),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            **extra,
        }

    def _finish(self, events, status: str, **extra) -> dict:
        self.monitor.finish()
        if status == "stopped" and self.dist.is_main and not self.files.last_checkpoint.exists():
            # Stopped inside the first epoch: keep what was learnt so far.
            try:
                save_checkpoint(self.files.last_checkpoint, self._checkpoint_state())
            except OSError:
                pass
        summary = self._summary(status, **extra)
        try:
            self.files.write_steps(self.step_log)  # a stop mid-epoch keeps its steps too
            self.files.write_summary(summary)
        except OSError:  # the disk is full or gone: the event still tells the user
            pass
        if status == "finished":
            events(ev.RunFinished(summary))
        elif status == "stopped":
            events(ev.RunStopped(summary))
        else:
            events(ev.RunFailed(extra.get("error", ""), extra.get("hint", ""), summary))
        return summary


def _non_finite(where: str) -> TrainingError:
    return TrainingError(
        f"the training loss became {where}",
        "lower 'train.optimizer.lr', set 'train.grad_clip' (e.g. 1.0), or check the inputs for "
        "NaN/inf values (the doctor's 'non-finite-loss' finding applies the first two in one "
        "click); the last good checkpoint is kept",
        non_finite=True,
    )


def _schedule_plan(preset: dict) -> tuple:
    """What a schedule's state depends on: a resume that changes it re-plans the schedule."""
    t = preset["train"]
    return t["epochs"], t["schedule"], t["optimizer"]["lr"]


def _device_label(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)
