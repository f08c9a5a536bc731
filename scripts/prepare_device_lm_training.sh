#!/usr/bin/env bash
# Run HERE (not on the GPU machine): writes what scripts/device_lm_training.sh needs there.
#   .device/ml-100k/ml-100k.{inter,item}  the two ML-100K files from the hybrec cache (sha256-checked there)
#   .device/minilm/                       all-MiniLM-L6-v2 with its tokenizer, weights stored as float16
#                                         (the float32 file is 91 MB, over the 64 MiB a device call carries;
#                                         the bench loads it back as float32)
# .device/ is git-ignored: name it in the device call's carry.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
rm -rf .device/minilm .device/ml-100k
"$PY" -m hybrec.bench.lm_training --prepare-device .device
du -sh .device/minilm .device/ml-100k
