"""split-leakage: validation images that also appear in training — re-encoded and resized
copies included — are found before the first step, with label conflicts counted, and the
one-click fix leaves the training copies out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from engine.data import load_data
from engine.doctor.leakage import NEAR, find_copies, thumbnails
from engine.doctor.suite_data import scenes_folder
from engine.preset import Preset
from engine.runs import RunFiles
from engine.trainer import Trainer


def _preset(root: Path, tmp_path: Path) -> Preset:
    return Preset().with_changes(
        {
            "data.source": "folder",
            "data.root": str(root),
            "data.cache_dir": str(tmp_path / "cache"),
            "data.image_size": 64,
            "model.width": 8,
            "train.epochs": 1,
            "train.batch_size": 32,
            "train.device": "cpu",
        }
    )


def test_copies_between_the_splits_are_found_and_left_out(tmp_path):
    root = tmp_path / "photos"
    made = scenes_folder(root, copies=True)
    preset = _preset(root, tmp_path)
    summary = Trainer(preset, out=tmp_path / "runs").fit()
    found = {f["id"]: f for f in RunFiles(summary.run_dir).read_diagnosis()}
    leak = found["split-leakage"]
    assert leak["epoch"] == 0  # before the first step
    assert leak["extra"]["val_copies"] == 3 and leak["extra"]["train_copies"] == 3
    assert leak["extra"]["conflicts"] == 1
    assert "3 of 40 validation images (7.5%) also appear in training" in leak["evidence"]
    assert "1 of these copies carry different labels" in leak["evidence"]
    listed = Path(leak["fix"]["set"]["data.exclude"]).read_text().splitlines()[1:]
    assert sorted(listed) == sorted(made)
    fixed = load_data(preset.with_changes(leak["fix"]["set"]))
    copies = find_copies(fixed.x_train, fixed.x_val)
    assert copies.train_val == [] and copies.val_val == []


def test_no_finding_without_copies(tmp_path):
    root = tmp_path / "photos"
    scenes_folder(root, copies=False)
    summary = Trainer(_preset(root, tmp_path), out=tmp_path / "runs").fit()
    ids = {f["id"] for f in RunFiles(summary.run_dir).read_diagnosis()}
    assert "split-leakage" not in ids


def test_synthetic_samples_are_not_called_copies(tmp_path):
    """At 96 px a synthetic class's samples differ only in pixel noise, which a 16×16 thumbnail
    averages away: they look like copies of each other, but are independent draws (and the
    synthetic source is not searched at all)."""
    preset = Preset().with_changes(
        {
            "data.source": "synthetic",
            "data.synthetic.samples": 200,
            "data.synthetic.size": 96,
            "model.arch": "mlp",
            "model.width": 8,
            "train.epochs": 1,
            "train.device": "cpu",
        }
    )
    from engine.doctor.leakage import _near_pairs, thumbnails

    data = load_data(preset)
    near = _near_pairs(thumbnails(data.x_train), thumbnails(data.x_val), False)
    assert near  # what the 16×16 thumbnails say; the second look's detail tells them apart
    assert not find_copies(data.x_train, data.x_val).train_val
    summary = Trainer(preset, out=tmp_path / "runs").fit()
    ids = {f["id"] for f in RunFiles(summary.run_dir).read_diagnosis()}
    assert "split-leakage" not in ids


def test_small_images_are_compared_exactly():

    x = torch.randint(0, 255, (20, 1, 8, 8), dtype=torch.uint8)
    val = torch.cat([x[:3].clone(), torch.randint(0, 255, (5, 1, 8, 8), dtype=torch.uint8)])
    val[2, 0, 0, 0] ^= 1  # one pixel differs: not a copy at 8×8
    val = torch.cat([val, val[:1]])  # and a copy within validation
    copies = find_copies(x, val)
    assert copies.train_val == [(0, 0), (0, 8), (1, 1)]  # val 8 is val 0 again
    assert copies.val_val == [(0, 8)]


def test_thumbnails_are_made_once_per_dataset_and_kept_with_the_decoded_images(
    tmp_path, monkeypatch
):
    from engine.doctor import leakage
    from engine.doctor.suite_data import scene

    root = tmp_path / "photos"
    scenes_folder(root, copies=False)
    preset = _preset(root, tmp_path)
    made = []
    compute = leakage._compute

    def counting(x):
        made.append(len(x))
        return compute(x)

    monkeypatch.setattr(leakage, "_compute", counting)
    first = load_data(preset)
    before = find_copies(first.x_train, first.x_val)
    assert sum(made) == 160  # every decoded image once, training and validation alike
    made.clear()
    again = load_data(preset)  # a second run of the same folder
    assert find_copies(again.x_train, again.x_val) == before and made == []
    scene(999).save(root / "train" / "a" / "new.jpg", quality=90)
    grown = load_data(preset)  # one new photo: only its thumbnail is made
    find_copies(grown.x_train, grown.x_val)
    assert made == [1]
    assert Path(first.stats["cache_location"]).is_relative_to(tmp_path / "cache")
    files = list(Path(first.stats["cache_location"]).rglob("thumbs-*"))
    assert len(files) == 1


def test_one_background_with_the_subject_moved_is_not_a_copy(tmp_path):
    """A fixed camera: the same backdrop, the subject a few pixels elsewhere. At 16×16 such
    pictures correlate like copies (a walkthrough's photos: 0.987–0.997, four false pairs); the
    second look at 32×32 tells them apart, and still finds a re-encoded, resized copy."""
    from PIL import Image, ImageDraw

    t = np.linspace(0, 1, 72)[:, None]  # sky above, ground below (the walkthrough's photos)
    sky = np.where(t < 0.7, [90, 150, 230] + t * [60, -60, -180], [110, 80, 40])
    backdrop = Image.fromarray(np.repeat(sky[:, None, :], 96, axis=1).astype(np.uint8))

    def shot(x, y):
        img = backdrop.copy()
        ImageDraw.Draw(img).ellipse((x - 14, y - 14, x + 14, y + 14), fill=(220, 60, 40))
        return img

    disc = shot(40, 26)
    root = tmp_path / "photos"
    for name, img in (
        ("train/disc/0.jpg", disc),
        ("train/other/0.jpg", shot(60, 30).transpose(Image.Transpose.FLIP_TOP_BOTTOM)),
        ("val/disc/0.jpg", shot(44, 28)),  # the subject moved by 4 pixels
        ("val/disc/1.jpg", disc.resize((106, 79))),  # a copy of the training disc
    ):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        img.save(root / name, quality=70)
    data = load_data(_preset(root, tmp_path))
    moved = (data.train_ids.index("train/disc/0.jpg"), data.val_ids.index("val/disc/0.jpg"))
    alike = thumbnails(data.x_train)[moved[0]] @ thumbnails(data.x_val)[moved[1]]
    assert float(alike) >= NEAR  # a copy by the thumbnails alone …
    copies = find_copies(data.x_train, data.x_val)
    pairs = {(data.train_ids[i], data.val_ids[j]) for i, j in copies.train_val}
    assert pairs == {("train/disc/0.jpg", "val/disc/1.jpg")}  # … but only the real copy is one
    assert copies.val_val == []


def test_the_same_shapes_in_another_colour_are_not_a_copy(tmp_path):
    """Ripe and unripe fruit on one backdrop: grey thumbnails correlate like copies, and the
    doctor reported 'copies' with 'label conflicts' between the two classes. The second look
    compares colours too; a re-encoded or brightened copy keeps them and is still found."""
    from PIL import Image, ImageDraw, ImageEnhance

    def fruit(colour):
        img = Image.new("RGB", (96, 72), (235, 235, 230))
        ImageDraw.Draw(img).ellipse((30, 18, 66, 54), fill=colour)
        return img

    red = fruit((200, 40, 40))
    root = tmp_path / "photos"
    for name, img in (
        ("train/ripe/0.jpg", red),
        ("train/unripe/0.jpg", fruit((40, 200, 40)).rotate(90)),
        ("val/unripe/0.jpg", fruit((60, 170, 40))),  # the same shape, green
        ("val/ripe/1.jpg", red),  # a copy of the training fruit, encoded again below
        ("val/ripe/2.jpg", ImageEnhance.Brightness(red).enhance(1.12)),  # a brighter copy
    ):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        img.save(root / name, quality=90 if name.startswith("val/ripe") else 70)
    data = load_data(_preset(root, tmp_path))
    red_green = (data.train_ids.index("train/ripe/0.jpg"), data.val_ids.index("val/unripe/0.jpg"))
    alike = thumbnails(data.x_train)[red_green[0]] @ thumbnails(data.x_val)[red_green[1]]
    assert float(alike) >= NEAR  # a copy by the grey thumbnails alone …
    copies = find_copies(data.x_train, data.x_val)
    pairs = {(data.train_ids[i], data.val_ids[j]) for i, j in copies.train_val}
    assert pairs == {("train/ripe/0.jpg", "val/ripe/1.jpg"), ("train/ripe/0.jpg", "val/ripe/2.jpg")}

    # a green pear and a blue plum at one place, on backdrops whose mean colours come out alike
    # (the mean colours differ by 0.16): where the colour is tells them apart
    def disc(backdrop, colour):
        img = Image.new("RGB", (96, 96), backdrop)
        ImageDraw.Draw(img).ellipse([30, 28, 66, 68], fill=colour)
        return torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)[None]

    pear, plum = disc((120, 140, 160), (40, 200, 40)), disc((120, 150, 130), (40, 40, 200))
    assert float(thumbnails(pear)[0] @ thumbnails(plum)[0]) >= NEAR
    assert find_copies(pear, plum).train_val == []
    assert find_copies(pear, pear.clone()).train_val == [(0, 0)]


def test_other_shapes_on_one_smooth_backdrop_are_not_copies():
    """A gradient (a sky, a studio backdrop) dominates 16×16 thumbnails: a circle and a
    triangle on it correlate like copies there; their detail does not."""
    from PIL import Image, ImageDraw

    from engine.doctor.leakage import _near_pairs, thumbnails

    def picture(shape: str, x: int, seed: int) -> torch.Tensor:
        ramp = np.linspace(20, 250, 96)[None, :, None].repeat(96, 0).repeat(3, 2)
        img = Image.fromarray(ramp.astype(np.uint8))
        draw = ImageDraw.Draw(img)
        if shape == "circle":
            draw.ellipse([x, 36, x + 12, 48], fill=(90, 90, 90))
        else:
            draw.polygon([(x + 6, 36), (x, 48), (x + 12, 48)], fill=(90, 90, 90))
        noise = np.random.default_rng(seed).integers(-16, 16, (24, 24, 1)).repeat(4, 0).repeat(4, 1)
        pixels = np.clip(np.asarray(img) + noise, 0, 255).astype(np.uint8)  # a grainy photo
        return torch.from_numpy(pixels).permute(2, 0, 1)[None]

    train = torch.cat([picture("circle", 40, 0), picture("circle", 60, 1)])
    val = torch.cat([picture("triangle", 40, 2), picture("circle", 40, 0)])  # the second: a copy
    assert (0, 0) in _near_pairs(thumbnails(train), thumbnails(val), False)
    assert find_copies(train, val).train_val == [(0, 1)]
