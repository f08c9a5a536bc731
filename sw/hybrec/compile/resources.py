"""What a kernel shape costs on an FPGA part, counted from its plan in milliseconds (docs/kernel.md, "The fit
check"): block RAMs and multipliers as Yosys maps them, LUTs and flip-flops roughly.

``hybrec compile`` checks a plan against its targets with :func:`check_fit` before anything is written;
``hybrec fit`` (Yosys, minutes) stays the authoritative count and prints this estimate beside its own.

- **Block RAM** (DP16KD on the ECP5, RAMB36 on the Zynq-7000, a RAMB18 counting half): every memory of the
  RTL (:func:`kernel_rams`, one entry per ``reg [W-1:0] mem [0:D-1]`` of ``hw/`` and the kernel top, with its
  ports and ``ram_style``) goes through the choice Yosys' ``memory_libmap`` makes: for each block-RAM
  configuration of the part (width x depth, true or simple dual port) the number of blocks is
  ``ceil(ceil(depth / cfg_depth) * width' / cfg_width)`` (``width'``: the line padded to 9-bit bytes when the
  memory is written), times the copies its read ports need; the cheapest configuration wins, and a memory
  without ``ram_style`` goes to block RAM only when that is cheaper than LUT RAM or logic (libmap's costs:
  128 or 129/257 per block, 4 per ECP5 16x4 LUT RAM, one per RAM bit and 1/16 per ROM bit in logic).
- **Multipliers**: every ``*`` of the RTL (:func:`kernel_products`) in 18x18 tiles (ECP5) or 25x18 signed
  tiles (DSP48E1; products narrower than 9 bits stay in the fabric, as ``synth_xilinx`` decides).
- **LUTs and flip-flops**: a per-block sum of structural terms (adder bits, pipeline registers, LUT RAM),
  calibrated against Yosys on the ML-100K blocks; within about 20 % on the kernels measured, not a bound.

Standard library only (the plan's blocks import numpy); a plan takes about a millisecond, the bisection
over ``n_items_max`` tens of milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from hybrec.compile.blocks import CAPACITY_STEP, KernelPlan
from hybrec.compile.blocks.base import column_widths
from hybrec.compile.blocks.mvau import Mvau, threshold_stage_bits, threshold_stage_in_block_ram, threshold_stage_lines
from hybrec.devices import DEVICES, Device, device
from hybrec.errors import HybrecError
from hybrec.protocol import MAX_ITEMS, id_limit_message


class KernelDoesNotFit(HybrecError):
    """A kernel shape that needs more block RAM or multipliers than a target part has (or more items than
    16-bit ids can name); the message gives the numbers and what would fit."""


# ---------------------------------------------------------------------------------------------------------
# What the RTL holds: memories and products


@dataclass(frozen=True)
class Ram:
    """One memory of the RTL (``count`` identical ones).

    ``style``: ``"block"`` / ``"distributed"`` (its ``ram_style``), ``"registers"`` (``mem2reg``), ``"auto"``
    (Yosys chooses by cost). ``shared``: the write port shares read port 0's address (one block-RAM port)."""

    block: str
    name: str
    width: int
    depth: int
    writes: int = 1
    reads: int = 1
    shared: bool = False
    style: str = "auto"
    count: int = 1

    @property
    def rom(self) -> bool:
        return self.writes == 0

    @property
    def bits(self) -> int:
        return self.width * self.depth * self.count


@dataclass(frozen=True)
class Product:
    """``count`` multiplications of an ``a_bits`` by a ``b_bits`` operand (``signed``: both two's complement;
    otherwise both unsigned)."""

    block: str
    name: str
    a_bits: int
    b_bits: int
    count: int
    signed: bool = True


def _clog2(n: int) -> int:
    return max(0, (n - 1).bit_length())


def _mvau_rams(index: int, layer: Mvau) -> list[Ram]:
    block = f"mvau{index}"
    nxc = -(-layer.pe // layer.x_group)
    rams = [Ram(block, "weights", layer.pe * layer.simd * layer.w_bits, layer.nf * layer.sf,
                style="block" if layer.weight_block else "distributed")]
    words = layer.input_buffer_words
    if layer.input_buffer_block:
        rams.append(Ram(block, "input buffer", layer.simd * layer.in_bits, words, style="block"))
    else:
        rams.append(Ram(block, "input buffer", layer.simd * layer.in_bits, words, reads=nxc))
    if not layer.no_act:
        for stage in range(layer.out_bits):
            rams.append(Ram(block, f"thresholds, stage {stage}", threshold_stage_bits(layer, stage),
                            threshold_stage_lines(layer, stage), count=layer.threshold_units,
                            style="block" if threshold_stage_in_block_ram(layer, stage) else "distributed"))
    fifo = 1 << _clog2(layer.pipeline_depth + 3)
    rams.append(Ram(block, "output FIFO", layer.pe * layer.out_width + 1, fifo))
    rams.append(Ram(block, "register slice", layer.pe * layer.out_width, 2))
    return rams


def _scorer_lane_bits(plan: KernelPlan) -> int:
    return plan.hist_agg.id_bits + plan.scorer.score_bits


def kernel_rams(plan: KernelPlan) -> list[Ram]:
    """Every memory of the kernel's RTL (``hw/`` and the generated top), as synthesis sees it."""
    agg, scorer, mask = plan.hist_agg, plan.scorer, plan.hist_mask
    group_features = agg.feature_dim // agg.rom_groups
    rams = [Ram("hist_agg", "reciprocal ROM", agg.agg_shift + 1, agg.lmax + 1, writes=0, style="block"),
            Ram("hist_agg", "item features", group_features * agg.feature_bits, agg.n_items,
                reads=plan.ids_per_beat, shared=True, count=agg.rom_groups)]
    for index, layer in enumerate(plan.layers):
        rams += _mvau_rams(index, layer)
    widths = column_widths(scorer.row_bits, scorer.rom_group_bits)   # equal groups, the last may be narrower
    rams.append(Ram("scorer", "item vectors", widths[0], scorer.rows(), style="block",
                    count=len(widths) - (widths[-1] != widths[0])))
    if widths[-1] != widths[0]:
        rams.append(Ram("scorer", "item vectors", widths[-1], scorer.rows(), style="block"))
    out_word = 1 + scorer.lanes + scorer.lanes * _scorer_lane_bits(plan)
    rams.append(Ram("scorer", "output FIFO", out_word, 16))
    rams.append(Ram("scorer", "register slice", out_word, 2))
    mask_rows = max(1, _clog2(-(-mask.n_items // mask.lanes)))
    mask_depth = (mask.banks if mask.banks > 1 else 1) << mask_rows
    rams.append(Ram("hist_mask", "history bits", 1, mask_depth, writes=2, reads=1, shared=True,
                    count=plan.ids_per_beat * mask.lanes))
    rams.append(Ram("hist_mask", "flags FIFO", 3, mask.flags_depth))
    # kernel_ctrl's two tables indexed by the memory number: Yosys turns each into a ROM (memory_bmux2rom,
    # from 8 entries), block RAM when its bits / 16 exceed a block's cost
    memories = plan.load_bus().memories
    mem_bits = max(1, _clog2(len(memories)))
    if mem_bits >= 3:
        addr_bits = max(1, _clog2(max(depth for _, depth in memories)))
        wpl_bits = max((-(-width // 32)).bit_length() for width, _ in memories)
        rams.append(Ram("kernel_ctrl", "memory lines", addr_bits + 1, 1 << mem_bits, writes=0))
        rams.append(Ram("kernel_ctrl", "memory words per line", wpl_bits, 1 << mem_bits, writes=0))
    return rams


def kernel_products(plan: KernelPlan) -> list[Product]:
    """Every ``*`` of the kernel's RTL."""
    agg, scorer, mask = plan.hist_agg, plan.scorer, plan.hist_mask
    acc_bits = agg.feature_bits + _clog2(agg.lmax + 1)   # hist_agg.v: ACC_BITS, a signed sum of LMAX features
    products = [Product("hist_agg", "normalisation", acc_bits, agg.agg_shift + 2, agg.norm_par)]
    for index, layer in enumerate(plan.layers):
        if not layer.lut_mult:
            products.append(Product(f"mvau{index}", "dot products", layer.in_bits + 1, layer.w_bits,
                                    layer.pe * layer.simd))
    mul_lanes = scorer.lanes if scorer.bit_planes == 0 else scorer.mul_lanes
    if mul_lanes:
        user_bits = scorer.user_bits + (0 if scorer.user_signed else 1)
        products.append(Product("scorer", "dot products", user_bits, scorer.item_bits, mul_lanes * scorer.out_dim))
    lanes = mask.lanes
    if lanes & (lanes - 1):   # id / lanes as a product by a reciprocal (a power of two is a shift)
        lb = max(1, _clog2(lanes))
        rcp = -(-(1 << (agg.id_bits + lb)) // lanes)
        products.append(Product("hist_mask", "id / lanes", agg.id_bits, rcp.bit_length(), plan.ids_per_beat,
                                signed=False))
    return products


# ---------------------------------------------------------------------------------------------------------
# How a part's synthesis maps them


@dataclass(frozen=True)
class BlockShape:
    """One block-RAM configuration: ``width`` x ``depth``, ``ports`` ``"tdp"`` (two read/write ports) or
    ``"sdp"`` (one write, one read), ``units`` of the part's block-RAM resource, libmap's ``cost``."""

    width: int
    depth: int
    ports: str
    units: float
    cost: float


@dataclass(frozen=True)
class Family:
    """How Yosys' synthesis for a family maps memories and products (its memory libraries and mul2dsp)."""

    bram: str                      # the block-RAM resource name in hybrec.devices
    dsp: str
    lut: str
    blocks: tuple[BlockShape, ...]
    lutram: tuple[int, int, float, float]   # (width, depth, libmap cost, LUTs) of one LUT-RAM cell
    dsp_a: int                     # widest A operand of one multiplier tile
    dsp_b: int
    dsp_signed_only: bool          # unsigned operands take one more bit
    dsp_min_y: int                 # narrower products stay in the fabric
    lut_scale: float               # LUTs of this family per ECP5 LUT4-equivalent of the LUT/FF model
    ff_scale: float


def _tdp(widths: tuple[int, ...], bits: int, units: float, cost: float) -> tuple[BlockShape, ...]:
    return tuple(BlockShape(w, bits // (w if w in (1, 2, 4) else w // 9 * 8), "tdp", units, cost) for w in widths)


ECP5 = Family(
    bram="DP16KD", dsp="MULT18X18D", lut="LUT4",
    # DP16KD (true dual port, 1..18 bits) and PDPW16KD (simple dual port up to 36 bits): 128 each
    blocks=(*_tdp((1, 2, 4, 9, 18), 16384, 1, 128), BlockShape(36, 512, "sdp", 1, 128)),
    lutram=(4, 16, 4, 4),   # TRELLIS_DPR16X4: 16 x 4, cost 4, the four LUT4s of a PFU half
    dsp_a=18, dsp_b=18, dsp_signed_only=False, dsp_min_y=0, lut_scale=1.0, ff_scale=1.0)

XC7 = Family(
    bram="RAMB36", dsp="DSP48E1", lut="LUT",
    # RAMB18 (0.5, cost 129) and RAMB36 (1, cost 257), true dual port up to 18 / 36 bits, simple dual port
    # 36 / 72 bits; a cascade of two RAMB36 (513) for 64k x 1..9
    blocks=(*_tdp((1, 2, 4, 9, 18), 16384, 0.5, 129), *_tdp((1, 2, 4, 9, 18, 36), 32768, 1, 257),
            *_tdp((1, 2, 4, 9), 65536, 2, 513), BlockShape(36, 512, "sdp", 0.5, 129),
            BlockShape(72, 512, "sdp", 1, 257)),
    lutram=(6, 32, 8, 4),   # RAM32M: 32 x 6 simple dual port, four LUT6s
    dsp_a=25, dsp_b=18, dsp_signed_only=True, dsp_min_y=9,
    # Yosys on the tiny and the 5-lane ML-100K kernels: LUT6 / ECP5 LUT4-equivalents 0.72-0.74, FF 0.90-0.92
    lut_scale=0.74, ff_scale=0.92)

FAMILIES = {"ecp5": ECP5, "xc7": XC7}


@dataclass(frozen=True)
class Mapping:
    """Where one :class:`Ram` (all ``count`` of them) goes: ``kind`` ``block``, ``distributed`` or
    ``registers``; ``units`` of block RAM, ``luts`` (LUT4-equivalents) and ``ffs`` for the others."""

    kind: str
    units: float = 0.0
    luts: float = 0.0
    ffs: float = 0.0
    shape: str = ""


def _padded(width: int, unit: int, written: bool) -> int:
    """The line as libmap lays it out: written memories in 9-bit bytes once a unit holds a byte."""
    byte = 9 if written and unit >= 9 else unit if written else 1
    return -(-width // byte) * byte


def _replicas(ram: Ram, ports: str) -> int | None:
    """Copies of the memory its read ports need in one configuration (None: it cannot be mapped there)."""
    if ports == "sdp":
        return None if ram.writes > 1 else ram.reads
    free = 2 - ram.writes
    if free < 0:
        return None
    unshared = ram.reads - (1 if ram.shared and ram.writes else 0)
    if unshared <= 0:
        return 1
    if free == 0:
        return None
    return max(1, -(-unshared // free))


def _block_choice(ram: Ram, fam: Family) -> tuple[float, float, str] | None:
    """(units, libmap cost, shape) of the cheapest block-RAM configuration for one copy of ``ram``."""
    best: tuple[float, float, str] | None = None
    for cfg in fam.blocks:
        repl_port = _replicas(ram, cfg.ports)
        if repl_port is None:
            continue
        pieces = -(-ram.depth // cfg.depth)
        repl = -(-(pieces * _padded(ram.width, cfg.width, not ram.rom)) // cfg.width)
        cost = cfg.cost * repl * repl_port + 0.5 * (pieces - 1) * ram.width * ram.reads
        cost += 0.5 * pieces * ram.writes if pieces > 1 else 0
        if best is None or cost < best[1]:
            best = (cfg.units * repl * repl_port, cost, f"{cfg.width}x{cfg.depth}")
    return best


def _lutram_choice(ram: Ram, fam: Family) -> tuple[float, float] | None:
    """(LUT4-equivalents, libmap cost) of one copy of ``ram`` in LUT RAM (one write port, no ROMs)."""
    if ram.writes != 1:
        return None
    width, depth, cost, luts = fam.lutram
    pieces = -(-ram.depth // depth)
    cells = pieces * -(-ram.width // width) * ram.reads
    mux = (pieces - 1) * ram.width * ram.reads
    return cells * luts + mux * 0.5, cells * cost + 0.5 * mux + (0.5 * pieces if pieces > 1 else 0)


def map_ram(ram: Ram, fam: Family) -> Mapping:
    """Where synthesis puts ``ram`` (libmap's choice by cost, or its ``ram_style``)."""
    n = ram.count
    logic = Mapping("registers", luts=n * ram.width * ram.depth / (16 if ram.rom else 4),
                    ffs=0 if ram.rom else n * ram.width * ram.depth)
    if ram.style == "registers":
        return logic
    block = _block_choice(ram, fam) if ram.style in ("block", "auto") else None
    lutram = _lutram_choice(ram, fam) if ram.style in ("distributed", "auto") else None
    if ram.style == "block":
        if block is None:
            raise ValueError(f"{ram.block} {ram.name}: no block-RAM mapping")
        return Mapping("block", units=n * block[0], shape=block[2])
    if ram.style == "distributed" and lutram is not None:
        return Mapping("distributed", luts=n * lutram[0])
    best_cost = int(ram.width * ram.depth * (1 / 16 if ram.rom else 1))   # libmap: logic unless cheaper
    choice = logic
    if lutram is not None and lutram[1] < best_cost:
        best_cost, choice = int(lutram[1]), Mapping("distributed", luts=n * lutram[0])
    if block is not None and block[1] < best_cost:
        choice = Mapping("block", units=n * block[0], shape=block[2])
    return choice


def dsp_tiles(product: Product, fam: Family) -> int:
    """Multiplier blocks of one product (0: it stays in the fabric)."""
    a, b = product.a_bits, product.b_bits
    if a < 2 or b < 2 or a + b < fam.dsp_min_y:
        return 0
    if fam.dsp_signed_only and not product.signed:
        a, b = a + 1, b + 1
    a, b = max(a, b), min(a, b)
    if fam.dsp_a == fam.dsp_b:
        return -(-a // fam.dsp_a) * -(-b // fam.dsp_b)
    return min(-(-a // fam.dsp_a) * -(-b // fam.dsp_b), -(-b // fam.dsp_a) * -(-a // fam.dsp_b))


# ---------------------------------------------------------------------------------------------------------
# LUTs and flip-flops (ECP5 LUT4-equivalents: LUT4 + 2 x CCU2C + 4 x 16x4 LUT RAM, as hybrec fit counts)


def _tree_bits(leaves: int, width: int) -> int:
    """Adder bits of a binary tree summing ``leaves`` values of ``width`` bits (each level one bit wider)."""
    bits, n, w = 0, leaves, width
    while n > 1:
        bits += (n // 2) * (w + 1)
        n, w = -(-n // 2), w + 1
    return bits


def _logic(plan: KernelPlan) -> dict[str, tuple[float, float]]:
    """(LUT4-equivalents, flip-flops) per block, memories in LUT RAM or registers excluded (see
    :func:`map_ram`). Coefficients from per-block ``synth_ecp5`` of the ECP5-folded ML-100K kernel
    (hist_agg 8.5k / 8.7k, MVAU 0 26k / 15k, MVAU 1 12.7k / 7.5k, scorer 3.0k / 13.4k) and the whole tiny
    kernel (3.2k / 2.9k)."""
    agg, scorer, topk = plan.hist_agg, plan.scorer, plan.topk
    ipb, f, fb = plan.ids_per_beat, agg.feature_dim, agg.feature_bits
    acc = fb + _clog2(agg.lmax + 1)
    prod = acc + agg.agg_shift + 2
    found: dict[str, tuple[float, float]] = {}
    # aggregation: IPB rows into F accumulators (adders, zeroing), the normaliser; read, copy, row registers
    found["hist_agg"] = (3.6 * ipb * f * fb + 1.2 * f * acc + 4 * agg.norm_par * prod + 300,
                         3 * ipb * f * fb + 1.5 * f * acc + 2 * agg.norm_par * prod
                         + agg.rom_groups * (f // agg.rom_groups * fb + 2 * ipb * agg.id_bits) + 300)
    for index, m in enumerate(plan.layers):
        stages = 0 if m.no_act else m.out_bits
        units = m.threshold_units
        kw = max(1, _clog2(m.nf * m.threshold_per_unit)) + stages
        # the serializer (a load mux and a flip-flop per accumulator bit) and the collector's flip-flops
        serial = 0 if m.no_act else m.pe * m.acc_bits
        collector = 0 if m.no_act else m.pe * m.out_bits
        prod_w = m.in_bits + 1 + m.w_bits
        mult = 1.3 * prod_w * m.w_bits if m.lut_mult else 0.0
        dot = m.pe * (m.simd * mult + 1.1 * _tree_bits(m.simd, prod_w) + 1.2 * m.acc_bits)
        thresholds = units * stages * (2.5 * m.acc_bits + kw) + serial
        dot_regs = m.pe * (m.simd * prod_w + _tree_bits(m.simd, prod_w) // max(1, m.dot_adds) + 2 * m.acc_bits)
        weights = m.pe * m.simd * m.w_bits
        nxc = -(-m.pe // m.x_group)
        found[f"mvau{index}"] = (dot + thresholds + 0.5 * weights + 200,
                                 dot_regs + units * stages * (3 * m.acc_bits + kw) + 2 * weights
                                 + serial + collector
                                 + nxc * m.simd * m.in_bits + 300)
    lanes = scorer.lanes
    mul_lanes = lanes if scorer.bit_planes == 0 else scorer.mul_lanes
    plane_lanes = lanes - mul_lanes
    sum_bits = scorer.score_bits
    d, ub, ib = scorer.out_dim, scorer.user_bits, scorer.item_bits
    row = scorer.row_bits
    stage = max(1, scorer.adds_per_stage)
    plane_luts = plane_lanes * 1.8 * d * ub * ib
    mul_luts = mul_lanes * 1.05 * d * sum_bits
    found["scorer"] = (plane_luts + mul_luts + 2 * lanes * _scorer_lane_bits(plan) + 200,
                       3 * row + 4 * d * ub + mul_lanes * (2 * d * (ub + ib) + 1.5 * d * sum_bits / stage)
                       + plane_lanes * 1.8 * (ub + 1) * d * (ib + 3) / stage + 300)
    key = _scorer_lane_bits(plan)
    found["topk"] = (lanes * topk.k * key * 2.2 + topk.k * key * 2, lanes * topk.k * key * 1.3 + topk.k * key * 2)
    found["hist_mask"] = (ipb * (lanes * 8 + 4 * agg.id_bits) + 150, ipb * 4 * agg.id_bits + 2 * lanes * key + 100)
    data_bits = plan.load_bus().data_bits
    found["kernel_ctrl"] = (data_bits * 1.5 + 400, data_bits * 1.2 + 300)
    return found


# ---------------------------------------------------------------------------------------------------------
# The estimate


@dataclass
class Estimate:
    """A plan's resources on one part: ``used`` per resource (the part's names, as ``hybrec fit`` reports
    them), ``exact`` the resources that decide (block RAM, multipliers), ``by_block`` where they go."""

    device: Device
    plan_capacity: int
    used: dict[str, float]
    by_block: dict[str, dict[str, float]]
    rams: list[tuple[Ram, Mapping]] = field(default_factory=list)

    @property
    def family(self) -> Family:
        return FAMILIES[self.device.family]

    @property
    def exact(self) -> tuple[str, str]:
        return self.family.bram, self.family.dsp

    def over(self) -> list[str]:
        """The exactly counted resources beyond the part's capacity."""
        return [r for r in self.exact if self.used[r] > self.device.capacity[r]]

    def logic_over(self) -> list[str]:
        """The roughly estimated resources (LUT, FF) beyond the part's capacity."""
        return [r for r in self.used if r not in self.exact and self.used[r] > self.device.capacity[r]]

    @property
    def fits(self) -> bool:
        return not self.over()

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.device.key, "device": self.device.name, "n_items_max": self.plan_capacity,
                "fits": self.fits,
                "usage": {r: {"estimate": round(self.used[r], 1), "capacity": self.device.capacity[r],
                              "exact": r in self.exact} for r in self.used},
                "by_block": {b: {r: round(v, 1) for r, v in use.items()} for b, use in self.by_block.items()}}


def _part(target: str | Device) -> Device:
    return target if isinstance(target, Device) else device(target)


def estimate(plan: KernelPlan, target: str | Device) -> Estimate:
    """The resources ``plan`` takes on ``target`` (a key of :data:`hybrec.devices.DEVICES` or a Device)."""
    dev = _part(target)
    fam = FAMILIES[dev.family]
    by_block: dict[str, dict[str, float]] = {}

    def add(block: str, resource: str, value: float) -> None:
        use = by_block.setdefault(block, {fam.bram: 0.0, fam.dsp: 0.0, fam.lut: 0.0, "FF": 0.0})
        use[resource] += value

    for block, (luts, ffs) in _logic(plan).items():
        add(block, fam.lut, luts * fam.lut_scale)
        add(block, "FF", ffs * fam.ff_scale)
    mapped = []
    for ram in kernel_rams(plan):
        where = map_ram(ram, fam)
        mapped.append((ram, where))
        add(ram.block, fam.bram, where.units)
        add(ram.block, fam.lut, where.luts * fam.lut_scale)
        add(ram.block, "FF", where.ffs * fam.ff_scale)
    for product in kernel_products(plan):
        tiles = dsp_tiles(product, fam)
        add(product.block, fam.dsp, tiles * product.count)
        if not tiles:   # in the fabric: about a LUT per partial-product bit
            add(product.block, fam.lut, product.count * product.a_bits * product.b_bits * fam.lut_scale)
    used = {r: sum(use.get(r, 0.0) for use in by_block.values()) for r in dev.capacity}
    return Estimate(dev, plan.hist_agg.n_items, used, by_block, mapped)


def with_capacity(plan: KernelPlan, n_items_max: int) -> KernelPlan:
    """``plan`` with another item capacity (every block that holds items)."""
    return replace(plan, hist_agg=replace(plan.hist_agg, n_items=n_items_max),
                   scorer=replace(plan.scorer, n_items=n_items_max),
                   hist_mask=replace(plan.hist_mask, n_items=n_items_max))


def capacities() -> list[int]:
    """The item capacities :func:`largest_capacity` considers: multiples of the capacity step, then the most
    16-bit ids allow."""
    steps = list(range(CAPACITY_STEP, MAX_ITEMS + 1, CAPACITY_STEP))
    return steps if steps[-1] == MAX_ITEMS else [*steps, MAX_ITEMS]


def largest_capacity(plan: KernelPlan, target: str | Device) -> int | None:
    """The largest item capacity (of :func:`capacities`, at least ``k``) at which ``plan``'s shape fits
    ``target`` by block RAM and multipliers; None when none does (the MLP or the scorer alone is too large).
    Bisection: the counts grow with the capacity."""
    dev = _part(target)
    options = [n for n in capacities() if n >= plan.topk.k]

    def fits(n: int) -> bool:
        return estimate(with_capacity(plan, n), dev).fits

    if not options or not fits(options[0]):
        return None
    lo, hi = 0, len(options) - 1    # options[lo] fits
    if fits(options[hi]):
        return options[hi]
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(options[mid]):
            lo = mid
        else:
            hi = mid
    return options[lo]


def _fmt(value: float) -> str:
    return f"{value:,.1f}" if value != int(value) else f"{int(value):,}"


def describe(est: Estimate) -> str:
    """What the shape needs of each resource and what the part has (LUT and FF: rough estimates)."""
    parts = []
    for r in est.exact:
        value, cap = est.used[r], est.device.capacity[r]
        verdict = "does NOT fit" if value > cap else "fits"
        parts.append(f"{r} needs {_fmt(value)}, the part has {_fmt(cap)} ({verdict})")
    rough = [f"{r} ~{round(v):,} of {_fmt(est.device.capacity[r])}" for r, v in est.used.items() if r not in est.exact]
    return "; ".join(parts) + f"; {' and '.join(rough)} (rough estimates)"


def block_ram_breakdown(est: Estimate) -> str:
    """Where the block RAMs go, largest first."""
    found: dict[str, float] = {}
    for ram, where in est.rams:
        if where.units:
            name = f"{ram.block} {ram.name}"
            found[name] = found.get(name, 0.0) + where.units
    return ", ".join(f"{name} {_fmt(units)}" for name, units in sorted(found.items(), key=lambda x: -x[1]))


def check_fit(plan: KernelPlan, targets: tuple[str, ...] | list[str], n_items: int,
              log: Callable[[str], None] = print) -> list[Estimate]:
    """Check ``plan`` against each target by block RAM and multipliers; :class:`KernelDoesNotFit` names what
    does not fit, by how much, and the largest ``n_items_max`` of this shape that fits. LUTs and flip-flops
    are estimated only: beyond a part's capacity they are a warning (``hybrec fit`` counts them)."""
    if (why := id_limit_message(n_items)) is not None:
        raise KernelDoesNotFit(why)
    found, refusals = [], []
    for key in targets:
        est = estimate(plan, key)
        found.append(est)
        if est.fits:
            log(f"fit check, {est.device.key}: {describe(est)}")
            if (rough := est.logic_over()):
                log(f"[yellow]warning:[/] {est.device.key}: the rough estimate of {', '.join(rough)} exceeds the "
                    "part; `hybrec fit` (Yosys) gives the real count")
            continue
        best = largest_capacity(plan, est.device)
        capacity = plan.hist_agg.n_items
        if best is None:
            least = estimate(with_capacity(plan, max(plan.topk.k, CAPACITY_STEP)), est.device)
            advice = (f"No item capacity fits this shape on this part ({', '.join(least.over())} exceeded even at "
                      f"n_items_max: {least.plan_capacity:,}): fewer multipliers (lut_mult on the MLP layers, fewer "
                      "scorer mul_lanes), smaller MLP memories (folding, weight_rom), or another target")
        elif best >= n_items:
            advice = (f"The largest item capacity of this shape that fits is n_items_max: {best:,} (the catalogue has "
                      f"{n_items:,} items; this kernel asks for {capacity:,})")
        else:
            advice = (f"The largest item capacity of this shape that fits is n_items_max: {best:,}, fewer than the "
                      f"catalogue's {n_items:,} items: a smaller catalogue, narrower item features or vectors "
                      "(feature_dim, feature_bits, out_dim, item_bits), or another target")
        refusals.append(f"the kernel does not fit the {est.device.name} ({est.device.key}): {describe(est)}. "
                        f"Its {est.family.bram}: {block_ram_breakdown(est)}. {advice}")
    if refusals:
        others = [k for k in DEVICES if k not in targets]
        hint = f" (targets: {', '.join(targets)}; hybrec also knows {', '.join(others)})" if others else ""
        raise KernelDoesNotFit("\n".join(refusals) + hint)
    return found
