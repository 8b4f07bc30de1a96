"""torchvision's networks — ``resnet18``, ``resnet50``, ``mobilenet_v3_small``,
``mobilenet_v3_large``, ``efficientnet_b0``, ``convnext_tiny`` — built as torchvision defines
them (so pretrained weights load exactly), then adapted: the stem to the data's channels (timm's
way: summed for grayscale, repeated and scaled otherwise) and the head to its classes.

Every one ends in its *head*, ``Sequential(Dropout(model.dropout), Linear(features, classes))``;
the rest is the *backbone*, in ordered blocks (:func:`backbone_blocks`) that ``model.freeze``
counts from the end.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from engine.errors import PresetError
from engine.preset import PRETRAINED_ARCHS, ModelConfig

TORCHVISION = {arch: arch for arch in PRETRAINED_ARCHS}  # model.arch → torchvision's name
SMALL_IMAGES = 64  # resnet18 from scratch on images this small: 3×3 stem, no max-pool


def torchvision_net(
    cfg: ModelConfig, shape, num_classes: int, state: dict | None = None
) -> nn.Module:
    """The network ``cfg.arch`` names; ``state``: torchvision weights to start from."""
    from torchvision.models import get_model

    c, h, w = shape
    if cfg.arch == "resnet18" and state is None and not cfg.pretrained:
        return _resnet18_from_scratch(cfg, shape, num_classes)
    if not cfg.batch_norm:
        raise PresetError(
            f"'model.batch_norm' = false is only for networks trained from scratch; "
            f"{cfg.arch} has its own normalization layers",
            "model.batch_norm",
        )
    model = get_model(TORCHVISION[cfg.arch], weights=None)
    if state is not None:
        try:
            model.load_state_dict(state)
        except RuntimeError:  # its message is a page of keys: say what misfits in a line
            key = "model.weights" if cfg.weights else "model.pretrained"
            raise PresetError(
                f"the weights in '{key}' do not fit torchvision's {cfg.arch} "
                f"({_misfit(model.state_dict(), state)}); 'model.weights' takes that network's "
                "own weights file (1000 ImageNet classes), and a Plateau run's weights go in "
                "'model.init_from' (its run directory or checkpoint)",
                key,
            ) from None
    adapt_stem(model, c)
    set_head(model, cfg.arch, num_classes, cfg.dropout)
    return model


def _resnet18_from_scratch(cfg: ModelConfig, shape, num_classes: int) -> nn.Module:
    from torchvision.models import resnet18

    c, h, w = shape
    norm = nn.BatchNorm2d if cfg.batch_norm else (lambda ch: nn.Identity())
    model = resnet18(weights=None, num_classes=num_classes, norm_layer=norm)
    if min(h, w) <= SMALL_IMAGES:  # the CIFAR variant
        model.conv1 = nn.Conv2d(c, 64, 3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
    else:
        model.conv1 = nn.Conv2d(c, 64, 7, stride=2, padding=3, bias=False)
    model.fc = _head(512, num_classes, cfg.dropout)
    return model


def _head(features: int, num_classes: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(features, num_classes))


def set_head(model: nn.Module, arch: str, num_classes: int, dropout: float) -> None:
    """Replace torchvision's 1000-class classifier by this data's head."""
    if arch.startswith("resnet"):
        model.fc = _head(model.fc.in_features, num_classes, dropout)
    elif arch.startswith("mobilenet"):
        c = model.classifier
        model.classifier = nn.Sequential(c[0], c[1], _head(c[3].in_features, num_classes, dropout))
    elif arch.startswith("efficientnet"):
        model.classifier = _head(model.classifier[1].in_features, num_classes, dropout)
    else:  # convnext: LayerNorm2d, Flatten, Linear
        c = model.classifier
        model.classifier = nn.Sequential(c[0], c[1], _head(c[2].in_features, num_classes, dropout))


def adapt_stem(model: nn.Module, channels: int) -> None:
    """Give the first convolution ``channels`` inputs, keeping what its RGB weights learnt."""
    found = next(
        (
            (name, m)
            for name, m in model.named_modules()
            if isinstance(m, nn.Conv2d) and m.in_channels == 3
        ),
        None,
    )
    if channels == 3 or found is None:
        return
    name, conv = found
    new = nn.Conv2d(
        channels,
        conv.out_channels,
        conv.kernel_size,
        conv.stride,
        conv.padding,
        conv.dilation,
        conv.groups,
        conv.bias is not None,
    )
    with torch.no_grad():
        new.weight.copy_(adapt_input_weight(conv.weight, channels))
        if conv.bias is not None:
            new.bias.copy_(conv.bias)
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)


def adapt_input_weight(weight: torch.Tensor, channels: int) -> torch.Tensor:
    """An RGB convolution's weight for ``channels`` inputs: summed for one (a gray image is
    R = G = B), else repeated and scaled by 3/channels (so the output keeps its scale)."""
    if channels == 1:
        return weight.sum(dim=1, keepdim=True)
    repeats = math.ceil(channels / 3)
    return weight.repeat(1, repeats, 1, 1)[:, :channels] * (3 / channels)


def head_of(model: nn.Module, arch: str) -> nn.Module | None:
    """The head :func:`set_head` put in (None for Plateau's own architectures)."""
    if arch.startswith("resnet"):
        return model.fc
    if arch.startswith("efficientnet"):
        return model.classifier
    if arch.startswith(("mobilenet", "convnext")):
        return model.classifier[2]
    return None


def backbone_blocks(model: nn.Module, arch: str) -> list[nn.Module]:
    """The backbone in order, in the blocks ``model.freeze = N`` counts from the end."""
    if arch.startswith("resnet"):
        stem = nn.ModuleList([model.conv1, model.bn1])
        return [stem, model.layer1, model.layer2, model.layer3, model.layer4]
    blocks = list(model.features)
    if arch.startswith(("mobilenet", "convnext")):
        blocks.append(model.classifier[0])  # the pretrained layer before the head
    return blocks


def _misfit(own: dict, state: dict) -> str:
    """What keeps ``state`` from loading into a model whose state dict is ``own``, in a few
    words ("" when it loads)."""
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    parts = []
    for what, keys in (("missing", missing), ("not in the network", unexpected)):
        if keys:
            parts.append(f"{len(keys)} {what}, e.g. {keys[0]!r}")
    if wrong:
        k = wrong[0]
        parts.append(
            f"{len(wrong)} of another shape, e.g. {k!r}: {tuple(state[k].shape)} "
            f"vs {tuple(own[k].shape)}"
        )
    return "; ".join(parts)
