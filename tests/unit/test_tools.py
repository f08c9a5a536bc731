"""The one tool runner: output into its log (and to the terminal only with -v), a failure that names the
log and shows its end, timeouts and stop events that end the tool, a missing tool that names its install step;
and the one device table."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

from hybrec import devices, tools
from hybrec.errors import HybrecError

PY = sys.executable


def test_output_goes_to_the_log_not_the_terminal(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    lines: list[str] = []
    done = tools.run("printer", [], command=[PY, "-c", "print('one'); print('two')"], cwd=tmp_path,
                     log_path=tmp_path / "logs" / "printer.log", on_line=lines.append)
    assert done.returncode == 0 and done.text().split() == ["one", "two"] and lines == ["one", "two"]
    assert done.log_path.read_text().startswith("$ ")          # the command line heads the log
    assert capfd.readouterr() == ("", "")


def test_echo_copies_the_output_to_the_terminal(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    token = tools.ECHO.set(True)
    try:
        tools.run("printer", [], command=[PY, "-c", "print('shown')"], cwd=tmp_path, log_path=tmp_path / "p.log")
    finally:
        tools.ECHO.reset(token)
    assert "shown" in capfd.readouterr().err


def test_a_failure_names_the_log_and_shows_its_end(tmp_path: Path) -> None:
    script = "import sys\nfor i in range(300): print(f'line {i}')\nsys.exit(3)"
    with pytest.raises(tools.ToolFailed) as info:
        tools.run("counter", [], command=[PY, "-c", script], cwd=tmp_path, log_path=tmp_path / "c.log")
    message = str(info.value)
    assert isinstance(info.value, HybrecError) and info.value.returncode == 3
    assert "counter failed (exit 3)" in message and str(tmp_path / "c.log") in message
    assert "line 299" in message and "line 50\n" not in message and "earlier lines in" in message
    assert tools.run("counter", [], command=[PY, "-c", script], cwd=tmp_path, log_path=tmp_path / "c.log",
                     accept=(0, 3)).returncode == 3


def test_a_timeout_and_a_stop_end_the_tool(tmp_path: Path) -> None:
    sleeper = [PY, "-c", "import time; print('up', flush=True); time.sleep(60)"]
    started = time.perf_counter()
    with pytest.raises(tools.ToolFailed, match="did not finish in 1 s"):
        tools.run("sleeper", [], command=sleeper, cwd=tmp_path, log_path=tmp_path / "s.log", timeout_s=1)
    stop = threading.Event()
    threading.Timer(1.0, stop.set).start()
    with pytest.raises(tools.ToolStopped) as info:
        tools.run("sleeper", [], command=sleeper, cwd=tmp_path, log_path=tmp_path / "s.log", stop=stop)
    assert 0.9 < info.value.seconds < 10 and time.perf_counter() - started < 30
    assert "up" in (tmp_path / "s.log").read_text()
    # a stop event that is never set is harmless
    assert tools.run("quick", [], command=[PY, "-c", "pass"], cwd=tmp_path, log_path=tmp_path / "q.log",
                     stop=threading.Event()).seconds < 30


def test_a_missing_tool_names_its_install_step(tmp_path: Path) -> None:
    absent = tools.Tool("Frobnicator", ("hybrec-no-such-tool",), "pip install frobnicator")
    assert not tools.available(absent)
    with pytest.raises(tools.ToolMissing, match="Frobnicator is not installed: pip install frobnicator"):
        tools.run(absent, ["--version"], cwd=tmp_path, log_path=tmp_path / "f.log")
    assert not (tmp_path / "f.log").exists()


def test_the_installed_tools_are_found() -> None:
    for tool in (tools.YOSYS, tools.NEXTPNR_ECP5, tools.ECPPACK, tools.VERILATOR, tools.GXX):
        assert Path(tools.locate(tool)[0]).is_file(), tool.name
    assert tools.version(tools.YOSYS) not in ("unknown", "not installed")
    assert "verilator" in tools.environment(tools.VERILATOR)["PATH"]


def test_the_device_table() -> None:
    ecp5, zynq = devices.device("ecp5-85k"), devices.device("xc7z020")
    assert ecp5.capacity["MULT18X18D"] == ecp5.multipliers == 156 and ecp5.nextpnr == ("--85k", "CABGA381")
    assert zynq.part == "xc7z020clg400-1" and zynq.bram_bits == 140 * 36 * 1024
    assert devices.by_board("pynq-z2") is zynq and devices.by_board("ulx3s") is ecp5
    with pytest.raises(devices.UnknownDevice, match="knows ecp5-85k, xc7z020"):
        devices.device("xc7a35t")
