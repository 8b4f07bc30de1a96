"""Images kept as rows of one (memory-mapped) array and seen through an index: a split of a
cached folder without a copy of it. Indexing gathers only the rows asked for, so memory does not
grow with the number of images and a dataset larger than RAM trains from the page cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


class Rows:
    """``len(index)`` images, row ``index[i]`` of ``storage`` (an ``N×C×H×W`` uint8 tensor);
    ``row_stats`` (``N×C×4``: sum, sum of squares, min, max per channel) gives the moments of any
    subset without reading its pixels."""

    def __init__(
        self,
        storage: torch.Tensor,
        index: torch.Tensor,
        row_stats: np.ndarray | None = None,
        pin: bool = False,
        thumbnails_file: Path | None = None,
    ):
        self.storage = storage
        self.index = index.cpu().long()
        self.row_stats = row_stats
        self.pin = pin  # gather batches into page-locked memory (fast, asynchronous GPU copies)
        self.thumbnails_file = thumbnails_file  # the storage rows' leakage thumbnails, cached

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.index), *self.storage.shape[1:]))

    @property
    def dtype(self) -> torch.dtype:
        return self.storage.dtype

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, idx) -> torch.Tensor:
        """The images at ``idx`` (a slice or integer indices, on any device) as one contiguous
        CPU tensor."""
        rows = self.index[idx] if isinstance(idx, slice) else self.index[_cpu(idx)]
        if not self.pin:
            return self.storage[rows]
        out = torch.empty((len(rows), *self.storage.shape[1:]), dtype=self.dtype).pin_memory()
        return torch.index_select(self.storage, 0, rows, out=out)

    def subset(self, keep) -> Rows:
        """The rows at ``keep`` (indices into this view), still without a copy."""
        return Rows(
            self.storage, self.index[_cpu(keep)], self.row_stats, self.pin, self.thumbnails_file
        )

    def contiguous(self) -> Rows:
        return self  # batches are gathered into contiguous tensors anyway

    def pinned(self) -> Rows:
        return Rows(self.storage, self.index, self.row_stats, True, self.thumbnails_file)

    def moments(self) -> tuple[list[float], list[float], list[float], list[float]] | None:
        """Per-channel mean, std, min and max from the row statistics (None without them)."""
        if self.row_stats is None or not len(self.index):
            return None
        stats = self.row_stats[self.index.numpy()]
        pixels = float(np.prod(self.storage.shape[2:])) * len(self.index)
        mean = stats[:, :, 0].sum(0) / pixels
        var = np.clip(stats[:, :, 1].sum(0) / pixels - mean * mean, 0, None)
        return (
            mean.tolist(),
            np.sqrt(var).tolist(),
            stats[:, :, 2].min(0).tolist(),
            stats[:, :, 3].max(0).tolist(),
        )


def _cpu(idx):
    if isinstance(idx, torch.Tensor):
        return idx.cpu().long()
    return torch.as_tensor(np.asarray(idx), dtype=torch.long)


def take(x, idx):
    """``x[idx]`` for a tensor; a view of the same rows for :class:`Rows`."""
    return x.subset(idx) if isinstance(x, Rows) else x[idx]


def row_stats(batch: np.ndarray) -> np.ndarray:
    """``N×C×4`` statistics (sum, sum of squares, min, max per channel) of uint8 images."""
    flat = batch.reshape(batch.shape[0], batch.shape[1], -1)
    as_float = flat.astype(np.float64)
    return np.stack(
        [
            as_float.sum(-1),
            (as_float * as_float).sum(-1),
            flat.min(-1).astype(np.float64),
            flat.max(-1).astype(np.float64),
        ],
        axis=-1,
    )
