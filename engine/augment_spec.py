"""The augmentation names a preset may list, and their parser (no torch: presets load fast)."""

from __future__ import annotations

import math

from engine.errors import PresetError

# name -> (needs a number, allowed range, what the number means)
AUGMENTS = {
    "hflip": (False, None, ""),
    "crop": (True, (1, 64), "padding in pixels"),
    "rotate": (True, (0.1, 180.0), "maximum angle in degrees"),
    "jitter": (True, (0.01, 1.0), "brightness/contrast strength"),
    "blur": (True, (0.1, 10.0), "maximum Gaussian sigma"),
}
ACCEPTED = "hflip, crop:N, rotate:DEG, jitter:S, blur:SIGMA"
PHOTO_MIN_SIZE = 96  # from this size on, crop:N is a random-resized crop (N is not used)


def parse_augment(spec: str) -> tuple[str, float]:
    """Split ``"crop:4"`` into ``("crop", 4.0)``; raise a PresetError naming ``data.augment``."""
    name, _, arg = spec.partition(":")
    name = name.strip().lower()
    if name not in AUGMENTS:
        raise PresetError(
            f"'data.augment' has unknown augmentation {spec!r}; accepted: {ACCEPTED}",
            "data.augment",
        )
    needs_arg, bounds, meaning = AUGMENTS[name]
    if not needs_arg:
        if arg:
            raise PresetError(
                f"'data.augment': {name!r} takes no value (got {spec!r})", "data.augment"
            )
        return name, 0.0
    try:
        value = float(arg)
    except ValueError:
        raise PresetError(
            f"'data.augment': {spec!r} needs a number, {meaning} (e.g. '{name}:{bounds[1] / 4:g}')",
            "data.augment",
        ) from None
    if not math.isfinite(value) or not (bounds[0] <= value <= bounds[1]):
        raise PresetError(
            f"'data.augment': {spec!r} is out of range; {meaning} from {bounds[0]:g} "
            f"to {bounds[1]:g}",
            "data.augment",
        )
    return name, value
