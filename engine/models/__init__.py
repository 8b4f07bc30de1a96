"""Architectures, their starting weights and fine-tuning controls, and model summaries.

Every architecture adapts to the data's channels, image size and class count: Plateau's own
(``simple-cnn``, ``convnet``, ``vgg11``, ``mlp``: :mod:`engine.models.small`) and torchvision's
(``resnet18``, ``resnet50``, ``mobilenet_v3_small``/``_large``, ``efficientnet_b0``,
``convnext_tiny``: :mod:`engine.models.torchvision_nets`), which can start from pretrained
weights (:mod:`engine.models.pretrained`) and freeze their backbone
(:mod:`engine.models.finetune`).
"""

from __future__ import annotations

from torch import nn

from engine.errors import PresetError
from engine.models import small  # noqa: F401 - registers Plateau's own architectures
from engine.models.finetune import freeze, parameter_groups, parts
from engine.models.pretrained import pretrained_state, warm_start
from engine.models.registry import BUILDERS
from engine.models.summary import locate_failure, summarize
from engine.models.torchvision_nets import TORCHVISION, torchvision_net
from engine.preset import ModelConfig

PRETRAINED_ARCHS = tuple(TORCHVISION)

__all__ = [
    "BUILDERS",
    "PRETRAINED_ARCHS",
    "build_model",
    "freeze",
    "locate_failure",
    "parameter_groups",
    "parts",
    "summarize",
]


def build_model(
    cfg: ModelConfig,
    input_shape: tuple[int, int, int],
    num_classes: int,
    weights: bool = True,
    notes: list[str] | None = None,
) -> nn.Module:
    """The network ``cfg.arch`` names, sized for ``input_shape`` (C, H, W) and ``num_classes``,
    with its starting weights (pretrained, a weights file or a warm start; ``weights=False``
    leaves them random, e.g. before a checkpoint is loaded) and ``model.freeze`` applied.
    ``notes`` hears where the weights came from."""
    notes = [] if notes is None else notes
    if cfg.arch in TORCHVISION:
        state = None
        if weights and (cfg.pretrained or cfg.weights) and not cfg.init_from:
            state = pretrained_state(cfg)
            notes.append(_weights_note(cfg))
        model = torchvision_net(cfg, input_shape, num_classes, state)
    else:
        if cfg.pretrained:
            raise PresetError(
                f"'model.arch' = {cfg.arch!r} has no pretrained weights; choose one of "
                + ", ".join(PRETRAINED_ARCHS)
                + " or set 'model.pretrained' = false",
                "model.pretrained",
            )
        if cfg.weights:
            raise PresetError(
                "'model.weights' loads a torchvision network's weights ("
                + ", ".join(PRETRAINED_ARCHS)
                + f"), and 'model.arch' = {cfg.arch!r} is not one; to start from a Plateau "
                "run's weights, set 'model.init_from' to its run directory or checkpoint",
                "model.weights",
            )
        model = BUILDERS[cfg.arch](cfg, input_shape, num_classes)
    if weights and cfg.init_from:
        notes.append(warm_start(model, cfg.arch, cfg.init_from))
    freeze(model, cfg.arch, cfg.freeze)
    return model


def _weights_note(cfg: ModelConfig) -> str:
    if cfg.weights:
        return f"starting from the weights in {cfg.weights}"
    from engine.models.pretrained import weights_file

    return f"starting from torchvision's pretrained {cfg.arch} ({weights_file(cfg.arch)[1]})"
