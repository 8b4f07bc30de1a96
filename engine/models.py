"""Architecture registry and model summary.

Every architecture adapts to the data's channels, image size and class count:
``simple-cnn`` (the article's: 3×3 conv with 16 filters → ReLU → 2×2 max-pool → linear),
``convnet`` (``depth`` conv–BN–ReLU–pool blocks, ``width`` doubling each block), ``resnet18`` and
``vgg11`` (torchvision's, with a 3×3 stem and no early down-sampling for small images), and
``mlp`` (``depth`` hidden layers of ``width`` units).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from engine.errors import PresetError
from engine.preset import ModelConfig

BUILDERS: dict[str, Callable[..., nn.Module]] = {}


def register(name: str):
    def wrap(fn):
        BUILDERS[name] = fn
        return fn

    return wrap


def build_model(cfg: ModelConfig, input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    """The network ``cfg.arch`` names, sized for ``input_shape`` (C, H, W) and ``num_classes``."""
    return BUILDERS[cfg.arch](cfg, input_shape, num_classes)


def _norm2d(cfg: ModelConfig, channels: int) -> nn.Module:
    return nn.BatchNorm2d(channels) if cfg.batch_norm else nn.Identity()


@register("simple-cnn")
def simple_cnn(cfg: ModelConfig, shape, num_classes: int) -> nn.Module:
    c, h, w = shape
    if min(h, w) < 4:
        raise PresetError(
            f"'model.arch' = 'simple-cnn' needs images of at least 4×4 pixels, not {h}×{w}; "
            "set 'data.image_size' or choose another architecture",
            "model.arch",
        )
    return nn.Sequential(
        nn.Conv2d(c, 16, kernel_size=3),
        nn.ReLU(),
        nn.MaxPool2d(2, 2),
        nn.Flatten(),
        nn.Dropout(cfg.dropout),
        nn.Linear(16 * ((h - 2) // 2) * ((w - 2) // 2), num_classes),
    )


@register("convnet")
def convnet(cfg: ModelConfig, shape, num_classes: int) -> nn.Module:
    c, h, w = shape
    layers: list[nn.Module] = []
    channels, size = c, min(h, w)
    for i in range(cfg.depth):
        out = cfg.width * 2**i
        layers += [
            nn.Conv2d(channels, out, 3, padding=1, bias=not cfg.batch_norm),
            _norm2d(cfg, out),
            nn.ReLU(inplace=True),
        ]
        if size >= 2:
            layers.append(nn.MaxPool2d(2))
            size //= 2
        channels = out
    layers += [
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Dropout(cfg.dropout),
        nn.Linear(channels, num_classes),
    ]
    return nn.Sequential(*layers)


@register("resnet18")
def resnet18(cfg: ModelConfig, shape, num_classes: int) -> nn.Module:
    from torchvision.models import resnet18 as tv_resnet18

    c, h, w = shape
    norm = nn.BatchNorm2d if cfg.batch_norm else (lambda ch: nn.Identity())
    model = tv_resnet18(weights=None, num_classes=num_classes, norm_layer=norm)
    if min(h, w) <= 64:  # small images: 3×3 stride-1 stem, no max-pool (the CIFAR variant)
        model.conv1 = nn.Conv2d(c, 64, 3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
    else:
        model.conv1 = nn.Conv2d(c, 64, 7, stride=2, padding=3, bias=False)
    model.fc = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(512, num_classes))
    return model


@register("vgg11")
def vgg11(cfg: ModelConfig, shape, num_classes: int) -> nn.Module:
    from torchvision.models import VGG

    c, h, w = shape
    layers: list[nn.Module] = []
    channels, size = c, min(h, w)
    for v in (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"):
        if v == "M":
            if size >= 2:
                layers.append(nn.MaxPool2d(2))
                size //= 2
            continue
        layers += [nn.Conv2d(channels, v, 3, padding=1), _norm2d(cfg, v), nn.ReLU(inplace=True)]
        channels = v
    model = VGG(nn.Sequential(*layers), num_classes=num_classes, dropout=cfg.dropout)
    model.avgpool = nn.AdaptiveAvgPool2d(1)
    model.classifier = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(512, num_classes))
    return model


@register("mlp")
def mlp(cfg: ModelConfig, shape, num_classes: int) -> nn.Module:
    c, h, w = shape
    layers: list[nn.Module] = [nn.Flatten()]
    features = c * h * w
    for _ in range(cfg.depth):
        layers += [nn.Linear(features, cfg.width)]
        if cfg.batch_norm:
            layers.append(nn.BatchNorm1d(cfg.width))
        layers += [nn.ReLU(inplace=True), nn.Dropout(cfg.dropout)]
        features = cfg.width
    layers.append(nn.Linear(features, num_classes))
    return nn.Sequential(*layers)


def summarize(model: nn.Module, input_shape: tuple[int, int, int]) -> dict:
    """Parameters (total, trainable) and each leaf layer's output shape for a batch of 2."""
    rows: list[dict] = []
    hooks = []

    def hook(name):
        def record(module, _inputs, output):
            shape = list(output.shape) if isinstance(output, torch.Tensor) else None
            params = sum(p.numel() for p in module.parameters(recurse=False))
            rows.append(
                {"name": name, "type": type(module).__name__, "output": shape, "params": params}
            )

        return record

    for name, module in model.named_modules():
        if name and not list(module.children()):
            hooks.append(module.register_forward_hook(hook(name)))
    was_training = model.training
    device = next(model.parameters()).device
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(2, *input_shape, device=device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return {
        "total_params": sum(p.numel() for p in model.parameters()),
        "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "layers": rows,
    }


def locate_failure(model: nn.Module, x: torch.Tensor) -> str | None:
    """Run ``x`` through ``model`` again and name the layer that raises, with its input shapes."""
    entered: list[tuple[str, str]] = []
    done: set[str] = set()
    hooks = []

    def before(name):
        def hook(module, inputs):
            shapes = [tuple(t.shape) for t in inputs if isinstance(t, torch.Tensor)]
            entered.append(
                (name, f"{type(module).__name__} with input {', '.join(map(str, shapes))}")
            )

        return hook

    def after(name):
        def hook(module, inputs, output):
            done.add(name)

        return hook

    for name, module in model.named_modules():
        if name and not list(module.children()):
            hooks.append(module.register_forward_pre_hook(before(name)))
            hooks.append(module.register_forward_hook(after(name)))
    try:
        with torch.no_grad():
            model(x)
    except Exception:  # noqa: BLE001 - the failure we are locating
        pending = [(n, d) for n, d in entered if n not in done]
        if pending:
            name, desc = pending[-1]
            return f"layer '{name}' ({desc})"
        return None
    finally:
        for h in hooks:
            h.remove()
    return None
