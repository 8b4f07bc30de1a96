"""The export formats, their labels and file suffixes (no torch, so the app can list them)."""

FORMATS = {
    "pt": "PyTorch checkpoint (.pt)",
    "safetensors": "safetensors (.safetensors)",
    "torchscript": "TorchScript (.ts.pt)",
    "onnx": "ONNX (.onnx)",
}
SUFFIX = {"pt": ".pt", "safetensors": ".safetensors", "torchscript": ".ts.pt", "onnx": ".onnx"}


def format_of(path: str) -> str | None:
    """The format a file name's suffix says (``.ts.pt`` before ``.pt``), or None."""
    name = str(path).lower()
    for fmt in sorted(SUFFIX, key=lambda f: -len(SUFFIX[f])):
        if name.endswith(SUFFIX[fmt]):
            return fmt
    return None
