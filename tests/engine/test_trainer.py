"""The training loop: events, determinism, resume, stop, pause, schedules, failures."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from engine import events as ev
from engine.checkpoint import load_checkpoint
from engine.errors import DataError, TrainingError
from engine.preset import Preset, PresetError
from engine.runs import RunFiles
from engine.schedules import preview_lr
from engine.trainer import RunControl, Trainer
from tests.conftest import tiny_preset


def _strip_timing(rows):
    return [r.without_timing() for r in rows]


def test_fit_emits_events_and_writes_run_directory(runs_dir):
    seen = []
    summary = Trainer(tiny_preset(), out=runs_dir).fit(seen.append)
    kinds = [type(e) for e in seen]
    assert kinds[0] is ev.RunStarted and kinds[-1] is ev.RunFinished
    assert kinds.count(ev.EpochEnd) == 3 and ev.BatchEnd in kinds
    for e in seen:  # frozen values, no tensors
        json.dumps(ev.to_json(e))
        with pytest.raises(AttributeError):
            e.__setattr__("x", 1)
    run = RunFiles(summary.run_dir)
    assert summary.status == "finished" and run.read_summary().status == "finished"
    rows = run.read_metrics()
    assert [r.epoch for r in rows] == [1, 2, 3]
    line = json.loads((run.path / "metrics.jsonl").read_text().splitlines()[0])  # the format
    for key in (
        "train_loss",
        "train_acc",
        "val_loss",
        "val_acc",
        "lr",
        "seconds",
        "samples_per_s",
        "grad_norm",
    ):
        assert isinstance(line[key], float)
    assert set(line["per_class"]) == {"precision", "recall", "f1", "support"}
    confusion = np.array(rows[-1].confusion)
    assert confusion.shape == (3, 3) and confusion.sum() == len(run.read_predictions()["y_true"])
    assert rows[-1].val_acc == pytest.approx(np.trace(confusion) / confusion.sum())
    assert run.read_preset() == tiny_preset()
    pred = run.read_predictions()
    assert pred["best_prob"].shape == (confusion.sum(), 3) and int(pred["last_epoch"]) == 3
    best = load_checkpoint(run.best_checkpoint)
    assert best["epoch"] == summary.best_epoch and best["class_names"] == [
        "class 0",
        "class 1",
        "class 2",
    ]
    assert load_checkpoint(run.last_checkpoint)["normalization"]["mode"] == "standardize"
    assert summary.best_val_acc > 0.6  # signal 1 is learnable; chance is 1/3


def test_batch_events_are_rate_limited(runs_dir):
    seen = []
    p = tiny_preset(**{"train.batch_size": 4, "train.epochs": 2, "model.width": 4})
    Trainer(p, out=runs_dir).fit(seen.append)
    batch_events = [e for e in seen if isinstance(e, ev.BatchEnd)]
    steps = batch_events[-1].step
    assert steps == 2 * 48  # 192 training samples / 4
    assert len(batch_events) < steps  # not one event (and one loss read) per step
    assert all(np.isfinite(e.loss) for e in batch_events)


def test_same_preset_and_seed_give_identical_metrics(runs_dir):
    p = tiny_preset(
        **{"data.augment": ["hflip", "crop:1"], "model.dropout": 0.3, "data.balance": "oversample"}
    )
    a = Trainer(p, out=runs_dir / "a").fit()
    b = Trainer(p, out=runs_dir / "b").fit()
    rows_a, rows_b = RunFiles(a.run_dir).read_metrics(), RunFiles(b.run_dir).read_metrics()
    assert _strip_timing(rows_a) == _strip_timing(rows_b)
    c = Trainer(p.with_changes({"seed": 1}), out=runs_dir / "c").fit()
    assert _strip_timing(RunFiles(c.run_dir).read_metrics()) != _strip_timing(rows_a)


class StopAfterEpoch:
    def __init__(self, control, epoch):
        self.control, self.epoch = control, epoch

    def __call__(self, event):
        if isinstance(event, ev.EpochEnd) and event.epoch == self.epoch:
            self.control.stop()


def test_resume_matches_uninterrupted_run(runs_dir):
    p = tiny_preset(
        **{
            "train.epochs": 4,
            "data.augment": ["crop:1", "jitter:0.1"],
            "model.dropout": 0.2,
            "data.balance": "oversample",
            "train.schedule.name": "step",
            "train.schedule.step_size": 2,
            "train.schedule.gamma": 0.5,
        }
    )
    full = Trainer(p, out=runs_dir / "full").fit()
    control = RunControl()
    stopped = Trainer(p, out=runs_dir / "part", control=control).fit(StopAfterEpoch(control, 2))
    assert stopped.status == "stopped" and stopped.epochs_completed == 2
    resumed = Trainer(p, resume_dir=stopped.run_dir).fit()
    assert resumed.status == "finished" and resumed.run_dir == stopped.run_dir
    rows_full = _strip_timing(RunFiles(full.run_dir).read_metrics())
    rows_resumed = _strip_timing(RunFiles(resumed.run_dir).read_metrics())
    assert rows_resumed == rows_full


def test_a_checkpoint_from_a_gpu_resumes_with_this_devices_optimizer(runs_dir):
    """A CUDA run saves its optimizer as fused (one kernel per update); resumed on the CPU it
    updates as the CPU builds it, to the same numbers as a run that never left the CPU."""
    p = tiny_preset(**{"train.epochs": 3})
    full = Trainer(p, out=runs_dir / "full").fit()
    control = RunControl()
    stopped = Trainer(p, out=runs_dir / "part", control=control).fit(StopAfterEpoch(control, 1))
    path = RunFiles(stopped.run_dir).last_checkpoint
    saved = torch.load(path, weights_only=False)
    for group in saved["optimizer"]["param_groups"]:
        group["fused"] = True  # as a CUDA run writes it
    torch.save(saved, path)
    trainer = Trainer(p, resume_dir=stopped.run_dir)
    assert trainer.fit().status == "finished"
    assert all(not g["fused"] for g in trainer.a.optimizer.param_groups)
    rows = _strip_timing(RunFiles(stopped.run_dir).read_metrics())
    assert rows == _strip_timing(RunFiles(full.run_dir).read_metrics())


def test_a_fast_run_keeps_a_loss_curve_without_more_events(runs_dir, monkeypatch):
    import engine.training.epoch as epoch_module

    # a machine so fast that the event interval never elapses inside an epoch
    monkeypatch.setattr(epoch_module, "BATCH_EVENT_INTERVAL_S", 1e9)
    p = tiny_preset(**{"train.batch_size": 4, "train.epochs": 2})  # 48 steps an epoch
    seen = []
    summary = Trainer(p, out=runs_dir).fit(seen.append)
    steps = RunFiles(summary.run_dir).read_steps()
    spe = summary.steps_per_epoch
    assert len(steps) >= 2 * epoch_module.STEP_RECORDS_PER_EPOCH
    assert steps.step == sorted(steps.step) and steps.step[-1] == 2 * spe
    assert all(np.isfinite(steps.loss)) and steps.loss[-1] < steps.loss[0]
    # the live view still gets one BatchEnd an epoch here: the extra points are only recorded
    assert [e.step for e in seen if isinstance(e, ev.BatchEnd)] == [spe, 2 * spe]


def test_stop_mid_epoch_leaves_complete_run(runs_dir):
    control = RunControl()

    def stop_on_third_batch(event):
        if isinstance(event, ev.BatchEnd) and event.step >= 3:
            control.stop()

    p = tiny_preset(**{"train.batch_size": 2, "train.epochs": 2})
    import engine.training.epoch as epoch_module

    old = epoch_module.BATCH_EVENT_INTERVAL_S
    epoch_module.BATCH_EVENT_INTERVAL_S = 0.0
    try:
        summary = Trainer(p, out=runs_dir, control=control).fit(stop_on_third_batch)
    finally:
        epoch_module.BATCH_EVENT_INTERVAL_S = old
    run = RunFiles(summary.run_dir)
    assert summary.status == "stopped" and summary.epochs_completed == 0
    assert run.read_summary().status == "stopped"
    assert load_checkpoint(run.last_checkpoint)["epoch"] == 0
    assert (run.path / "preset.toml").exists()
    # resumed, the first epoch trains from its start: the run an uninterrupted one is
    resumed = Trainer(p, resume_dir=summary.run_dir).fit()
    full = Trainer(p, out=runs_dir / "full").fit()
    assert _strip_timing(run.read_metrics()) == _strip_timing(RunFiles(full.run_dir).read_metrics())
    assert resumed.status == "finished"
    steps, full_steps = run.read_steps().step, RunFiles(full.run_dir).read_steps().step
    assert steps == sorted(set(steps)) and steps[-1] == full_steps[-1]  # no step counted twice


def test_of_two_epochs_with_equal_accuracy_best_pt_keeps_the_lower_loss():
    """On easy data validation accuracy reaches 1.0 at epoch 1, far from trained: best.pt moves
    on to the later epoch of the same accuracy and a lower validation loss."""
    from engine.training.progress import RunProgress
    from engine.training.validation import Validation

    progress = RunProgress(tiny_preset(), ["a", "b"], "cpu", 4)

    def record(epoch, acc, loss):
        confusion = ((1, 0), (0, 1))
        val = Validation(
            loss, acc, confusion, np.array([0, 1], np.int16), np.eye(2, dtype=np.float32)
        )
        per_class = ev.PerClassMetrics((acc,) * 2, (acc,) * 2, (acc,) * 2, (1, 1))
        row = ev.EpochMetrics(epoch, 0.5, 0.9, loss, acc, 1e-3, 1.0, 1.0, 1.0, per_class, confusion)
        return progress.record(row, val, np.array([0, 1]), ["x", "y"])

    assert record(1, 1.0, 0.77)
    assert record(2, 1.0, 0.01) and progress.best.epoch == 2
    assert not record(3, 1.0, 0.05) and progress.best.epoch == 2
    assert not record(4, 0.5, 0.001) and progress.best.epoch == 2


def test_pause_holds_and_resume_continues(runs_dir):
    control = RunControl()
    paused_at = {}
    released = threading.Event()

    def on_event(event):
        if isinstance(event, ev.EpochEnd) and event.epoch == 1:
            control.pause()
            paused_at["epoch"] = event.epoch
            threading.Timer(0.5, lambda: (released.set(), control.resume())).start()
        if isinstance(event, ev.BatchEnd) and paused_at and event.epoch == 2:
            assert released.is_set()  # no step ran while paused

    summary = Trainer(tiny_preset(), out=runs_dir, control=control).fit(on_event)
    assert summary.status == "finished" and summary.epochs_completed == 3


@pytest.mark.parametrize("balance", ["oversample", "undersample", "class-weights", "focal"])
def test_balance_modes_train(runs_dir, balance):
    p = tiny_preset(
        **{
            "data.balance": balance,
            "data.synthetic.imbalance": 10.0,
            "train.epochs": 4,
            "data.synthetic.samples": 600,
            "train.optimizer.lr": 0.01,
        }
    )
    summary = Trainer(p, out=runs_dir).fit()
    assert summary.status == "finished" and summary.best_val_acc > 0.9


@pytest.mark.parametrize(
    "schedule",
    [
        {"train.schedule.name": "step", "train.schedule.step_size": 1, "train.schedule.gamma": 0.1},
        {"train.schedule.name": "multistep", "train.schedule.milestones": [2]},
        {"train.schedule.name": "exponential", "train.schedule.gamma": 0.5},
        {"train.schedule.name": "cosine", "train.schedule.warmup_epochs": 1},
        {"train.schedule.name": "onecycle"},
        {"train.schedule.name": "plateau", "train.schedule.patience": 0},
    ],
)
@pytest.mark.parametrize("optimizer", ["sgd", "adamw", "rmsprop"])
def test_schedules_and_optimizers_run_and_match_preview(runs_dir, schedule, optimizer):
    p = tiny_preset(**schedule, **{"train.optimizer.name": optimizer, "train.optimizer.lr": 0.01})
    summary = Trainer(p, out=runs_dir).fit()
    rows = RunFiles(summary.run_dir).read_metrics()
    preview = preview_lr(p, 6)  # 192 samples / 32
    if schedule["train.schedule.name"] != "plateau":
        assert [r.lr for r in rows] == pytest.approx([preview[6 * e + 5] for e in range(3)])


def test_step_lr_decays_tenfold_each_epoch():
    p = Preset().with_changes(
        {"train.epochs": 4, "train.schedule.name": "step", "train.optimizer.lr": 0.005}
    )
    lrs = preview_lr(p, 2)
    assert lrs[::2] == pytest.approx([0.005, 0.0005, 5e-5, 5e-6])


def test_warmup_ramps_linearly():
    p = Preset().with_changes(
        {"train.epochs": 3, "train.schedule.warmup_epochs": 1, "train.optimizer.lr": 0.1}
    )
    lrs = preview_lr(p, 4)
    assert lrs[:5] == pytest.approx([0.025, 0.05, 0.075, 0.1, 0.1])


def _epoch_lrs(preset, steps_per_epoch=4):
    """The rate each epoch trains at (its first and last batch) from the real schedule."""
    lrs = preview_lr(preset, steps_per_epoch)
    n = steps_per_epoch
    return [(lrs[e * n], lrs[e * n + n - 1]) for e in range(preset.train.epochs)]


def test_main_schedule_starts_after_warmup():
    base = {"train.optimizer.lr": 0.001, "train.epochs": 4, "train.schedule.warmup_epochs": 2}
    cosine = _epoch_lrs(Preset().with_changes({**base, "train.schedule.name": "cosine"}))
    assert cosine[2] == pytest.approx((0.001, 0.001))  # first epoch after warmup: the full rate
    assert cosine[3] == pytest.approx((0.0005, 0.0005))  # cosine over the 2 remaining epochs
    step = _epoch_lrs(
        Preset().with_changes(
            {
                **base,
                "train.epochs": 3,
                "train.schedule.warmup_epochs": 1,
                "train.schedule.name": "step",
            }
        )
    )
    assert [last for _, last in step] == pytest.approx([0.001, 0.001, 0.0001])


@pytest.mark.parametrize(
    "name", ["step", "multistep", "exponential", "cosine", "onecycle", "plateau"]
)
@pytest.mark.parametrize("warmup", [0, 1, 3])
def test_no_planned_epoch_trains_at_rate_zero(name, warmup):
    p = Preset().with_changes(
        {
            "train.epochs": 5,
            "train.schedule.name": name,
            "train.schedule.warmup_epochs": warmup,
            "train.schedule.milestones": [1, 2],
            "train.schedule.gamma": 0.5,
        }
    )
    assert all(lo > 0 and hi > 0 for lo, hi in _epoch_lrs(p))


@pytest.mark.parametrize("schedule", ["onecycle", "cosine"])
def test_resume_with_more_epochs_replans_the_schedule(runs_dir, schedule):
    p = tiny_preset(**{"train.schedule.name": schedule, "train.epochs": 3})
    first = Trainer(p, out=runs_dir).fit()
    assert first.status == "finished"
    longer = Trainer(p.with_changes({"train.epochs": 6}), resume_dir=first.run_dir).fit()
    assert longer.status == "finished" and longer.epochs_completed == 6
    rows = RunFiles(first.run_dir).read_metrics()
    assert [r.epoch for r in rows] == [1, 2, 3, 4, 5, 6]
    assert all(r.lr > 1e-6 for r in rows[3:5])  # the added epochs train
    assert rows[3].train_loss != rows[2].train_loss
    # the re-planned schedule is the 6-epoch plan from epoch 4 on
    planned = preview_lr(p.with_changes({"train.epochs": 6}), 6)
    if schedule == "cosine":
        assert [r.lr for r in rows[3:]] == pytest.approx([planned[6 * e + 5] for e in (3, 4, 5)])


def test_resume_that_cannot_continue_changes_nothing(runs_dir):
    first = Trainer(tiny_preset(), out=runs_dir).fit()
    run = RunFiles(first.run_dir)
    before = {f.name: f.read_bytes() for f in run.path.iterdir() if f.is_file()}
    with pytest.raises(PresetError, match="already trained 3 epochs.*--epochs"):
        Trainer(tiny_preset(), resume_dir=first.run_dir).fit()
    with pytest.raises(PresetError, match="'train.epochs'"):
        Trainer(tiny_preset(**{"train.epochs": 2}), resume_dir=first.run_dir).fit()
    after = {f.name: f.read_bytes() for f in run.path.iterdir() if f.is_file()}
    assert after == before


def _cats_and_dogs(root: Path, per_class: int = 12) -> Path:
    from PIL import Image

    for c, value in (("cats", 40), ("dogs", 200)):
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", (24, 24), (value, i * 9, 90)).save(root / c / f"{i}.png")
    return root


def _folder_preset(root, cache: Path):
    """One epoch on an image folder at 8 px."""
    return tiny_preset(
        **{
            "data.source": "folder",
            "data.root": str(root),
            "data.cache_dir": str(cache),
            "data.image_size": 8,
            "train.epochs": 1,
        }
    )


def test_resume_after_the_folder_changed_says_so_and_offers_a_new_run(
    runs_dir, tmp_path, monkeypatch
):
    from PIL import Image

    root = _cats_and_dogs(tmp_path / "photos")
    preset = tiny_preset(
        **{
            "data.source": "folder",
            "data.root": "photos",  # relative to the working directory
            "data.cache_dir": str(tmp_path / "cache"),
            "data.image_size": 8,
            "train.epochs": 1,
        }
    )
    monkeypatch.chdir(tmp_path)
    first = Trainer(preset, out=runs_dir).fit()
    run = RunFiles(first.run_dir)
    assert run.read_preset().data.root == str(root)  # the run names it from anywhere
    monkeypatch.chdir(runs_dir)
    before = {f.name: f.read_bytes() for f in run.path.iterdir() if f.is_file()}
    longer = run.read_preset().with_changes({"train.epochs": 2})  # as resume reads it
    for i in range(3):
        Image.new("RGB", (24, 24), (40, 250, i)).save(root / "cats" / f"new{i}.png")
    with pytest.raises(DataError, match=r"20 training and 4 validation images then, 22 and 5 now"):
        Trainer(longer, resume_dir=first.run_dir).fit()
    for i in range(3):  # as many images as before, but other ones
        (root / "cats" / f"new{i}.png").unlink()
    (root / "cats" / "0.png").rename(root / "cats" / "zero.png")
    with pytest.raises(DataError, match="not the same ones.*model.init_from"):
        Trainer(longer, resume_dir=first.run_dir).fit()
    assert {f.name: f.read_bytes() for f in run.path.iterdir() if f.is_file()} == before
    (root / "cats" / "zero.png").rename(root / "cats" / "0.png")
    assert Trainer(longer, resume_dir=first.run_dir).fit().epochs_completed == 2
    (root / "cats" / "0.png").unlink()  # today's images, from the run's weights
    fresh = Trainer(longer.with_changes({"model.init_from": first.run_dir}), out=runs_dir).fit()
    assert fresh.status == "finished"


def test_an_image_folder_run_from_an_earlier_plateau_is_not_resumed_on_another_split(
    runs_dir, tmp_path
):
    """Earlier versions drew a folder's validation images at random and kept no names: such a
    run cannot be continued, nor its validation images shown, on today's split by file name."""
    import numpy as np

    from engine.inspection import error_samples

    root = _cats_and_dogs(tmp_path / "photos")
    preset = _folder_preset(root, tmp_path / "cache")
    first = Trainer(preset, out=runs_dir).fit()
    run = RunFiles(first.run_dir)
    checkpoint = torch.load(run.last_checkpoint, weights_only=False)
    del checkpoint["data"]  # as an earlier version wrote them
    torch.save(checkpoint, run.last_checkpoint)
    predictions = run.read_predictions()
    del predictions["val_ids"]
    run.write_predictions(predictions)
    with pytest.raises(DataError, match="earlier Plateau drew the folder's validation images"):
        Trainer(preset.with_changes({"train.epochs": 2}), resume_dir=first.run_dir).fit()
    with pytest.raises(ValueError, match="earlier Plateau"):
        error_samples(first.run_dir, 0, None)
    assert np.array_equal(run.read_predictions()["y_true"], predictions["y_true"])


def test_label_smoothing_grad_clip_and_early_stopping(runs_dir):
    p = tiny_preset(
        **{
            "train.label_smoothing": 0.1,
            "train.grad_clip": 0.5,
            "train.early_stopping": 1,
            "train.epochs": 30,
            "data.synthetic.signal": 0.0,
        }
    )
    summary = Trainer(p, out=runs_dir).fit()
    assert summary.status == "finished" and summary.early_stopped
    assert summary.epochs_completed < 30
    assert summary.best_val_loss_epoch == summary.epochs_completed - 1  # patience 1
    rows = RunFiles(summary.run_dir).read_metrics()
    assert all(r.grad_norm >= 0 for r in rows)


def test_non_finite_loss_fails_run_and_keeps_last_good_checkpoint(runs_dir, monkeypatch):
    import engine.trainer as trainer_module

    original = trainer_module.train_epoch
    calls = {"n": 0}

    def poisoned(a, *args):
        calls["n"] += 1
        if calls["n"] == 2:
            with torch.no_grad():
                for q in a.model.parameters():
                    q.fill_(float("nan"))
        return original(a, *args)

    monkeypatch.setattr(trainer_module, "train_epoch", poisoned)
    seen = []
    summary = Trainer(tiny_preset(), out=runs_dir).fit(seen.append)
    assert summary.status == "failed" and "nan" in summary.error
    assert "train.optimizer.lr" in summary.hint
    assert isinstance(seen[-1], ev.RunFailed)
    last = load_checkpoint(RunFiles(summary.run_dir).last_checkpoint)
    assert last["epoch"] == 1 and all(
        torch.isfinite(v).all() for v in last["model"].values() if v.is_floating_point()
    )


def test_model_that_cannot_take_the_input_fails_before_the_run(runs_dir, monkeypatch):
    import engine.models

    def broken(cfg, shape, classes):
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(7, classes))

    monkeypatch.setitem(engine.models.BUILDERS, "mlp", broken)
    with pytest.raises(TrainingError) as err:  # the summary's dry run finds the shape error
        Trainer(tiny_preset(**{"model.arch": "mlp"}), out=runs_dir).fit()
    assert "cannot run on (1, 8, 8) images" in str(err.value) and "64" in str(err.value)
    assert err.value.hint
    assert list(runs_dir.iterdir()) == []  # no half-made run directory


def test_channels_last_trains_the_same(runs_dir):
    plain = Trainer(tiny_preset(), out=runs_dir / "a").fit()
    cl = Trainer(tiny_preset(**{"train.channels_last": True}), out=runs_dir / "b").fit()
    a = _strip_timing(RunFiles(plain.run_dir).read_metrics())
    b = _strip_timing(RunFiles(cl.run_dir).read_metrics())
    assert [r.val_acc for r in a] == [r.val_acc for r in b]
    assert [r.train_loss for r in a] == pytest.approx([r.train_loss for r in b], rel=1e-4)


@pytest.mark.skipif(
    __import__("shutil").which("cc") is None, reason="torch.compile needs a C compiler"
)
def test_compile_key_trains(runs_dir):
    p = tiny_preset(
        **{
            "train.compile": True,
            "train.epochs": 1,
            "model.arch": "mlp",
            "model.width": 8,
            "model.depth": 1,
        }
    )
    seen = []
    summary = Trainer(p, out=runs_dir).fit(seen.append)
    assert summary.status == "finished"
    stages = [e for e in seen if isinstance(e, ev.Compiling)]
    assert [e.stage for e in stages] == ["compiling", "compiled"]  # said while it compiles
    assert stages[1].seconds > 0 and stages[0].mode == "default"
    assert Path(stages[0].cache_dir).name == "torch-compile"  # in the (test's) user cache dir
    state = load_checkpoint(RunFiles(summary.run_dir).last_checkpoint)
    assert not any(k.startswith("_orig_mod.") for k in state["model"])  # the plain model is saved


def test_a_runs_validation_image_that_is_a_training_image_today_is_still_shown(runs_dir, tmp_path):
    from PIL import Image

    from engine.inspection import data_for, error_samples, to_display

    root = _cats_and_dogs(tmp_path / "photos", per_class=20)
    preset = _folder_preset(root, tmp_path / "cache")
    run = Trainer(preset, out=runs_dir).fit()
    then = error_samples(run.run_dir, 0, None, limit=100)
    for i in range(40):  # new cats: some rank before the run's validation cats
        Image.new("RGB", (24, 24), (40, 250, i * 6)).save(root / "cats" / f"new{i}.png")
    today = data_for(RunFiles(run.run_dir).read_preset())
    moved = [name for name in then["ids"] if name in today.train_ids]
    assert moved  # the run validated on them; today they train
    now = error_samples(run.run_dir, 0, None, limit=100)
    assert now["ids"] == then["ids"] and now["missing"] == 0
    i = now["ids"].index(moved[0])
    row = torch.tensor([today.train_ids.index(moved[0])])
    image = to_display(today.normalizer(torch.device("cpu"))(today.x_train[row]))[0]
    assert np.array_equal(now["images"][i], image)


def test_a_run_that_trains_now_is_not_resumed_by_another_process(runs_dir):
    """Two processes training one run directory would mix their checkpoints and metrics."""
    import subprocess
    import sys

    control = RunControl()
    stopped = Trainer(tiny_preset(), out=runs_dir, control=control).fit(StopAfterEpoch(control, 1))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from engine.runs import TrainingLock; "
            "TrainingLock(sys.argv[1]); print('held', flush=True); time.sleep(60)",
            stopped.run_dir,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        before = RunFiles(stopped.run_dir).last_checkpoint.read_bytes()
        with pytest.raises(DataError, match="is training in another process now"):
            Trainer(tiny_preset(), resume_dir=stopped.run_dir).fit()
        assert RunFiles(stopped.run_dir).last_checkpoint.read_bytes() == before
    finally:
        holder.kill()
        holder.wait()
    resumed = Trainer(tiny_preset(), resume_dir=stopped.run_dir).fit()  # its process ended
    assert resumed.status == "finished"


def test_a_stop_while_the_run_is_made_ready_leaves_no_run(runs_dir):
    """Stopped before its first step — prepared ahead in the app's child, or while loading —
    there is no run to list or resume."""
    control = RunControl()
    trainer = Trainer(tiny_preset(), out=runs_dir, control=control)
    trainer.prepare(lambda *_: None)
    control.stop()
    summary = trainer.fit()
    assert summary.status == "stopped" and not summary.run_dir
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


def test_a_filesystem_without_locks_trains_and_resumes_all_the_same(runs_dir, monkeypatch):
    import errno
    import fcntl

    def no_locks(fd, how):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    control = RunControl()
    stopped = Trainer(tiny_preset(), out=runs_dir, control=control).fit(StopAfterEpoch(control, 1))
    assert stopped.status == "stopped"
    assert Trainer(tiny_preset(), resume_dir=stopped.run_dir).fit().status == "finished"


def test_the_first_epochs_start_is_let_go_once_its_end_is_saved(runs_dir):
    """It is a whole checkpoint in memory (100 MB for a ResNet-50): kept only while a stop
    would need it."""
    trainer = Trainer(tiny_preset(**{"train.epochs": 2}), out=runs_dir)
    trainer.fit()
    assert trainer._first is None
