"""hw/mvau under cocotb + Verilator, bit-exact against hybrec.numerics.mvau; lint and folding checks."""

from __future__ import annotations

import json
import subprocess
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rtl_support import require_verilator, run_block

from hybrec.builddir import HW_DIR
from hybrec.compile.blocks import mvau as mem_files
from hybrec.simulate.runner import simulator_env

pytestmark = [pytest.mark.sim]

SOURCES = [HW_DIR / "mvau" / "mvau.v", HW_DIR / "mvau" / "mvau_dot.v"]
VECTORS = 150            # random vectors of the stall test
CYCLE_TOLERANCE = 0.02   # allowed relative gap between measured cycles/vector and (MH/PE)*(MW/SIMD)

CASES = [
    pytest.param(dict(mw=8, mh=4, simd=2, pe=2, in_bits=4, w_bits=4, out_bits=4),
                 id="mw8-mh4-s2-p2-w4a4-uin"),
    pytest.param(dict(mw=16, mh=8, simd=16, pe=1, in_bits=8, in_signed=True, w_bits=8, out_bits=8,
                      out_bias=-128), id="mw16-mh8-s16-p1-w8a8-sin-sout"),
    pytest.param(dict(mw=12, mh=6, simd=12, pe=6, in_bits=4, w_bits=4, out_bits=2),
                 id="pe-eq-mh-simd-eq-mw-mw12-mh6-a2"),
    pytest.param(dict(mw=20, mh=4, simd=4, pe=4, in_bits=4, w_bits=4, no_act=True),
                 id="no-act-mw20-mh4-s4-p4"),
    # x_group < PE: several copies of the input register and step enable, the last one partial
    pytest.param(dict(mw=24, mh=12, simd=8, pe=3, in_bits=3, in_signed=True, w_bits=3, out_bits=3,
                      out_bias=-4, x_group=2), id="sin-mw24-mh12-s8-p3-w3a3-xgroup2"),
    pytest.param(dict(mw=64, mh=32, simd=16, pe=8, in_bits=4, w_bits=4, out_bits=4, x_group=3),
                 id="mlp-mw64-mh32-s16-p8-w4a4-xgroup3"),
    pytest.param(dict(mw=24, mh=8, simd=8, pe=4, in_bits=8, in_signed=True, w_bits=4, out_bits=4, lut_mult=True),
                 id="lut-mult-sin8-w4"),
    pytest.param(dict(mw=16, mh=4, simd=4, pe=2, in_bits=4, w_bits=8, out_bits=8, out_bias=-128, lut_mult=True),
                 id="lut-mult-uin4-w8-sout"),
    pytest.param(dict(mw=32, mh=4, simd=32, pe=2, in_bits=4, w_bits=3, out_bits=2, lut_mult=True, dot_adds=1),
                 id="lut-mult-w3-s32-dot-every-level"),
    pytest.param(dict(mw=12, mh=4, simd=6, pe=2, in_bits=5, in_signed=True, w_bits=5, out_bits=3, out_bias=-4,
                      dot_adds=0), id="dot-one-cycle-s6-w5"),
    pytest.param(dict(mw=9, mh=3, simd=3, pe=3, in_bits=4, w_bits=2, out_bits=1, lut_mult=True, dot_adds=3),
                 id="lut-mult-w2-s3-dot-adds3"),
    pytest.param(dict(mw=8, mh=4, simd=4, pe=2, in_bits=4, w_bits=4, out_bits=4, weight_rom="block", x_group=1),
                 id="weight-rom-block-xgroup1"),
    # a block-RAM weight ROM behind a LUT-RAM input buffer: its line copied once more, the words and control
    # waiting a cycle beside it, here with several input copies and a one-cycle dot product
    pytest.param(dict(mw=24, mh=12, simd=4, pe=6, in_bits=4, in_signed=True, w_bits=3, out_bits=3, out_bias=-4,
                      dot_adds=0, weight_rom="block", x_group=4), id="weight-rom-block-copy-xgroup4-dot-one-cycle"),
    # the input buffer as block RAM: its read copied twice, the weights and control two cycles later
    pytest.param(dict(mw=96, mh=16, simd=4, pe=8, in_bits=8, in_signed=True, w_bits=4, out_bits=4, lut_mult=True,
                      x_group=4, input_buffer="block"), id="input-buffer-block-sf24"),
    pytest.param(dict(mw=12, mh=4, simd=6, pe=2, in_bits=5, in_signed=True, w_bits=5, out_bits=3, out_bias=-4,
                      dot_adds=0, weight_rom="block", input_buffer="block"), id="input-buffer-block-dot-one-cycle"),
]
# load-bus index of the weight memory per case (thresholds follow it): 0 and others
LD_BASES = {"mw16-mh8-s16-p1-w8a8-sin-sout": 3, "sin-mw24-mh12-s8-p3-w3a3-xgroup2": 17}


def load_lines(cfg: Any, folder: Path, weights: np.ndarray, thresholds: np.ndarray | None,
               base: int) -> list[tuple[int, str]]:
    """The memory files (the compiler's writer) and their load-bus indices: weights at ``base``, stage ``j``
    unit ``u`` of the thresholds at ``base + 1 + j*T_UNITS + u``."""
    return [(base + k, str(path)) for k, path in enumerate(mem_files.write_mem_files(folder, cfg, weights,
                                                                                      thresholds))]


def _seed(case: dict[str, Any]) -> int:
    return zlib.crc32(json.dumps(case, sort_keys=True).encode())


def make_weights(case: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
    """Random signed weights ``[MW, MH]``; column 0 is all-minimum (the largest accumulators)."""
    lo, hi = -(1 << (case["w_bits"] - 1)), (1 << (case["w_bits"] - 1)) - 1
    weights = rng.integers(lo, hi + 1, size=(case["mw"], case["mh"]), dtype=np.int64)
    weights[:, 0] = lo
    return weights


def make_thresholds(cfg: Any, weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sorted thresholds ``[MH, 2^out_bits - 1]`` that split real accumulators, with duplicates and extremes.

    Thresholds are drawn from accumulators of random inputs (so ``acc == T`` happens), jittered by +-1;
    channel 1 is all duplicates, channel 2 starts at the accumulator minimum and ends at its maximum,
    channel 3 is all minimum (always passed), channel 4 all maximum.
    """
    lo_acc, hi_acc = -(1 << (cfg.acc_bits - 1)), (1 << (cfg.acc_bits - 1)) - 1
    lo_x, hi_x = mem_files.input_range(cfg.in_bits, cfg.in_signed)
    xs = rng.integers(lo_x, hi_x + 1, size=(256, cfg.mw), dtype=np.int64)
    accs = xs @ weights
    k = cfg.n_thresholds
    t = np.empty((cfg.mh, k), dtype=np.int64)
    for c in range(cfg.mh):
        t[c] = rng.choice(accs[:, c], size=k) + rng.integers(-1, 2, size=k)
    specials = {1: np.full(k, int(np.median(accs[:, 1 % cfg.mh]))),
                2: np.concatenate([[lo_acc], t[2 % cfg.mh, 1:-1], [hi_acc]]) if k > 1 else np.array([lo_acc]),
                3: np.full(k, lo_acc), 4: np.full(k, hi_acc)}
    for c, row in specials.items():
        if c < cfg.mh:
            t[c] = row
    return np.sort(np.clip(t, lo_acc, hi_acc), axis=1)


def _lint(parameters: dict[str, object]) -> subprocess.CompletedProcess[str]:
    args = [f"-G{k}={v}" for k, v in parameters.items()]
    with simulator_env("verilator"):
        return subprocess.run(["verilator", "--lint-only", "-Wall", *map(str, SOURCES), *args],
                              capture_output=True, text=True, check=False)


@pytest.mark.parametrize("case", CASES)
def test_mvau(case: dict[str, Any], tmp_path: Path, runtime_cache: Path, request: pytest.FixtureRequest) -> None:
    require_verilator()
    rng = np.random.default_rng(_seed(case))
    # two models of the same shape: the second is loaded over the first (the accumulator width fits both)
    weight_sets = [make_weights(case, rng), make_weights(case, rng)]
    acc_bits = max(mem_files.min_acc_bits(w, case["in_bits"], case.get("in_signed", False)) for w in weight_sets)
    cfg = mem_files.Mvau(**case, acc_bits=acc_bits)
    base = LD_BASES.get(request.node.callspec.id, 0)

    sets = []
    for k, weights in enumerate(weight_sets):
        thresholds = None if cfg.no_act else make_thresholds(cfg, weights, rng)
        roms = tmp_path / f"roms{k}"
        memories = load_lines(cfg, roms, weights, thresholds, base)
        np.save(roms / "weights.npy", weights)
        if thresholds is not None:
            np.save(roms / "thresholds.npy", thresholds)
        sets.append({"weights": str(roms / "weights.npy"),
                     "thresholds": None if thresholds is None else str(roms / "thresholds.npy"),
                     "memories": memories})
    report = tmp_path / "report.json"
    config = {
        "config": {**case, "acc_bits": acc_bits},
        "weights": sets[0]["weights"],
        "thresholds": sets[0]["thresholds"],
        "memories": sets[0]["memories"],
        "other": sets[1],
        "seed": _seed(case) % 10_000,
        "vectors": VECTORS,
        "report": str(report),
        "cycle_tolerance": CYCLE_TOLERANCE,
    }
    parameters = {**cfg.verilog_parameters(), "LD_BASE": base}

    lint = _lint(parameters)
    assert lint.returncode == 0 and "%Warning" not in lint.stderr, lint.stderr

    run_block(block="mvau", build_dir=tmp_path / "build", parameters=parameters, config=config,
              runtime_cache=runtime_cache, sources=SOURCES)

    measured = json.loads(report.read_text())
    print(f"\n{cfg}: {measured}")
    assert abs(measured["cycles_per_vector"] - cfg.exp_cycles) <= CYCLE_TOLERANCE * cfg.exp_cycles


@pytest.mark.parametrize(("override", "message"), [
    (dict(mw=10, simd=4), "mvau_error_MW_not_a_multiple_of_SIMD"),
    (dict(mh=6, pe=4), "mvau_error_MH_not_a_multiple_of_PE"),
], ids=["simd", "pe"])
def test_mvau_rejects_impossible_folding(override: dict[str, int], message: str) -> None:
    base = dict(mw=8, mh=4, simd=2, pe=2)
    with pytest.raises(ValueError, match="impossible folding"):
        mem_files.Mvau(**{**base, **override})
    require_verilator()
    lint = _lint({k.upper(): v for k, v in {**base, **override}.items()})
    assert lint.returncode != 0
    assert message in lint.stderr


def test_mvau_rejects_a_load_address_too_narrow_for_its_deepest_threshold_memory() -> None:
    """MVAU 1 of the ML-100K ECP5 kernel: one threshold unit, stage 7 has 16 * 4 * 2^6 = 4,096 lines (12 bits)."""
    require_verilator()
    shape = dict(MW=128, MH=64, SIMD=32, PE=4, OUT_BITS=8, OUT_BIAS=-128, ACC_BITS=15)
    assert mem_files.memory_shapes(mem_files.Mvau(mw=128, mh=64, simd=32, pe=4, out_bits=8, out_bias=-128,
                                                  acc_bits=15))[-1] == (30, 4096)
    assert _lint({**shape, "LD_ADDR_BITS": 12}).returncode == 0
    narrow = _lint({**shape, "LD_ADDR_BITS": 11})
    assert narrow.returncode != 0 and "mvau_error_load_bus_too_narrow" in narrow.stderr


def test_mvau_config_rejects_unknown_weight_rom_and_negative_dot_adds() -> None:
    with pytest.raises(ValueError, match="weight_rom='bram'"):
        mem_files.Mvau(mw=8, mh=4, simd=2, pe=2, weight_rom="bram")
    with pytest.raises(ValueError, match="dot_adds=-1"):
        mem_files.Mvau(mw=8, mh=4, simd=2, pe=2, dot_adds=-1)
    assert mem_files.Mvau(mw=8, mh=4, simd=2, pe=2, weight_rom="block").verilog_parameters()["WLOGIC_DEPTH"] == 0


@pytest.mark.parametrize(("shape", "units", "block_pairs"), [
    ((96, 128, 4, 32), 2, 1),     # the ECP5 kernel's MVAU 0: SF 24, 16 channels per unit; stage 3 has 256 pairs
    ((128, 64, 32, 4), 1, 1),     # its MVAU 1 (at 4 output bits): SF 4, all 4 PEs through one unit
    ((12, 6, 12, 6), 6, 0),       # SF 1: a unit per PE
    ((24, 8, 8, 4), 2, 0),        # SF 3: 4 / 2 <= 3 (3 units would not divide PE)
])
def test_threshold_units(shape: tuple[int, int, int, int], units: int, block_pairs: int) -> None:
    """The fewest units that divide PE and keep up with a fold every SF cycles; each adds its channels and the
    collector to the pipeline, and a cycle per pair stage in block RAM (more than 128 pairs) (the RTL's
    T_UNITS, T_BLOCK and LATENCY)."""
    mw, mh, simd, pe = shape
    cfg = mem_files.Mvau(mw=mw, mh=mh, simd=simd, pe=pe)
    assert cfg.threshold_units == units and cfg.threshold_block_pairs == block_pairs
    assert cfg.pipeline_depth == mem_files.Mvau(mw=mw, mh=mh, simd=simd, pe=pe, no_act=True).pipeline_depth \
        + cfg.out_bits + pe // units + 1 + block_pairs
    assert mem_files.memory_shapes(cfg)[1:] == [(cfg.acc_bits * (1 if j == 0 else 2),
                                                 (mh // units) << max(0, j - 1))
                                                for j in range(cfg.out_bits) for _ in range(units)]


def test_mvau_weight_copy_rule() -> None:
    """W_EXTRA: a block-RAM weight ROM adds a cycle, unless the block-RAM input buffer's two copies carry it."""
    base = dict(mw=8, mh=4, simd=2, pe=2)
    logic, block = (mem_files.Mvau(**base, weight_rom=rom) for rom in ("logic", "block"))
    assert (logic.weight_extra, block.weight_extra) == (0, 1)
    assert block.pipeline_depth == logic.pipeline_depth + 1
    both = mem_files.Mvau(**base, weight_rom="block", input_buffer="block")
    assert (both.input_extra, both.weight_extra) == (2, 0)
    assert both.pipeline_depth == logic.pipeline_depth + 2
    # auto: block RAM beyond 64 lines (NF * SF = 8 * 16 here)
    assert mem_files.Mvau(mw=32, mh=16, simd=2, pe=2).weight_extra == 1


def test_mem_file_layout() -> None:
    """Hand-checked ROM words for a 4x4 matrix, SIMD=2, PE=2, 2-bit outputs (3 thresholds)."""
    cfg = mem_files.Mvau(mw=4, mh=4, simd=2, pe=2, w_bits=4, acc_bits=8, out_bits=2)
    weights = np.arange(16).reshape(4, 4) % 8 - 4          # W[r, c] = (4r + c) % 8 - 4
    words = mem_files.weight_words(cfg, weights)
    # line nf*SF + sf; PE p, lane i at bits (p*SIMD + i)*4: W[sf*2 + i, nf*2 + p]
    for nf in range(2):
        for sf in range(2):
            word = words[nf * 2 + sf]
            for p in range(2):
                for i in range(2):
                    field = (word >> ((p * 2 + i) * 4)) & 0xF
                    assert field == weights[sf * 2 + i, nf * 2 + p] & 0xF
    thresholds = np.array([[c * 10 + k for k in range(3)] for c in range(4)])
    # SF = PE = 2: one threshold unit takes both PEs, channel ch = nf*2 + p is c = ch
    assert cfg.threshold_units == 1
    stage0, stage1 = mem_files.threshold_stage_words(cfg, thresholds)
    # [unit][line]: stage 0 compares T[c, 1]; stage 1 T[c, 0] (q=0) or T[c, 2] (q=1), both in line ch
    assert stage0 == [[1, 11, 21, 31]]
    assert stage1 == [[0 | 2 << 8, 10 | 12 << 8, 20 | 22 << 8, 30 | 32 << 8]]
    assert [mem_files.threshold_stage_bits(cfg, j) for j in range(2)] == [8, 16]
    # PE 4, SF 2: two units of two PEs; unit u's channel ch = nf*2 + i is c = nf*4 + u*2 + i
    wide = mem_files.Mvau(mw=4, mh=8, simd=2, pe=4, w_bits=4, acc_bits=8, out_bits=2)
    stage0, stage1 = mem_files.threshold_stage_words(wide, np.array([[c * 10 + k for k in range(3)]
                                                                       for c in range(8)]))
    assert stage0 == [[1, 11, 41, 51], [21, 31, 61, 71]]
    assert stage1[1] == [20 | 22 << 8, 30 | 32 << 8, 60 | 62 << 8, 70 | 72 << 8]
    with pytest.raises(ValueError, match="sorted"):
        mem_files.threshold_stage_words(cfg, thresholds[:, ::-1])
    with pytest.raises(ValueError, match="signed 8-bit"):
        mem_files.threshold_stage_words(cfg, thresholds + 200)
