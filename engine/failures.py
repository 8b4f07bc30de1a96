"""Why a run could not go on, in words a person can act on: every failure gets a one-line reason
and a hint (what to change, or how to see more)."""

from __future__ import annotations

from engine.errors import CheckpointError, DataError, PresetError, TrainingError

BUG_HINT = (
    "this looks like a bug: run the same preset with 'plateau-train PRESET' to see the whole "
    "traceback, and report it with the run directory"
)
# the same, for a failure inside a run: its traceback is written beside the run's files
BUG_IN_RUN_HINT = (
    "this looks like a bug in Plateau or a library: the whole traceback is in {path}; report "
    "it with the run directory"
)


def explain(exc: BaseException) -> tuple[str, str]:
    """``(reason, hint)`` for any exception that ended or prevented a run."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, TrainingError):
        return str(exc), exc.hint or BUG_HINT
    if isinstance(exc, (PresetError, DataError)):
        key = getattr(exc, "key", None)
        return str(exc), (
            f"change '{key}' in the preset and start again"
            if key
            else "fix the preset as the message says and start again"
        )
    if isinstance(exc, CheckpointError):
        return str(exc), "choose another run or checkpoint, or start a new run"
    if isinstance(exc, OSError):
        reason = exc.strerror or text
        return (
            f"cannot write to the run directory ({reason}): {getattr(exc, 'filename', '') or text}",
            "free disk space or choose another output folder; the last complete checkpoint "
            "and metrics are kept",
        )
    lowered = text.lower()
    if _is_out_of_memory(exc) or "out of memory" in lowered:
        return (
            f"out of memory: {text}",
            "lower 'train.batch_size' or 'data.image_size', or choose a smaller model",
        )
    if "cuda" in lowered and any(
        w in lowered for w in ("driver", "no kernel image", "not compiled", "unavailable")
    ):
        return (
            f"the GPU cannot be used: {text}",
            "set 'train.device' = 'cpu' (or 'auto'), or install a PyTorch build for this GPU",
        )
    if "expected more than 1 value per channel" in lowered:  # batch norm given one image
        return (
            f"batch norm got a single image: {text}",
            "set 'train.batch_size' to 2 or more (batch norm normalizes over a batch)",
        )
    if "shape" in lowered or "size mismatch" in lowered:
        return (
            f"the model failed on the input: {text}",
            "check that the model suits the images ('data.image_size', channels)",
        )
    return f"{type(exc).__name__}: {text}", BUG_HINT


def _is_out_of_memory(exc: BaseException) -> bool:
    """torch's OutOfMemoryError (and its CUDA alias), known by name so this module imports no
    torch."""
    return any(cls.__name__ == "OutOfMemoryError" for cls in type(exc).__mro__)
