"""The kernel's RTL: the hand-written blocks of ``hw/``, a generated top (Jinja2, strict undefined names)
and the ROM files, written into ``BUILD/rtl``.

The top's memory files are named relative to its ``MEM_DIR`` parameter (default ``"./"``: the tool's
working directory); simulators and synthesis pass the ``rtl`` folder's absolute path, ending in ``/``.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

import jinja2

from hybrec.compile import memfiles
from hybrec.compile.config import KernelConfig
from hybrec.compile.mvau_mem import (
    MvauConfig,
    threshold_file_suffix,
    threshold_stage_bits,
    threshold_stage_words,
    weight_words,
)
from hybrec.export.golden import KernelParams

HW_DIR = Path(__file__).resolve().parents[3] / "hw"
TOP = "hybrec_kernel"
ID_WIDTH = 16      # one item id on s_axis (uint16); s_axis_tdata carries ids_per_beat of them
OUT_WIDTH = 64     # m_axis_tdata: score int32 | id uint16 | flags 3 | valid 1
BLOCKS = ["hist_agg/hist_agg.v", "mvau/mvau.v", "mvau/mvau_dot.v", "scorer/scorer.v", "scorer/scorer_dot.v",
          "scorer/scorer_tree.v", "topk/topk.v", "stream/axis_serialize.v", "stream/axis_deserialize.v",
          "stream/fifo_sync.v", "kernel/hist_mask.v"]


class FoldingError(ValueError):
    """An impossible folding or block parameter; the message says which and why."""


def plan_layers(params: KernelParams, folding: list[tuple[int, int]],
                lut_mult: list[bool] | None = None, dot_adds: list[int] | None = None,
                weight_rom: list[str] | None = None) -> list[MvauConfig]:
    """Check a ``[(simd, pe), ...]`` folding against the model; raise :class:`FoldingError` if impossible.
    ``lut_mult[l]``: layer ``l`` builds its products in the fabric (default: DSP blocks);
    ``dot_adds[l]``: adder levels per pipeline stage of its dot products (default 2);
    ``weight_rom[l]``: its weight ROM in ``"logic"``, ``"block"`` RAM or ``"auto"`` (the default)."""
    lut_mult = lut_mult or [False] * len(folding)
    dot_adds = dot_adds or [2] * len(folding)
    weight_rom = weight_rom or ["auto"] * len(folding)
    if len(folding) != len(params.layers):
        raise FoldingError(f"the folding lists {len(folding)} layers, the model has {len(params.layers)}")
    plans = []
    for index, ((simd, pe), spec) in enumerate(zip(folding, params.layers, strict=True)):
        if simd < 1 or pe < 1:
            raise FoldingError(f"layer {index}: SIMD={simd} and PE={pe} must be >= 1")
        if spec.mw % simd:
            raise FoldingError(f"layer {index}: impossible folding, MW={spec.mw} is not a multiple of SIMD={simd}")
        if spec.mh % pe:
            raise FoldingError(f"layer {index}: impossible folding, MH={spec.mh} is not a multiple of PE={pe}")
        if spec.out_bits > 8:
            raise FoldingError(f"layer {index}: {spec.out_bits}-bit activations; the MVAU's thresholds support 1..8")
        plans.append(MvauConfig(mw=spec.mw, mh=spec.mh, simd=simd, pe=pe, in_bits=spec.in_bits,
                               in_signed=spec.in_signed, w_bits=spec.w_bits, acc_bits=spec.acc_bits,
                               out_bits=spec.out_bits, out_bias=spec.out_bias, lut_mult=lut_mult[index],
                               dot_adds=dot_adds[index], weight_rom=weight_rom[index],
                               x_group=max(1, X_GROUP_WEIGHT_BITS // (simd * spec.w_bits))))
    for index in range(1, len(plans)):
        if plans[index - 1].pe != plans[index].simd:
            raise FoldingError(f"layers {index - 1} and {index}: PE={plans[index - 1].pe} must equal the next "
                               f"layer's SIMD={plans[index].simd} (the kernel has no width converter between MVAUs)")
    return plans


# about this many weight-register bits per copy of an MVAU's step enable and input register (X_GROUP PEs
# of SIMD * W_BITS bits each): MVAU 0 (SIMD 4) gets a copy per 2 PEs, MVAU 1 (SIMD 32) one per PE; its
# single enable into 640 flip-flops was an 8.9 ns net on the ECP5, with a copy per 8 PEs the input
# register into MVAU 0's fabric multipliers was still a 5.2 ns net, and with one per 4 PEs 4.8 ns (-0.12)
X_GROUP_WEIGHT_BITS = 32


def block_parameters(params: KernelParams, plans: list[MvauConfig], cfg: KernelConfig) -> dict[str, Any]:
    """Every value the top template needs (and the manifest records)."""
    n, f, d = params.n_items, params.feature_dim, params.out_dim
    if n >= 1 << ID_WIDTH:
        raise FoldingError(f"{n} items: ids must fit the {ID_WIDTH}-bit input")
    if f % cfg.hist_agg.norm_par:
        raise FoldingError(f"hist_agg: F={f} is not a multiple of norm_par={cfg.hist_agg.norm_par}")
    if f % cfg.hist_agg.rom_groups:
        raise FoldingError(f"hist_agg: F={f} is not a multiple of rom_groups={cfg.hist_agg.rom_groups}")
    if cfg.scorer.mul_lanes > cfg.scorer.lanes:
        raise FoldingError(f"scorer: mul_lanes={cfg.scorer.mul_lanes} is more than lanes={cfg.scorer.lanes}")
    row_bits = cfg.scorer.lanes * d * params.item_bits
    if cfg.scorer.rom_group_bits and -(-row_bits // cfg.scorer.rom_group_bits) > 100:
        raise FoldingError(f"scorer: rom_group_bits={cfg.scorer.rom_group_bits} cuts the {row_bits}-bit item rows "
                           "into more than 100 groups")
    if cfg.mask_banks & (cfg.mask_banks - 1):
        raise FoldingError(f"mask_banks={cfg.mask_banks} must be a power of two")
    if not params.exclude_history:
        raise FoldingError("the kernel always excludes the query's history from its top-K")
    if cfg.k > n:
        raise FoldingError(f"k={cfg.k} exceeds the {n} items")
    user_bits, user_signed = params.user_bits, params.user_signed
    score_bits = user_bits + params.item_bits + (0 if user_signed else 1) + max(1, (d - 1).bit_length())
    if score_bits > 32:
        raise FoldingError(f"scores need {score_bits} bits; the output word holds 32")
    return {
        "top": TOP, "n_items": n, "feature_dim": f, "feature_bits": params.feature_bits, "lmax": params.lmax,
        "agg_shift": params.agg_shift, "norm_par": cfg.hist_agg.norm_par,
        "rom_groups": cfg.hist_agg.rom_groups,
        "id_bits": max(1, n.bit_length()),  # 2^id_bits > n: the all-ones id is out of range
        "layers": [{**asdict(p), "sf": p.sf, "nf": p.nf, "pipeline_depth": p.pipeline_depth,
                    "wlogic_depth": p.parameters()["WLOGIC_DEPTH"]} for p in plans],
        "out_dim": d, "user_bits": user_bits, "user_signed": user_signed, "item_bits": params.item_bits,
        "lanes": cfg.scorer.lanes, "adds_per_stage": cfg.scorer.adds_per_stage,
        "bit_planes": cfg.scorer.bit_planes, "mul_lanes": cfg.scorer.mul_lanes,
        "item_rom_group_bits": cfg.scorer.rom_group_bits, "item_rom_out_reg": cfg.scorer.rom_out_reg,
        "score_bits": score_bits, "k": cfg.k,
        "merge_split": cfg.topk.merge_split, "mask_banks": cfg.mask_banks, "ids_per_beat": cfg.ids_per_beat,
        "flags_depth": max(8, 1 << (cfg.mask_banks + 4).bit_length()),
    }


def _render(values: dict[str, Any]) -> str:
    env = jinja2.Environment(loader=jinja2.PackageLoader("hybrec.compile", "templates"),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
    return env.get_template("kernel_top.v.j2").render(**values)


def write_rtl(rtl_dir: Path, params: KernelParams, plans: list[MvauConfig], cfg: KernelConfig,
              about: dict[str, Any]) -> dict[str, Any]:
    """Write the top, the blocks and the ROM files into ``rtl_dir``; return the parameters and file list."""
    rtl_dir.mkdir(parents=True, exist_ok=True)
    values = block_parameters(params, plans, cfg)
    memfiles.write_feature_rom(rtl_dir / "features", params.features, params.feature_bits, cfg.hist_agg.rom_groups)
    memfiles.write_recip_rom(rtl_dir / "recip.hex", params.lmax, params.agg_shift)
    memfiles.write_item_rom(rtl_dir / "items", params.items, params.item_bits, cfg.scorer.lanes,
                            cfg.scorer.rom_group_bits)
    for index, (plan, w, t) in enumerate(zip(plans, params.weights, params.thresholds, strict=True)):
        memfiles.write_memh(rtl_dir / f"mvau{index}_weights.hex", weight_words(plan, w),
                            plan.pe * plan.simd * plan.w_bits)
        for j, per_pe in enumerate(threshold_stage_words(plan, t)):
            for pe, words in enumerate(per_pe):
                memfiles.write_memh(rtl_dir / f"mvau{index}_thresh_s{threshold_file_suffix(j, pe)}", words,
                                    threshold_stage_bits(plan, j))
        values["layers"][index].update(weight_file=f"mvau{index}_weights.hex", thresh_prefix=f"mvau{index}_thresh_s")
    values["files"] = {"features": "features", "recip": "recip.hex", "item_rom": "items"}
    text = _render({**values, **about})
    (rtl_dir / f"{TOP}.v").write_text(text)
    sources = []
    for block in BLOCKS:
        target = rtl_dir / Path(block).name
        shutil.copyfile(HW_DIR / block, target)
        sources.append(target.name)
    sources.append(f"{TOP}.v")
    values["sources"] = sources
    values["memory_files"] = sorted(p.name for p in rtl_dir.glob("*.hex"))
    return values

