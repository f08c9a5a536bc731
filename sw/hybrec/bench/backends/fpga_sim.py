"""The simulated FPGA: every query through the PYNQ driver (:class:`hybrec.driver.KernelDriver`) and the simulated
device around the kernel's RTL (Verilator, ``BUILD/sim/model/libkernel.so``), in the board-like environment
(``.venv-board``, a subprocess: :mod:`hybrec.bench.board_worker`). The build's model image is loaded first,
through the same DMA; its load time is reported in simulated cycles (and µs at the clock). Latency = simulated
cycles / the clock, plus the stated host model (:class:`hybrec.bench.fpga_timing.HostModel`), each term
reported on its own.

The library is an artifact of ``hybrec sim --shared-lib``; this backend never builds it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from hybrec import tools
from hybrec.bench.backends import Backend, Log, TopK, progress_bar, stats
from hybrec.bench.board_worker import write_queries
from hybrec.bench.fpga_timing import HostModel
from hybrec.bench.workload import Workload
from hybrec.builddir import REPO_ROOT


def board_python(path: Path | None) -> Path:
    return path or REPO_ROOT / ".venv-board" / "bin" / "python"


def run_worker(args: list[str], python: Path, total: int, description: str, progress: bool, log_path: Path,
               accept: tuple[int, ...] = (0,)) -> tools.Finished:
    """``python -m hybrec.bench.board_worker ARGS`` with ``sw/`` on its path; its ``progress DONE TOTAL`` lines
    drive a bar, its whole output goes to ``log_path``."""
    bar, task = progress_bar(total, description, progress)

    def on_line(line: str) -> None:
        parts = line.split()
        if len(parts) == 3 and parts[0] == "progress":
            bar.update(task, completed=int(parts[1]), total=int(parts[2]))

    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "sw")}
    with bar:
        return tools.run("the board-side benchmark worker", [], cwd=REPO_ROOT, log_path=log_path, env=env,
                         command=[str(python), "-m", "hybrec.bench.board_worker", *args], accept=accept,
                         on_line=on_line)


def read_results(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The worker's ``R.npz``: its arrays and its ``info``."""
    with np.load(path) as data:
        arrays = {key: data[key] for key in data.files}
    return arrays, json.loads(bytes(arrays.pop("info")).decode())


def run_sim(work: Workload, batches: list[int], clock: dict[str, Any], host: HostModel, python: Path | None,
            scratch: Path, progress: bool, log: Log) -> Backend:
    """Every query through the PYNQ driver and the simulated device (the Verilated kernel), in .venv-board."""
    python = board_python(python)
    if not python.is_file():
        return Backend("sim", "unavailable", reason=f"{python}: no board-like environment (numpy<2 + pynq) for the "
                                                    "driver; `make setup` builds .venv-board")
    lib, why = work.build.sim_model()
    if lib is None:
        return Backend("sim", "unavailable", reason=why)
    queries, results = scratch / "sim_queries.npz", scratch / "sim_results.npz"
    write_queries(queries, work.histories, work.excludes)
    extra = [b for b in batches if b != 1]
    log_path = work.build.log_dir / "hil_sim.log"
    try:
        run_worker(["sim", "--build", str(work.build.path), "--queries", str(queries), "--out", str(results),
                    "--batches", *map(str, extra)], python, work.n_queries * (1 + len(extra)),
                   "sim (driver + simulated device)", progress, log_path)
    except tools.ToolFailed as err:
        return Backend("sim", "failed", reason=str(err))
    arrays, info = read_results(results)
    cycles = arrays["latency_cycles"].astype(np.int64)
    regs = info["registers_per_query"]
    data: dict[str, Any] = {
        "machine": {"simulator": "Verilator (hybrec.driver.simdevice + simmodel, the kernel's RTL as a library)",
                    "driver": "hybrec.driver.KernelDriver (pynq 4.0 API, .venv-board)", "host": info.get("host"),
                    "python": info.get("python"), "numpy": info.get("numpy")},
        "clock": clock, "cycles": stats(cycles), "cycles_per_query": cycles.tolist(),
        "history_lengths": [int(h.size) for h in work.histories],
        "registers_per_query": regs, "host_model": host.terms(regs["writes"] + regs["reads"]),
        "simulation_seconds": info.get("seconds"), "batches": {}, "log": str(log_path),
        "load": dict(info["load"])}
    f = clock.get("mhz")
    if f:
        data["load"]["us"] = info["load"]["cycles"] / f
        data["kernel_us"] = stats(cycles / f)
        data["total_us"] = stats(cycles / f + data["host_model"]["total_us"])
    for batch in extra:
        chunk = arrays[f"batch{batch}_cycles"].astype(np.int64)
        sizes = arrays[f"batch{batch}_queries"].astype(np.int64)
        keep = sizes == batch if (sizes == batch).any() else sizes > 0  # full batches when there are any
        per_query = float(np.median(chunk[keep] / sizes[keep]))
        row: dict[str, Any] = {"cycles_per_batch": stats(chunk[keep]), "queries_per_batch": int(sizes[keep].max()),
                               "cycles_per_query": per_query, **info["batches"][str(batch)]}
        if f:
            row["batch_us_p50"] = float(np.median(chunk[keep])) / f + data["host_model"]["total_us"]
            row["queries_per_s"] = 1e6 / (per_query / f + data["host_model"]["total_us"] / sizes[keep].max())
        data["batches"][str(batch)] = row
    log(f"sim: model image of {info['load']['words']} words loaded in {info['load']['cycles']} cycles; "
        f"{work.n_queries} queries, cycles p50 {np.median(cycles):.0f} (min {cycles.min()}, max {cycles.max()}); "
        f"{info.get('seconds')} s of simulation")
    lists = TopK(arrays["ids"].astype(np.int64), arrays["scores"].astype(np.int64))
    return Backend("sim", "ok", lists=lists, data=data)
