"""Atomic writes and safe checkpoint loading."""

from __future__ import annotations

import pickle

import pytest
import torch

from engine import atomic
from engine.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / "f.json"
    atomic.write_json(target, {"a": 1})
    atomic.write_json(target, {"a": 2})
    assert target.read_text() == '{\n  "a": 2\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_written_files_get_the_usual_permissions(tmp_path):
    """As ``open`` would make them (0666 less the umask), not mkstemp's owner-only 0600: a run
    or an export on a shared machine is readable by the others, as the user's umask says."""
    import os
    import stat

    path = atomic.write_text(tmp_path / "a.txt", "x")
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    path.chmod(0o600)  # a file the person keeps private stays so when it is replaced
    atomic.write_text(path, "y")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_failed_write_leaves_old_file_and_no_temp(tmp_path):
    from engine.checkpoint import torch_bytes

    target = tmp_path / "ckpt.pt"
    atomic.write_bytes(target, torch_bytes({"ok": torch.ones(2)}))
    with pytest.raises(Exception):  # noqa: B017 - lambdas cannot be pickled
        atomic.atomic_write(target, lambda f: torch.save({"bad": lambda: None}, f))

    def half_then_crash(f):
        f.write(b"partial")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic.atomic_write(target, half_then_crash)
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]
    assert torch.equal(torch.load(target, weights_only=True)["ok"], torch.ones(2))


class _Evil:
    def __reduce__(self):
        return (open, ("/tmp/plateau-pwned-by-checkpoint", "w"))


def test_checkpoint_that_would_run_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "plateau-checkpoint/1", "model": {}, "x": _Evil()}, path)
    marker = __import__("pathlib").Path("/tmp/plateau-pwned-by-checkpoint")
    marker.unlink(missing_ok=True)
    with pytest.raises(CheckpointError, match="refused to load"):
        load_checkpoint(path)
    assert not marker.exists()


def test_truncated_and_foreign_checkpoints(tmp_path):
    good = tmp_path / "good.pt"
    save_checkpoint(good, {"model": {"w": torch.ones(3)}, "epoch": 1})
    assert load_checkpoint(good)["epoch"] == 1
    (tmp_path / "cut.pt").write_bytes(good.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "cut.pt")
    torch.save({"weights": torch.ones(1)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a Plateau checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    (tmp_path / "text.pt").write_bytes(pickle.dumps("hello"))
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "text.pt")
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "absent.pt")


def test_a_file_or_folder_that_is_no_checkpoint_is_named_for_what_it_is(tmp_path):
    """A photo passed where the checkpoint goes (predict's first argument forgotten), a preset,
    an ONNX export or a run directory: said plainly, not as a pickle that could run code."""
    from PIL import Image

    Image.new("RGB", (4, 4)).save(tmp_path / "photo.png")
    (tmp_path / "preset.toml").write_text('format = "plateau-preset/1"\n')
    (tmp_path / "model.onnx").write_bytes(b"\x08\x07\x12\x07pytorch")
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    save_checkpoint(run / "checkpoints" / "best.pt", {"model": {}, "epoch": 1})
    for name, kind in (
        ("photo.png", "a PNG image"),
        ("preset.toml", "a text file"),
        ("model.onnx", "an ONNX model"),
    ):
        with pytest.raises(CheckpointError, match=f"is not a checkpoint: it is {kind}"):
            load_checkpoint(tmp_path / name)
    with pytest.raises(CheckpointError, match="is a run directory; give one of its checkpoints"):
        load_checkpoint(run)
