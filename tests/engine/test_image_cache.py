"""The decoded-image cache: keyed on what decides its content, incremental, safe to kill and to
share, faithful to EXIF orientation, and training from it equals training from memory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.data import load_data
from engine.data.decode import decode
from engine.data.image_cache import decode_folder
from engine.data.scan import scan_folder
from engine.errors import DataError
from engine.events import TIMING_FIELDS
from engine.preset import Preset
from engine.runs import RunFiles
from engine.trainer import Trainer

ROOT = Path(__file__).resolve().parents[2]


def _photo(path: Path, value: int, size=(320, 240), fmt=None, exif=None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new("RGB", size, (value, 255 - value, 80))
    img.paste((255, 0, 0), (0, 0, size[0], size[1] // 4))  # a red band along the top
    kwargs = {"exif": exif} if exif is not None else {}
    img.save(path, fmt, **kwargs)


def _folder(root: Path, per_class: int = 4) -> Path:
    for c, value in (("cats", 30), ("dogs", 220)):
        for i in range(per_class):
            _photo(root / c / f"{i}.jpg", value + i)
    return root


def _preset(root: Path, cache: Path, **changes) -> Preset:
    return Preset().with_changes(
        {
            "data.source": "folder",
            "data.root": str(root),
            "data.cache_dir": str(cache),
            "data.val_fraction": 0.25,
            "train.device": "cpu",
            **changes,
        }
    )


def test_an_unchanged_folder_is_a_hit_and_a_touched_file_is_decoded_again(tmp_path):
    root, cache = _folder(tmp_path / "photos"), tmp_path / "cache"
    first = decode_folder(scan_folder(root), 0, "crop", cache)
    assert first.status == "built" and first.decoded == 8
    assert tuple(first.storage.shape) == (8, 3, 224, 224)  # large images: 224 by default
    assert "resized to 224×224" in first.notes[0]
    again = decode_folder(scan_folder(root), 0, "crop", cache)
    assert again.status == "hit" and again.decoded == 0
    assert torch.equal(again.storage, first.storage)
    target = root / "cats" / "1.jpg"
    _photo(target, 128)  # new content, new size/mtime
    os.utime(target, ns=(time.time_ns(), time.time_ns() + 10**9))
    touched = decode_folder(scan_folder(root), 0, "crop", cache)
    assert touched.status == "updated" and touched.decoded == 1
    fresh = decode(target, True, (224, 224), "crop", target)
    assert np.array_equal(touched.storage[touched.rows["cats/1.jpg"]].numpy(), fresh)
    # another image size or resize policy is another cache
    other = decode_folder(scan_folder(root), 64, "squash", cache)
    assert other.status == "built" and tuple(other.storage.shape[2:]) == (64, 64)


def test_added_and_removed_files_update_the_cache_incrementally(tmp_path):
    root, cache = _folder(tmp_path / "photos"), tmp_path / "cache"
    first = decode_folder(scan_folder(root), 32, "crop", cache)
    _photo(root / "dogs" / "new.png", 99, fmt="PNG")
    (root / "cats" / "0.jpg").unlink()
    updated = decode_folder(scan_folder(root), 32, "crop", cache)
    assert updated.status == "updated" and updated.decoded == 1
    assert "cats/0.jpg" not in updated.rows and "dogs/new.png" in updated.rows
    for rel in ("cats/1.jpg", "dogs/3.jpg"):  # kept rows are the same pixels
        assert torch.equal(updated.storage[updated.rows[rel]], first.storage[first.rows[rel]])
    assert decode_folder(scan_folder(root), 32, "crop", cache).status == "hit"


def test_a_build_killed_midway_leaves_only_complete_rows(tmp_path):
    root, cache = tmp_path / "photos", tmp_path / "cache"
    for c, value in (("a", 20), ("b", 200)):
        for i in range(60):
            _photo(root / c / f"{i}.png", value + i, size=(900, 700), fmt="PNG")
    code = (
        "import sys; from engine.data.scan import scan_folder;"
        "from engine.data.image_cache import decode_folder;"
        "import engine.data.image_cache as c; c.PUBLISH_EVERY_S = 0.05;"
        "print('go', flush=True);"
        f"decode_folder(scan_folder({str(root)!r}), 48, 'crop', {str(cache)!r})"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE)
    proc.stdout.readline()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(cache.glob("*/manifest.json")):
        time.sleep(0.02)
    time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    (manifest_path,) = cache.glob("*/manifest.json")
    manifest = json.loads(manifest_path.read_text())
    assert 0 < manifest["rows"] < 120  # killed part-way
    rows = np.fromfile(manifest_path.parent / f"rows-{manifest['generation']}.u8", np.uint8)
    rows = rows[: manifest["rows"] * 3 * 48 * 48].reshape(-1, 3, 48, 48)
    for entry in manifest["entries"]:  # every row the manifest names is the complete image
        fresh = decode(root / entry["rel"], True, (48, 48), "crop")
        assert np.array_equal(rows[entry["row"]], fresh), entry["rel"]
    resumed = decode_folder(scan_folder(root), 48, "crop", cache)
    assert resumed.status == "updated" and resumed.decoded == 120 - manifest["rows"]
    clean = decode_folder(scan_folder(root), 48, "crop", None)
    for rel, row in clean.rows.items():
        assert torch.equal(resumed.storage[resumed.rows[rel]], clean.storage[row])


def test_two_builds_of_one_cache_at_once_agree(tmp_path):
    root, cache = _folder(tmp_path / "photos", per_class=12), tmp_path / "cache"
    results = []

    def build():
        results.append(decode_folder(scan_folder(root), 40, "crop", cache))

    threads = [threading.Thread(target=build) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status for r in results) == ["built", "hit"]
    a, b = results
    for rel in a.rows:
        assert torch.equal(a.storage[a.rows[rel]], b.storage[b.rows[rel]])


def test_exif_orientation_is_applied_as_photo_viewers_do(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    path = tmp_path / "rotated.jpg"
    _photo(path, 100, size=(400, 200), exif=exif.tobytes())
    array = decode(path, True, (100, 200), "squash", path)  # displayed: 200 wide, 400 tall
    red = (array[0] > 200) & (array[1] < 60)
    # the red band along the stored image's top is along the displayed image's right side
    assert red[:, -20:].mean() > 0.9 and red[:, :100].mean() < 0.05
    from engine.data.decode import probe

    assert (probe(path).width, probe(path).height) == (200, 400)


def test_odd_files_are_handled_and_reported(tmp_path):
    root, cache = tmp_path / "photos", tmp_path / "cache"
    _photo(root / "cats" / "a.JPG", 10, fmt="JPEG")
    _photo(root / "cats" / "b.jpeg", 20)
    _photo(root / "cats" / "nested" / "deeper" / "c.webp", 30, fmt="WEBP")
    _photo(root / "cats" / "d.tif", 40, fmt="TIFF")
    _photo(root / "dogs" / "only.png", 200, fmt="PNG")  # a class with one image
    (root / "cats" / "empty.jpg").write_bytes(b"")
    (root / "cats" / "notes.txt").write_text("not an image")
    (root / "cats" / "truncated.jpg").write_bytes((root / "cats" / "b.jpeg").read_bytes()[:300])
    (root / "cats" / ".DS_Store").write_bytes(b"\0\0")
    (root / "dogs" / "copy.png").write_bytes((root / "dogs" / "only.png").read_bytes())
    data = load_data(_preset(root, cache, **{"data.image_size": 32}))
    reasons = {s["file"]: s["reason"] for s in data.stats["skipped"]}
    assert reasons["cats/empty.jpg"] == "empty file"
    assert reasons["cats/notes.txt"] == "not an image file"
    assert "cats/truncated.jpg" in reasons
    assert ".DS_Store" not in " ".join(reasons)
    assert data.stats["images"] == 6  # a.JPG, b.jpeg, c.webp, d.tif, only.png, copy.png
    assert data.stats["duplicates"] == [["dogs/copy.png", "dogs/only.png"]]
    assert any("identical files" in n for n in data.stats["notes"])


def test_images_enlarged_more_than_twice_over_are_named(tmp_path):
    root = _folder(tmp_path / "photos")
    _photo(root / "cats" / "thumb.png", 40, size=(20, 15), fmt="PNG")
    _photo(root / "dogs" / "icon.png", 200, size=(60, 50), fmt="PNG")
    for cache in (tmp_path / "cache", ""):  # from the cache and decoded into memory
        changes = {"data.image_size": 64, "data.cache": bool(cache)}
        notes = load_data(_preset(root, cache, **changes)).stats["notes"]
        assert any(
            "1 image smaller than half the image size of 64×64 (the smallest: cats/thumb.png, "
            "20×15 px) is enlarged" in n
            for n in notes
        ), notes
    small = load_data(_preset(root, "", **{"data.image_size": 16, "data.cache": False}))
    assert not any("twice over" in n for n in small.stats["notes"])


def test_training_from_the_cache_equals_training_from_memory(tmp_path):
    root = _folder(tmp_path / "photos", per_class=10)
    runs = []
    for cache in (True, False):
        p = _preset(
            root,
            tmp_path / "cache",
            **{
                "data.cache": cache,
                "data.image_size": 32,
                "data.augment": ["hflip", "crop:2"],
                "model.width": 8,
                "model.depth": 2,
                "train.epochs": 3,
                "train.batch_size": 4,
            },
        )
        summary = Trainer(p, out=tmp_path / f"runs-{cache}").fit()
        rows = [r.without_timing() for r in RunFiles(summary.run_dir).read_metrics()]
        runs.append((summary, rows))
    (with_cache, rows_cache), (in_memory, rows_memory) = runs
    assert rows_cache == rows_memory and len(rows_cache) == 3
    assert set(TIMING_FIELDS) == {"seconds", "samples_per_s"}


def test_a_second_load_reads_no_pixels(tmp_path):
    root, cache = _folder(tmp_path / "photos"), tmp_path / "cache"
    first = load_data(_preset(root, cache))
    assert first.stats["cache"] == "built" and first.stats["images"] == 8
    second = load_data(_preset(root, cache))
    assert second.stats["cache"] == "hit"
    assert second.norm.mean == pytest.approx(first.norm.mean)  # from the row statistics
    assert second.input_shape == (3, 224, 224)


def test_crop_keeps_the_aspect_and_squash_does_not(tmp_path):
    path = tmp_path / "wide.png"
    img = Image.new("RGB", (400, 100), (0, 0, 0))
    img.paste((255, 255, 255), (150, 0, 250, 100))  # a white square in the middle
    img.save(path)
    crop = decode(path, True, (100, 100), "crop", path)
    squash = decode(path, True, (100, 100), "squash", path)
    assert crop[0].mean() == pytest.approx(255, abs=2)  # the centre crop: all white
    assert squash[0].mean() == pytest.approx(255 / 4, abs=8)  # the whole width, squeezed


def test_stopping_a_run_while_its_images_decode_leaves_no_run(tmp_path):
    from engine import events as ev
    from engine.control import RunControl

    root = _folder(tmp_path / "photos", per_class=10)
    control, seen = RunControl(), []

    def events(event):
        seen.append(event)
        if isinstance(event, ev.Preparing) and event.done >= 1:
            control.stop()

    preset = _preset(root, tmp_path / "cache", **{"data.image_size": 32})
    summary = Trainer(preset, out=tmp_path / "runs", control=control).fit(events)
    assert summary.status == "stopped" and summary.run_dir == ""
    assert not (tmp_path / "runs").exists() and isinstance(seen[-1], ev.RunStopped)
    assert any(isinstance(e, ev.Preparing) and e.what == "decoding images" for e in seen)


def test_predict_sees_an_image_as_training_did(tmp_path):
    from engine.predict import load_model, preprocess

    root = _folder(tmp_path / "photos", per_class=6)
    exif = Image.Exif()
    exif[0x0112] = 6
    _photo(root / "cats" / "sideways.jpg", 70, size=(400, 300), exif=exif.tobytes())
    preset = _preset(root, tmp_path / "cache", **{"data.image_size": 48, "train.epochs": 1})
    summary = Trainer(preset, out=tmp_path / "runs").fit()
    _, meta = load_model(RunFiles(summary.run_dir).best_checkpoint)
    norm = meta["normalization"]
    for name in ("sideways.jpg", "1.jpg"):
        x = preprocess(root / "cats" / name, meta)
        seen = decode(root / "cats" / name, True, (48, 48), "crop")  # as the cache holds it
        scale = torch.tensor(norm["scale"]).view(-1, 1, 1)
        shift = torch.tensor(norm["shift"]).view(-1, 1, 1)
        assert torch.allclose(
            x[0], torch.from_numpy(seen.copy()).float() * scale + shift, atol=1e-5
        )


def test_a_cache_folder_that_cannot_be_written_names_the_cache_and_what_to_set(tmp_path):
    """Not "cannot write to the run directory": the cache, and the keys that move it."""
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder should be")
    with pytest.raises(DataError) as raised:
        load_data(_preset(_folder(tmp_path / "photos"), blocked))
    assert raised.value.key == "data.cache_dir"
    message = str(raised.value)
    assert "decoded-image cache" in message and "'data.cache' = false" in message
