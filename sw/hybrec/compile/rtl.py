"""The kernel's RTL: the hand-written blocks of ``hw/`` and a generated top (Jinja2, strict undefined names),
written into ``BUILD/rtl``. They are a function of the kernel's shape only: the trained model is a model image
the host loads at run time (docs/model-image.md). The one memory file left, the aggregation's reciprocal ROM
(a function of ``lmax``), is named relative to the top's ``MEM_DIR`` parameter (default ``"./"``: the tool's
working directory); simulators and synthesis pass the ``rtl`` folder's absolute path, ending in ``/``.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2

from hybrec.builddir import HW_DIR
from hybrec.compile.blocks import TOP, KernelPlan, LayerChoice
from hybrec.compile.config import KernelConfig
from hybrec.golden import KernelParams
from hybrec.protocol import shape_word

BLOCKS = ["hist_agg/hist_agg.v", "mvau/mvau.v", "mvau/mvau_dot.v", "scorer/scorer.v", "scorer/scorer_dot.v",
          "scorer/scorer_tree.v", "topk/topk.v", "stream/axis_serialize.v", "stream/axis_deserialize.v",
          "stream/fifo_sync.v", "stream/axis_register.v", "kernel/hist_mask.v", "kernel/kernel_ctrl.v"]


def plan_kernel(params: KernelParams, cfg: KernelConfig,
                folding: Sequence[tuple[int, int] | LayerChoice]) -> KernelPlan:
    """The kernel of ``params`` at ``cfg`` with a folding per MLP layer: a :class:`LayerChoice` is taken as it
    is; a ``(simd, pe)`` pair takes the rest of the layer's settings from ``cfg.layers`` when it lists the
    layer, else the blocks' defaults. Impossible values raise :class:`hybrec.compile.blocks.FoldingError`."""
    choices = []
    for index, entry in enumerate(folding):
        if isinstance(entry, LayerChoice):
            choices.append(entry)
        elif cfg.layers is not None and index < len(cfg.layers):
            layer = cfg.layers[index]
            choices.append(LayerChoice(entry[0], entry[1], layer.lut_mult, layer.dot_adds, layer.weight_rom))
        else:
            choices.append(LayerChoice(entry[0], entry[1]))
    return KernelPlan.for_model(
        params, choices, norm_par=cfg.hist_agg.norm_par, rom_groups=cfg.hist_agg.rom_groups, lanes=cfg.scorer.lanes,
        adds_per_stage=cfg.scorer.adds_per_stage, bit_planes=cfg.scorer.bit_planes, mul_lanes=cfg.scorer.mul_lanes,
        rom_group_bits=cfg.scorer.rom_group_bits, rom_out_reg=cfg.scorer.rom_out_reg,
        merge_split=cfg.topk.merge_split, mask_banks=cfg.mask_banks, ids_per_beat=cfg.ids_per_beat, k=cfg.k,
        n_items_max=cfg.n_items_max)


def _render(values: dict[str, Any]) -> str:
    env = jinja2.Environment(loader=jinja2.PackageLoader("hybrec.compile", "templates"),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
    return env.get_template("kernel_top.v.j2").render(**values)


def packed(values: list[int], bits: int) -> str:
    """A Verilog constant of ``values``, ``bits`` each, value ``m`` at ``[m*bits +: bits]``."""
    word = 0
    for index, value in enumerate(values):
        if not 0 <= value < 1 << bits:
            raise ValueError(f"{value} does not fit {bits} bits")
        word |= value << (index * bits)
    return f"{len(values) * bits}'h{word:x}"


def write_rtl(rtl_dir: Path, plan: KernelPlan, about: dict[str, Any]) -> dict[str, Any]:
    """Write the top, the blocks and the reciprocal ROM into ``rtl_dir``; return the parameters and the
    file lists."""
    rtl_dir.mkdir(parents=True, exist_ok=True)
    values = plan.parameters()
    bus = plan.load_bus()
    wpl = [-(-width // 32) for width, _ in bus.memories]
    wpl_bits = max(w.bit_length() for w in wpl)
    plan.hist_agg.write_recip(rtl_dir)
    key = plan.shape_key
    render = {**values, **about, "files": {"recip": "recip.hex"}, "ld": bus, "ld_wpl_bits": wpl_bits,
              "ld_mem_wpl": packed(wpl, wpl_bits),
              "ld_mem_lines": packed([depth for _, depth in bus.memories], bus.addr_bits + 1),
              "shape_key": key, "shape_word_hex": f"{shape_word(key):08x}"}
    (rtl_dir / f"{TOP}.v").write_text(_render(render))
    sources = []
    for block in BLOCKS:
        target = rtl_dir / Path(block).name
        shutil.copyfile(HW_DIR / block, target)
        sources.append(target.name)
    sources.append(f"{TOP}.v")
    return {"parameters": values, "sources": sources,
            "memory_files": sorted(p.name for p in rtl_dir.glob("*.hex"))}
