#!/usr/bin/env bash
# The CUDA checks, in one go, for a machine with an NVIDIA GPU (run from the repository root):
# the GPU benchmark (preset defaults against a hand-tuned loop at 32 and 224 px, the compile
# cache, host syncs), where a warm 224 px epoch's time goes (a profile), a digits run on CUDA
# with the preset defaults read back as JSON events (what "auto" chose, the compile announced),
# every export format of its checkpoint verified, and an explicitly compiled run.
# Writes to ${OUT:-/tmp}/.
# Each step has a time limit, so that the whole fits one 10-minute call on a lent machine.
#     bash benchmarks/gpu_checks.sh            # everything (~10 minutes on an H100/H200)
#     bash benchmarks/gpu_checks.sh 32         # only the 32 px benchmark case (~5 minutes)
set -u
out=${OUT:-/tmp}
runs=$(mktemp -d)
cases=${1:-32,224}
export PYTHONUNBUFFERED=1 PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD
export PLATEAU_CACHE_DIR=${PLATEAU_CACHE_DIR:-$(mktemp -d)/images}  # a cold compile cache
step() { local limit=$1; shift; echo "== $*"; timeout "$limit" "$@"; echo "== exit $?"; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"
for c in ${cases//,/ }; do
    limit=$([ "$c" = 32 ] && echo 240 || echo 180)
    step $limit python3 -m benchmarks.gpu_path --case "$c" 2>&1 | tee "$out/gpu_path-$c.log"
done
[ "$cases" = "32,224" ] || exit 0
step 90 python3 -m benchmarks.gpu_path --case 224 --profile 2>&1 | tee "$out/gpu_profile-224.log"
step 60 python3 -m engine resources/presets/digits.toml --device cuda --json --out "$runs" \
    >"$out/digits-cuda.jsonl"
echo "events: $(grep -c '"BatchEnd"' "$out/digits-cuda.jsonl") BatchEnd, $(grep -c '"EpochEnd"' "$out/digits-cuda.jsonl") EpochEnd, $(grep -c '"Compiling"' "$out/digits-cuda.jsonl") Compiling"
grep -o '"speed": {[^}]*}' "$out/digits-cuda.jsonl"
tail -c 600 "$out/digits-cuda.jsonl"; echo
for f in pt safetensors torchscript onnx; do
    step 30 python3 -m engine export "$runs"/*/checkpoints/best.pt --format $f
done
step 60 python3 -m engine resources/presets/digits.toml --device cuda --set train.compile=true \
    --set train.compile_mode=reduce-overhead --epochs 3 --out "$runs"
