"""The fast full-catalogue check: the kernel Verilated into a C++ program (``sim/harness/kernel_harness.cpp``)
that drives both AXI-Stream ports itself, with random pauses, and compares every output word with the
golden model's. No Python runs per clock cycle.

The program is built once per build directory (``BUILD/sim/harness``) and reused while the RTL is
unchanged; queries and expected words are handed over as text files.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from hybrec.artifacts import atomic_write_json
from hybrec.compile.vectors import ids_per_beat
from hybrec.simulate.runner import SIM_DIR, simulator_env

HARNESS = SIM_DIR / "harness" / "kernel_harness.cpp"
PAUSE_RNG = SIM_DIR / "harness" / "pause_rng.h"  # included by it: part of the rebuild key


def build_harness(build_dir: Path, manifest: dict[str, Any], log: Any = print) -> Path:
    """Verilate the kernel with the C++ driver; returns the executable (rebuilt only when sources change)."""
    sources = [build_dir / s for s in manifest["kernel"]["sources"]]
    digest = hashlib.sha256()
    for path in [*sources, HARNESS, PAUSE_RNG]:
        digest.update(path.read_bytes())
    digest.update(str(ids_per_beat(manifest)).encode())
    work = build_dir / "sim" / "harness"
    exe = work / "obj" / "Vhybrec_kernel"
    stamp = work / "sources.sha256"
    if exe.is_file() and stamp.is_file() and stamp.read_text() == digest.hexdigest():
        return exe
    work.mkdir(parents=True, exist_ok=True)
    mem_dir = f'"{(build_dir / "rtl").resolve()}/"'
    cmd = ["verilator", "--cc", "--exe", "--build", "-O3", "--x-assign", "fast", "--x-initial", "fast",
           "-Wno-fatal", "-Wno-lint", "-Wno-style", "-Wno-UNOPTFLAT", "--top-module", manifest["kernel"]["top"],
           f"-GMEM_DIR={mem_dir}", "-Mdir", str(work / "obj"),
           "-CFLAGS", f"-O2 -std=c++17 -DIDS_PER_BEAT={ids_per_beat(manifest)}",
           "-j", str(max(1, min(4, os.cpu_count() or 1))), *map(str, sources), str(HARNESS)]
    log(f"building the C++ harness ({len(sources)} sources) ...")
    started = time.perf_counter()
    with simulator_env("verilator"):
        result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"building the harness failed:\n{result.stderr[-3000:]}")
    stamp.write_text(digest.hexdigest())
    log(f"harness built in {time.perf_counter() - started:.0f} s")
    return exe


def run_harness(build_dir: Path, users: int | None = None, source_pause: float = 0.3, sink_pause: float = 0.3,
                seed: int = 1, log: Any = print) -> dict[str, Any]:
    """Every (or ``users``) user queries + the corner cases through the C++ harness; writes
    ``BUILD/sim/harness_report.json``."""
    from hybrec.compile.build import read_manifest
    from hybrec.compile.vectors import load_vectors, select_queries, write_text_vectors

    build_dir = build_dir.resolve()
    manifest = read_manifest(build_dir)
    vectors = load_vectors(build_dir / manifest["vectors"]["file"])
    queries = select_queries(vectors, users, seed)
    exe = build_harness(build_dir, manifest, log)
    work = build_dir / "sim" / "harness"
    q_file, e_file = write_text_vectors(work, vectors, queries)
    raw = work / "raw_report.json"
    raw.unlink(missing_ok=True)
    started = time.perf_counter()
    result = subprocess.run([str(exe), str(q_file), str(e_file), str(raw), str(seed), str(source_pause),
                             str(sink_pause)], capture_output=True, text=True)
    wall = time.perf_counter() - started
    if not raw.is_file():
        raise RuntimeError(f"the harness wrote no report (exit {result.returncode}): "
                           f"{(result.stdout + result.stderr)[-2000:]}")  # Verilator's $readmem errors go to stdout
    report: dict[str, Any] = json.loads(raw.read_text())
    report.update({"build_id": manifest["build_id"], "simulator": "verilator (C++ harness)",
                   "users": int(sum(1 for q in queries if vectors["user"][q] >= 0)), "wall_seconds": round(wall, 2),
                   "passed": result.returncode == 0})
    if report["first_mismatch"] >= 0:
        report["first_mismatch_query"] = queries[report["first_mismatch"]]
    atomic_write_json(build_dir / "sim" / "harness_report.json", report)
    return report
