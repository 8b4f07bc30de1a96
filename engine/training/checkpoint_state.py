"""What a checkpoint holds (model, optimizer, schedule, the step loop's state, the best epochs,
random states, what the model needs to be used alone) and how a run continues from one."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from engine.data import BY_NAME, DataBundle
from engine.data.balance import steps_per_epoch
from engine.errors import CheckpointError, DataError, PresetError
from engine.preset import Preset
from engine.runs import RunFiles
from engine.schedules import Schedule, reset_rates
from engine.training.assembly import Assembly
from engine.training.epoch import StepState
from engine.training.progress import Best, RunProgress


def checkpoint_state(
    preset: Preset,
    a: Assembly,
    state: StepState,
    progress: RunProgress,
    data: DataBundle,
    doctor_state: dict,
    samples_state: dict | None = None,
    identity: dict | None = None,
) -> dict:
    rng = {
        "torch": torch.get_rng_state(),
        "order": a.order_gen.get_state(),
        "augment": a.augment.generator.get_state(),
        "cuda": torch.cuda.get_rng_state_all() if a.device.type == "cuda" else None,
    }
    return {
        "model": a.model.state_dict(),
        "optimizer": a.optimizer.state_dict(),
        "schedule": a.schedule.state_dict(),
        "steps_per_epoch": a.steps_per_epoch,
        "scaler": a.scaler.state_dict(),
        "epoch": state.epoch,
        "step": state.step,
        "best": progress.best_state(),
        "preset": preset.to_dict(),
        "class_names": list(data.class_names),
        "data": identity or data_identity(data),
        "normalization": data.norm.as_dict(),
        "input_shape": list(data.input_shape),
        "arch": preset.model.arch,
        "rng": rng,
        "doctor": doctor_state,
        "samples": samples_state,
        "ema": state.ema.detach().cpu(),
        "ema_best": state.ema_best.detach().cpu(),
    }


def data_identity(data: DataBundle) -> dict:
    """Which images a run trains and validates on, labelled how: its classes, how the split was
    made, the split sizes, and a digest of the sample names and labels."""
    digest = hashlib.sha256(
        "\n".join([*data.class_names, "", *data.train_ids, "", *data.val_ids]).encode()
    )
    for y in (data.y_train, data.y_val):
        digest.update(y.cpu().numpy().astype("<i8").tobytes())
    return {
        "classes": list(data.class_names),
        "split": data.stats.get("split", ""),
        "train": len(data.y_train),
        "val": len(data.y_val),
        "digest": digest.hexdigest()[:16],
    }


CHANGED = (
    "images were added, removed, moved, left out (data.exclude) or relabelled (data.relabel) "
    "since, and a resumed run must see the same ones"
)


def check_same_data(checkpoint: dict, now: dict, run_dir: Path) -> None:
    """A resumed run must see the images it trained on, labelled as they were (``now``: today's
    :func:`data_identity`): raise, naming what changed and how to train on today's data."""
    then = checkpoint.get("data")
    if then is None:  # a checkpoint from before this was kept: its classes and validation size
        try:
            val = len(RunFiles(run_dir).read_predictions()["y_true"])
        except (OSError, KeyError, ValueError):
            val = now["val"]
        then = {**now, "classes": list(checkpoint["class_names"]), "train": None, "val": val}
        if (then["classes"], val) == (now["classes"], now["val"]) and now["split"] != BY_NAME:
            return
    elif then == now:
        return
    if then["classes"] != now["classes"]:
        what = f"classes {', '.join(then['classes'])} then, {', '.join(now['classes'])} now"
    elif then["train"] is None and now["split"] == BY_NAME and then["val"] == now["val"]:
        what = "an earlier Plateau drew the folder's validation images at random; now they are "
        what += "chosen by file name, which keeps them when files are added"
    elif then["train"] is None:
        what = f"{then['val']:,} validation images then, {now['val']:,} now"
    elif (then["train"], then["val"]) != (now["train"], now["val"]):
        what = (
            f"{then['train']:,} training and {then['val']:,} validation images then, "
            f"{now['train']:,} and {now['val']:,} now"
        )
    else:
        what = "as many images, but not the same ones or not labelled the same"
    raise DataError(
        f"{run_dir} trained on other images than its preset gives now ({what}): {CHANGED}. "
        "To train on today's images, start a new run from this one's weights: "
        f'model.init_from = "{run_dir}"',
        "model.init_from",
    )


def restore(
    checkpoint: dict,
    run_dir: Path,
    preset: Preset,
    a: Assembly,
    state: StepState,
    progress: RunProgress,
) -> dict | None:
    """Put a run back where its checkpoint left it (a longer run re-plans its schedule); return
    the doctor's saved state. Raises before anything in ``run_dir`` changes when it cannot go on.
    """
    done, planned = checkpoint["epoch"], preset.train.epochs
    if planned <= done:
        raise PresetError(
            f"{run_dir} has already trained {done} epoch{'s' * (done != 1)} and "
            f"'train.epochs' = {planned}; to train longer, set more epochs "
            f"(plateau-train resume {run_dir} --epochs {done + max(1, done // 2)})",
            "train.epochs",
        )
    try:
        a.model.load_state_dict(checkpoint["model"])
        fused = [g.get("fused") for g in a.optimizer.param_groups]
        a.optimizer.load_state_dict(checkpoint["optimizer"])
        for group, built in zip(a.optimizer.param_groups, fused, strict=True):
            if "fused" in group:  # as this device builds it, not as the saving one did
                group["fused"] = built
    except (RuntimeError, ValueError, KeyError) as exc:
        raise CheckpointError(
            f"{run_dir}: the checkpoint does not fit the run's preset "
            f"({str(exc).splitlines()[0][:160]})"
        ) from None
    files = RunFiles(run_dir)
    progress.rows = files.read_metrics()[:done]
    # saved before checkpoints kept it: every run then counted its remainder as a step
    saved = checkpoint.get("steps_per_epoch") or steps_per_epoch(
        a.epoch_samples, preset.train.batch_size
    )
    same_steps = saved == a.steps_per_epoch
    if same_steps and _schedule_plan(checkpoint["preset"]) == _schedule_plan(preset.to_dict()):
        a.schedule.load_state_dict(checkpoint["schedule"])
    else:  # a longer run, or epochs of another number of steps here (a compiled run trains
        # whole batches only; resumed where it does not compile, it trains the remainder too):
        # re-plan the schedule for the new length, at the same position
        reset_rates(a.optimizer, preset.train)
        a.schedule = Schedule(a.optimizer, preset.train, a.steps_per_epoch)
        a.schedule.fast_forward([r.val_loss for r in progress.rows])
    a.scaler.load_state_dict(checkpoint["scaler"])
    state.epoch, state.step = done, checkpoint["step"]
    state.ema = checkpoint["ema"].to(a.device)
    state.ema_best = checkpoint["ema_best"].to(a.device)
    progress.best = Best.from_state(checkpoint["best"])
    if "val_acc_loss" not in checkpoint["best"] and 0 < progress.best.epoch <= len(progress.rows):
        # saved before ties were broken by validation loss: the best epoch's own loss
        progress.best.val_acc_loss = progress.rows[progress.best.epoch - 1].val_loss
    rng = checkpoint["rng"]
    torch.set_rng_state(rng["torch"])
    a.order_gen.set_state(rng["order"])
    a.augment.generator.set_state(rng["augment"])
    if rng.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    try:
        progress.predictions = files.read_predictions()
    except (FileNotFoundError, ValueError, OSError):
        progress.predictions = {}
    progress.step_log = files.read_steps().up_to(state.step)
    return checkpoint.get("doctor")


def _schedule_plan(preset: dict) -> tuple:
    """What a schedule's state depends on: a resume that changes it re-plans the schedule."""
    t = preset["train"]
    return t["epochs"], t["schedule"], t["optimizer"]["lr"]
