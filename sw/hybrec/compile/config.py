"""The kernel configuration (YAML, unknown keys rejected): which model, how the blocks are folded.

Kept apart from the training configuration on purpose: refolding a kernel never invalidates a run.
``hybrec compile --config FILE``; without one, :func:`default_kernel_config` (any trained shape: the MLP's
folding derived for the target parts, :mod:`hybrec.compile.folding`).
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from hybrec.config import StrictModel, load_yaml_model
from hybrec.devices import DEVICES


class LayerFolding(StrictModel):
    simd: int = Field(ge=1)
    """input elements per cycle (MW % SIMD == 0)"""
    pe: int = Field(ge=1)
    """output channels per cycle (MH % PE == 0); a layer's PE is the next layer's SIMD"""
    lut_mult: bool = False
    """products from shifts and adds in the fabric instead of DSP blocks (narrow weights, DSP budget)"""
    dot_adds: int = Field(default=2, ge=0)
    """adder levels per pipeline stage of the dot products (0: products and tree in one cycle)"""
    weight_rom: Literal["auto", "logic", "block"] = "auto"
    """the weight ROM in LUT logic or block RAM; auto: logic up to 64 lines (the MVAU's WLOGIC_DEPTH)"""


class HistAggConfig(StrictModel):
    norm_par: int = Field(default=8, ge=1)
    """features normalised per cycle (multipliers); F % norm_par == 0"""
    rom_groups: int = Field(default=1, ge=1, le=100)
    """feature ROM column groups, each with its own copy of the address registers (F % rom_groups == 0)"""


class ScorerConfig(StrictModel):
    lanes: int = Field(default=8, ge=1)
    """items scored per cycle"""
    adds_per_stage: int = Field(default=2, ge=1)
    bit_planes: Literal[0, 1] = 1
    """1: multiplier-free bit-plane adder trees; 0: `*` products (DSP blocks)"""
    mul_lanes: int = Field(default=0, ge=0)
    """with bit_planes 1: how many of the lanes use `*` products (DSP blocks) instead (<= lanes)"""
    rom_group_bits: int = Field(default=0, ge=0)
    """item ROM column groups of this many bits, each with its own row address register (0: one group);
    a multiple of the block RAM's width costs no extra RAMs (18 on the ECP5: 126 = 7 RAMs per address)"""
    rom_out_reg: Literal[0, 1] = 0
    """1: one more register behind the item ROM's read (+1 cycle; on the ECP5 the block RAMs' output register)"""


class TopKConfig(StrictModel):
    merge_split: Literal[0, 1] = 1


class KernelConfig(StrictModel):
    variant: str = "hybrid_w4a4"
    """the quantized hybrid checkpoint to compile"""
    seed: int | None = None
    """which seed's checkpoint (default: the run's first)"""
    k: int = Field(default=10, ge=1)
    """results per query (top-K)"""
    layers: tuple[LayerFolding, ...] | None = None
    """PE/SIMD per MLP layer (an override); None: derived from the trained shape, ``target_cycles`` and the
    ``targets`` (:func:`hybrec.compile.folding.derive_folding`)"""
    target_cycles: int = Field(default=160, ge=1)
    """cycles per query the MLP layers may take together (FINN's ``(MH/PE) * (MW/SIMD)`` summed over the
    layers) when ``layers`` is not given"""
    hist_agg: HistAggConfig = HistAggConfig()
    scorer: ScorerConfig = ScorerConfig()
    topk: TopKConfig = TopKConfig()
    ids_per_beat: Literal[2] = 2
    """16-bit ids per input beat: the input is a 32-bit stream, one packet header word per beat"""
    n_items_max: int | None = Field(default=None, ge=1, le=65534)
    """item capacity of the kernel (its memories' depth); the model image sets the live count at run time.
    Default: the catalogue's size rounded up to a multiple of 256"""
    mask_banks: int = Field(default=2, ge=1)
    """queries in flight between the input and the history mask (a power of two)"""
    fpga_part: str = "xc7z020clg400-1"
    """the part FINN's resource estimates and layer specialisation assume (PYNQ-Z2)"""
    targets: tuple[str, ...] = ("ecp5-85k", "xc7z020")
    """the parts (hybrec.devices keys) the kernel must fit: `hybrec compile` counts the shape's block RAM and
    multipliers on each before writing anything and refuses one that does not fit (docs/kernel.md, the fit
    check); [] skips the check. Not part of the build's inputs: changing it never rebuilds"""
    clock_mhz: float = Field(default=200.0, gt=0)
    """the clock the latency figures assume until a bitstream reports its own"""

    @field_validator("targets")
    @classmethod
    def _known_targets(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [t for t in value if t not in DEVICES]
        if unknown:
            raise ValueError(f"unknown target {', '.join(unknown)}; hybrec knows {', '.join(DEVICES)}")
        return value

    @field_validator("layers")
    @classmethod
    def _chained(cls, value: tuple[LayerFolding, ...] | None) -> tuple[LayerFolding, ...] | None:
        """The check that needs no model: each layer's PE is the next layer's SIMD (MW % SIMD and MH % PE are
        checked against the trained shape before the export, :func:`hybrec.compile.build.checked_plan`)."""
        for index, (this, after) in enumerate(pairwise(value or ())):
            if this.pe != after.simd:
                raise ValueError(f"layers {index} and {index + 1}: PE={this.pe} must equal the next layer's "
                                 f"SIMD={after.simd} (the kernel has no width converter between MVAUs)")
        return value

    @field_validator("mask_banks")
    @classmethod
    def _power_of_two(cls, value: int) -> int:
        if value & (value - 1):
            raise ValueError(f"mask_banks={value} must be a power of two")
        return value


def default_kernel_config() -> KernelConfig:
    """The kernel of any trained shape: the ML-100K kernel's blocks (5 scorer lanes, 2 of them DSP products,
    top-10), the MLP folded for 160 cycles and the default targets by :mod:`hybrec.compile.folding`."""
    return KernelConfig(scorer=ScorerConfig(lanes=5, mul_lanes=2))


def ml100k_kernel_config() -> KernelConfig:
    """``configs/kernel-ml100k.yaml``: the default with the ML-100K folding written out, as measured (Yosys,
    simulation; docs/kernel.md)."""
    return KernelConfig(layers=(LayerFolding(simd=4, pe=32, lut_mult=True),
                                      LayerFolding(simd=32, pe=4, lut_mult=True)),
                        scorer=ScorerConfig(lanes=5, mul_lanes=2))


def smoke_kernel_config() -> KernelConfig:
    """The kernel of the ``smoke`` training preset (F = 24, hidden 32, D = 16), small enough for CI."""
    return KernelConfig(layers=(LayerFolding(simd=8, pe=8), LayerFolding(simd=8, pe=8, lut_mult=True)),
                        scorer=ScorerConfig(lanes=4), mask_banks=2)


KERNEL_PRESETS = {"default": default_kernel_config, "ml100k": ml100k_kernel_config, "smoke": smoke_kernel_config}


def load_kernel_config(path: str | Path) -> KernelConfig:
    return load_yaml_model(path, KernelConfig)
