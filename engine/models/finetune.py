"""Fine-tuning controls: which layers train (``model.freeze``), frozen batch-norm statistics, and
the parameter groups that give pretrained layers their own learning rate
(``train.backbone_lr_factor``)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from engine.models.torchvision_nets import backbone_blocks, head_of

TRAINABLE_KINDS = (nn.Conv2d, nn.Linear)


@dataclass
class Parts:
    """A network split into its head (the final classifier) and its backbone blocks."""

    head: nn.Module
    blocks: list[nn.Module]

    def backbone_parameters(self) -> list[nn.Parameter]:
        head = {id(p) for p in self.head.parameters()}
        return [p for b in self.blocks for p in b.parameters() if id(p) not in head]


def parts(model: nn.Module, arch: str) -> Parts:
    """The head and backbone blocks of any Plateau network."""
    head = head_of(model, arch)
    if head is not None:
        return Parts(head, backbone_blocks(model, arch))
    layers = list(model.children()) if isinstance(model, nn.Sequential) else _vgg_layers(model)
    # the head: the final Linear with the Dropout before it
    end = len(layers) - 1
    start = end - 1 if end > 0 and isinstance(layers[end - 1], nn.Dropout) else end
    head = nn.Sequential(*layers[start:])
    blocks: list[list[nn.Module]] = []
    for layer in layers[:start]:  # a block starts at each convolution or linear layer
        if isinstance(layer, TRAINABLE_KINDS) or not blocks:
            blocks.append([])
        blocks[-1].append(layer)
    return Parts(head, [nn.ModuleList(b) for b in blocks])


def _vgg_layers(model: nn.Module) -> list[nn.Module]:
    return [*model.features, model.avgpool, *model.classifier]


def frozen_blocks(model: nn.Module, arch: str, setting) -> list[nn.Module]:
    """The backbone blocks ``model.freeze`` keeps fixed: none, all ("backbone"), or all but
    the final N."""
    if setting == "none":
        return []
    blocks = parts(model, arch).blocks
    keep = 0 if setting == "backbone" else int(setting)
    return blocks[: len(blocks) - keep] if keep < len(blocks) else []


def freeze(model: nn.Module, arch: str, setting) -> None:
    """Apply ``model.freeze``: the frozen blocks' parameters take no gradient."""
    for block in frozen_blocks(model, arch, setting):
        for param in block.parameters():
            param.requires_grad_(False)


def frozen_norms(model: nn.Module, arch: str, setting) -> list[nn.Module]:
    """The batch-norm layers of the frozen blocks, whose statistics must stay as they are."""
    return [
        m
        for block in frozen_blocks(model, arch, setting)
        for m in block.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
    ]


def keep_frozen_statistics(frozen_norms: list[nn.Module]) -> None:
    """After ``model.train()``: frozen batch-norm layers keep using (and keeping) their running
    statistics, as a frozen pretrained backbone needs."""
    for m in frozen_norms:
        m.eval()


def parameter_groups(model: nn.Module, arch: str, lr: float, factor: float) -> list[dict]:
    """The optimizer's groups: the head (and Plateau's own layers) at ``lr``, the pretrained
    backbone at ``lr × factor`` — one group when the factor is 1. Frozen parameters are left
    out. Each group carries its ``lr_factor`` (re-planning a resumed schedule reads it)."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    if factor == 1.0:
        return [{"params": trainable, "lr": lr, "lr_factor": 1.0}]
    backbone = {id(p) for p in parts(model, arch).backbone_parameters()}
    head = [p for p in trainable if id(p) not in backbone]
    body = [p for p in trainable if id(p) in backbone]
    groups = [{"params": head, "lr": lr, "lr_factor": 1.0}]
    if body:
        groups.append({"params": body, "lr": lr * factor, "lr_factor": factor})
    return groups
