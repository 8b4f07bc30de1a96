"""Plateau's data path against (1) the in-memory floor — pre-normalized float tensors sliced by
index — and (2) the common per-sample pipeline of the article's examples — torchvision transforms
in a Dataset through a DataLoader. Same model, data, seed and thread count; one training epoch per
measurement; one warm-up, 5 interleaved rounds, median.

    python -m benchmarks.data_pipeline
"""

from __future__ import annotations

import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from benchmarks.common import interleaved
from engine.data.augment import BatchAugment
from engine.models import build_model
from engine.preset import ModelConfig

N, BATCH = 2000, 64


def images():
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.integers(0, 256, (N, 3, 32, 32), dtype=np.uint8))
    y = torch.from_numpy(rng.integers(0, 10, N)).long()
    return x, y


def epoch(model, opt, batches):
    model.train()
    for xb, yb in batches:
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def plateau_batches(x, y, mean, std, augment: BatchAugment | None, gen):
    """Plateau's path: uint8 resident, batches by index, normalized (and augmented) per batch."""
    scale = (1 / std).view(1, 3, 1, 1)
    shift = (-mean / std).view(1, 3, 1, 1)
    order = torch.randperm(N, generator=gen)
    for b in range(0, N, BATCH):
        idx = order[b : b + BATCH]
        xb = torch.addcmul(shift, x[idx].float(), scale)
        yield (augment(xb) if augment else xb), y[idx]


def floor_batches(xn, y, gen):
    order = torch.randperm(N, generator=gen)
    for b in range(0, N, BATCH):
        idx = order[b : b + BATCH]
        yield xn[idx], y[idx]


class PerSample(Dataset):
    """The article's way: a transform per image, in Python, batched by a DataLoader. With
    ``pil`` each image becomes a PIL image first, as torchvision's CIFAR/MNIST datasets do."""

    def __init__(self, x, y, transform, pil: bool):
        self.x, self.y, self.transform = x.permute(0, 2, 3, 1).numpy(), y, transform
        self.pil = pil

    def __len__(self):
        return N

    def __getitem__(self, i):
        from PIL import Image

        img = Image.fromarray(self.x[i]) if self.pil else self.x[i]
        return self.transform(img), self.y[i]


def main() -> int:
    import torchvision.transforms as T

    torch.set_num_threads(2)
    x, y = images()
    xf = x.float()
    mean, std = xf.mean(dim=(0, 2, 3)), xf.std(dim=(0, 2, 3))
    xn = (xf - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
    results = []

    def run(arch, width, depth):
        torch.manual_seed(0)
        model = build_model(ModelConfig(arch=arch, width=width, depth=depth), (3, 32, 32), 10)
        return model, torch.optim.Adam(model.parameters(), 1e-3)

    conv, conv_opt = run("convnet", 16, 3)
    gen = torch.Generator()
    aug = BatchAugment(["hflip", "crop:4"], torch.Generator().manual_seed(0))
    t = interleaved(
        {
            "floor": lambda: epoch(conv, conv_opt, floor_batches(xn, y, gen)),
            "plateau": lambda: epoch(conv, conv_opt, plateau_batches(x, y, mean, std, None, gen)),
            "plateau+crop+flip": lambda: epoch(
                conv, conv_opt, plateau_batches(x, y, mean, std, aug, gen)
            ),
        }
    )
    print(
        f"convnet 3x32x32, {N} images: floor {t['floor']:.3f} s, Plateau {t['plateau']:.3f} s, "
        f"Plateau with crop+flip {t['plateau+crop+flip']:.3f} s per epoch"
    )
    results.append(("vs_floor", t["plateau"] / t["floor"]))
    results.append(("vs_floor_augmented", t["plateau+crop+flip"] / t["floor"]))

    cnn, cnn_opt = run("simple-cnn", 16, 1)
    transform = T.Compose([T.ToTensor(), T.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])
    pil = DataLoader(PerSample(x, y, transform, True), batch_size=32, shuffle=True)
    arrays = DataLoader(PerSample(x, y, transform, False), batch_size=32, shuffle=True)
    t = interleaved(
        {
            "per-sample PIL": lambda: epoch(cnn, cnn_opt, pil),
            "per-sample arrays": lambda: epoch(cnn, cnn_opt, arrays),
            "plateau": lambda: epoch(
                cnn, cnn_opt, _with_batch(plateau_batches(x, y, mean, std, None, gen))
            ),
        }
    )
    print(
        f"article simple-cnn, batch 32, DataLoader workers 0: per-sample with PIL images (as "
        f"torchvision datasets) {t['per-sample PIL']:.3f} s, per-sample on arrays "
        f"{t['per-sample arrays']:.3f} s, Plateau {t['plateau']:.3f} s per epoch"
    )
    results.append(("vs_per_sample", t["plateau"] / t["per-sample PIL"]))
    results.append(("vs_per_sample_arrays", t["plateau"] / t["per-sample arrays"]))
    for name, ratio in results:
        print(f"data_pipeline[{name}]: ratio={ratio:.3f}")
    return 0


def _with_batch(batches):
    """Plateau's path at the article's batch size of 32."""
    for xb, yb in batches:
        yield from ((xb[i : i + 32], yb[i : i + 32]) for i in range(0, len(yb), 32))


if __name__ == "__main__":
    sys.exit(main())
