"""The preset schema: frozen dataclasses, one per section, whose fields carry their default,
kind and allowed values — the single source of truth for keys, defaults, types and choices."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from engine.errors import PresetError
from engine.preset import validation

FORMAT = "plateau-preset/1"
SUPPORTED_FORMATS = (FORMAT,)

SOURCES = ("digits", "synthetic", "mnist", "fashion-mnist", "cifar10", "cifar100", "folder")
NORMALIZE = ("none", "unit", "standardize", "pretrained")
RESIZE = ("crop", "squash")
BALANCE = ("none", "oversample", "undersample", "class-weights", "focal")
PRETRAINED_ARCHS = (  # torchvision's, with pretrained weights
    "resnet18",
    "resnet50",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "efficientnet_b0",
    "convnext_tiny",
)
ARCHS = ("simple-cnn", "convnet", "vgg11", "mlp", *PRETRAINED_ARCHS)
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
COMPILE_MODES = ("auto", "default", "reduce-overhead", "max-autotune")
SCHEDULES = ("none", "step", "multistep", "exponential", "cosine", "onecycle", "plateau")


def _spec(kind: str, **rules: Any) -> dict[str, Any]:
    return {"kind": kind, **rules}


def _field(default: Any, kind: str, **rules: Any) -> Any:
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=_spec(kind, **rules))
    return field(default=default, metadata=_spec(kind, **rules))


@dataclass(frozen=True)
class SyntheticConfig:
    """``[data.synthetic]``: generated images with a controllable amount of signal."""

    classes: int = _field(10, "int", min=2, max=1000)
    samples: int = _field(2000, "int", min=4, max=10_000_000)
    channels: int = _field(3, "int", min=1, max=4)
    size: int = _field(32, "int", min=4, max=512)
    imbalance: float = _field(1.0, "float", min=1.0, max=10_000.0)
    label_noise: float = _field(0.0, "float", min=0.0, max=1.0)
    signal: float = _field(1.0, "float", min=0.0, max=1.0)


@dataclass(frozen=True)
class DataConfig:
    """``[data]``: where the images come from and how they are prepared."""

    source: str = _field("digits", "str", choices=SOURCES)
    root: str = _field("", "str")
    download: bool = _field(False, "bool")
    val_fraction: float = _field(0.2, "float", min=0.01, max=0.9)
    image_size: int = _field(0, "int", min=0, max=1024)
    normalize: str = _field("standardize", "str", choices=NORMALIZE)
    balance: str = _field("none", "str", choices=BALANCE)
    augment: list = _field([], "list[str]")
    limit_per_class: int = _field(0, "int", min=0, max=10_000_000)
    class_fraction: dict = _field({}, "dict[float]", min=0.0, max=1.0)
    cache: bool = _field(True, "bool")
    cache_dir: str = _field("", "str")
    resize: str = _field("crop", "str", choices=RESIZE)
    exclude: str = _field("", "str")
    relabel: str = _field("", "str")
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)


@dataclass(frozen=True)
class ModelConfig:
    """``[model]``: the architecture and its size."""

    arch: str = _field("convnet", "str", choices=ARCHS)
    width: int = _field(32, "int", min=1, max=4096)
    depth: int = _field(3, "int", min=1, max=64)
    batch_norm: bool = _field(True, "bool")
    dropout: float = _field(0.0, "float", min=0.0, max=0.99)
    pretrained: bool = _field(False, "bool")
    weights: str = _field("", "str")
    freeze: Any = _field("none", "freeze", min=0, max=1000)
    init_from: str = _field("", "str")

    @property
    def from_scratch(self) -> bool:
        """A network whose normalization ``batch_norm`` chooses: Plateau's own, and resnet18
        without torchvision's weights."""
        if self.arch not in PRETRAINED_ARCHS:
            return True
        return self.arch == "resnet18" and not self.pretrained and not self.weights

    @property
    def has_batch_norm(self) -> bool:
        return self.batch_norm if self.from_scratch else self.arch != "convnext_tiny"


@dataclass(frozen=True)
class OptimizerConfig:
    """``[train.optimizer]``."""

    name: str = _field("adam", "str", choices=OPTIMIZERS)
    lr: float = _field(0.001, "float", min=1e-12, max=100.0)
    momentum: float = _field(0.9, "float", min=0.0, max=0.9999)
    weight_decay: float = _field(0.0, "float", min=0.0, max=10.0)


@dataclass(frozen=True)
class ScheduleConfig:
    """``[train.schedule]``: how the learning rate changes over the run."""

    name: str = _field("none", "str", choices=SCHEDULES)
    step_size: int = _field(1, "int", min=1, max=100_000)
    gamma: float = _field(0.1, "float", min=1e-6, max=1.0)
    milestones: list = _field([], "list[int]", min=1, max=100_000)
    patience: int = _field(3, "int", min=0, max=100_000)
    warmup_epochs: int = _field(0, "int", min=0, max=100_000)


@dataclass(frozen=True)
class TrainConfig:
    """``[train]``: the loop's settings."""

    epochs: int = _field(10, "int", min=1, max=100_000)
    batch_size: int = _field(64, "int", min=1, max=1_000_000)
    label_smoothing: float = _field(0.0, "float", min=0.0, max=0.99)
    grad_clip: float = _field(0.0, "float", min=0.0, max=1e6)
    early_stopping: int = _field(0, "int", min=0, max=100_000)
    device: str = _field("auto", "device")
    # "auto" (the default) or an explicit true/false; engine.training.speed decides what auto is
    amp: bool | str = _field("auto", "auto-bool")
    processes: int = _field(1, "int", min=1, max=256)
    channels_last: bool | str = _field("auto", "auto-bool")
    compile: bool | str = _field("auto", "auto-bool")
    compile_mode: str = _field("auto", "str", choices=COMPILE_MODES)
    backbone_lr_factor: float = _field(1.0, "float", min=0.0, max=10.0)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)


@dataclass(frozen=True)
class Preset:
    """A complete run description. Build with :func:`from_dict`, :func:`load` or ``Preset()``."""

    format: str = _field(FORMAT, "str", choices=SUPPORTED_FORMATS)
    name: str = _field("untitled", "name")
    seed: int = _field(0, "int", min=0, max=2**32 - 1)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        """The preset as plain TOML-ready data (every key, defaults included)."""
        return dataclasses.asdict(self)

    def with_changes(self, changes: dict[str, Any]) -> Preset:
        """A copy with dotted-key changes applied (``{"train.optimizer.lr": 3e-4}``), validated."""
        return validation.validate(Preset, self._changed(changes))

    def problems_with(self, changes: dict[str, Any]) -> list[PresetError]:
        """Every problem the dotted-key ``changes`` would cause (empty: ``with_changes`` works)."""
        return validation.problems(Preset, self._changed(changes))

    def _changed(self, changes: dict[str, Any]) -> dict[str, Any]:
        raw = self.to_dict()
        for key, value in changes.items():
            validation.set_dotted(Preset, raw, key, value)
        return raw

    def get(self, key: str) -> Any:
        """The value at a dotted key, e.g. ``preset.get("train.optimizer.lr")``."""
        node: Any = self
        for part in key.split("."):
            node = getattr(node, part)
        return node
