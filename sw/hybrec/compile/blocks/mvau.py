"""The matrix-vector-activation unit (``hw/mvau/mvau.v``, ``hls_kernels/mvau``), one per MLP layer: its
parameters and their checks, its cycles, and its memory files.

The unit computes ``y = multithreshold(x @ W, T) + out_bias`` (``hybrec.numerics.mvau``) with ``W`` of
shape ``[MW, MH]`` (signed ``w_bits``) and ``T`` of shape ``[MH, 2^out_bits - 1]`` (signed ``acc_bits``,
ascending per channel), folded as ``SF = MW / SIMD`` input beats and ``NF = MH / PE`` output beats.

Memory layout (the lines the load bus writes, PE 0 in the least significant bits of a line), in load order:

- the weights: ``NF * SF`` lines of ``PE * SIMD * w_bits`` bits. Line ``nf * SF + sf`` holds, for PE ``p``
  and SIMD lane ``i``, ``W[sf * SIMD + i, nf * PE + p]`` at bits ``[(p * SIMD + i) * w_bits +: w_bits]``.
- the thresholds, one memory per binary-search stage ``j = 0 .. out_bits - 1`` and threshold unit ``u``
  (``j`` major). The fold's ``PE`` accumulators go to ``T_UNITS`` units one channel per cycle, unit ``u``
  taking PEs ``u * T_PER .. u * T_PER + T_PER - 1`` (``T_PER = PE / T_UNITS``; :attr:`Mvau.threshold_units`),
  so unit ``u``'s channel ``ch = nf * T_PER + i`` is ``c = nf * PE + u * T_PER + i``. Key ``ch * 2^j + q``
  of stage ``j`` selects ``T[c, (q << (out_bits - j)) + 2^(out_bits - 1 - j) - 1]`` (``acc_bits`` bits):
  stage ``j`` decides bit ``out_bits - 1 - j`` of the count given the ``j`` bits above it (``q``). Every
  threshold appears in exactly one stage. Stage 0 has one line per key (``NF * T_PER`` lines); stage
  ``j >= 1`` has ``NF * T_PER * 2^(j-1)`` lines of two entries, line ``r`` = ``{entry 2r + 1, entry 2r}``
  (the hardware reads the pair before the previous stage's decision picks one).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from hybrec.compile.blocks.base import FoldingError, Memory, divisors, pack_rows, signed_range, write_memh
from hybrec.golden import LayerSpec

THRESHOLD_LOGIC_DEPTH = 256   # mvau.v's LOGIC_DEPTH: threshold stages of at most this many keys are not block RAM
# weight_rom -> the MVAU's WLOGIC_DEPTH (weight ROMs of at most that many lines are LUT logic)
WEIGHT_ROM_DEPTH = {"auto": 64, "logic": 1 << 30, "block": 0}
# input_buffer -> IB_LUT_WORDS: the most words (both banks) the input buffer may have as LUT RAM
INPUT_BUFFER_WORDS = {"auto": 32, "lut": 1 << 30, "block": 0}
# about this many weight bits per copy of an MVAU's step enable and input register (X_GROUP PEs of
# SIMD * W_BITS bits each): the copies keep the fan-out of those registers low enough for 100 MHz on the
# ECP5 (MVAU 0 of the ML-100K kernel, SIMD 4: a copy per 2 PEs; MVAU 1, SIMD 32: one per PE)
X_GROUP_WEIGHT_BITS = 32


@dataclass(frozen=True)
class Mvau:
    """Shapes, folding and bit widths of one MVAU instance (the Verilog parameters, less the files).

    Args:
        mw: input vector length (matrix rows).
        mh: output vector length (matrix columns, channels).
        simd: input elements per beat; ``mw % simd == 0``.
        pe: output elements per beat; ``mh % pe == 0``.
        in_bits, in_signed: input element width and signedness.
        w_bits: weight width (signed).
        acc_bits: accumulator and threshold width (signed); no accumulator may exceed it.
        out_bits: output width; ``2^out_bits - 1`` thresholds per channel (1..8).
        out_bias: added to the threshold count (``-2^(out_bits-1)`` for a signed output).
        no_act: output the raw accumulator (``acc_bits`` wide) instead of thresholding.
        lut_mult: build the products from shifts and adds (fabric) instead of ``*`` (DSP blocks).
        dot_adds: adder levels per pipeline stage of the dot products (0: products and tree in one
            cycle; the ML-100K tree of 32 products needs stages to reach 100 MHz on an ECP5).
        weight_rom: ``"logic"``, ``"block"`` or ``"auto"`` (logic up to 64 lines): the weight ROM's
            ``WLOGIC_DEPTH``. A wide logic ROM fans its address out to every output bit's LUT tree.
        x_group: PEs per copy of the input register and of the step enable (``X_GROUP``): the copies keep
            the fan-out of those registers down on a wide MVAU.
        input_buffer: ``"lut"``, ``"block"`` or ``"auto"`` (LUT RAM up to 32 words, both banks): the input
            buffer's ``IB_LUT_WORDS``. A block-RAM buffer's read is copied twice before the PEs (two more
            cycles of latency): once as a whole, a copy the ECP5 flow moves into the block RAM's output
            register, then once per group of ``x_group`` PEs.
    """

    mw: int
    mh: int
    simd: int
    pe: int
    in_bits: int = 4
    in_signed: bool = False
    w_bits: int = 4
    acc_bits: int = 16
    out_bits: int = 4
    out_bias: int = 0
    no_act: bool = False
    lut_mult: bool = False
    dot_adds: int = 2
    weight_rom: str = "auto"
    x_group: int = 8
    input_buffer: str = "auto"

    def __post_init__(self) -> None:
        for name in ("mw", "mh", "simd", "pe", "in_bits", "w_bits", "acc_bits", "x_group"):
            if getattr(self, name) < 1:
                raise FoldingError(f"MVAU {name}={getattr(self, name)} must be >= 1")
        if self.mw % self.simd:
            raise FoldingError(f"impossible folding: MW={self.mw} is not a multiple of SIMD={self.simd} (SIMD may be "
                               f"{', '.join(map(str, divisors(self.mw)))})")
        if self.mh % self.pe:
            raise FoldingError(f"impossible folding: MH={self.mh} is not a multiple of PE={self.pe} (PE may be "
                               f"{', '.join(map(str, divisors(self.mh)))})")
        if self.weight_rom not in WEIGHT_ROM_DEPTH:
            raise FoldingError(f"weight_rom={self.weight_rom!r}: one of {', '.join(WEIGHT_ROM_DEPTH)}")
        if self.input_buffer not in INPUT_BUFFER_WORDS:
            raise FoldingError(f"input_buffer={self.input_buffer!r}: one of {', '.join(INPUT_BUFFER_WORDS)}")
        if self.dot_adds < 0:
            raise FoldingError(f"dot_adds={self.dot_adds} must be >= 0")
        if self.w_bits < 2:
            raise FoldingError(f"w_bits={self.w_bits}: weights are signed, at least 2 bits")
        if self.acc_bits > 64:
            raise FoldingError(f"acc_bits={self.acc_bits} > 64 is not supported")
        if not self.no_act:
            if not 1 <= self.out_bits <= 8:
                raise FoldingError(f"{self.out_bits}-bit activations; the MVAU's thresholds support 1..8")
            lo, hi = self.out_bias, self.out_bias + self.n_thresholds
            fits_unsigned = lo >= 0 and hi < (1 << self.out_bits)
            fits_signed = lo >= -(1 << (self.out_bits - 1)) and hi < (1 << (self.out_bits - 1))
            if not (fits_unsigned or fits_signed):
                raise FoldingError(f"outputs {lo}..{hi} (out_bias={self.out_bias}) do not fit "
                                   f"{self.out_bits} bits, signed or unsigned")

    @classmethod
    def for_layer(cls, spec: LayerSpec, simd: int, pe: int, lut_mult: bool = False, dot_adds: int = 2,
                  weight_rom: str = "auto") -> Mvau:
        """The MVAU of one trained layer (:class:`hybrec.golden.LayerSpec`) at a folding."""
        if simd < 1 or pe < 1:
            raise FoldingError(f"SIMD={simd} and PE={pe} must be >= 1")
        return cls(mw=spec.mw, mh=spec.mh, simd=simd, pe=pe, in_bits=spec.in_bits, in_signed=spec.in_signed,
                   w_bits=spec.w_bits, acc_bits=spec.acc_bits, out_bits=spec.out_bits, out_bias=spec.out_bias,
                   lut_mult=lut_mult, dot_adds=dot_adds, weight_rom=weight_rom,
                   x_group=max(1, X_GROUP_WEIGHT_BITS // (simd * spec.w_bits)))

    def parameters(self) -> dict[str, Any]:
        """What a build's manifest records of this layer (``kernel.parameters.layers[i]``)."""
        return {**asdict(self), "sf": self.sf, "nf": self.nf, "pipeline_depth": self.pipeline_depth,
                "wlogic_depth": WEIGHT_ROM_DEPTH[self.weight_rom]}

    @classmethod
    def from_parameters(cls, p: dict[str, Any]) -> Mvau:
        return cls(**{f.name: p[f.name] for f in fields(cls) if f.name in p})

    @property
    def sf(self) -> int:
        """SIMD folds: input beats per vector."""
        return self.mw // self.simd

    @property
    def nf(self) -> int:
        """Neuron folds: output beats per vector."""
        return self.mh // self.pe

    @property
    def exp_cycles(self) -> int:
        """FINN's cycle model for one vector: ``(MH/PE) * (MW/SIMD)``."""
        return self.nf * self.sf

    @property
    def n_thresholds(self) -> int:
        return (1 << self.out_bits) - 1

    @property
    def out_width(self) -> int:
        """Bits per output element on ``m_axis``."""
        return self.acc_bits if self.no_act else self.out_bits

    @property
    def out_signed(self) -> bool:
        return self.no_act or self.out_bias < 0

    @property
    def dot_latency(self) -> int:
        """Register stages inside the dot product (``hw/mvau/mvau_dot.v``'s rule): none when
        ``dot_adds == 0``, else the products plus every ``dot_adds``-th tree level and the root."""
        return dot_latency(self.simd, self.dot_adds)

    @property
    def input_buffer_words(self) -> int:
        """Words of the input buffer (both banks, each a power of two of at least ``SF`` words)."""
        return 2 << max(1, (self.sf - 1).bit_length())

    @property
    def input_buffer_block(self) -> bool:
        """The input buffer is block RAM (more words than ``input_buffer`` allows in LUT RAM)."""
        return self.input_buffer_words > INPUT_BUFFER_WORDS[self.input_buffer]

    @property
    def input_extra(self) -> int:
        """``hw/mvau/mvau.v``'s ``IB_EXTRA``: 2 when the input buffer is block RAM (its read copied, then
        copied per PE group, before the PEs), else 0."""
        return 2 if self.input_buffer_block else 0

    @property
    def weight_block(self) -> bool:
        """``hw/mvau/mvau.v``'s ``WBLOCK``: the weight ROM is block RAM (more lines than ``WLOGIC_DEPTH``)."""
        return self.nf * self.sf > WEIGHT_ROM_DEPTH[self.weight_rom]

    @property
    def weight_extra(self) -> int:
        """``hw/mvau/mvau.v``'s ``W_EXTRA``: 1 when a block-RAM weight ROM's line is copied once more before
        the PEs (its read register sits in a block-RAM row), unless the input buffer's copies already wait."""
        return 1 if self.weight_block and self.input_extra == 0 else 0

    @property
    def threshold_units(self) -> int:
        """``hw/mvau/mvau.v``'s ``T_UNITS``: binary searches that each take one channel per cycle, the fewest
        that divide ``PE`` and keep up with a fold every ``SF`` cycles (``PE / T_UNITS <= SF``)."""
        if self.no_act:
            return 1
        return min(d for d in divisors(self.pe) if self.pe // d <= self.sf)

    @property
    def threshold_per_unit(self) -> int:
        """``T_PER``: channels per threshold unit and fold."""
        return self.pe // self.threshold_units

    @property
    def pipeline_depth(self) -> int:
        """Cycles from a neuron fold's last step (its last input beat, for the first fold) to its output
        beat: buffer/ROM read (+ the block-RAM buffer's two copies, or the block-RAM weight line's one),
        dot product (+ its stages), accumulate, then the thresholds (``T_PER`` channels into each unit,
        ``out_bits`` stages and a cycle per block-RAM pair stage, the collector), FIFO."""
        return (3 + self.input_extra + self.weight_extra + self.dot_latency
                + (0 if self.no_act else self.threshold_per_unit + 1 + self.out_bits + self.threshold_block_pairs))

    @property
    def threshold_block_pairs(self) -> int:
        """Threshold pair stages (stage >= 1) in block RAM: each takes a cycle more than one in LUT RAM."""
        if self.no_act:
            return 0
        return sum(1 for stage in range(1, self.out_bits) if threshold_stage_in_block_ram(self, stage))

    @property
    def vector_latency(self) -> int:
        """Cycles from a vector's first input beat to its last output beat (idle unit, no stalls)."""
        return self.exp_cycles + self.pipeline_depth

    def verilog_parameters(self) -> dict[str, int]:
        """The Verilog parameters of ``mvau``."""
        return {
            "MW": self.mw, "MH": self.mh, "SIMD": self.simd, "PE": self.pe,
            "IN_BITS": self.in_bits, "IN_SIGNED": int(self.in_signed), "W_BITS": self.w_bits,
            "ACC_BITS": self.acc_bits, "OUT_BITS": self.out_bits, "OUT_BIAS": self.out_bias,
            "NO_ACT": int(self.no_act), "LUT_MULT": int(self.lut_mult), "DOT_ADDS": self.dot_adds,
            "WLOGIC_DEPTH": WEIGHT_ROM_DEPTH[self.weight_rom], "X_GROUP": self.x_group,
            "IB_LUT_WORDS": INPUT_BUFFER_WORDS[self.input_buffer],
        }


def dot_latency(simd: int, adds: int) -> int:
    """Register stages of ``mvau_dot`` with ``SIMD = simd``, ``ADDS_PER_STAGE = adds``."""
    if adds == 0:
        return 0
    levels = (simd - 1).bit_length()
    return 1 + sum(1 for h in range(1, levels + 1) if h % adds == 0 or h == levels)


def input_range(bits: int, signed: bool) -> tuple[int, int]:
    return signed_range(bits) if signed else (0, (1 << bits) - 1)


def min_acc_bits(weights: np.ndarray, in_bits: int, in_signed: bool) -> int:
    """Smallest signed width holding every accumulator ``x @ W`` over all inputs (FINN-style bound)."""
    lo_x, hi_x = input_range(in_bits, in_signed)
    w = np.asarray(weights, dtype=np.int64)
    hi = np.maximum(w * lo_x, w * hi_x).sum(axis=0).max(initial=0)
    lo = np.minimum(w * lo_x, w * hi_x).sum(axis=0).min(initial=0)
    bits = 1
    while not (-(1 << (bits - 1)) <= lo and hi <= (1 << (bits - 1)) - 1):
        bits += 1
    return int(bits)


def _check_range(name: str, values: np.ndarray, bits: int) -> None:
    lo, hi = signed_range(bits)
    if values.size and (values.min() < lo or values.max() > hi):
        raise ValueError(f"{name} outside the signed {bits}-bit range [{lo}, {hi}]")


def _pack(values: np.ndarray, bits: int) -> list[int]:
    """Concatenate the last axis of ``values`` (two's complement, ``bits`` each), element 0 at the LSB."""
    return pack_rows(values.reshape(-1, values.shape[-1]), bits)


def weight_words(cfg: Mvau, weights: np.ndarray) -> list[int]:
    """The weight ROM lines (see the module docstring). ``weights``: ``[MW, MH]``."""
    w = np.asarray(weights, dtype=np.int64)
    if w.shape != (cfg.mw, cfg.mh):
        raise ValueError(f"weights have shape {w.shape}, expected (MW, MH) = {(cfg.mw, cfg.mh)}")
    _check_range("weights", w, cfg.w_bits)
    # [sf, i, nf, p] -> [nf, sf, p, i]: one line per (nf, sf), fields ordered PE-major then lane.
    lines = w.reshape(cfg.sf, cfg.simd, cfg.nf, cfg.pe).transpose(2, 0, 3, 1)
    return _pack(lines.reshape(cfg.nf * cfg.sf, cfg.pe * cfg.simd), cfg.w_bits)


def threshold_stage_bits(cfg: Mvau, stage: int) -> int:
    """Bits per line of a stage's threshold memory: one entry for stage 0, pairs after it."""
    return cfg.acc_bits * (1 if stage == 0 else 2)


def threshold_stage_lines(cfg: Mvau, stage: int) -> int:
    """Lines of one unit's threshold memory of ``stage``."""
    keys = (cfg.nf * cfg.threshold_per_unit) << stage
    return keys if stage == 0 else keys // 2


def threshold_stage_in_block_ram(cfg: Mvau, stage: int) -> bool:
    """``mvau.v``'s rule: a stage's memory is block RAM above ``LOGIC_DEPTH`` thresholds (stage 0) or
    ``LOGIC_DEPTH / 2`` pairs (later stages), LUT RAM otherwise."""
    limit = THRESHOLD_LOGIC_DEPTH if stage == 0 else THRESHOLD_LOGIC_DEPTH // 2
    return threshold_stage_lines(cfg, stage) > limit


def threshold_stage_words(cfg: Mvau, thresholds: np.ndarray) -> list[list[list[int]]]:
    """The threshold memories' lines ``[stage][unit][line]`` (the module docstring's layout).
    ``thresholds``: ``[MH, 2^out_bits - 1]``.

    Key ``ch * 2^j + q`` of stage ``j`` selects, for unit ``u``'s channel ``ch = nf * T_PER + i``,
    ``T[nf * PE + u * T_PER + i, (q << (out_bits - j)) + 2^(out_bits - 1 - j) - 1]`` (``acc_bits`` bits, two's
    complement). Stage 0: one entry per line; stage ``j >= 1``: two, line ``r`` = ``{key 2r + 1, key 2r}``
    (the two thresholds the previous stage's decision picks from)."""
    if cfg.no_act:
        raise ValueError("an MVAU with no_act has no thresholds")
    t = np.asarray(thresholds, dtype=np.int64)
    if t.shape != (cfg.mh, cfg.n_thresholds):
        raise ValueError(f"thresholds have shape {t.shape}, expected (MH, 2^out_bits - 1) = "
                         f"{(cfg.mh, cfg.n_thresholds)}")
    _check_range("thresholds", t, cfg.acc_bits)
    if np.any(np.diff(t, axis=1) < 0):
        raise ValueError("thresholds must be sorted ascending per channel")
    b, units, per = cfg.out_bits, cfg.threshold_units, cfg.threshold_per_unit
    # [nf, u, i, k] -> [u, nf, i, k] -> [u, ch, k]
    per_unit = t.reshape(cfg.nf, units, per, cfg.n_thresholds).transpose(1, 0, 2, 3).reshape(
        units, cfg.nf * per, cfg.n_thresholds)
    stages = []
    for j in range(b):
        index = (np.arange(1 << j) << (b - j)) + (1 << (b - 1 - j)) - 1   # [2^j]
        keys = per_unit[:, :, index].reshape(units, threshold_stage_lines(cfg, j), 2 if j else 1)  # [u, line, entry]
        stages.append([_pack(keys[u], cfg.acc_bits) for u in range(units)])
    return stages


def memory_shapes(cfg: Mvau) -> list[tuple[int, int]]:
    """:func:`memories`' ``(width, lines)``, from the shape alone."""
    found = [(cfg.pe * cfg.simd * cfg.w_bits, cfg.nf * cfg.sf)]
    if not cfg.no_act:
        for j in range(cfg.out_bits):
            found += [(threshold_stage_bits(cfg, j), threshold_stage_lines(cfg, j))] * cfg.threshold_units
    return found


def memories(cfg: Mvau, weights: np.ndarray, thresholds: np.ndarray | None) -> list[Memory]:
    """The layer's memories in the kernel's load order: the weights, then stage ``j``, unit ``u`` of the
    thresholds (``j`` major)."""
    found: list[Memory] = [(cfg.pe * cfg.simd * cfg.w_bits, weight_words(cfg, weights))]
    if thresholds is not None:
        for j, per_unit in enumerate(threshold_stage_words(cfg, thresholds)):
            found += [(threshold_stage_bits(cfg, j), words) for words in per_unit]
    return found


def write_mem_files(out_dir: Path, cfg: Mvau, weights: np.ndarray,
                    thresholds: np.ndarray | None, stem: str = "mvau") -> list[Path]:
    """Write the layer's memories (:func:`memories`, in load order) as hex files ``<stem>_mem<k>.hex``
    under ``out_dir``, one line per memory line; returns their paths, memory ``k`` at index ``k``.
    ``thresholds`` must be ``None`` exactly when ``cfg.no_act``."""
    if (thresholds is None) != cfg.no_act:
        raise ValueError("pass thresholds for a thresholding MVAU and None for no_act")
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, (width, words) in enumerate(memories(cfg, weights, thresholds)):
        paths.append(out_dir / f"{stem}_mem{k}.hex")
        write_memh(paths[-1], words, width)
    return paths


def hls_weight_rom(cfg: Mvau, weights: np.ndarray) -> np.ndarray:
    """The HLS block's weight array ``[PE][NF*SF][SIMD]``: ``w[p][nf*SF + sf][i] = W[sf*SIMD + i][nf*PE + p]``."""
    w = np.asarray(weights)
    return w.reshape(cfg.sf, cfg.simd, cfg.nf, cfg.pe).transpose(3, 2, 0, 1).reshape(cfg.pe, cfg.nf * cfg.sf, cfg.simd)


def hls_threshold_rom(cfg: Mvau, thresholds: np.ndarray) -> np.ndarray:
    """The HLS block's threshold array ``[PE][NF][2^bits - 1]``: ``t[p][nf][k] = T[nf*PE + p][k]``."""
    t = np.asarray(thresholds)
    return t.reshape(cfg.nf, cfg.pe, t.shape[1]).transpose(1, 0, 2)


def hls_struct(cfg: Mvau) -> dict[str, int | bool]:
    """``Layer<i>P`` of ``hls_kernels/mvau``."""
    return {"MW": cfg.mw, "MH": cfg.mh, "SIMD": cfg.simd, "PE": cfg.pe, "IN_BITS": cfg.in_bits,
            "IN_SIGNED": bool(cfg.in_signed), "W_BITS": cfg.w_bits, "ACC_BITS": cfg.acc_bits,
            "OUT_BITS": cfg.out_bits, "OUT_BIAS": cfg.out_bias, "NO_ACT": False,
            "T_UNITS": cfg.threshold_units}


def pack_input(cfg: Mvau, x: np.ndarray) -> list[int]:
    """One input vector ``x [MW]`` as ``SF`` beats of ``SIMD * in_bits`` bits (element 0 at the LSB)."""
    return _pack(np.asarray(x, dtype=np.int64).reshape(cfg.sf, cfg.simd), cfg.in_bits)


def unpack_output(cfg: Mvau, beats: list[int]) -> np.ndarray:
    """``NF`` output beats back to ``y [MH]`` (signed when ``cfg.out_signed``)."""
    if len(beats) != cfg.nf:
        raise ValueError(f"{len(beats)} output beats, expected NF={cfg.nf}")
    bits = cfg.out_width
    mask = (1 << bits) - 1
    values = np.array([[(int(b) >> (p * bits)) & mask for p in range(cfg.pe)] for b in beats],
                      dtype=np.int64).reshape(cfg.mh)
    if cfg.out_signed:
        values = np.where(values >= 1 << (bits - 1), values - (1 << bits), values)
    return values
