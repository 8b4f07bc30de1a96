"""What the app shows about data, models and predictions, computed on the engine side.

Each function returns plain Python / NumPy values, ready for display; the desktop app calls them
on a worker thread (they import and run torch).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

from engine.data import BY_NAME, DataBundle, files_signature, image_size, load_data
from engine.data.augment import BatchAugment
from engine.data.image_cache import Progress, no_progress
from engine.models import build_model, summarize
from engine.preset import Preset, absolute_paths, dumps, from_dict
from engine.runs import RunFiles


def _data_key(preset: Preset) -> tuple:
    """What decides the data: the preset's data settings and seed, the image size (pretrained
    weights set it too) and the files read from disk — so edits elsewhere reuse the loaded
    data, and a photo added or an image marked since is seen."""
    preset = absolute_paths(preset)  # a run's preset.toml and the forms' name the same data
    raw = preset.to_dict()
    settings = dumps(from_dict({"seed": raw["seed"], "data": raw["data"]}))
    return settings, image_size(preset), files_signature(preset.data)


KEPT = 4  # data bundles kept in memory (the latest presets' data settings)
_bundles: OrderedDict[tuple, DataBundle] = OrderedDict()
_bundles_lock = threading.Lock()


def data_for(preset: Preset, progress: Progress = no_progress) -> DataBundle:
    """The preset's data, kept on what decides it (images from the decoded-image cache, so a
    folder is decoded once, here or by a run)."""
    key = _data_key(preset)
    with _bundles_lock:
        if key in _bundles:
            _bundles.move_to_end(key)
            return _bundles[key]
    data = load_data(preset, progress)
    with _bundles_lock:
        _bundles[key] = data
        while len(_bundles) > KEPT:
            _bundles.popitem(last=False)
    return data


def to_display(x: np.ndarray | torch.Tensor) -> np.ndarray:
    """``N×C×H×W`` floats → ``N×H×W×3`` uint8, each image stretched to its own range."""
    x = torch.as_tensor(x, dtype=torch.float32)
    lo = x.amin(dim=(1, 2, 3), keepdim=True)
    hi = x.amax(dim=(1, 2, 3), keepdim=True)
    x = (x - lo) / (hi - lo).clamp(min=1e-8)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    elif x.shape[1] != 3:
        x = x[:, :3] if x.shape[1] > 3 else torch.cat([x, x[:, :1]], 1)[:, :3]
    return (x.permute(0, 2, 3, 1) * 255).round().to(torch.uint8).numpy()


def inspect_data(
    preset: Preset, samples: int = 32, draw: int = 0, progress: Progress = no_progress
) -> dict:
    """Statistics and a grid of training samples *as the network sees them* (normalized and
    augmented, then mapped back to pixel range for display). ``draw`` picks another sample."""
    data = data_for(preset, progress)
    gen = torch.Generator().manual_seed(preset.seed * 1000 + draw)
    idx = torch.randperm(len(data.y_train), generator=gen)[:samples]
    x = data.normalizer(torch.device("cpu"))(data.x_train[idx])
    if preset.data.augment:
        x = BatchAugment(preset.data.augment, gen)(x)
    return {
        "stats": data.stats,
        "images": to_display(x),
        "labels": [data.class_names[i] for i in data.y_train[idx].tolist()],
        "network_range": [float(x.min()), float(x.max())],
    }


def model_summary(preset: Preset) -> dict:
    """The model's layers, output shapes and parameter counts for the preset's data."""
    from engine.models.pretrained import check_start_files

    check_start_files(preset.model)  # a missing weights file or run: before Start, not after
    data = data_for(preset)
    torch.manual_seed(preset.seed)
    # shapes and what trains need no weights (no download from the Model tab)
    model = build_model(preset.model, data.input_shape, data.num_classes, weights=False)
    return {**summarize(model, data.input_shape), "input_shape": list(data.input_shape)}


def lr_preview(preset: Preset) -> tuple[list[float], int]:
    """The planned learning rate per step and the steps per epoch."""
    from engine.data.balance import epoch_length, steps_per_epoch
    from engine.schedules import preview_lr

    data = data_for(preset)
    n = epoch_length(data.y_train, data.num_classes, preset.data.balance)
    steps = steps_per_epoch(-(-n // preset.train.processes), preset.train.batch_size)
    return preview_lr(preset, steps), steps


def lr_plan(preset: Preset, steps_per_epoch: int) -> tuple[list[float], int]:
    """A run's planned learning rate per step, from its preset and recorded epoch length (the
    data is loaded only for a run that did not record it)."""
    from engine.schedules import preview_lr

    if steps_per_epoch <= 0:
        return lr_preview(preset)
    return preview_lr(preset, steps_per_epoch), steps_per_epoch


def error_samples(
    run_dir: str | Path,
    true: int | None,
    pred: int | None,
    epoch: int | None = None,
    wrong_only: bool = False,
    limit: int = 48,
) -> dict:
    """Validation images of a run where the true class is ``true`` and the prediction ``pred``
    at ``epoch`` (the last when None; either class may be None for any; ``wrong_only`` keeps
    misclassified ones), most confident first — confidently wrong ones often carry a wrong
    label."""
    files = RunFiles(run_dir)
    preds = files.read_predictions()
    preset = files.read_preset()
    data = data_for(preset)
    y_true = preds["y_true"]
    if "epoch_pred" in preds and len(preds["epoch_pred"]):
        shown = len(preds["epoch_pred"]) if epoch is None else epoch
        shown = min(max(shown, 1), len(preds["epoch_pred"]))
        y_pred = preds["epoch_pred"][shown - 1].astype(np.int64)
        confidence_all = preds["epoch_conf"][shown - 1].astype(np.float32)
    else:  # a run from before every epoch's predictions were kept: its last epoch
        shown = int(preds["last_epoch"])
        y_pred = preds["last_pred"].astype(np.int64)
        confidence_all = preds["last_prob"][np.arange(len(y_pred)), y_pred]
    mask = np.ones(len(y_true), dtype=bool)
    if true is not None:
        mask &= y_true == true
    if pred is not None:
        mask &= y_pred == pred
    if wrong_only:
        mask &= y_pred != y_true
    idx = np.nonzero(mask)[0]
    ranked = idx[np.argsort(-confidence_all[idx], kind="stable")]
    order, x, ids, missing = _run_val_images(preds, data, ranked, limit)
    x = data.normalizer(torch.device("cpu"))(x)
    names = _run_class_names(files, data)
    return {
        "images": to_display(x) if len(order) else np.zeros((0, 1, 1, 3), np.uint8),
        "true": [names[i] for i in y_true[order]],
        "pred": [names[i] for i in y_pred[order]],
        "confidence": confidence_all[order].tolist(),
        "ids": ids,
        "epoch": shown,
        "count": int(len(idx)),
        "missing": missing,
    }


def _run_val_images(preds: dict, data: DataBundle, ranked: np.ndarray, limit: int) -> tuple:
    """The first ``limit`` of the run's validation samples ``ranked`` that today's data still
    has, found by name (in either split: a changed folder is split anew): their positions in
    the run, images, names, and how many of ``ranked`` are gone. A run from before names were
    kept must see as many validation images as it had, else which is which is unknown."""
    if "val_ids" not in preds:
        then, now = len(preds["y_true"]), len(data.y_val)
        if data.stats.get("split") == BY_NAME:  # a folder an earlier Plateau split at random
            raise ValueError(
                "this run is from an earlier Plateau, which drew the folder's validation "
                "images at random and did not record their names, so they cannot be shown; "
                "its plots and numbers are unaffected"
            )
        if then != now:
            raise ValueError(
                f"the validation images changed since this run ({then} then, {now} now) and "
                "the run did not record their names, so its images cannot be shown; its plots "
                "and numbers are unaffected"
            )
        order = ranked[:limit]
        ids = [str(data.val_ids[i]) for i in order] if data.val_ids else []
        return order, data.x_val[torch.as_tensor(order, dtype=torch.long)], ids, 0
    names = [bytes(n).decode("utf-8") for n in preds["val_ids"]]
    where = _positions(data)
    order, x = _images_named(data, where, names, ranked, limit)
    gone = sum(names[i] not in where for i in ranked)
    return order, x, [names[i] for i in order], gone


def _positions(data: DataBundle) -> dict[str, tuple[str, int]]:
    """Each of today's samples by name: its split and position (a changed folder is split
    anew, so a run's validation image may be a training image today, and the other way)."""
    where = {name: ("val", i) for i, name in enumerate(data.val_ids)}
    for i, name in enumerate(data.train_ids):
        where.setdefault(name, ("train", i))
    return where


def _images_named(data: DataBundle, where: dict, names: list[str], ranked, limit: int) -> tuple:
    """The first ``limit`` of ``ranked`` (positions into ``names``) whose image today's data
    still has (``where``: :func:`_positions`): those positions, and the images."""
    order = np.array([i for i in ranked if names[i] in where][:limit], dtype=np.int64)
    splits = {"val": data.x_val, "train": data.x_train}
    parts = [splits[s][torch.tensor([row])] for s, row in (where[names[i]] for i in order)]
    return order, torch.cat(parts) if parts else data.x_val[torch.zeros(0, dtype=torch.long)]


def suspect_samples(run_dir: str | Path, limit: int = 48) -> dict:
    """The run's training images whose label looks wrong, most suspicious first: those the
    doctor's ``label-noise`` rule flags, else the lowest margins below zero (``samples.npz``)."""
    from engine.doctor.samples import SampleSummary, in_learned_classes, suspects

    files = RunFiles(run_dir)
    arrays = files.read_samples()
    if arrays is None or "ids" not in arrays:
        raise ValueError(f"{run_dir} has no per-sample margins (runs from before they were kept)")
    summary = SampleSummary.from_arrays(arrays)
    picks = suspects(summary)
    flagged = len(picks) > 0
    if not flagged:
        negative = np.flatnonzero(summary.aum < 0)  # NaN compares False: untrained left out
        negative = in_learned_classes(summary, negative)  # an ignored class: not its labels
        picks = negative[np.argsort(summary.aum[negative])]
    data = data_for(files.read_preset())
    ids = [str(name) for name in arrays["ids"]]
    shown, x = _images_named(data, _positions(data), ids, picks, limit)
    x = data.normalizer(torch.device("cpu"))(x)
    names = _run_class_names(files, data)
    return {
        "images": to_display(x) if len(shown) else np.zeros((0, 1, 1, 3), np.uint8),
        "ids": [str(arrays["ids"][i]) for i in shown],
        "given": [names[summary.label[i]] for i in shown],
        "pred": [names[summary.pred[i]] if summary.pred[i] >= 0 else "?" for i in shown],
        "margin": [float(summary.aum[i]) for i in shown],
        "count": int(len(picks)),
        "flagged": flagged,
        "epochs": summary.epochs,
        "classes": list(data.class_names),  # to relabel as: the classes the next run has
    }


def _run_class_names(files: RunFiles, data: DataBundle) -> list[str]:
    """The class names of the run (its numbers), though the folder may have others today."""
    summary = files.read_summary()
    return list(summary.class_names) if summary and summary.class_names else data.class_names
