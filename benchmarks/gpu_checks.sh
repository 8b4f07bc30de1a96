#!/usr/bin/env bash
# The CUDA checks, in one go, for a machine with an NVIDIA GPU (run from the repository root):
# the GPU benchmark (with torch.compile), a digits run on CUDA with AMP read back as JSON events,
# every export format of its checkpoint verified, and a compiled run. Writes to ${OUT:-/tmp}/.
#     bash benchmarks/gpu_checks.sh
set -u
out=${OUT:-/tmp}
runs=$(mktemp -d)
export PYTHONUNBUFFERED=1 PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD
step() { echo "== $*"; timeout 240 "$@"; echo "== exit $?"; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"
step python3 -m benchmarks.gpu_path --compile default,reduce-overhead --epochs 6
step python3 -m engine resources/presets/digits.toml --device cuda --set train.amp=true \
    --json --out "$runs" >"$out/digits-cuda.jsonl"
echo "events: $(grep -c '"BatchEnd"' "$out/digits-cuda.jsonl") BatchEnd, $(grep -c '"EpochEnd"' "$out/digits-cuda.jsonl") EpochEnd"
tail -c 600 "$out/digits-cuda.jsonl"; echo
for f in pt safetensors torchscript onnx; do
    step python3 -m engine export "$runs"/*/checkpoints/best.pt --format $f
done
step python3 -m engine resources/presets/digits.toml --device cuda --set train.compile=true \
    --set train.compile_mode=reduce-overhead --set train.amp=true --epochs 3 --out "$runs"
