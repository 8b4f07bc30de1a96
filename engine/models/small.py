"""Plateau's own small architectures, sized for the data: ``simple-cnn`` (the article's: 3×3
conv with 16 filters → ReLU → 2×2 max-pool → linear), ``convnet`` (``depth`` conv–BN–ReLU–pool
blocks, ``width`` doubling each block), ``vgg11`` (torchvision's, no early down-sampling for
small images) and ``mlp`` (``depth`` hidden layers of ``width`` units). Each ends in its head, a
final ``Linear`` (after ``Dropout``)."""

from __future__ import annotations

from torch import nn

from engine.errors import PresetError
from engine.models.registry import register
from engine.preset import ModelConfig


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
