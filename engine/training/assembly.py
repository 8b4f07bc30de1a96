"""Everything a run trains with, assembled once from the preset, its data and the device: the
network (plain, and wrapped for DDP and ``torch.compile``), optimizer, schedule, loss, batch
order, augmentation and mixed precision."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from engine.data import DataBundle
from engine.data.augment import BatchAugment
from engine.data.balance import class_weights, epoch_length, focal_loss, steps_per_epoch
from engine.distributed import Dist
from engine.models import parameter_groups
from engine.models.finetune import frozen_norms, keep_frozen_statistics
from engine.preset import Preset
from engine.schedules import Schedule, build_optimizer
from engine.training import speed
from engine.training.compiling import compile_model, first_line


@dataclass
class Assembly:
    """The objects one run trains with (built by :func:`assemble`)."""

    model: torch.nn.Module  # the whole network: checkpoints
    forward_model: torch.nn.Module  # what maps the data to logits: the network, or its head
    # what a training step calls: (x, y) -> (logits, loss), the forward model with its loss
    # (DDP-wrapped with several processes, compiled as one graph where torch.compile is chosen)
    train_model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    schedule: Schedule
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    normalize: Callable[[torch.Tensor], torch.Tensor]
    augment: BatchAugment
    order_gen: torch.Generator  # the epoch order (balanced sampling included)
    scaler: torch.amp.GradScaler
    amp_dtype: torch.dtype | None
    memory_format: torch.memory_format
    steps_per_epoch: int
    epoch_samples: int  # this process's share of an epoch's samples
    y_train_cpu: torch.Tensor
    balance: str  # data.balance: how each epoch's order is drawn
    device: torch.device
    frozen_norms: list  # batch-norm layers of frozen blocks: their statistics stay as they are
    speed: speed.SpeedChoice  # mixed precision, memory format and compile, and why
    eager_model: torch.nn.Module  # train_model before torch.compile (the fallback)
    compile_pending: bool = False  # compiled, and its first step has not run yet
    # every step a whole batch (compiled runs: one batch shape, so one graph to compile; the
    # remainder's samples are left out of this epoch and drawn again in later ones)
    whole_batches: bool = False

    @property
    def compiled(self) -> bool:
        """The training steps run through ``torch.compile``."""
        return self.train_model is not self.eager_model

    def fall_back_to_eager(self, exc: BaseException) -> str:
        """Train without ``torch.compile`` from now on (it failed with ``exc``); the warning."""
        self.train_model = self.eager_model
        self.compile_pending = False
        warning = f"torch.compile failed ({first_line(exc)}); training continues without it"
        self.speed = replace(
            self.speed, compile=False, reasons=(*self.speed.reasons[:2], "compile: " + warning)
        )
        return warning

    def train_mode(self) -> None:
        """The network in training mode, its frozen batch-norm layers excepted."""
        self.forward_model.train()
        keep_frozen_statistics(self.frozen_norms)

    def autocast(self):
        """The mixed-precision context of training steps and validation (a no-op without AMP)."""
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)


def assemble(
    preset: Preset,
    data: DataBundle,
    model: torch.nn.Module,
    device: torch.device,
    dist: Dist,
    forward: torch.nn.Module | None = None,
) -> Assembly:
    """Wrap ``model`` for training and build what trains it, for this rank of ``dist``
    (``forward``: the part the data goes through when it is not all of ``model`` — the head,
    on the frozen-feature fast path)."""
    forward = model if forward is None else forward
    p = preset
    y_train_cpu = data.y_train.cpu()
    n = epoch_length(y_train_cpu, data.num_classes, p.data.balance)
    n = -(-n // dist.world)  # this rank's share of an epoch
    steps = steps_per_epoch(n, p.train.batch_size)
    images = forward is model  # not features
    cap = speed.capability(
        device, model, data.input_shape, steps, p.train.epochs, images, dist.enabled
    )
    choice = speed.decide(p.train, cap)
    whole_batches = choice.compile and n >= p.train.batch_size
    if whole_batches:
        steps = n // p.train.batch_size
    memory_format = torch.channels_last if choice.channels_last else torch.contiguous_format
    if device.type == "cuda":  # process-wide: a worker or CLI process trains one run at a time
        torch.backends.cudnn.benchmark = choice.cudnn_autotune
    model.to(memory_format=memory_format)
    train_model = forward
    if dist.enabled:
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        train_model = DistributedDataParallel(forward, device_ids=ids)
    loss_fn = _loss(p, y_train_cpu, data.num_classes, device)
    eager_model = train_model = WithLoss(train_model, loss_fn)
    if choice.compile:  # after DDP, as PyTorch recommends
        train_model = compile_model(train_model, choice.compile_mode)
    groups = parameter_groups(model, p.model.arch, p.train.optimizer.lr, p.train.backbone_lr_factor)
    # on CUDA the update is one fused kernel, as a hand-tuned loop has it (CPU runs unchanged)
    optimizer = build_optimizer(groups, p.train, fused=device.type == "cuda")
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, None: None}[choice.amp]
    return Assembly(
        model=model,
        forward_model=forward,
        train_model=train_model,
        optimizer=optimizer,
        schedule=Schedule(optimizer, p.train, steps),
        loss_fn=loss_fn,
        normalize=data.normalizer(device),
        augment=BatchAugment(
            p.data.augment, torch.Generator(device=device).manual_seed(p.seed + 2)
        ),
        order_gen=torch.Generator().manual_seed(p.seed + 1),
        scaler=torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16),
        amp_dtype=amp_dtype,
        memory_format=memory_format,
        steps_per_epoch=steps,
        epoch_samples=n,
        y_train_cpu=y_train_cpu,
        balance=p.data.balance,
        device=device,
        frozen_norms=frozen_norms(model, p.model.arch, p.model.freeze),
        speed=choice,
        eager_model=eager_model,
        compile_pending=choice.compile,
        whole_batches=whole_batches,
    )


class WithLoss(torch.nn.Module):
    """A network and its training loss as one module, ``(x, y) -> (logits, loss)``: compiled,
    the loss's forward and backward join the network's graphs instead of running as separate
    kernels after them (eager, the same operations in the same order as calling both)."""

    def __init__(self, net: torch.nn.Module, loss_fn: Callable):
        super().__init__()
        self.net, self.loss_fn = net, loss_fn

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.net(x)
        return logits, self.loss_fn(logits.float(), y)


def _loss(preset: Preset, y_train: torch.Tensor, num_classes: int, device: torch.device):
    """The training objective ``data.balance`` and ``train.label_smoothing`` call for."""
    smoothing = preset.train.label_smoothing
    if preset.data.balance == "class-weights":
        weight = class_weights(y_train, num_classes).to(device)
        return lambda logits, y: F.cross_entropy(
            logits, y, weight=weight, label_smoothing=smoothing
        )
    if preset.data.balance == "focal":
        return lambda logits, y: focal_loss(logits, y, label_smoothing=smoothing)
    return lambda logits, y: F.cross_entropy(logits, y, label_smoothing=smoothing)
