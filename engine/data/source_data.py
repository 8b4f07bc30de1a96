"""What a dataset source delivers: images and labels as tensors, before splitting and
normalization."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from engine.data.rows import Rows


@dataclass
class SourceData:
    """Images and labels as a source delivers them, before splitting and normalization."""

    x: torch.Tensor | Rows  # N×C×H×W, uint8 or float32 (Rows: a view of cached images)
    y: torch.Tensor  # N, int64
    class_names: list[str]
    value_max: float  # the format's largest value: 255 for bytes, 16 for digits, 1 for floats
    x_val: torch.Tensor | None = None  # the source's own validation split, if it has one
    y_val: torch.Tensor | None = None
    skipped: list[dict] = field(default_factory=list)  # unreadable files: {file, reason}
    origin: str = ""
    info: dict = field(default_factory=dict)  # cache status, images, notes, duplicates
    ids: list[str] = field(default_factory=list)  # each image's name (see sample_lists)
    val_ids: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.ids:  # images named by their position in the source
            self.ids = [f"#{i}" for i in range(len(self.y))]
        if self.y_val is not None and not self.val_ids:
            self.val_ids = [f"val#{i}" for i in range(len(self.y_val))]
