"""A person's own folder in the window: decoding shows progress, can be cancelled, and what
was decoded is kept for the run."""

from __future__ import annotations

import time

from PIL import Image

from engine import preset as presets
from engine.runs import RunFiles
from tests.gui.conftest import wait_jobs

RUN_TIMEOUT_MS = 120_000


def _folder(root, per_class=30):
    for c, value in (("cats", 40), ("dogs", 200)):
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", (64, 48), (value, i * 4, 90)).save(root / c / f"{i}.png")
    return root


def _open_folder_preset(window, tmp_path, root, image_size):
    """A one-epoch preset "mine" for the folder at ``root``, saved and opened in the window."""
    preset = presets.load(presets.default_preset_path()).with_changes(
        {
            "name": "mine",
            "data.source": "folder",
            "data.root": str(root),
            "data.cache_dir": str(tmp_path / "cache"),
            "data.image_size": image_size,
            "train.epochs": 1,
        }
    )
    presets.save(preset, tmp_path / "mine.toml")
    window.load_preset(tmp_path / "mine.toml")


def test_decoding_shows_progress_can_be_cancelled_and_the_run_keeps_the_rest(
    window, qtbot, tmp_path, monkeypatch
):
    import engine.data.decode_many as cache_module

    real = cache_module.decode

    def slow(*args, **kwargs):  # a big folder: time to press Cancel
        time.sleep(0.05)
        return real(*args, **kwargs)

    monkeypatch.setattr(cache_module, "decode", slow)
    root = _folder(tmp_path / "photos")
    _open_folder_preset(window, tmp_path, root, 32)
    inspector = window.data_inspector
    qtbot.waitUntil(lambda: inspector.progress.value() > 2, timeout=30_000)
    assert not inspector.loading.isHidden() and inspector.progress.maximum() == 60
    assert "Decoding images" in inspector.summary.text()
    inspector.cancel.click()
    qtbot.waitUntil(lambda: "cancelled" in inspector.summary.text(), timeout=30_000)
    assert inspector.loading.isHidden() and inspector.redraw.text() == "Continue decoding"
    wait_jobs(qtbot, window)
    monkeypatch.setattr(cache_module, "decode", real)
    started = []
    window.session.started.connect(started.append)
    with qtbot.waitSignal(window.session.finished, timeout=RUN_TIMEOUT_MS):
        window.actions["actionStart"].trigger()
    stats = started[0].data_stats
    assert stats["cache"] == "updated" and stats["images"] == 60  # the rest decoded, not all
    inspector.redraw.click()
    wait_jobs(qtbot, window)
    assert "read from the cache" in inspector.notes.text()
    assert inspector.redraw.text() == "Draw other samples"
    shown = inspector.notes.text().replace("\u200b", "")  # break chances after each "/"
    assert f"({tmp_path / 'cache'}" in shown  # where the cache is: its folder is named


def test_the_model_form_offers_pretrained_networks_and_shows_frozen_layers(window, qtbot):
    form = window.model_form
    form.widgets["model.arch"].setCurrentText("mobilenet_v3_small")
    assert not form.widgets["model.pretrained"].isHidden()
    assert form.widgets["model.width"].isHidden()  # a torchvision network has its own sizes
    form.widgets["model.pretrained"].setChecked(True)
    normalize = window.dataset_form.widgets["data.normalize"]
    assert normalize.currentText() == "pretrained"  # the weights' scaling, in plain sight
    form.widgets["model.freeze"].setCurrentText("backbone")
    preset = window.current_preset()
    assert preset.model.pretrained and preset.model.freeze == "backbone"
    from PySide6.QtWidgets import QPushButton

    assert window.findChild(QPushButton, "browseInitFrom") is not None  # "Start from run…"
    # the Model tab: what trains (a summary needs no weights, so no download here)
    window.dataset_form.widgets["data.image_size"].setValue(32)
    window.refresh_inspection()
    wait_jobs(qtbot, window)
    table = window.model_summary.table
    trains = {table.item(r, 4).text() for r in range(table.rowCount())}
    assert {"yes", "frozen"} <= trains
    assert "frozen" in window.model_summary.totals.text()
    form.widgets["model.pretrained"].setChecked(False)
    assert normalize.currentText() == "standardize"


def test_an_old_run_shows_its_own_images_after_the_folder_changed(window, qtbot, tmp_path):
    """Photos added and removed after a run: the run's error browser still shows the images
    it was validated on (found by name; today's split differs), and says which are gone."""
    import numpy as np
    from PySide6.QtWidgets import QLabel

    root = _folder(tmp_path / "photos")
    _open_folder_preset(window, tmp_path, root, 16)
    with qtbot.waitSignal(window.session.finished, timeout=RUN_TIMEOUT_MS) as finished:
        window.actions["actionStart"].trigger()
    run = RunFiles(finished.args[0].run_dir).read_predictions()
    names = [bytes(n).decode() for n in run["val_ids"]]
    pred, conf = run["epoch_pred"][-1], run["epoch_conf"][-1].astype(np.float32)
    column = int(np.bincount(pred[run["y_true"] == 0], minlength=2).argmax())
    cell = np.flatnonzero((run["y_true"] == 0) & (pred == column))
    in_order = [names[i] for i in cell[np.argsort(-conf[cell], kind="stable")]]
    for gone in in_order[:2]:
        (root / gone).unlink()
    for i in range(10):  # new photos: the split by file name keeps the run's validation images
        Image.new("RGB", (64, 48), (40, 250 - i, 90)).save(root / "cats" / f"new{i}.png")
    (root / "birds").mkdir()  # a new class, sorted first: today's class 0
    for i in range(4):
        Image.new("RGB", (64, 48), (120, i * 9, 200)).save(root / "birds" / f"{i}.png")

    window.run_view.paint()
    window.confusion_view.cell_clicked.emit(0, column)
    wait_jobs(qtbot, window)
    browser = window.error_browser
    tips = [browser.grid._cells[i].toolTip() for i in range(browser.grid.count)]
    assert tips == in_order[2:50]  # the run's own images, most confident first
    captions = {c.findChildren(QLabel)[-1].text().split("\n")[0] for c in browser.grid._cells}
    assert captions == {f"cats→{('cats', 'dogs')[column]}"}  # the run's class names
    assert "2 of them are no longer in the data" in browser.title.text()
    assert f"{len(cell)} validation images" in browser.title.text()
    files = RunFiles(finished.args[0].run_dir)
    samples = files.read_samples()
    samples["aum"][:] = 1.0
    samples["aum"][:2] = -1.0  # two training images the network disagreed with
    samples["pred"][:2] = 1 - samples["label"][:2]
    files.write_samples(samples)
    browser.suspects_button.click()
    wait_jobs(qtbot, window)
    given = [browser.grid._boxes[i].text().split("\n")[0] for i in range(2)]
    run_names = ("cats", "dogs")
    assert given == [f"{run_names[g]}→{run_names[1 - g]}" for g in samples["label"][:2]]
    assert browser.relabel_class.itemText(0) == "birds"  # relabelled for the next run

    # resuming it would mix two sets of images in one run: refused, the run left as it was
    run_dir = finished.args[0].run_dir
    with qtbot.waitSignal(window.session.failed, timeout=RUN_TIMEOUT_MS):
        assert window.resume_run(run_dir, epochs=2)
    wait_jobs(qtbot, window)
    text = window.banner.text()
    assert not window.banner.isHidden()
    assert text.startswith("Cannot resume it: ") and "trained on other images" in text
    assert "model.init_from" in text
    assert [r.status for r in window.run_list.runs()] == ["finished"]
    assert RunFiles(run_dir).read_summary().status == "finished"
    # the window shows the run as it still is, not a failed run of 0 epochs
    assert window.status_labels["state"].text() == "finished"
    assert window.status_labels["epoch"].text().startswith("epoch 1/1")
    assert window.loss_plot.epoch_points() == 1
