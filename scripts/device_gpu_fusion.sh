#!/usr/bin/env bash
# The GPU-machine run of the fusion + top-k baseline (python -m hybrec.bench.gpu_fusion), PyTorch eager,
# CUDA graphs and DeepSpeed init_inference (with and without enable_cuda_graph).
#
# Before, here: put the DeepSpeed wheel and what it needs there into .device/wheels (the GPU machine has torch
# but no deepspeed, and reaches no package index):
#   .venv/bin/pip wheel --no-deps deepspeed==0.19.8 -w .device/wheels
#   .venv/bin/pip download --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 \
#     --platform manylinux_2_17_x86_64 hjson pydantic pydantic-core annotated-types typing-inspection \
#     typing-extensions msgpack py-cpuinfo ninja einops nvidia-ml-py -d .device/wheels
# Then, there, from the repository root with carry [".device"]:   bash scripts/device_gpu_fusion.sh
# Writes to $OUT: gpu_fusion.json, gpu_fusion.log, nvidia-smi.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${OUT:?set OUT to the output folder}"
PY="${PYTHON:-python3}"
SITE="$(mktemp -d)"
"$PY" -m pip install -q --no-deps --no-index --target "$SITE" .device/wheels/*.whl
# DeepSpeed outside its launcher: a one-process "world"; its arch parser rejects the default '9.0a'.
export PYTHONPATH="$PWD/sw:$SITE${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 RANK=0 LOCAL_RANK=0 WORLD_SIZE=1 \
  MASTER_ADDR=127.0.0.1 MASTER_PORT=29511 TORCH_CUDA_ARCH_LIST=9.0 DS_BUILD_OPS=0
mkdir -p "$OUT"
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || true
"$PY" -m hybrec.bench.gpu_fusion --out "$OUT" --deepspeed --repeats "${REPEATS:-200}" \
  --catalogues ${CATALOGUES:-1682 10000 100000 1000000} --batches ${BATCHES:-1 16 256} 2>&1 | tee "$OUT/gpu_fusion.log"
