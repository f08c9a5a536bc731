"""The same driver on a real PYNQ board: its measured wall clock (:mod:`hybrec.bench.board_worker` runs there).
Off a board it says so; the results of a run on a board can be brought here as its ``R.npz``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hybrec import tools
from hybrec.bench.backends import Backend, Log, TopK, stats
from hybrec.bench.backends.fpga_sim import board_python, read_results, run_worker
from hybrec.bench.board_worker import EXIT_NOT_A_BOARD, NOT_A_BOARD, write_queries
from hybrec.bench.workload import HilError, Workload


def run_pynq(work: Workload, batches: list[int], results_path: Path | None, bitfile: Path | None,
             bitstream_manifest: Path | None, python: Path | None, scratch: Path, progress: bool,
             log: Log) -> Backend:
    """The board run's answers and wall clock (``results_path``, or a run here when this is a board)."""
    if results_path is None:
        if bitfile is None or bitstream_manifest is None:
            return Backend("pynq", "unavailable", reason=(
                "no PYNQ board run: this needs a PYNQ-Z2 bitstream of this build (hybrec bitstream --target pynq-z2, "
                "which needs Vivado) and a board. On the board: python -m hybrec.bench.board_worker pynq --bitfile "
                "hybrec.bit --bitstream-manifest M.json --build-manifest BUILD/manifest.json --image "
                "BUILD/model/model.img --queries Q.npz --out R.npz (Q.npz: hybrec hil --prepare-board DIR), then "
                "hybrec hil --pynq-results R.npz"))
        queries, results_path = scratch / "pynq_queries.npz", scratch / "pynq_results.npz"
        write_queries(queries, work.histories, work.excludes)
        extra = [b for b in batches if b != 1]
        log_path = work.build.log_dir / "hil_pynq.log"
        try:
            run = run_worker(["pynq", "--bitfile", str(bitfile), "--bitstream-manifest", str(bitstream_manifest),
                              "--build-manifest", str(work.build.manifest_path), "--image", str(work.build.image_path),
                              "--queries", str(queries),
                              "--out", str(results_path), "--batches", *map(str, extra)], board_python(python),
                             work.n_queries * (1 + len(extra)), "pynq (board)", progress, log_path,
                             accept=(0, EXIT_NOT_A_BOARD))
        except tools.ToolFailed as err:
            return Backend("pynq", "failed", reason=str(err))
        if run.returncode == EXIT_NOT_A_BOARD:  # the worker's own message (pynq's warnings before it are left out)
            said = [line for line in run.text().splitlines() if line.startswith(NOT_A_BOARD)]
            return Backend("pynq", "unavailable", reason=(said or [f"not a PYNQ board (see {log_path})"])[-1])
    arrays, info = read_results(results_path)
    if arrays["ids"].shape[0] != work.n_queries:
        raise HilError(f"{results_path}: {arrays['ids'].shape[0]} answers for {work.n_queries} queries")
    latency_us = arrays["latency_s"] * 1e6
    data: dict[str, Any] = {"machine": {k: info.get(k) for k in ("device", "host", "platform", "pynq", "python")},
                            "latency_us": stats(latency_us), "batches": {}, "source": str(results_path)}
    if "load" in info:
        data["load"] = {**info["load"], "us": info["load"]["seconds"] * 1e6}
    for key, value in arrays.items():
        if key.startswith("batch") and key.endswith("_s"):
            batch = int(key[5:-2])
            data["batches"][str(batch)] = {"batch_us_p50": float(np.median(value) * 1e6),
                                           "queries_per_s": batch / float(np.median(value)),
                                           **info["batches"][str(batch)]}
    log(f"pynq: {work.n_queries} queries, wall clock p50 {np.median(latency_us):.1f} us")
    return Backend("pynq", "ok", lists=TopK(arrays["ids"].astype(np.int64), arrays["scores"].astype(np.int64)),
                   data=data)
