#!/usr/bin/env bash
# The CUDA checks, in one go, for a machine with an NVIDIA GPU (run from the repository root).
# Steps, in the order given (default: all of them, ~10 minutes on an H100/H200):
#   profile  where a warm 224 px Plateau epoch's time goes (gpu_path --case 224 --profile)
#   32       the GPU benchmark at 32 px: preset defaults against a hand-tuned loop, the compile
#            cache, host syncs (gpu_path --case 32)
#   224      the same at 224 px
#   cuda     a digits run on CUDA with the preset defaults read back as JSON events (what "auto"
#            chose, the compile announced), every export format of its checkpoint verified, and
#            an explicitly compiled run
# Writes logs to ${OUT:-/tmp}/. Each step has a time limit, so that a choice of steps fits one
# 10-minute call on a lent machine.
#     bash benchmarks/gpu_checks.sh                 # everything
#     bash benchmarks/gpu_checks.sh profile,32      # the two named steps (~6 minutes)
set -u
out=${OUT:-/tmp}
runs=$(mktemp -d)
steps=${1:-profile,32,224,cuda}
export PYTHONUNBUFFERED=1 PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD
export PLATEAU_CACHE_DIR=${PLATEAU_CACHE_DIR:-$(mktemp -d)/images}  # a cold compile cache
export PLATEAU_STACK_DUMP_S=${PLATEAU_STACK_DUMP_S:-100}  # a stalled step shows where
step() { local limit=$1; shift; echo "== $* (limit ${limit} s)"; timeout "$limit" "$@"; echo "== exit $?"; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"
for s in ${steps//,/ }; do
    case $s in
    profile)
        step 100 python3 -m benchmarks.gpu_path --case 224 --profile 2>&1 | tee "$out/gpu_profile-224.log" ;;
    32)
        step 270 python3 -m benchmarks.gpu_path --case 32 2>&1 | tee "$out/gpu_path-32.log" ;;
    224)
        step 170 python3 -m benchmarks.gpu_path --case 224 2>&1 | tee "$out/gpu_path-224.log" ;;
    cuda)
        step 45 python3 -m engine resources/presets/digits.toml --device cuda --json --out "$runs" \
            >"$out/digits-cuda.jsonl"
        echo "events: $(grep -c '"BatchEnd"' "$out/digits-cuda.jsonl") BatchEnd, $(grep -c '"EpochEnd"' "$out/digits-cuda.jsonl") EpochEnd, $(grep -c '"Compiling"' "$out/digits-cuda.jsonl") Compiling"
        grep -o '"speed": {[^}]*}' "$out/digits-cuda.jsonl"
        tail -c 600 "$out/digits-cuda.jsonl"; echo
        for f in pt safetensors torchscript onnx; do
            step 25 python3 -m engine export "$runs"/*/checkpoints/best.pt --format $f
        done
        step 45 python3 -m engine resources/presets/digits.toml --device cuda \
            --set train.compile=true --set train.compile_mode=reduce-overhead --epochs 3 --out "$runs" ;;
    *) echo "gpu_checks.sh: no step '$s' (profile, 32, 224, cuda)"; exit 2 ;;
    esac
done
