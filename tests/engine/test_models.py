"""Every architecture adapts to channels, image size and class count; summaries are right."""

from __future__ import annotations

import pytest
import torch

from engine.models import BUILDERS, build_model, summarize
from engine.preset import ModelConfig


@pytest.mark.parametrize("arch", sorted(BUILDERS))
@pytest.mark.parametrize(
    ("shape", "classes"), [((1, 8, 8), 10), ((3, 32, 32), 2), ((4, 20, 28), 7)]
)
def test_architectures_adapt_to_data(arch, shape, classes):
    cfg = ModelConfig(arch=arch, width=8, depth=2, dropout=0.1)
    model = build_model(cfg, shape, classes)
    out = model(torch.randn(3, *shape))
    assert out.shape == (3, classes)


def test_batch_norm_switch():
    with_bn = build_model(ModelConfig(arch="convnet", width=8, depth=2), (1, 8, 8), 10)
    without = build_model(
        ModelConfig(arch="convnet", width=8, depth=2, batch_norm=False), (1, 8, 8), 10
    )
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in with_bn.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in without.modules())


def test_simple_cnn_is_the_articles():
    model = build_model(ModelConfig(arch="simple-cnn"), (3, 32, 32), 10)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [(3, 16, (3, 3))]
    assert [(lin.in_features, lin.out_features) for lin in linears] == [(16 * 15 * 15, 10)]


def test_summary_counts_parameters_and_shapes():
    model = build_model(ModelConfig(arch="mlp", width=16, depth=1, batch_norm=False), (1, 8, 8), 10)
    s = summarize(model, (1, 8, 8))
    assert s["total_params"] == 64 * 16 + 16 + 16 * 10 + 10 == s["trainable_params"]
    shapes = {row["type"]: row["output"] for row in s["layers"]}
    assert shapes["Flatten"] == [2, 64] and s["layers"][-1]["output"] == [2, 10]


def test_convnet_width_doubles():
    model = build_model(ModelConfig(arch="convnet", width=4, depth=3), (1, 8, 8), 10)
    assert [m.out_channels for m in model.modules() if isinstance(m, torch.nn.Conv2d)] == [4, 8, 16]
