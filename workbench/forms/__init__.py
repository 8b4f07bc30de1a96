"""The three preset forms (dataset, model, training) and the rules for which rows they show."""

from __future__ import annotations

from typing import Any

from engine.preset import PRETRAINED_ARCHS, all_keys
from workbench.forms.preset_form import PresetForm

TORCHVISION = ("mnist", "fashion-mnist", "cifar10", "cifar100")


def _keys(prefix: str) -> list[str]:
    return [k for k in all_keys() if k.startswith(prefix) and "." not in k[len(prefix) :]]


def dataset_visibility(v: dict[str, Any]) -> dict[str, bool]:
    source = v["data.source"]
    shown = {
        "data.root": source == "folder" or source in TORCHVISION,
        "data.download": source in TORCHVISION,
        "data.cache": source == "folder",
        "data.cache_dir": source == "folder",
        "data.resize": source == "folder",
    }
    for key in _keys("data.synthetic."):
        shown[key] = source == "synthetic"
    return shown


def model_visibility(v: dict[str, Any]) -> dict[str, bool]:
    arch = v["model.arch"]
    return {
        "model.width": arch in ("convnet", "mlp"),
        "model.depth": arch in ("convnet", "mlp"),
        "model.pretrained": arch in PRETRAINED_ARCHS,
        "model.weights": arch in PRETRAINED_ARCHS,
    }


def training_visibility(v: dict[str, Any]) -> dict[str, bool]:
    opt, sched = v["train.optimizer.name"], v["train.schedule.name"]
    return {
        "train.optimizer.momentum": opt in ("sgd", "rmsprop"),
        "train.schedule.step_size": sched == "step",
        "train.schedule.gamma": sched in ("step", "multistep", "exponential", "plateau"),
        "train.schedule.milestones": sched == "multistep",
        "train.schedule.patience": sched == "plateau",
        "train.schedule.warmup_epochs": sched != "onecycle",
    }


def dataset_form() -> PresetForm:
    return PresetForm(
        "datasetForm",
        [("Dataset", _keys("data.")), ("Synthetic data", _keys("data.synthetic."))],
        dataset_visibility,
    )


def model_form() -> PresetForm:
    return PresetForm("modelForm", [("Model", _keys("model."))], model_visibility)


def training_form() -> PresetForm:
    return PresetForm(
        "trainingForm",
        [
            ("Run", ["name", "seed"]),
            ("Training", _keys("train.")),
            ("Optimizer", _keys("train.optimizer.")),
            ("Learning-rate schedule", _keys("train.schedule.")),
        ],
        training_visibility,
    )
