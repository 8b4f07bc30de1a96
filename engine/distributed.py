"""Data-parallel training under ``torchrun``: PyTorch's own DistributedDataParallel, ``gloo`` on
the CPU, ``nccl`` on CUDA (one GPU per process).

``Dist.from_env()`` is a no-op outside torchrun, so the trainer calls the same helpers in both
cases: in a single process every collective returns its input.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as td

TIMEOUT = timedelta(minutes=10)  # a rank that dies ends the others' collectives after this


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @staticmethod
    def from_env(device_name: str = "auto") -> Dist:
        """Join the process group torchrun set up (``WORLD_SIZE`` > 1), else a single process."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return Dist()
        rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
        use_cuda = torch.cuda.is_available() and device_name != "cpu"
        if not td.is_initialized():
            td.init_process_group("nccl" if use_cuda else "gloo", timeout=TIMEOUT)
        if use_cuda:
            torch.cuda.set_device(local)
        return Dist(rank, world, local)

    def device(self, resolved: torch.device) -> torch.device:
        """Each rank on its own GPU; CPU ranks share the CPU."""
        if self.enabled and resolved.type == "cuda":
            return torch.device("cuda", self.local_rank)
        return resolved

    def shard(self, order: torch.Tensor) -> torch.Tensor:
        """This rank's part of an epoch's order, padded (by wrapping) so all ranks take the same
        number of steps, as DistributedSampler does."""
        if not self.enabled:
            return order
        n = len(order)
        total = -(-n // self.world) * self.world
        if total > n:
            order = torch.cat([order, order[: total - n]])
        return order[self.rank :: self.world]

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.enabled:
            td.all_reduce(tensor, op=td.ReduceOp.SUM)
        return tensor

    def any(self, flag: bool, device: torch.device) -> bool:
        """True on every rank when it is true on one (e.g. a stop request)."""
        if not self.enabled:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=device)
        td.all_reduce(t, op=td.ReduceOp.MAX)
        return bool(t.item())

    def broadcast(self, obj):
        """Rank 0's ``obj`` on every rank."""
        if not self.enabled:
            return obj
        box = [obj]
        td.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, obj) -> list:
        """Every rank's ``obj``, in rank order (on every rank)."""
        if not self.enabled:
            return [obj]
        out = [None] * self.world
        td.all_gather_object(out, obj)
        return out

    def close(self) -> None:
        if self.enabled and td.is_initialized():
            td.destroy_process_group()
