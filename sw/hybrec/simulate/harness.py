"""The fast full-catalogue check: the kernel Verilated into a C++ program (``sim/harness/kernel_harness.cpp``)
that drives both AXI-Stream ports itself, with random pauses, and compares every output word with the
golden model's. No Python runs per clock cycle. The first packet loads the build's model image (answered by
the status words of a complete load); the queries follow.

The program is built once per build directory (``BUILD/sim/harness``) and reused while the RTL is
unchanged; queries and expected words are handed over as text files.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from hybrec import tools
from hybrec.artifacts import atomic_write_json
from hybrec.builddir import SIM_DIR, BuildDir, BuildDirError, write_packet_files
from hybrec.simulate.runner import SimulationFailed

HARNESS = SIM_DIR / "harness" / "kernel_harness.cpp"
PAUSE_RNG = SIM_DIR / "harness" / "pause_rng.h"  # included by it: part of the rebuild key


def verilate(build: BuildDir, wrapper: Path, work: Path, cflags: str, extra: list[str], log: Any) -> float:
    """Verilator's ``--cc --exe --build`` of the build's kernel with a C++ ``wrapper`` into ``work/obj``
    (its output in ``work/verilator.log``); returns the seconds it took."""
    args = ["--cc", "--exe", "--build", "-O3", "--x-assign", "fast", "--x-initial", "fast", "-Wno-fatal", "-Wno-lint",
            "-Wno-style", "-Wno-UNOPTFLAT", "--top-module", build.kernel.top,
            f'-G{build.kernel.mem_dir_parameter}="{build.mem_dir_value()}"', "-Mdir", str(work / "obj"),
            "-CFLAGS", cflags, *extra, "-j", str(max(1, min(4, len(os.sched_getaffinity(0))))),
            *map(str, build.sources), str(wrapper)]
    log(f"verilating the kernel with {wrapper.name} (log {work / 'verilator.log'})")
    return tools.run(tools.VERILATOR, args, cwd=work, log_path=work / "verilator.log").seconds


def build_harness(build: BuildDir, log: Any = print) -> Path:
    """Verilate the kernel with the C++ driver; returns the executable (rebuilt only when sources change)."""
    ipb = build.kernel.interface.ids_per_beat
    digest = hashlib.sha256()
    for path in [*build.sources, HARNESS, PAUSE_RNG]:
        digest.update(path.read_bytes())
    digest.update(str(ipb).encode())
    work = build.sim_dir / "harness"
    exe = work / "obj" / f"V{build.kernel.top}"
    stamp = work / "sources.sha256"
    if exe.is_file() and stamp.is_file() and stamp.read_text() == digest.hexdigest():
        return exe
    work.mkdir(parents=True, exist_ok=True)
    seconds = verilate(build, HARNESS, work, f"-O2 -std=c++17 -DIDS_PER_BEAT={ipb}", [], log)
    stamp.write_text(digest.hexdigest())
    log(f"harness built in {seconds:.0f} s")
    return exe


def same_shape(build: BuildDir, others: list[Path]) -> list[BuildDir]:
    """The builds of ``others``, each refused unless it has ``build``'s shape (its model image then loads into
    ``build``'s kernel)."""
    found = []
    for path in others:
        other = BuildDir.open(path)
        if other.kernel.shape_key != build.kernel.shape_key:
            raise BuildDirError(f"{path} is a kernel of another shape ({other.kernel.shape_key[:16]}) than "
                                f"{build.path} ({build.kernel.shape_key[:16]}): its model image cannot load there")
        found.append(other)
    return found


def run_harness(build_dir: Path, users: int | None = None, source_pause: float = 0.3, sink_pause: float = 0.3,
                seed: int = 1, models: list[Path] | None = None, log: Any = print) -> dict[str, Any]:
    """Every (or ``users``) user queries + the corner cases through the C++ harness, after loading the
    build's model image; then, on the same kernel, each build of ``models`` (the same shape): its image loaded
    and its queries checked. Writes ``BUILD/sim/harness_report.json``. :class:`SimulationFailed` when the
    harness could not check the queries (then there is no mismatch count to report)."""
    build = BuildDir.open(build_dir)
    exe = build_harness(build, log)
    work = build.sim_dir / "harness"
    packets: list[str] = []
    expected: list[str] = []
    sections: list[dict[str, Any]] = []
    for model in [build, *same_shape(build, models or [])]:
        vectors = model.vectors()
        queries = vectors.select(users, seed)
        p_lines, e_lines = vectors.text_lines(queries, model.model_image())
        sections.append({"build": str(model.path), "build_id": model.build_id, "first_packet": len(packets),
                         "queries": queries,
                         "users": int(sum(1 for q in queries if vectors.user[q] >= 0))})
        packets += p_lines
        expected += e_lines
    q_file, e_file = write_packet_files(work, packets, expected)
    raw = work / "raw_report.json"
    raw.unlink(missing_ok=True)
    run = tools.run("the C++ harness", [], command=[str(exe), str(q_file), str(e_file), str(raw), str(seed),
                                                     str(source_pause), str(sink_pause)],
                    cwd=work, log_path=work / "run.log", accept=(0, 1))
    if not raw.is_file():  # Verilator's $readmem errors go to its output
        raise SimulationFailed(f"the harness wrote no report (exit {run.returncode}); its log: {run.log_path}\n"
                               f"{tools.tail(run.log_path, 40)}")
    report: dict[str, Any] = json.loads(raw.read_text())
    report.update({"build_id": build.build_id, "simulator": "verilator (C++ harness)",
                   "users": sections[0]["users"], "wall_seconds": round(run.seconds, 2),
                   "models": [{k: v for k, v in sec.items() if k != "queries"} for sec in sections],
                   "passed": run.returncode == 0, "log": str(run.log_path)})
    first = report["first_mismatch"]
    if first >= 0:
        sec = max((s for s in sections if s["first_packet"] <= first), key=lambda s: s["first_packet"])
        offset = first - sec["first_packet"]
        report["first_mismatch_query"] = (f"{sec['build']}: the model load" if offset == 0 else
                                          f"{sec['build']}: query {sec['queries'][offset - 1]}")
    atomic_write_json(build.sim_dir / "harness_report.json", report)
    return report
