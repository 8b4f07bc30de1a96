"""The running-number readout: immediate on the CPU, one interval late (never waiting) on a GPU."""

from __future__ import annotations

import torch

from engine.readout import Readout


def test_cpu_reads_at_once():
    assert Readout(torch.device("cpu"), 2).read(torch.tensor([1.5, 2.0])) == [1.5, 2.0]


class FakeEvent:
    """Stands in for a CUDA event: the copy 'lands' when ``done`` is set."""

    def __init__(self):
        self.done = False

    def record(self):
        self.done = False

    def query(self):
        return self.done


def test_gpu_path_returns_the_previous_values_once_they_landed():
    r = Readout.__new__(Readout)
    r.async_copy, r.host, r.event, r.pending = True, torch.empty(2), FakeEvent(), False
    assert r.read(torch.tensor([1.0, 2.0])) is None  # copy started, nothing to show yet
    assert r.read(torch.tensor([3.0, 4.0])) is None  # still in flight: never waits
    r.event.done = True
    assert r.read(torch.tensor([5.0, 6.0])) == [1.0, 2.0]  # the first copy, now landed
    r.event.done = True
    assert r.read(torch.tensor([7.0, 8.0])) == [5.0, 6.0]
