"""Data sources, splits, thinning, normalization and balancing, on real on-disk formats."""

from __future__ import annotations

import os
import pickle
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from engine.data import load_data
from engine.data.balance import class_weights, epoch_order
from engine.data.sources import synthetic
from engine.errors import DataError
from engine.preset import Preset
from tests.conftest import tiny_preset


def test_digits_are_the_real_bundled_set():
    data = load_data(Preset())
    assert data.input_shape == (1, 8, 8)
    assert len(data.y_train) + len(data.y_val) == 1797
    assert data.class_names == [str(i) for i in range(10)]
    assert data.stats["raw"]["max"] == [16.0] and data.stats["raw"]["min"] == [0.0]
    # stratified: every class in validation, in proportion
    assert min(data.stats["val_counts"]) >= 30


def test_standardize_uses_training_statistics_only():
    data = load_data(Preset())
    x = data.normalizer(torch.device("cpu"))(data.x_train)
    assert abs(float(x.mean())) < 1e-4 and abs(float(x.std()) - 1) < 1e-2
    unit = load_data(Preset().with_changes({"data.normalize": "unit"}))
    assert float(unit.normalizer(torch.device("cpu"))(unit.x_train).max()) == 1.0
    raw = load_data(Preset().with_changes({"data.normalize": "none"}))
    assert float(raw.normalizer(torch.device("cpu"))(raw.x_train).max()) == 16.0


def test_split_is_seeded():
    a, b = load_data(Preset()), load_data(Preset())
    assert torch.equal(a.y_val, b.y_val) and torch.equal(a.x_train, b.x_train)
    c = load_data(Preset().with_changes({"seed": 1}))
    assert not torch.equal(a.x_train, c.x_train)


def test_limit_per_class_and_class_fraction():
    data = load_data(
        Preset().with_changes({"data.limit_per_class": 20, "data.class_fraction": {"3": 0.25}})
    )
    counts = data.stats["train_counts"]
    assert counts[3] == 20 and counts[0] == 20  # limit applies after the fraction
    data = load_data(Preset().with_changes({"data.class_fraction": {"3": 0.05}}))
    counts = data.stats["train_counts"]
    assert counts[3] <= 8 and counts[5] > 100
    assert data.stats["val_counts"][3] >= 30  # validation is left whole


def test_class_fraction_names_unknown_class():
    with pytest.raises(DataError, match="class 'zebra'.*0–9"):
        load_data(Preset().with_changes({"data.class_fraction": {"zebra": 0.5}}))


def test_synthetic_signal_imbalance_and_noise():
    p = tiny_preset(**{"data.synthetic.imbalance": 10.0, "data.synthetic.samples": 1000})
    data = load_data(p)
    counts = [
        a + b for a, b in zip(data.stats["train_counts"], data.stats["val_counts"], strict=True)
    ]
    assert sum(counts) == 1000
    assert counts[0] / counts[-1] == pytest.approx(10, rel=0.15)
    assert data.input_shape == (1, 8, 8)
    noisy = synthetic(tiny_preset(**{"data.synthetic.label_noise": 0.5}).data, 0)
    clean = synthetic(tiny_preset().data, 0)
    assert torch.equal(noisy.x, clean.x)  # same images, labels replaced at random
    assert 0.2 < float((noisy.y != clean.y).float().mean()) < 0.5


def _class_means_separation(p):
    data = load_data(p)
    x = data.x_train.flatten(1)
    means = torch.stack([x[data.y_train == c].mean(0) for c in range(data.num_classes)])
    return float((means - means.mean(0)).norm(dim=1).mean())


def test_synthetic_signal_zero_has_no_class_pattern():
    strong = _class_means_separation(tiny_preset(**{"data.synthetic.samples": 3000}))
    none = _class_means_separation(
        tiny_preset(**{"data.synthetic.samples": 3000, "data.synthetic.signal": 0.0})
    )
    assert strong > 5 * none


# ------------------------------------------------------------------ torchvision formats


def _write_idx(folder, prefix, images, labels):
    folder.mkdir(parents=True, exist_ok=True)
    n, h, w = images.shape
    (folder / f"{prefix}-images-idx3-ubyte").write_bytes(
        struct.pack(">IIII", 2051, n, h, w) + images.astype(np.uint8).tobytes()
    )
    (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(
        struct.pack(">II", 2049, n) + labels.astype(np.uint8).tobytes()
    )


@pytest.mark.parametrize(
    ("source", "folder"), [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")]
)
def test_mnist_idx_files_read_by_torchvision(tmp_path, source, folder):
    rng = np.random.default_rng(0)
    raw = tmp_path / folder / "raw"
    _write_idx(raw, "train", rng.integers(0, 256, (50, 28, 28)), np.arange(50) % 10)
    _write_idx(raw, "t10k", rng.integers(0, 256, (20, 28, 28)), np.arange(20) % 10)
    data = load_data(Preset().with_changes({"data.source": source, "data.root": str(tmp_path)}))
    assert data.input_shape == (1, 28, 28)
    assert len(data.y_train) == 50 and len(data.y_val) == 20  # the test split is validation
    assert data.x_train.dtype == torch.uint8 and data.stats["value_max"] == 255
    assert len(data.class_names) == 10


def test_missing_torchvision_files_name_folder_and_download_key(tmp_path):
    with pytest.raises(DataError) as err:
        load_data(Preset().with_changes({"data.source": "mnist", "data.root": str(tmp_path)}))
    assert str(tmp_path / "MNIST" / "raw") in str(err.value)
    assert "'data.download' = true" in str(err.value)
    assert "download=True" not in str(err.value)  # torchvision's own argument, not a preset key


def test_torchvision_files_present_but_compressed_or_foreign_say_so(tmp_path):
    """The MNIST downloads are .gz files: copied in as they come, they are there, not missing."""
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        (raw / name).write_bytes(b"\x1f\x8b")
    preset = Preset().with_changes({"data.source": "mnist", "data.root": str(tmp_path)})
    with pytest.raises(DataError, match="are still compressed .*'data.download' = true"):
        load_data(preset)
    (raw / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="not the ones torchvision expects, or are damaged"):
        load_data(preset)


def test_missing_torchvision_files_name_the_absolute_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError) as err:
        load_data(Preset().with_changes({"data.source": "cifar10", "data.root": "datasets"}))
    assert f"not found in {tmp_path / 'datasets' / 'cifar-10-batches-py'}." in str(err.value)


def _write_cifar_batch(path, images, labels, label_key="labels"):
    with open(path, "wb") as f:
        pickle.dump({"data": images.reshape(len(images), -1), label_key: list(labels)}, f)


def test_cifar10_pickled_batches_read_by_torchvision(tmp_path, monkeypatch):
    import torchvision

    rng = np.random.default_rng(0)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for i in range(1, 6):
        _write_cifar_batch(
            folder / f"data_batch_{i}",
            rng.integers(0, 256, (8, 3, 32, 32), dtype=np.uint8),
            np.arange(8) % 10,
        )
    _write_cifar_batch(
        folder / "test_batch", rng.integers(0, 256, (10, 3, 32, 32), dtype=np.uint8), np.arange(10)
    )
    names = [
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ]
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": names}, f)
    # Our files are real CIFAR pickles but not the published ones, so their MD5 sums differ.
    monkeypatch.setattr(
        torchvision.datasets.cifar, "check_integrity", lambda path, md5=None: os.path.isfile(path)
    )
    data = load_data(Preset().with_changes({"data.source": "cifar10", "data.root": str(tmp_path)}))
    assert data.input_shape == (3, 32, 32)
    assert len(data.y_train) == 40 and len(data.y_val) == 10
    assert data.class_names == names
    first = np.asarray(pickle.load(open(folder / "data_batch_1", "rb"))["data"][0]).reshape(
        3, 32, 32
    )
    assert torch.equal(data.x_train[0], torch.from_numpy(first))


# ------------------------------------------------------------------ image folders


def _image(path, mode="RGB", size=(10, 12), value=100):
    path.parent.mkdir(parents=True, exist_ok=True)
    colour = value if mode in ("L",) else (value,) * len(mode)
    Image.new(mode, size, colour).save(path)


def test_folder_with_corrupt_and_text_files(tmp_path):
    for i in range(4):
        _image(tmp_path / "cats" / f"{i}.png", value=50 + i)
        _image(tmp_path / "dogs" / f"{i}.jpg", mode="L", value=200 - i)
    _image(tmp_path / "dogs" / "alpha.png", mode="RGBA", size=(20, 20))
    (tmp_path / "cats" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (tmp_path / "dogs" / "notes.txt").write_text("not an image")
    p = Preset().with_changes(
        {"data.source": "folder", "data.root": str(tmp_path), "data.val_fraction": 0.25}
    )
    data = load_data(p)
    assert data.class_names == ["cats", "dogs"]
    assert data.stats["skipped_files"] == 2
    assert sorted(data.stats["skipped"], key=lambda s: s["file"]) == [
        {"file": "cats/broken.png", "reason": data.stats["skipped"][0]["reason"]},
        {"file": "dogs/notes.txt", "reason": "not an image file"},
    ]
    assert len(data.y_train) + len(data.y_val) == 9
    assert data.input_shape == (
        3,
        12,
        10,
    )  # RGB because some images have colour; first image's size


def test_folder_with_train_and_val_and_image_size(tmp_path):
    for split, n in (("train", 3), ("val", 2)):
        for cls in ("a", "b"):
            for i in range(n):
                _image(tmp_path / split / cls / f"{i}.png", mode="L", size=(30, 30))
    p = Preset().with_changes(
        {"data.source": "folder", "data.root": str(tmp_path), "data.image_size": 16}
    )
    data = load_data(p)
    assert data.input_shape == (1, 16, 16)
    assert len(data.y_train) == 6 and len(data.y_val) == 4


def test_split_folders_named_as_other_tools_name_them(tmp_path):
    """``valid/`` (as Roboflow exports it) is the validation folder; a class only there is named
    as left out; ``train/`` beside ``test/`` alone is no two-class dataset but a layout to fix."""
    for split, classes in (("train", "ab"), ("valid", "abc")):
        for cls in classes:
            for i in range(2):
                _image(tmp_path / "r" / split / cls / f"{i}.png", value=40 * (ord(cls) - 96))
    p = Preset().with_changes({"data.source": "folder", "data.root": str(tmp_path / "r")})
    data = load_data(p)
    assert data.class_names == ["a", "b"] and len(data.y_val) == 4
    assert any("with no training images: valid/c" in note for note in data.stats["notes"])
    (tmp_path / "r" / "valid").rename(tmp_path / "r" / "test")
    with pytest.raises(DataError, match="holds train/ and test/ folders, not classes"):
        load_data(p)
    (tmp_path / "r" / "test").rename(tmp_path / "elsewhere")
    with pytest.raises(DataError, match="holds only a train/ folder, not classes"):
        load_data(p)


def test_a_class_folder_without_images_is_left_out_not_made_a_class(tmp_path):
    """An empty folder beside the classes (or one holding only unreadable files) would be an
    output the network can never learn, a dead confusion-matrix row and a name in every export."""
    for i in range(4):
        _image(tmp_path / "cats" / f"{i}.png", value=50 + i)
        _image(tmp_path / "zebras" / f"{i}.png", value=200 - i)
    (tmp_path / "empty").mkdir()
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("not an image")
    p = Preset().with_changes(
        {"data.source": "folder", "data.root": str(tmp_path), "data.val_fraction": 0.25}
    )
    data = load_data(p)
    assert data.class_names == ["cats", "zebras"]
    assert set(data.y_train.tolist()) == {0, 1} and set(data.y_val.tolist()) == {0, 1}
    assert any(
        "left out 2 class folders with no readable image: empty, junk" in note
        for note in data.stats["notes"]
    )
    # train/ + val/: a class with validation images only is left out of both
    split = tmp_path / "split"
    for cls, n_train in (("a", 3), ("b", 3), ("c", 0)):
        (split / "train" / cls).mkdir(parents=True)
        for i in range(n_train):
            _image(split / "train" / cls / f"{i}.png", value=40 * (ord(cls) - 96))
        for i in range(2):
            _image(split / "val" / cls / f"{i}.png", value=40 * (ord(cls) - 96))
    data = load_data(p.with_changes({"data.root": str(split)}))
    assert data.class_names == ["a", "b"] and len(data.y_val) == 4
    assert any(
        "no readable image in train/: c, and its 2 validation images too" in note
        for note in data.stats["notes"]
    )


@pytest.mark.parametrize(
    ("layout", "words"),
    [
        ({}, "no class sub-folders"),
        ({"a/x.txt": b"hello"}, "no readable images"),
        ({"a/1.png": None, "a/2.png": None}, "at least two class"),
    ],
)
def test_folder_errors(tmp_path, layout, words):
    for rel, content in layout.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            _image(path)
        else:
            path.write_bytes(content)
    p = Preset().with_changes({"data.source": "folder", "data.root": str(tmp_path)})
    with pytest.raises(DataError, match=words):
        load_data(p)


def test_missing_folder(tmp_path):
    p = Preset().with_changes({"data.source": "folder", "data.root": str(tmp_path / "nowhere")})
    with pytest.raises(DataError, match="image folder not found"):
        load_data(p)


# ------------------------------------------------------------------ balancing


def test_oversample_balances_classes():
    y = torch.tensor([0] * 90 + [1] * 10)
    order = epoch_order(y, 2, "oversample", torch.Generator().manual_seed(0))
    assert len(order) == 100
    share = float((y[order] == 1).float().mean())
    assert 0.35 < share < 0.65


def test_undersample_keeps_smallest_class_size():
    y = torch.tensor([0] * 90 + [1] * 10 + [2] * 30)
    order = epoch_order(y, 3, "undersample", torch.Generator().manual_seed(0))
    assert torch.bincount(y[order]).tolist() == [10, 10, 10]
    assert len(set(order.tolist())) == 30


def test_class_weights_equalize_contributions():
    y = torch.tensor([0] * 90 + [1] * 10)
    w = class_weights(y, 2)
    assert float(w[0] * 90) == pytest.approx(float(w[1] * 10))


def test_the_app_sees_a_folder_as_it_is_now_and_at_the_runs_size(tmp_path):
    """What the Data and Model tabs show (``engine.inspection``): photos added or an exclude
    list written since are seen, and pretrained weights' image size is the run's."""
    from engine import inspection

    root = tmp_path / "photos"
    for c, value in (("cats", 40), ("dogs", 200)):
        (root / c).mkdir(parents=True)
        for i in range(10):
            Image.new("RGB", (40, 30), (value, i * 9, 90)).save(root / c / f"{i}.png")
    preset = Preset().with_changes(
        {
            "data.source": "folder",
            "data.root": str(root),
            "data.cache_dir": str(tmp_path / "cache"),
            "data.image_size": 16,
            "data.val_fraction": 0.2,
        }
    )
    before = inspection.inspect_data(preset)["stats"]
    assert sum(before["train_counts"]) + sum(before["val_counts"]) == 20
    for i in range(5):
        Image.new("RGB", (40, 30), (40, 250, i)).save(root / "cats" / f"new{i}.png")
    after = inspection.inspect_data(preset)["stats"]
    assert sum(after["train_counts"]) + sum(after["val_counts"]) == 25
    exclude = tmp_path / "exclude.txt"
    exclude.write_text("cats/new0.png\n")
    marked = preset.with_changes({"data.exclude": str(exclude)})
    stats = inspection.inspect_data(marked)["stats"]
    assert sum(stats["train_counts"]) + sum(stats["val_counts"]) == 24
    exclude.write_text("cats/new0.png\ncats/new1.png\ncats/new2.png\n")  # a second mark
    stats = inspection.inspect_data(marked)["stats"]
    assert sum(stats["train_counts"]) + sum(stats["val_counts"]) == 22

    pretrained = Preset().with_changes({"model.arch": "resnet18", "model.pretrained": True})
    assert inspection.model_summary(pretrained)["input_shape"] == [1, 224, 224]


def test_a_folders_split_stays_put_when_files_are_added_or_removed(tmp_path):
    root = tmp_path / "photos"
    for c, value in (("cats", 40), ("dogs", 120), ("owls", 200)):
        (root / c).mkdir(parents=True)
        for i in range(20):
            Image.new("RGB", (12, 12), (value, i * 9, 90)).save(root / c / f"{i}.png")
    preset = Preset().with_changes(
        {"data.source": "folder", "data.root": str(root), "data.cache": False}
    )
    before = load_data(preset)
    assert len(before.val_ids) == 12  # 20 % of each class
    for i in range(6):
        Image.new("RGB", (12, 12), (40, 250, i * 9)).save(root / "cats" / f"new{i}.png")
    (root / "dogs" / "3.png").unlink()
    (root / "dogs" / "4.png").unlink()
    after = load_data(preset)
    old_val, new_val = set(before.val_ids), set(after.val_ids)
    owls = {n for n in old_val if n.startswith("owls/")}
    assert owls == {n for n in new_val if n.startswith("owls/")}  # untouched: the same
    # each added or removed file moves at most one other image between the splits
    trained_then = set(before.train_ids) & new_val
    assert len(trained_then) <= 2, trained_then
    assert load_data(preset.with_changes({"seed": 1})).val_ids != after.val_ids  # seeded


def test_a_class_left_with_no_training_image_is_named(tmp_path):
    data = load_data(Preset())
    threes = [i for i, y in zip(data.train_ids, data.y_train.tolist(), strict=True) if y == 3]
    exclude = tmp_path / "exclude.txt"
    exclude.write_text("\n".join(threes) + "\n")
    notes = load_data(Preset().with_changes({"data.exclude": str(exclude)})).stats["notes"]
    assert any(
        n.startswith("1 class with no training image (class 3): the network cannot learn")
        for n in notes
    ), notes
    assert not any("no training image" in n for n in data.stats["notes"])
