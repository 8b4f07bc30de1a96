"""Reading a few running numbers (loss, divergence ratio, accuracy) from the device without
stalling it.

On the CPU the values are read at once. On a GPU they are copied into pinned host memory
asynchronously and read at the next readout, once the copy has landed, so the training loop never
waits for the device inside an epoch (``torch.cuda.set_sync_debug_mode("warn")`` stays quiet);
the numbers shown then lag by one readout interval (at most 50 ms).
"""

from __future__ import annotations

import torch


class Readout:
    def __init__(self, device: torch.device, size: int):
        self.async_copy = device.type == "cuda"
        if self.async_copy:
            self.host = torch.empty(size, pin_memory=True)
            self.event = torch.cuda.Event()
            self.pending = False

    def read(self, values: torch.Tensor) -> list[float] | None:
        """The values (CPU), or the previous values once they have arrived (GPU; None before)."""
        if not self.async_copy:
            return values.tolist()
        ready = None
        if self.pending and self.event.query():
            ready = self.host.tolist()
            self.pending = False
        if not self.pending:
            self.host.copy_(values, non_blocking=True)
            self.event.record()
            self.pending = True
        return ready
