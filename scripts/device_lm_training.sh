#!/usr/bin/env bash
# The GPU-machine run of the LM training-efficiency benchmark (python -m hybrec.bench.lm_training).
#
# Before: scripts/prepare_device_lm_training.sh here, then run from the repository root there, with
# carry [".device"]:   bash scripts/device_lm_training.sh
# The GPU machine has torch, transformers, peft and tqdm but neither the hybrec package nor the MiniLM and
# ML-100K packages: hybrec runs from sw/ (PYTHONPATH), the data and the model come from .device/.
# Writes to $OUT: lm_training.json, lm_training.md, lm_training.log, nvidia-smi.txt.
# EPOCHS (default 2, as the CPU run in reports/lm-training/cpu) and MODES may be overridden.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${OUT:?set OUT to the output folder}"
EPOCHS="${EPOCHS:-2}"
MODES="${MODES:-frozen lora full}"
PY="${PYTHON:-python3}"
export PYTHONPATH="$PWD/sw${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false \
  PYTHONUNBUFFERED=1
for f in .device/ml-100k/ml-100k.inter .device/ml-100k/ml-100k.item .device/minilm/config.json; do
  [ -f "$f" ] || { echo "missing $f: run scripts/prepare_device_lm_training.sh and carry .device" >&2; exit 2; }
done
mkdir -p "$OUT"
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || true
# shellcheck disable=SC2086  # MODES is a list
"$PY" -m hybrec.bench.lm_training --out "$OUT" --device cuda --epochs "$EPOCHS" --modes $MODES \
  --data-dir .device/ml-100k --model-dir .device/minilm --no-progress 2>&1 | tee "$OUT/lm_training.log"
