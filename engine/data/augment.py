"""Augmentation on whole batches of tensors, on the training device, with per-sample randomness.

Specs as written in presets: ``hflip``, ``crop:N`` (pad N pixels, random crop back; on photos —
images of 96 px or more — a random-resized crop instead, 35–100 % of the area at an aspect of
3:4 to 4:3, as fine-tuning recipes use), ``rotate:DEG``
(uniform in ±DEG), ``jitter:S`` (brightness and contrast factors in 1±S), ``blur:SIGMA``
(Gaussian blur with sigma up to SIGMA on half the samples). Each sample draws its own parameters
from one generator, so a run is reproducible and resumable.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from engine.augment_spec import PHOTO_MIN_SIZE, parse_augment

__all__ = ["BatchAugment", "parse_augment"]

RESIZED_CROP_SCALE = (0.35, 1.0)


class BatchAugment:
    """Applies a preset's augmentations to normalized ``N×C×H×W`` float batches."""

    def __init__(self, specs: list[str], generator: torch.Generator):
        self.steps = [parse_augment(s) for s in specs]
        self.generator = generator

    def __bool__(self) -> bool:
        return bool(self.steps)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for name, value in self.steps:
            x = getattr(self, "_" + name)(x, value)
        return x

    def _rand(self, *shape: int, device: torch.device) -> torch.Tensor:
        return torch.rand(*shape, generator=self.generator, device=self.generator.device).to(device)

    def _hflip(self, x: torch.Tensor, _: float) -> torch.Tensor:
        flip = self._rand(x.shape[0], device=x.device) < 0.5
        return torch.where(flip[:, None, None, None], x.flip(-1), x)

    def _crop(self, x: torch.Tensor, pad: float) -> torch.Tensor:
        p = int(pad)
        n, _, h, w = x.shape
        if min(h, w) >= PHOTO_MIN_SIZE:
            return self._resized_crop(x)
        padded = F.pad(x, (p, p, p, p))
        oy = (self._rand(n, device=x.device) * (2 * p + 1)).long().clamp_(max=2 * p)
        ox = (self._rand(n, device=x.device) * (2 * p + 1)).long().clamp_(max=2 * p)
        rows = (oy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
        cols = (ox[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
        batch = torch.arange(n, device=x.device)[:, None, None, None]
        chan = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
        return padded[batch, chan, rows, cols]

    def _resized_crop(self, x: torch.Tensor) -> torch.Tensor:
        """torchvision's RandomResizedCrop on a whole batch: each sample a random region of
        ``RESIZED_CROP_SCALE`` of its area and 3:4–4:3 aspect, resized back to the full size."""
        n = x.shape[0]
        lo, hi = RESIZED_CROP_SCALE
        area = lo + self._rand(n, device=x.device) * (hi - lo)
        log_ratio = (self._rand(n, device=x.device) * 2 - 1) * math.log(4 / 3)
        ratio = torch.exp(log_ratio)
        width = torch.sqrt(area * ratio).clamp(max=1.0)  # as fractions of the image
        height = torch.sqrt(area / ratio).clamp(max=1.0)
        cx = (self._rand(n, device=x.device) * 2 - 1) * (1 - width)
        cy = (self._rand(n, device=x.device) * 2 - 1) * (1 - height)
        zero = torch.zeros_like(width)
        theta = torch.stack(
            [torch.stack([width, zero, cx], 1), torch.stack([zero, height, cy], 1)], 1
        )
        grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    def _rotate(self, x: torch.Tensor, degrees: float) -> torch.Tensor:
        n = x.shape[0]
        angle = (self._rand(n, device=x.device) * 2 - 1) * math.radians(degrees)
        cos, sin = torch.cos(angle), torch.sin(angle)
        zero = torch.zeros_like(cos)
        theta = torch.stack(
            [torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1
        )
        grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def _jitter(self, x: torch.Tensor, strength: float) -> torch.Tensor:
        n = x.shape[0]
        brightness = (self._rand(n, device=x.device) * 2 - 1) * strength
        contrast = 1 + (self._rand(n, device=x.device) * 2 - 1) * strength
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        return (x - mean) * contrast[:, None, None, None] + mean + brightness[:, None, None, None]

    def _blur(self, x: torch.Tensor, max_sigma: float) -> torch.Tensor:
        n, c, h, w = x.shape
        sigma = 0.1 + self._rand(n, device=x.device) * (max_sigma - 0.1)
        apply = self._rand(n, device=x.device) < 0.5
        radius = max(1, min(int(math.ceil(2 * max_sigma)), (min(h, w) - 1) // 2))
        offsets = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
        kernel = torch.exp(-0.5 * (offsets[None, :] / sigma[:, None].to(x.dtype)) ** 2)
        kernel = kernel / kernel.sum(dim=1, keepdim=True)  # n × k
        kernel = kernel.repeat_interleave(c, dim=0)  # (n·c) × k
        flat = x.reshape(1, n * c, h, w)
        flat = F.pad(flat, (radius, radius, radius, radius), mode="reflect")
        flat = F.conv2d(flat, kernel[:, None, None, :], groups=n * c)
        flat = F.conv2d(flat, kernel[:, None, :, None], groups=n * c)
        blurred = flat.reshape(n, c, h, w)
        return torch.where(apply[:, None, None, None], blurred, x)
