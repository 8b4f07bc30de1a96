"""Batch augmentations: per-sample randomness, shapes kept, reproducible with a seed."""

from __future__ import annotations

import pytest
import torch

from engine.data.augment import BatchAugment, parse_augment
from engine.preset import PresetError


def _batch():
    x = torch.zeros(64, 3, 16, 16)
    x[:, :, :, :8] = 1.0  # left half bright
    return x


@pytest.mark.parametrize("spec", ["hflip", "crop:4", "rotate:30", "jitter:0.3", "blur:2.0"])
def test_each_augment_keeps_shape_and_varies_per_sample(spec):
    aug = BatchAugment([spec], torch.Generator().manual_seed(0))
    x = _batch()
    out = aug(x)
    assert out.shape == x.shape and torch.isfinite(out).all()
    changed = (out - x).abs().flatten(1).amax(1) > 1e-6
    assert 0 < int(changed.sum()) <= 64
    if spec != "jitter:0.3":  # jitter changes every sample, by a different amount
        assert int(changed.sum()) < 64 or spec.startswith(("crop", "rotate"))


def test_hflip_mirrors_about_half():
    out = BatchAugment(["hflip"], torch.Generator().manual_seed(0))(_batch())
    flipped = out[:, 0, 0, -1] == 1.0
    assert 16 < int(flipped.sum()) < 48
    assert torch.equal(out[flipped], _batch()[flipped].flip(-1))


def test_same_seed_same_result():
    a = BatchAugment(["crop:2", "rotate:10"], torch.Generator().manual_seed(5))(_batch())
    b = BatchAugment(["crop:2", "rotate:10"], torch.Generator().manual_seed(5))(_batch())
    assert torch.equal(a, b)


@pytest.mark.parametrize("spec", ["spin", "crop", "crop:0", "rotate:500", "hflip:2", "blur:x"])
def test_bad_specs_are_preset_errors(spec):
    with pytest.raises(PresetError) as err:
        parse_augment(spec)
    assert err.value.key == "data.augment"
