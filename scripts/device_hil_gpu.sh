#!/usr/bin/env bash
# The GPU backend of the hardware-in-the-loop benchmark (python -m hybrec.bench.gpu_baseline) on the lent GPU machine:
# the trained ML-100K kernel's integer pipeline in exact float32 (TF32 off) for every test user, as PyTorch
# eager, CUDA graphs, DeepSpeed init_inference (with and without enable_cuda_graph) and torch.compile in a CUDA
# graph, batch 1/16/256, float16 rows for timing only, and a catalogue sweep (random item vectors of the same widths, 1,682 -> 1,000,000 items).
#
# Before, here:
#   .venv/bin/python -m hybrec.cli hil --build build/ml100k --prepare-gpu .device/hil   # -> .device/hil/inputs.npz
#   the DeepSpeed wheel and what it needs there (the GPU machine has torch but no deepspeed, and reaches no
#   package index) in .device/wheels:
#     .venv/bin/pip wheel --no-deps deepspeed==0.19.8 -w .device/wheels
#     .venv/bin/pip download --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 \
#       --platform manylinux_2_17_x86_64 hjson pydantic pydantic-core annotated-types typing-inspection \
#       typing-extensions msgpack py-cpuinfo ninja einops nvidia-ml-py -d .device/wheels
# Then, there, from the repository root with carry [".device/hil", ".device/wheels"]:   bash scripts/device_hil_gpu.sh
# Writes to $OUT: hil_gpu.json (rewritten after every row, so a run cut short keeps what it measured),
# hil_gpu.log, nvidia-smi.txt. Commit hil_gpu.json as reports/hil/gpu/<machine>/hil_gpu.json.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${OUT:?set OUT to the output folder}"
PY="${PYTHON:-python3}"
test -f .device/hil/inputs.npz || { echo "no .device/hil/inputs.npz: run hybrec hil --prepare-gpu .device/hil first" >&2; exit 2; }
SITE="$(mktemp -d)"
"$PY" -m pip install -q --no-deps --no-index --target "$SITE" .device/wheels/*.whl
# DeepSpeed outside its launcher: a one-process "world"; its arch parser rejects the default '9.0a'.
export PYTHONPATH="$PWD/sw:$SITE${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 RANK=0 LOCAL_RANK=0 WORLD_SIZE=1 \
  MASTER_ADDR=127.0.0.1 MASTER_PORT=29512 TORCH_CUDA_ARCH_LIST=9.0 DS_BUILD_OPS=0
mkdir -p "$OUT"
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || true
"$PY" -m hybrec.bench.gpu_baseline --inputs .device/hil/inputs.npz --out "$OUT" --deepspeed --compile --fp16 \
  --batches ${BATCHES:-1 16 256} --min-calls "${MIN_CALLS:-200}" \
  --catalogues ${CATALOGUES:-1682 10000 31623 100000 316228 1000000} 2>&1 | tee "$OUT/hil_gpu.log"
