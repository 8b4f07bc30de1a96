"""Exports in every format, verified; prediction from a model file alone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.checkpoint import load_checkpoint
from engine.export import ExportError, export, read_safetensors_metadata
from engine.predict import predict
from engine.preset import Preset
from engine.runs import RunFiles
from engine.trainer import Trainer


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    p = Preset().with_changes({"train.epochs": 3, "train.device": "cpu", "name": "exp"})
    return Trainer(p, out=out).fit()


@pytest.mark.parametrize("fmt", ["pt", "safetensors", "torchscript", "onnx"])
def test_every_format_is_written_and_verified(digits_run, tmp_path, fmt):
    dest = tmp_path / f"model.{fmt}"
    report = export(RunFiles(digits_run.run_dir).best_checkpoint, dest, fmt)
    assert dest.is_file() and report.ok
    assert report.samples == 256 and report.inputs == "validation images"
    assert report.max_abs_diff <= 1e-4 and report.top1_agreement == 1.0
    if fmt == "onnx":
        import onnx

        proto = onnx.load(str(dest))
        assert report.opset == 18
        meta = json.loads({p.key: p.value for p in proto.metadata_props}["plateau"])
        assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # dynamic batch
        assert meta["class_names"] == [str(i) for i in range(10)]
    if fmt == "safetensors":
        assert read_safetensors_metadata(dest)["normalization"]["mode"] == "standardize"
    if fmt == "pt":
        slim = load_checkpoint(dest)
        assert "optimizer" not in slim and slim["input_shape"] == [1, 8, 8]
    if fmt == "torchscript":
        files = {"plateau.json": ""}
        torch.jit.load(str(dest), _extra_files=files)
        assert json.loads(files["plateau.json"])["arch"] == "convnet"


def test_a_folder_as_destination_gets_the_default_name_and_a_bad_one_fails_first(
    digits_run, tmp_path, monkeypatch
):
    import engine.export as export_module

    best = RunFiles(digits_run.run_dir).best_checkpoint
    (tmp_path / "exports").mkdir()
    report = export(best, tmp_path / "exports", "onnx")
    assert Path(report.path).parent == tmp_path / "exports" and report.path.endswith(".onnx")
    assert export(best, f"{tmp_path}/new-folder/", "pt").path.startswith(f"{tmp_path}/new-folder/")
    (tmp_path / "file").write_text("")

    def no_work(*args):
        raise AssertionError("the model was built before the destination was checked")

    monkeypatch.setattr(export_module, "model_from_checkpoint", no_work)
    with pytest.raises(ExportError, match="cannot write .*file/m.pt"):
        export(best, tmp_path / "file" / "m.pt", "pt")  # a file where its folder should be


def test_failed_verification_is_an_error(digits_run, tmp_path, monkeypatch):
    import engine.export as export_module

    real = export_module._write_pt

    def corrupting(state, model, x, dest):
        reload = real(state, model, x, dest)
        return lambda inputs: reload(inputs) + 1.0

    monkeypatch.setattr(export_module, "_write_pt", corrupting)
    with pytest.raises(
        ExportError, match="verification failed.*max \\|logit difference\\| 1.00e\\+00"
    ):
        export(RunFiles(digits_run.run_dir).best_checkpoint, tmp_path / "bad.pt", "pt")


def _digit_png(path, digit_image):
    Image.fromarray((digit_image * (255 / 16)).round().astype(np.uint8)).save(path)


def test_predict_from_model_files_alone(digits_run, tmp_path):
    from sklearn.datasets import load_digits

    digits = load_digits()
    paths = []
    for i in range(6):
        paths.append(tmp_path / f"digit{i}.png")
        _digit_png(paths[-1], digits.images[i])
    best = RunFiles(digits_run.run_dir).best_checkpoint
    # what the model says about the same digits fed straight from the dataset
    from engine.export import model_from_checkpoint

    state = load_checkpoint(best)
    norm = state["normalization"]
    raw = torch.tensor(digits.images[:6], dtype=torch.float32)[:, None]
    direct = model_from_checkpoint(state)(raw * norm["scale"][0] + norm["shift"][0]).argmax(1)
    truth = [str(int(c)) for c in direct]
    assert sum(t == str(d) for t, d in zip(truth, digits.target[:6], strict=True)) >= 5
    st = tmp_path / "m.safetensors"
    export(best, st, "safetensors")
    for model_file in (best, st):
        results = predict(model_file, paths, top=3)
        assert [r["top"][0]["class"] for r in results] == truth
        assert all(len(r["top"]) == 3 and r["top"][0]["probability"] > 0.5 for r in results)


def test_export_without_the_original_data_uses_random_inputs(tmp_path):
    folder = tmp_path / "imgs"
    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        (folder / cls).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(
                folder / cls / f"{i}.png"
            )
    p = Preset().with_changes(
        {
            "data.source": "folder",
            "data.root": str(folder),
            "train.epochs": 1,
            "train.device": "cpu",
            "data.val_fraction": 0.3,
        }
    )
    run = Trainer(p, out=tmp_path / "runs").fit()
    import shutil

    shutil.rmtree(folder)
    report = export(RunFiles(run.run_dir).last_checkpoint, tmp_path / "m.pt")
    assert report.ok and report.inputs.startswith("random inputs")


def test_predict_reads_every_export_format_with_the_same_top_k(digits_run, tmp_path):
    from sklearn.datasets import load_digits

    digits = load_digits()
    paths = []
    for i in range(4):
        paths.append(tmp_path / f"digit{i}.png")
        _digit_png(paths[-1], digits.images[i])
    best = RunFiles(digits_run.run_dir).best_checkpoint
    files = [best]
    for fmt in ("pt", "safetensors", "torchscript", "onnx"):
        files.append(Path(export(best, None, fmt).path))  # default destination: RUN/exports/
    assert {f.suffix for f in files} == {".pt", ".safetensors", ".onnx"}
    ranked = []
    for model_file in files:
        results = predict(model_file, paths, top=3)
        ranked.append([[t["class"] for t in r["top"]] for r in results])
        first = predict(files[0], paths, top=3)
        for r, r0 in zip(results, first, strict=True):
            probs = [t["probability"] for t in r["top"]]
            assert probs == pytest.approx([t["probability"] for t in r0["top"]], abs=1e-4)
    assert all(r == ranked[0] for r in ranked), ranked


def test_predict_reports_unreadable_images_and_still_classifies_the_rest(digits_run, tmp_path):
    from sklearn.datasets import load_digits

    good = tmp_path / "good.png"
    _digit_png(good, load_digits().images[0])
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    missing, link = tmp_path / "gone.jpg", tmp_path / "link.jpg"
    link.symlink_to(tmp_path / "moved-away.jpg")
    images = [good, notes, missing, link, tmp_path]
    results = predict(RunFiles(digits_run.run_dir).best_checkpoint, images, top=2)
    assert results[0]["image"] == str(good) and len(results[0]["top"]) == 2
    assert "error" in results[1] and "notes.txt" in results[1]["error"]
    assert "not an image" in results[1]["error"]
    assert results[2]["error"].endswith("gone.jpg: no such file or directory")
    assert results[3]["error"].endswith("link.jpg: no such file or directory")  # broken link
    assert results[4]["error"].endswith(": a folder, not an image file")
