"""Starting from what is already learnt: pretrained weights from TORCH_HOME or a file (never a
hang offline), adapted stems and heads, frozen backbones, discriminative rates, warm starts,
the frozen-feature fast path, and exports of these networks."""

from __future__ import annotations

import dataclasses
import urllib.error
from pathlib import Path

import pytest
import torch
from PIL import Image

from engine import events as ev
from engine.data import load_data
from engine.errors import DataError
from engine.models import build_model, summarize
from engine.models.pretrained import weights_file
from engine.preset import Preset
from engine.runs import RunFiles
from engine.trainer import Trainer

ARCH = "mobilenet_v3_small"  # the smallest torchvision network with weights


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """A TORCH_HOME holding made-up "pretrained" weights under torchvision's own file name."""
    from torchvision.models import get_model

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    url, path = weights_file(ARCH)
    path.parent.mkdir(parents=True)
    torch.manual_seed(123)
    state = get_model(ARCH, weights=None).state_dict()
    torch.save(state, path)
    return state


def _photos(root: Path, per_class: int = 8) -> Path:
    for c, value in (("beach", 40), ("forest", 200)):
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", (96, 80), (value, 255 - value, i * 20)).save(root / c / f"{i}.png")
    return root


def _preset(root: Path, tmp_path: Path, **changes) -> Preset:
    return Preset().with_changes(
        {
            "data.source": "folder",
            "data.root": str(root),
            "data.cache_dir": str(tmp_path / "cache"),
            "data.image_size": 64,
            "data.val_fraction": 0.25,
            "model.arch": ARCH,
            "train.epochs": 2,
            "train.batch_size": 4,
            "train.device": "cpu",
            **changes,
        }
    )


def test_pretrained_weights_come_from_torch_home_and_the_head_is_replaced(torch_home):
    cfg = Preset().with_changes({"model.arch": ARCH, "model.pretrained": True}).model
    notes = []
    model = build_model(cfg, (3, 64, 64), 5, notes=notes)
    assert torch.equal(model.state_dict()["features.0.0.weight"], torch_home["features.0.0.weight"])
    assert model.classifier[2][1].out_features == 5  # the head: this data's classes
    assert "mobilenet_v3_small-047dcff4.pth" in notes[0]
    gray = build_model(cfg, (1, 64, 64), 5)  # a grayscale stem: the RGB weights summed
    expected = torch_home["features.0.0.weight"].sum(dim=1, keepdim=True)
    assert torch.allclose(gray.state_dict()["features.0.0.weight"], expected)


def test_no_weights_and_no_network_fails_fast_naming_file_url_and_place(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    calls = []

    def offline(url, timeout=None):
        calls.append(timeout)
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr("urllib.request.urlopen", offline)
    cfg = Preset().with_changes({"model.arch": ARCH, "model.pretrained": True}).model
    with pytest.raises(DataError) as err:
        build_model(cfg, (3, 64, 64), 3)
    url, path = weights_file(ARCH)
    message = str(err.value)
    assert url in message and str(path) in message and "'model.weights'" in message
    assert calls == [10]  # a bounded wait, never a hang


def test_a_local_weights_file_pth_or_safetensors(tmp_path, torch_home):
    from safetensors.torch import save_file

    for name in ("w.pth", "w.safetensors"):
        path = tmp_path / name
        if name.endswith(".pth"):
            torch.save(torch_home, path)
        else:
            save_file({k: v.contiguous() for k, v in torch_home.items()}, str(path))
        cfg = Preset().with_changes({"model.arch": ARCH, "model.weights": str(path)}).model
        model = build_model(cfg, (3, 32, 32), 2)
        assert torch.equal(
            model.state_dict()["features.1.block.0.0.weight"],
            torch_home["features.1.block.0.0.weight"],
        )
    bad = tmp_path / "bad.pth"
    bad.write_text("not weights")
    cfg = Preset().with_changes({"model.arch": ARCH, "model.weights": str(bad)}).model
    with pytest.raises(
        DataError, match="'model.weights'.*not a readable weights file: expected a Py"
    ):
        build_model(cfg, (3, 32, 32), 2)  # not safetensors' "pop from empty list"
    text = tmp_path / "bad.safetensors"
    text.write_text("not weights")
    with pytest.raises(
        DataError, match=r"bad.safetensors is not a readable weights file: .*\.safetensors"
    ):
        build_model(dataclasses.replace(cfg, weights=str(text)), (3, 32, 32), 2)


def test_weights_that_do_not_fit_say_which_and_where_a_runs_weights_go(tmp_path, torch_home):
    """A Plateau export given as 'model.weights' showed only "Error(s) in loading state_dict
    for ...:" (its first line); a non-torchvision network was told to unset 'model.pretrained',
    which was not set."""
    from engine.preset import PresetError

    other = {k: v for k, v in torch_home.items() if not k.startswith("classifier")}
    other["head.weight"] = torch.zeros(3, 8)
    path = tmp_path / "export.pth"
    torch.save(other, path)
    cfg = Preset().with_changes({"model.arch": ARCH, "model.weights": str(path)}).model
    with pytest.raises(PresetError) as err:
        build_model(cfg, (3, 32, 32), 2)
    message = str(err.value)
    assert (
        "missing, e.g. 'classifier." in message
        and "1 not in the network, e.g. 'head.weight'" in message
    )
    assert "'model.init_from'" in message and err.value.key == "model.weights"
    # older files without batch norm's step counters load, as torch loads them
    older = {k: v for k, v in torch_home.items() if not k.endswith("num_batches_tracked")}
    assert len(older) < len(torch_home)
    torch.save(older, tmp_path / "older.pth")
    build_model(dataclasses.replace(cfg, weights=str(tmp_path / "older.pth")), (3, 32, 32), 2)
    convnet = Preset().with_changes({"model.arch": "convnet", "model.weights": str(path)}).model
    with pytest.raises(PresetError) as err:
        build_model(convnet, (3, 32, 32), 2)
    assert "'model.arch' = 'convnet' is not one" in str(err.value)
    assert "model.pretrained" not in str(err.value) and "'model.init_from'" in str(err.value)


def test_a_frozen_backbone_keeps_its_weights_and_batch_norm_statistics(tmp_path, torch_home):
    root = _photos(tmp_path / "photos")
    preset = _preset(
        root,
        tmp_path,
        **{
            "model.pretrained": True,
            "model.freeze": "backbone",
            "data.augment": ["hflip"],
        },  # augmentation: no fast path here
    )
    summary = Trainer(preset, out=tmp_path / "runs").fit()
    assert summary.status == "finished"
    trained = torch.load(RunFiles(summary.run_dir).last_checkpoint, weights_only=True)["model"]
    for key, value in torch_home.items():
        if not key.startswith("classifier.3"):  # everything but the replaced head
            assert torch.equal(trained[key], value), key  # incl. BN running mean/var
    start = build_model(preset.model, (3, 64, 64), 2, weights=True)
    assert not torch.equal(
        trained["classifier.2.1.weight"], start.state_dict()["classifier.2.1.weight"]
    )


def test_discriminative_learning_rates_reach_the_optimizer(torch_home):
    from engine.data import DataBundle  # noqa: F401 - the assembly builds on a bundle
    from engine.distributed import Dist
    from engine.training.assembly import assemble

    preset = Preset().with_changes(
        {
            "model.arch": ARCH,
            "model.pretrained": True,
            "model.freeze": 2,
            "train.backbone_lr_factor": 0.1,
            "train.optimizer.lr": 0.01,
            "train.device": "cpu",
        }
    )
    data = load_data(preset.with_changes({"data.image_size": 32}))
    model = build_model(preset.model, data.input_shape, data.num_classes)
    a = assemble(preset, data, model, torch.device("cpu"), Dist())
    head, body = a.optimizer.param_groups
    assert head["lr"] == 0.01 and body["lr"] == pytest.approx(0.001)
    assert {id(p) for p in head["params"]} == {id(p) for p in model.classifier[2].parameters()}
    frozen = [p for p in model.features[:-1].parameters()]
    assert frozen and not any(p.requires_grad for p in frozen)  # all but the last 2 blocks
    trains = {id(p) for p in body["params"]}
    assert all(id(p) in trains for p in model.classifier[0].parameters())
    counts = summarize(model, data.input_shape)
    assert 0 < counts["trainable_params"] < counts["total_params"]


def test_warm_start_loads_a_run_and_replaces_the_head_when_classes_differ(tmp_path, torch_home):
    root = _photos(tmp_path / "photos")
    first = Trainer(_preset(root, tmp_path), out=tmp_path / "runs").fit()
    best = torch.load(RunFiles(first.run_dir).best_checkpoint, weights_only=True)["model"]
    (root / "city").mkdir()
    for i in range(8):
        Image.new("RGB", (96, 80), (120, 120, 140 + i)).save(root / "city" / f"{i}.png")
    notes = []
    p = _preset(root, tmp_path, **{"model.init_from": first.run_dir})
    model = build_model(p.model, (3, 64, 64), 3, notes=notes)
    assert "head replaced (2 classes → 3)" in notes[0]
    state = model.state_dict()
    assert torch.equal(state["features.0.0.weight"], best["features.0.0.weight"])
    other = _preset(root, tmp_path, **{"model.arch": "resnet18", "model.init_from": first.run_dir})
    with pytest.raises(DataError, match="holds a mobilenet_v3_small network"):
        build_model(other.model, (3, 64, 64), 3)


def test_the_frozen_feature_fast_path_trains_the_head_on_cached_features(tmp_path, torch_home):
    root = _photos(tmp_path / "photos")
    fast = _preset(root, tmp_path, **{"model.pretrained": True, "model.freeze": "backbone"})
    seen = []
    first = Trainer(fast, out=tmp_path / "runs").fit(seen.append)
    started = next(e for e in seen if isinstance(e, ev.RunStarted))
    assert "only the head trains" in " ".join(started.model_summary["notes"])
    assert "now cached" in " ".join(started.model_summary["notes"])
    again = []
    Trainer(fast, out=tmp_path / "runs").fit(again.append)
    restarted = next(e for e in again if isinstance(e, ev.RunStarted))
    assert "read from the feature cache" in " ".join(restarted.model_summary["notes"])
    # the same run computing the backbone every step (no fast path) learns the same
    import engine.training.frozen_features as fast_path

    original = fast_path.applies
    fast_path.applies = lambda preset, dist: False
    try:
        slow_summary = Trainer(fast, out=tmp_path / "s").fit()
    finally:
        fast_path.applies = original
    rows_fast = RunFiles(first.run_dir).read_metrics()
    rows_slow = RunFiles(slow_summary.run_dir).read_metrics()
    assert [r.val_acc for r in rows_fast] == [r.val_acc for r in rows_slow]
    # the checkpoint is the whole network: export and predict work from it
    from engine.predict import predict

    result = predict(RunFiles(first.run_dir).best_checkpoint, [root / "beach" / "0.png"])
    assert result[0]["top"][0]["class"] in ("beach", "forest")


def test_image_size_and_normalization_follow_the_weights(torch_home):
    preset = Preset().with_changes(
        {
            "model.arch": ARCH,
            "model.pretrained": True,
            "data.normalize": "pretrained",
            "train.device": "cpu",
        }
    )
    data = load_data(preset)  # digits, 8×8: enlarged to the weights' 224 batch by batch
    assert data.input_shape == (1, 224, 224)
    assert data.x_train.shape[-1] == 8  # not a 224-px copy in memory
    x = data.normalizer(torch.device("cpu"))(data.x_train[:2])
    assert x.shape == (2, 1, 224, 224)
    gray_mean, gray_std = sum((0.485, 0.456, 0.406)) / 3, sum((0.229, 0.224, 0.225)) / 3
    assert data.norm.shift[0] == pytest.approx(-gray_mean / gray_std)
    assert data.norm.scale[0] == pytest.approx(1 / (16 * gray_std))  # digits hold 0–16


def test_every_export_format_of_a_pretrained_network_is_verified(tmp_path, torch_home):
    from engine.export import export
    from engine.predict import predict

    root = _photos(tmp_path / "photos")
    p = _preset(root, tmp_path, **{"model.pretrained": True, "train.epochs": 1})
    run = Trainer(p, out=tmp_path / "runs").fit()
    best = RunFiles(run.run_dir).best_checkpoint
    image = root / "forest" / "3.png"
    expected = [t["class"] for t in predict(best, [image], top=2)[0]["top"]]
    for fmt in ("pt", "safetensors", "torchscript", "onnx"):
        report = export(best, None, fmt)
        assert report.ok and report.inputs == "validation images", fmt
        got = [t["class"] for t in predict(report.path, [image], top=2)[0]["top"]]
        assert got == expected, fmt
