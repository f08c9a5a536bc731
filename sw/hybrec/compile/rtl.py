"""The kernel's RTL: the hand-written blocks of ``hw/``, a generated top (Jinja2, strict undefined names)
and the memory files, written into ``BUILD/rtl``.

The top's memory files are named relative to its ``MEM_DIR`` parameter (default ``"./"``: the tool's
working directory); simulators and synthesis pass the ``rtl`` folder's absolute path, ending in ``/``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import jinja2

from hybrec.builddir import HW_DIR
from hybrec.compile.blocks import TOP, KernelPlan, LayerChoice
from hybrec.compile.config import KernelConfig
from hybrec.golden import KernelParams

BLOCKS = ["hist_agg/hist_agg.v", "mvau/mvau.v", "mvau/mvau_dot.v", "scorer/scorer.v", "scorer/scorer_dot.v",
          "scorer/scorer_tree.v", "topk/topk.v", "stream/axis_serialize.v", "stream/axis_deserialize.v",
          "stream/fifo_sync.v", "kernel/hist_mask.v"]


def plan_kernel(params: KernelParams, cfg: KernelConfig, folding: list[tuple[int, int]]) -> KernelPlan:
    """The kernel of ``params`` at ``cfg`` with a ``[(simd, pe), ...]`` folding (checked: impossible values
    raise :class:`hybrec.compile.blocks.FoldingError`)."""
    choices = []
    for index, (simd, pe) in enumerate(folding):
        if cfg.layers is not None and index < len(cfg.layers):
            layer = cfg.layers[index]
            choices.append(LayerChoice(simd, pe, layer.lut_mult, layer.dot_adds, layer.weight_rom))
        else:   # a folding found for target_cycles: the blocks' defaults
            choices.append(LayerChoice(simd, pe))
    return KernelPlan.for_model(
        params, choices, norm_par=cfg.hist_agg.norm_par, rom_groups=cfg.hist_agg.rom_groups, lanes=cfg.scorer.lanes,
        adds_per_stage=cfg.scorer.adds_per_stage, bit_planes=cfg.scorer.bit_planes, mul_lanes=cfg.scorer.mul_lanes,
        rom_group_bits=cfg.scorer.rom_group_bits, rom_out_reg=cfg.scorer.rom_out_reg,
        merge_split=cfg.topk.merge_split, mask_banks=cfg.mask_banks, ids_per_beat=cfg.ids_per_beat, k=cfg.k)


def _render(values: dict[str, Any]) -> str:
    env = jinja2.Environment(loader=jinja2.PackageLoader("hybrec.compile", "templates"),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
    return env.get_template("kernel_top.v.j2").render(**values)


def write_rtl(rtl_dir: Path, params: KernelParams, plan: KernelPlan, about: dict[str, Any]) -> dict[str, Any]:
    """Write the top, the blocks and the memory files into ``rtl_dir``; return the parameters (with the file
    names the top uses) and the file lists."""
    rtl_dir.mkdir(parents=True, exist_ok=True)
    values = plan.parameters()
    files = plan.write_memory(rtl_dir, params)
    for layer, names in zip(values["layers"], files.pop("layers"), strict=True):
        layer.update(names)
    values["files"] = files
    (rtl_dir / f"{TOP}.v").write_text(_render({**values, **about}))
    sources = []
    for block in BLOCKS:
        target = rtl_dir / Path(block).name
        shutil.copyfile(HW_DIR / block, target)
        sources.append(target.name)
    sources.append(f"{TOP}.v")
    return {"parameters": values, "sources": sources,
            "memory_files": sorted(p.name for p in rtl_dir.glob("*.hex"))}
