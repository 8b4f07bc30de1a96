"""The Errors tab's Likely mislabeled view: a finished run's training images whose label looks
wrong, ranked, each markable to leave out or relabel — written to the list the preset names (or
a new one under the workspace) and set in the preset, so the next run uses it."""

from __future__ import annotations

import random
from pathlib import Path

from PySide6.QtCore import Qt

from engine.data.sample_lists import SampleLists
from engine.data.sources import load_source
from engine.preset import Preset
from tests.gui.conftest import digits_preset, wait_jobs

RUN_TIMEOUT_MS = 180_000


def _noisy_digits(tmp_path: Path) -> tuple[Path, Path]:
    """The digits preset with a fifth of its labels changed (a relabel file)."""
    source = load_source(Preset().data, 0)
    rng = random.Random(1)
    lines = []
    for i in rng.sample(range(len(source.y)), len(source.y) // 5):
        old = int(source.y[i])
        lines.append(f"#{i}\t{rng.choice([c for c in range(10) if c != old])}\n")
    flips = tmp_path / "flips.txt"
    flips.write_text("".join(lines))
    changes = {"name": "noisy", "data.relabel": str(flips), "train.epochs": 8}
    return digits_preset(tmp_path, **changes), flips


def test_likely_mislabeled_images_are_shown_and_marked(window, qtbot, tmp_path):
    preset_file, flips = _noisy_digits(tmp_path)
    window.load_preset(preset_file)
    with qtbot.waitSignal(window.session.finished, timeout=RUN_TIMEOUT_MS):
        window.actions["actionStart"].trigger()
    window.run_view.paint()
    browser = window.error_browser
    qtbot.mouseClick(browser.suspects_button, Qt.MouseButton.LeftButton)
    wait_jobs(qtbot, window)
    assert window.center_tabs.currentWidget() is browser
    assert browser.title.text().startswith("Likely mislabeled: ")
    assert "the doctor flags" in browser.title.text()
    assert browser.grid.count == 48 and browser.marking.isVisible()
    # which sample each image is, on hover (for a folder: its file)
    assert [cell.toolTip() for cell in browser.grid._cells] == browser.sample_ids
    # given→predicted where they differ, else a late fit; margins to two significant digits
    for box in browser.grid._boxes:
        names, margin = box.text().split("\nmargin ")
        given, _, predicted = names.partition("→")
        assert (predicted and predicted != given) or names.endswith(", fitted late")
        assert float(margin) < 0 and "e" not in margin

    # Nothing checked: told so, nothing written.
    qtbot.mouseClick(browser.exclude_button, Qt.MouseButton.LeftButton)
    assert browser.mark_result.text() == "Check the images to mark first."

    boxes = browser.grid._boxes
    boxes[0].setChecked(True)
    boxes[1].setChecked(True)
    qtbot.mouseClick(browser.exclude_button, Qt.MouseButton.LeftButton)
    exclude = Path(window.current_preset().data.exclude)
    assert exclude == tmp_path / "runs" / "labels" / "noisy-exclude.txt"
    assert SampleLists.read(str(exclude), "").exclude == set(browser.sample_ids[:2])
    assert "2 images left out" in browser.mark_result.text()
    assert "the next run uses it" in browser.mark_result.text()

    # Relabel goes to the list the preset already names.
    boxes[0].setChecked(False)
    boxes[1].setChecked(False)
    boxes[2].setChecked(True)
    browser.relabel_class.setCurrentText("3")
    qtbot.mouseClick(browser.relabel_button, Qt.MouseButton.LeftButton)
    assert window.current_preset().data.relabel == str(flips)
    assert SampleLists.read("", str(flips)).relabel[browser.sample_ids[2]] == "3"


def test_the_leakage_fix_leaves_the_training_copies_out_of_the_next_run(window, qtbot, tmp_path):
    from engine.doctor.suite_data import scenes_folder

    root = tmp_path / "photos"
    copies = scenes_folder(root, copies=True)  # 3 validation images copied into training
    mine = tmp_path / "mine.txt"  # the person's own list: an image they left out before
    mine.write_text("train/a/0.jpg\n")
    preset_file = digits_preset(
        tmp_path,
        **{
            "name": "leaky",
            "data.source": "folder",
            "data.root": str(root),
            "data.cache_dir": str(tmp_path / "cache"),
            "data.exclude": str(mine),
            "data.image_size": 64,
            "model.width": 8,
            "train.epochs": 1,
        },
    )
    window.load_preset(preset_file)
    started = []
    window.session.started.connect(started.append)
    with qtbot.waitSignal(window.session.finished, timeout=RUN_TIMEOUT_MS):
        window.actions["actionStart"].trigger()
    panel = window.doctor_panel
    ids = [f["id"] for f in panel.findings]
    assert "split-leakage" in ids
    panel.list.setCurrentRow(ids.index("split-leakage"))
    assert "data.exclude:" in panel.diff.text() and "leaked-into-training.txt" in panel.diff.text()
    assert "both lists go into a new one" in panel.diff.text()  # the person's list is kept
    leaky_run = window.run_list.runs()[0].path
    with qtbot.waitSignal(window.session.finished, timeout=RUN_TIMEOUT_MS):
        panel.rerun.click()
    exclude = window.current_preset().data.exclude  # both lists, in a new one
    run_name = Path(leaky_run).name
    assert exclude == str(tmp_path / "runs" / "labels" / f"leaky-exclude-{run_name}.txt")
    assert sorted(SampleLists.read(exclude, "").exclude) == sorted(["train/a/0.jpg", *copies])
    before, after = (sum(e.data_stats["train_counts"]) for e in started[-2:])
    assert before - after == len(copies)
    assert "split-leakage" not in [f["id"] for f in panel.findings]
