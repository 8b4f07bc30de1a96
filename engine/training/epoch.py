"""One epoch of training steps: batches in the epoch's order, augmentation, the step itself, and
the running readout (loss, accuracy, divergence watch) at most ~20 times a second, without
waiting for the device inside the epoch."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from engine import events as ev
from engine.control import RunControl
from engine.data import DataBundle
from engine.data.balance import epoch_order
from engine.distributed import Dist
from engine.doctor.probe import StepProbe
from engine.doctor.samples import SampleMargins
from engine.errors import TrainingError
from engine.readout import Readout
from engine.runs import StepLog
from engine.training.assembly import Assembly
from engine.training.compiling import cache_in_use

BATCH_EVENT_INTERVAL_S = 0.05  # at most ~20 BatchEnd events per second
# the step log keeps at least this many loss points per epoch, so a short fast run still has a
# loss curve (on the CPU a read costs microseconds; on a GPU it is an asynchronous copy)
STEP_RECORDS_PER_EPOCH = 10
EMA_WEIGHT = 0.98  # smoothing of the per-step loss for the divergence check
DIVERGENCE_WARMUP_STEPS = 20


class Stopped(Exception):
    """The stop flag was seen between two batches."""


@dataclass
class StepState:
    """The step loop's running state, kept in checkpoints: epochs and steps done, and the
    smoothed loss with its best value (the divergence watch)."""

    epoch: int = 0
    step: int = 0
    ema: torch.Tensor = field(default_factory=lambda: torch.zeros(()))
    ema_best: torch.Tensor = field(default_factory=lambda: torch.full((), math.inf))
    last_batch: torch.Tensor | None = None  # the batch a failure happened on

    def to(self, device: torch.device) -> StepState:
        self.ema, self.ema_best = self.ema.to(device), self.ema_best.to(device)
        return self


@dataclass(frozen=True)
class EpochTotals:
    """What one epoch of training steps adds up to, over every rank."""

    loss: float
    acc: float
    grad_norm: float
    lr: float  # the rate of the epoch's last step
    samples: int


def train_epoch(
    a: Assembly,
    data: DataBundle,
    batch_size: int,
    grad_clip: float,
    state: StepState,
    dist: Dist,
    control: RunControl,
    on_divergence: Callable[[float, int, int], None],
    step_log: StepLog,
    events: Callable[[ev.Event], None],
    margins: SampleMargins | None = None,
    probes: tuple[StepProbe, ...] = (),
) -> EpochTotals:
    """Train one epoch; raise :class:`Stopped` when stopped, ``TrainingError`` on a NaN loss."""
    a.train_mode()
    device = a.device
    order = dist.shard(epoch_order(a.y_train_cpu, data.num_classes, a.balance, a.order_gen))
    # resident images are indexed on the device; cached ones are gathered on the host, so the
    # order stays there (page-locked, its slices reach the device without a sync)
    order = order.to(device) if data.resident else _host(order, device)
    params = [q for q in a.forward_model.parameters() if q.requires_grad]
    zero = torch.zeros((), device=device)
    loss_sum, correct, grad_sum, pending = zero.clone(), zero.clone(), zero.clone(), zero.clone()
    seen = pending_n = steps = 0
    last_emit = time.perf_counter()
    readout = Readout(device, 3)
    lr = a.optimizer.param_groups[0]["lr"]
    n_steps = a.steps_per_epoch
    record_every = max(1, n_steps // STEP_RECORDS_PER_EPOCH)
    # a probe watches its step, or the last step with a whole batch (a short one says less)
    last_whole = n_steps - 1 if len(order) >= n_steps * batch_size else max(n_steps - 2, 0)
    watch_steps = [last_whole if p.step is None else p.step for p in probes]
    for b in range(n_steps):
        control.wait_while_paused()
        if dist.any(control.stopped, device):
            raise Stopped
        idx = order[b * batch_size : (b + 1) * batch_size]
        if b == n_steps - 1 and len(order) > (b + 1) * batch_size and not a.whole_batches:
            idx = order[b * batch_size :]
        xb = a.normalize(data.x_train[idx])
        idx = idx if data.resident else idx.to(device, non_blocking=True)
        yb = data.y_train[idx]
        if a.augment:
            xb = a.augment(xb)
        xb = xb.contiguous(memory_format=a.memory_format)
        state.last_batch = xb
        watched = [p for p, step in zip(probes, watch_steps, strict=True) if step == b]
        for p in watched:
            p.arm()
        if a.compiled:
            logits, loss = _compiled_step(a, xb, yb, state.epoch + 1, events)
        else:
            logits, loss = _forward_backward(a, xb, yb)
        for p in watched:
            p.read(loss, len(yb))
        if margins is not None:
            margins.add(idx, logits.clone() if a.compiled else logits)  # graphs reuse theirs
        a.scaler.unscale_(a.optimizer)
        if grad_clip:
            norm = torch.nn.utils.clip_grad_norm_(params, grad_clip)
        else:
            norm = torch.nn.utils.get_total_norm([q.grad for q in params if q.grad is not None])
        lr = a.optimizer.param_groups[0]["lr"]
        a.scaler.step(a.optimizer)
        a.scaler.update()
        a.schedule.after_batch()
        n = len(yb)
        detached = loss.detach()
        loss_sum += detached * n
        correct += (logits.argmax(1) == yb).sum()
        grad_sum += norm.detach()
        pending += detached
        pending_n += 1
        if state.step == 0:
            state.ema.copy_(detached)
        else:
            state.ema.mul_(EMA_WEIGHT).add_(detached, alpha=1 - EMA_WEIGHT)
        if state.step >= DIVERGENCE_WARMUP_STEPS:
            torch.minimum(state.ema_best, state.ema, out=state.ema_best)
        seen += n
        steps += 1
        state.step += 1
        now = time.perf_counter()
        emit = now - last_emit >= BATCH_EVENT_INTERVAL_S or b == n_steps - 1
        if emit or (b + 1) % record_every == 0:
            values = readout.read(
                torch.stack([pending / pending_n, state.ema / state.ema_best, correct / seen])
            )
            pending.zero_()
            pending_n = 0
            if emit:
                last_emit = now
            if values is None:  # GPU: the first copy is still on its way
                continue
            mean_loss, ratio, acc = values
            if math.isfinite(ratio) and ratio > 1.0:
                on_divergence(ratio, state.step, state.epoch + 1)
            if not math.isfinite(mean_loss):
                raise non_finite(f"{mean_loss} at step {state.step} (epoch {state.epoch + 1})")
            step_log.add(state.step, mean_loss, lr)
            if emit:
                events(ev.BatchEnd(state.step, mean_loss, lr, state.epoch + 1, b + 1, n_steps, acc))
    totals = dist.sum(
        torch.stack([loss_sum, correct, grad_sum, torch.tensor(float(seen), device=device)])
    )
    loss_sum, correct, grad_sum, seen_all = totals.tolist()
    if not math.isfinite(loss_sum):  # caught here too when a GPU readout lagged behind
        raise non_finite(f"{loss_sum} in epoch {state.epoch + 1}")
    return EpochTotals(
        loss=loss_sum / max(seen_all, 1),
        acc=correct / max(seen_all, 1),
        grad_norm=grad_sum / dist.world / max(steps, 1),
        lr=lr,
        samples=int(seen_all),
    )


def _forward_backward(a: Assembly, xb: torch.Tensor, yb: torch.Tensor):
    """The step's forward and backward pass: its logits and loss, the gradients in place.

    The last step's gradients go before the forward, not after it: under CUDA graphs
    (``reduce-overhead``) a gradient still alive when the next forward replays keeps that
    step's graph memory in use, and torch records a new graph every step instead of replaying
    one (an H200 spent over 4 minutes in resnet18's first epoch at 32 px that way)."""
    a.optimizer.zero_grad(set_to_none=True)
    with a.autocast():
        logits, loss = a.train_model(xb, yb)
    a.scaler.scale(loss).backward()
    return logits, loss


def _compiled_step(a: Assembly, xb, yb, epoch: int, events: Callable[[ev.Event], None]):
    """:func:`_forward_backward` through ``torch.compile``: the first step announced (it
    compiles, which takes a while), and a compile that fails redone eagerly, with a warning,
    for this step and the rest of the run."""
    first = a.compile_pending
    if first:
        events(ev.Compiling("compiling", epoch, a.speed.compile_mode, cache_dir=cache_in_use()))
        t0 = time.perf_counter()
    if a.speed.compile_mode == "reduce-overhead":
        # a new step: the last step's graph outputs (its logits) may be overwritten now
        torch.compiler.cudagraph_mark_step_begin()
    try:
        out = _forward_backward(a, xb, yb)
    except Exception as exc:  # noqa: BLE001 - any compiler failure: train eagerly instead
        warning = a.fall_back_to_eager(exc)
        events(ev.Compiling("failed", epoch, a.speed.compile_mode, message=warning))
        return _forward_backward(a, xb, yb)
    if first:
        a.compile_pending = False
        seconds = time.perf_counter() - t0
        events(ev.Compiling("compiled", epoch, a.speed.compile_mode, seconds, cache_in_use()))
    return out


def _host(order: torch.Tensor, device: torch.device) -> torch.Tensor:
    return order.pin_memory() if device.type == "cuda" else order


def non_finite(where: str) -> TrainingError:
    return TrainingError(
        f"the training loss became {where}",
        "lower 'train.optimizer.lr', set 'train.grad_clip' (e.g. 1.0), or check the inputs for "
        "NaN/inf values (the doctor's 'non-finite-loss' finding applies the first two in one "
        "click); the last good checkpoint is kept",
        non_finite=True,
    )
