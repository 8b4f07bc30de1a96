"""The architecture registry: each name in ``model.arch`` maps to a builder that sizes the
network for the data's channels, image size and class count."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

BUILDERS: dict[str, Callable[..., nn.Module]] = {}


def register(name: str):
    def wrap(fn):
        BUILDERS[name] = fn
        return fn

    return wrap
