"""What makes a run fast on its device: mixed precision, channels-last and ``torch.compile``,
decided once per run from the preset's ``train.amp`` / ``train.channels_last`` /
``train.compile`` / ``train.compile_mode`` (each ``"auto"`` or explicit) and what the device
can do. :func:`decide` is pure (tests pass a made-up :class:`Capability`); :func:`capability`
is the one place that asks torch.

What "auto" chooses, and why:

- On CUDA, bf16 autocast where the GPU computes bf16 natively (compute capability 8.0 and
  later), fp16 with loss scaling otherwise; channels-last for networks with convolutions; and
  ``torch.compile`` when the run is long enough to pay the first epoch's compile back (an H200
  measured a resnet18 at 32 px at 0.39 of a hand-tuned loop eager and 0.90 compiled with CUDA
  graphs; the compile took 33-39 s, cached for later runs of the same model and shapes).
- CUDA graphs (mode ``reduce-overhead``) for small images, whose steps are hundreds of tiny
  kernels bound by launching them; the ``default`` mode (fused kernels, no graphs) for large
  ones, whose steps are bound by arithmetic and whose graphs would pin a second copy of large
  activations for the epoch's remainder batch.
- cuDNN's autotuner (``torch.backends.cudnn.benchmark``) for convolutional networks on CUDA.
- On x86 CPUs, channels-last for networks with convolutions (one process): measured on 2 cores
  (2026-11-27) at 0.68 of the time for the synthetic 3×32×32 convnet run, 0.82 for the digits
  preset, 0.93 for resnet18 at 32 px, and a training step at 0.64-0.85 for convnet, resnet18
  and mobilenet_v3_small at 224 px. Results match explicit ``channels_last = true`` exactly and
  explicit ``false`` to rounding (the convolutions add in another order).
- Nothing else on the CPU, and nothing on Apple GPUs or other CPUs (not measured): bf16 changes
  the numbers (and is slow on CPUs without bf16 instructions), and a compile costs more than a
  short CPU run saves.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import platform
from dataclasses import dataclass

# torch.compile under "auto" only for runs of at least this many training steps: at 32 px an
# H200 saves ~6 ms a step compiled (57k samples/s, 2026-11-28, against ~24k eager with bf16 and
# channels-last, at batch 256), so ~750 steps pay back a compile read from the cache (a first
# epoch of 5.3 s instead of 0.8) and ~3,800 a first-ever one (23.7 s).
COMPILE_MIN_STEPS = 1000
# … and for larger images (the default mode, no CUDA graphs): at 224 px an H200 trained a
# resnet18 eager at 8,443 samples/s (batch 128: 15.2 ms a step, measured 2026-11-27) and compiled
# at ~11,100 (the 0.83 of a 13,400 reference: 11.5 ms), ~3.6 ms saved a step, so a
# cached compile (~10 s) pays back over ~3,000 steps and a first-ever one (~39 s) over ~11,000.
COMPILE_MIN_STEPS_LARGE = 3000
# Images up to this side get CUDA graphs (launch-bound steps); larger ones the default mode.
CUDA_GRAPHS_MAX_SIDE = 64
# Native bf16 arithmetic from this CUDA compute capability (Ampere) on.
BF16_MIN_COMPUTE = (8, 0)
# On CUDA with convolutions, always: a run's batches have one image size (a full batch and a
# remainder), so the first batch of each shape pays for the timing once (torchvision's and timm's
# training scripts do the same). Results may differ in the last bits from run to run, as they do
# on a GPU anyway.
AUTOTUNE_WHY = (
    "cuDNN autotune: on (one image size: the fastest convolution algorithms are timed once)"
)


@dataclass(frozen=True)
class Capability:
    """What the decision needs to know about the device, the network and the run."""

    device: str  # "cpu" | "cuda" | "mps"
    bf16: bool = False  # native bf16 on this GPU
    compute: tuple[int, int] = (0, 0)  # CUDA compute capability
    convolutional: bool = True  # the network has convolutions
    images: bool = True  # the network gets images (False: the frozen-feature path's head)
    image_side: int = 0  # the larger side of the network's input
    steps_per_epoch: int = 0
    epochs: int = 0
    distributed: bool = False  # DDP across processes
    compiler: bool = True  # torch.compile can build kernels here (triton for CUDA)
    x86: bool = True  # an x86-64 CPU (where channels-last was measured faster)

    @property
    def planned_steps(self) -> int:
        return self.steps_per_epoch * self.epochs


@dataclass(frozen=True)
class SpeedChoice:
    """What a run trains with, and why (one reason per setting, in words)."""

    amp: str | None  # "bf16" | "fp16" | None
    channels_last: bool
    compile: bool
    compile_mode: str  # "default" | "reduce-overhead" | "max-autotune" (when compile)
    reasons: tuple[str, ...]
    auto: tuple[str, ...] = ()  # the keys that were "auto"
    cudnn_autotune: bool = False  # cuDNN times its convolution algorithms on the first batches

    def summary(self) -> str:
        """The choice in a few words: ``bf16 · channels-last · compiled (reduce-overhead)``."""
        parts = [self.amp or "fp32"]
        if self.channels_last:
            parts.append("channels-last")
        parts.append(f"compiled ({self.compile_mode})" if self.compile else "eager")
        return " · ".join(parts)

    def to_json(self) -> dict:
        """Plain values for ``RunStarted.speed``."""
        out = dataclasses.asdict(self)
        out["reasons"], out["auto"] = list(self.reasons), list(self.auto)
        out["summary"] = self.summary()
        return out


def decide(train, cap: Capability) -> SpeedChoice:
    """The speed settings for ``train`` (a preset's ``[train]``) on ``cap``: explicit values as
    they are, ``"auto"`` as the device and the run call for."""
    amp, amp_why = _amp(train.amp, cap)
    channels_last, cl_why = _channels_last(train.channels_last, cap)
    compiled, mode, compile_why = _compile(train.compile, train.compile_mode, cap)
    auto = tuple(
        key
        for key in ("amp", "channels_last", "compile", "compile_mode")
        if getattr(train, key) == "auto"
    )
    reasons = (amp_why, cl_why, compile_why)
    autotune = cap.device == "cuda" and cap.images and cap.convolutional
    if autotune:
        reasons += (AUTOTUNE_WHY,)
    return SpeedChoice(amp, channels_last, compiled, mode, reasons, auto, autotune)


def _amp(value, cap: Capability) -> tuple[str | None, str]:
    if value is False:
        return None, "amp = false: full precision (fp32)"
    if cap.device != "cuda":
        if value is True:
            return None, f"amp = true has no effect on {cap.device}: mixed precision is CUDA only"
        return None, f"amp auto: off on {cap.device} (results stay exactly as without it)"
    source = "amp = true" if value is True else "amp auto"
    if cap.bf16:
        return "bf16", f"{source}: bf16 autocast (native bf16 on this GPU)"
    return "fp16", f"{source}: fp16 autocast with loss scaling (no native bf16 on this GPU)"


def _channels_last(value, cap: Capability) -> tuple[bool, str]:
    if not cap.images:
        return False, "channels_last: off (the head trains on feature vectors, not images)"
    if value is True or value is False:
        return value, f"channels_last = {str(value).lower()}"
    if not cap.convolutional:
        return False, "channels_last auto: off (the network has no convolutions)"
    if cap.device == "cuda":
        return True, "channels_last auto: on (convolutions on CUDA)"
    if cap.device == "cpu" and cap.x86 and not cap.distributed:
        return True, "channels_last auto: on (convolutions on an x86 CPU: 0.64-0.93 of the time)"
    where = "with several processes" if cap.device == "cpu" and cap.x86 else f"on {cap.device}"
    return False, f"channels_last auto: off {where}"


def _compile(value, mode: str, cap: Capability) -> tuple[bool, str, str]:
    chosen = mode if mode != "auto" else _auto_mode(cap)
    if value is True:
        return True, chosen, f"compile = true: torch.compile, mode {chosen}"
    if value is False:
        return False, chosen, "compile = false: eager"
    steps = cap.planned_steps
    least = COMPILE_MIN_STEPS if cap.image_side <= CUDA_GRAPHS_MAX_SIDE else COMPILE_MIN_STEPS_LARGE
    why = None
    if cap.device != "cuda":
        why = f"off on {cap.device} (compiling costs more than it saves here)"
    elif not cap.images:
        why = "off (only a small head trains, on precomputed features)"
    elif cap.distributed:
        why = "off with several processes (DDP splits the graph; set compile = true to try)"
    elif not cap.compiler:
        why = "off (triton, which torch.compile needs on CUDA, is not installed)"
    elif steps < least:
        why = (
            f"off ({steps:,} planned steps < {least:,} at {cap.image_side} px: "
            "the first epoch's compile would not pay back)"
        )
    if why:
        return False, chosen, f"compile auto: {why}"
    size = (
        f"{cap.image_side} px images: launch-bound steps, CUDA graphs pay"
        if chosen == "reduce-overhead" and mode == "auto"
        else f"{cap.image_side} px images"
    )
    return True, chosen, f"compile auto: mode {chosen} ({steps:,} planned steps; {size})"


def _auto_mode(cap: Capability) -> str:
    small = cap.device == "cuda" and cap.image_side <= CUDA_GRAPHS_MAX_SIDE
    return "reduce-overhead" if small else "default"  # CUDA graphs exist on CUDA only


def capability(
    device, model, input_shape, steps_per_epoch: int, epochs: int, images: bool, distributed: bool
) -> Capability:
    """What :func:`decide` needs, asked of torch for ``device`` and ``model``."""
    import torch

    bf16, compute = False, (0, 0)
    if device.type == "cuda":
        compute = tuple(torch.cuda.get_device_capability(device))
        bf16 = _native_bf16(torch, compute)
    convolutional = any(
        isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)) for m in model.modules()
    )
    shape = tuple(input_shape)
    return Capability(
        device=device.type,
        bf16=bf16,
        compute=compute,
        convolutional=convolutional,
        images=images,
        image_side=max(shape[-2:]) if len(shape) >= 2 else 0,
        steps_per_epoch=steps_per_epoch,
        epochs=epochs,
        distributed=distributed,
        compiler=device.type != "cuda" or importlib.util.find_spec("triton") is not None,
        x86=x86_cpu(),
    )


def x86_cpu() -> bool:
    """Whether this machine's CPU is x86-64 (where channels-last was measured faster)."""
    return platform.machine().lower() in ("x86_64", "amd64")


def _native_bf16(torch, compute: tuple[int, int]) -> bool:
    if torch.version.hip:  # ROCm: compute capability means something else
        try:
            return torch.cuda.is_bf16_supported(including_emulation=False)
        except TypeError:  # older torch without the argument
            return torch.cuda.is_bf16_supported()
    return compute >= BF16_MIN_COMPUTE
