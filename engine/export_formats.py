"""The export formats, their labels and file suffixes (no torch, so the app can list them)."""

FORMATS = {
    "pt": "PyTorch checkpoint (.pt)",
    "safetensors": "safetensors (.safetensors)",
    "torchscript": "TorchScript (.ts.pt)",
    "onnx": "ONNX (.onnx)",
}
SUFFIX = {"pt": ".pt", "safetensors": ".safetensors", "torchscript": ".ts.pt", "onnx": ".onnx"}
