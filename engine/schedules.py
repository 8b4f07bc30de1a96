"""Optimizers and learning-rate schedules built from a preset, using torch's own classes.

A schedule is stepped per epoch (``step``, ``multistep``, ``exponential``, ``cosine``,
``plateau``) or per batch (``onecycle``). Linear warmup over ``warmup_epochs`` is a per-batch
``LinearLR`` that reaches the preset's rate on the last warmup batch; the main schedule starts
after warmup, so its first epoch trains at that rate and its epochs (``step_size``,
``milestones``, cosine's length) count from there. :func:`preview_lr` runs the same objects on a
dummy parameter to show the planned curve before a run.
"""

from __future__ import annotations

import warnings

import torch
from torch.optim import lr_scheduler

from engine.preset import Preset, TrainConfig


def build_optimizer(params, cfg: TrainConfig, fused: bool = False) -> torch.optim.Optimizer:
    """The optimizer ``train.optimizer.name`` names; ``fused``: torch's one-kernel update for
    SGD, Adam and AdamW (CUDA parameters only; RMSprop has none and keeps its multi-tensor one)."""
    o = cfg.optimizer
    one_kernel = {"fused": True} if fused else {}
    if o.name == "sgd":
        return torch.optim.SGD(
            params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay, **one_kernel
        )
    if o.name == "adam":
        return torch.optim.Adam(params, lr=o.lr, weight_decay=o.weight_decay, **one_kernel)
    if o.name == "adamw":
        return torch.optim.AdamW(params, lr=o.lr, weight_decay=o.weight_decay, **one_kernel)
    return torch.optim.RMSprop(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)


class Schedule:
    """A preset's learning-rate schedule; the trainer calls :meth:`after_batch` and
    :meth:`after_epoch`."""

    def __init__(self, optimizer: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int):
        s = cfg.schedule
        self.name = s.name
        self.steps_per_epoch = steps_per_epoch
        self.warmup_steps = 0 if s.name == "onecycle" else s.warmup_epochs * steps_per_epoch
        self.steps = 0
        self.warmup = None
        if self.warmup_steps:
            self.warmup = lr_scheduler.LinearLR(
                optimizer,
                start_factor=1.0 / self.warmup_steps,
                total_iters=max(1, self.warmup_steps - 1),
            )
        main_epochs = cfg.epochs - s.warmup_epochs
        if s.name == "step":
            self.main = lr_scheduler.StepLR(optimizer, step_size=s.step_size, gamma=s.gamma)
        elif s.name == "multistep":
            self.main = lr_scheduler.MultiStepLR(optimizer, milestones=s.milestones, gamma=s.gamma)
        elif s.name == "exponential":
            self.main = lr_scheduler.ExponentialLR(optimizer, gamma=s.gamma)
        elif s.name == "cosine":
            self.main = lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, main_epochs))
        elif s.name == "onecycle":
            self.main = lr_scheduler.OneCycleLR(
                optimizer,
                max_lr=[cfg.optimizer.lr * g.get("lr_factor", 1.0) for g in optimizer.param_groups],
                total_steps=cfg.epochs * steps_per_epoch,
            )
        elif s.name == "plateau":
            self.main = lr_scheduler.ReduceLROnPlateau(
                optimizer, mode="min", factor=s.gamma, patience=s.patience
            )
        else:
            self.main = None

    def after_batch(self) -> None:
        self.steps += 1
        if self.warmup is not None and self.steps <= self.warmup_steps:
            self.warmup.step()
        elif self.name == "onecycle":
            self.main.step()

    def after_epoch(self, val_loss: float) -> None:
        # the epoch that ends warmup is not one of the main schedule's epochs
        if self.main is None or self.name == "onecycle" or self.steps <= self.warmup_steps:
            return
        if self.name == "plateau":
            self.main.step(val_loss)
        else:
            self.main.step()

    def fast_forward(self, val_losses: list[float]) -> None:
        """Advance a schedule built on a fresh optimizer to the end of ``len(val_losses)``
        epochs (a resumed run whose length changed: its schedule is re-planned, not loaded)."""
        with warnings.catch_warnings():  # "scheduler.step() before optimizer.step()"
            warnings.simplefilter("ignore")
            for loss in val_losses:
                for _ in range(self.steps_per_epoch):
                    self.after_batch()
                self.after_epoch(loss)

    def state_dict(self) -> dict:
        return {
            "steps": self.steps,
            "warmup": self.warmup.state_dict() if self.warmup is not None else None,
            "main": self.main.state_dict() if self.main is not None else None,
        }

    def load_state_dict(self, state: dict) -> None:
        self.steps = state["steps"]
        if self.warmup is not None and state["warmup"] is not None:
            self.warmup.load_state_dict(state["warmup"])
        if self.main is not None and state["main"] is not None:
            self.main.load_state_dict(state["main"])


def reset_rates(optimizer: torch.optim.Optimizer, cfg: TrainConfig) -> None:
    """Put the preset's rates back on an optimizer whose state came from a checkpoint, and drop
    what schedules stored in it, so a schedule can be planned afresh."""
    for group in optimizer.param_groups:
        group["lr"] = cfg.optimizer.lr * group.get("lr_factor", 1.0)
        for key in ("initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum"):
            group.pop(key, None)


def preview_lr(preset: Preset, steps_per_epoch: int) -> list[float]:
    """The learning rate at every step of the planned run (``plateau`` assumes no plateau)."""
    param = torch.zeros(1, requires_grad=True)
    optimizer = build_optimizer([param], preset.train)
    schedule = Schedule(optimizer, preset.train, steps_per_epoch)
    lrs = []
    for epoch in range(preset.train.epochs):
        for _ in range(steps_per_epoch):
            lrs.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            schedule.after_batch()
        schedule.after_epoch(1.0 / (epoch + 1))
    return lrs
