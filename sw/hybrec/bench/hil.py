"""The hardware-in-the-loop benchmark (``hybrec hil``): the same queries through every backend, the same answers
required, latency and throughput measured where they can be and modelled only where stated.

It consumes artifacts and builds nothing: a build directory (``hybrec compile``), its simulation library
(``hybrec sim --shared-lib``), a bitstream manifest (``hybrec bitstream``) for the clock and the GPU machine's
JSON (``scripts/device_hil_gpu.sh``), the last two named explicitly. The parts: :mod:`.workload` (the queries
and what they should find), :mod:`.backends` (golden, CPU, GPU, simulated FPGA, PYNQ board), :mod:`.fpga_timing`
(cycles to time, the catalogue model, the comparisons) and :mod:`.report` (``hil.md`` and the plots).

Results go to ``OUT``: ``hil.json``, ``hil.md``, the plots, ``topk_golden.tsv`` (user id, rank, item id, score;
the dataset's own ids) and ``topk_<backend>.tsv`` for a backend whose lists differ from the golden model's
(the report says which backends' lists equal it), each written atomically.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hybrec import __version__
from hybrec.artifacts import atomic_write_text, compact_json
from hybrec.bench.backends import Backend, Log, stats
from hybrec.bench.backends.fpga_sim import run_sim
from hybrec.bench.backends.golden import golden_lists
from hybrec.bench.backends.pynq_board import run_pynq
from hybrec.bench.fpga_timing import (
    PAPER,
    PYNQ_DDR_GBS,
    HostModel,
    bar_10x,
    catalogue_model,
    fpga_clock,
    throughput_table,
)
from hybrec.bench.report import render_markdown, write_plots
from hybrec.bench.workload import HilError, list_metrics, load_workload, protocol_check, write_topk_tsv

FORMAT = "hybrec-hil/1"
BACKENDS = ("cpu", "gpu", "sim", "pynq")
__all__ = ["BACKENDS", "HilError", "HilOptions", "HostModel", "run_hil"]


@dataclass
class HilOptions:
    backends: tuple[str, ...] = BACKENDS
    cpu_batches: tuple[int, ...] = (1, 16, 256)
    cpu_min_calls: int = 50
    cpu_threads: int = 1
    fpga_batches: tuple[int, ...] = (1, 16, 256)
    gpu_json: Path | None = None          # a hil_gpu.json of the GPU machine
    bitstream: Path | None = None         # a bitstream manifest (or its folder) of this kernel: the clock
    clock_mhz: float | None = None        # without a bitstream: a clock to assume (labelled so)
    host: HostModel = field(default_factory=HostModel)
    ddr_gbs: float = PYNQ_DDR_GBS
    board_python: Path | None = None
    pynq_results: Path | None = None
    bitfile: Path | None = None
    bitstream_manifest: Path | None = None
    users: int | None = None
    run_dir: Path | None = None
    progress: bool = True
    plots: bool = True


def _run_backends(work: Any, options: HilOptions, log: Log) -> dict[str, Backend]:
    """Each asked-for backend, in order; the heavy ones are imported only when asked for."""
    backends: dict[str, Backend] = {}
    clock = fpga_clock(work, options.bitstream, options.clock_mhz)
    with tempfile.TemporaryDirectory(prefix="hybrec-hil-") as tmp:
        scratch = Path(tmp)
        if "cpu" in options.backends:
            from hybrec.bench.backends.cpu import run_cpu  # lazy: torch

            backends["cpu"] = run_cpu(work, list(options.cpu_batches), options.cpu_min_calls, options.cpu_threads,
                                      options.progress, log)
        if "gpu" in options.backends:
            from hybrec.bench.backends.gpu import read_gpu  # lazy: torch (the GPU script's format)

            backends["gpu"] = read_gpu(work, options.gpu_json)
        if "sim" in options.backends:
            backends["sim"] = run_sim(work, list(options.fpga_batches), clock, options.host, options.board_python,
                                      scratch, options.progress, log)
        if "pynq" in options.backends:
            backends["pynq"] = run_pynq(work, list(options.fpga_batches), options.pynq_results, options.bitfile,
                                        options.bitstream_manifest, options.board_python, scratch, options.progress,
                                        log)
    return backends


def served_vs_protocol(quality: dict[str, Any], pc: dict[str, Any]) -> dict[str, Any]:
    """Each backend's served NDCG@K (its own lists, with the exclusion lists; the kernel's K) beside the evaluation
    protocol's NDCG@K of the same integer scores and the training run's ``metrics.json`` (when the run was
    evaluated at the same K; else why not): equal, or not."""
    out: dict[str, Any] = {"protocol_ndcg": pc["ndcg"], "run_metrics_ndcg": pc.get("run_metrics_ndcg"),
                           "backends": {}}
    if pc.get("run_metrics_not_compared"):
        out["run_metrics_not_compared"] = pc["run_metrics_not_compared"]
    for name, m in quality.items():
        row = {"served_ndcg": m["ndcg"], "equal_to_protocol": abs(m["ndcg"] - pc["ndcg"]) < 1e-12}
        if pc.get("run_metrics_ndcg") is not None:
            row["equal_to_run_metrics"] = abs(m["ndcg"] - pc["run_metrics_ndcg"]) < 1e-12
        out["backends"][name] = row
    return out


def model_load(backends: dict[str, Backend]) -> dict[str, Any]:
    """How the model image reached the FPGA: per FPGA backend its size and load time (sim: simulated cycles,
    and µs at the clock; pynq: the host's wall clock)."""
    return {name: b.data["load"] for name, b in backends.items() if name in ("sim", "pynq") and "load" in b.data}


def run_hil(build_dir: Path, out_dir: Path, cache_dir: Path, options: HilOptions, log: Log = print) -> dict[str, Any]:
    """Run the benchmark and write the report into ``out_dir``; returns ``hil.json``'s content."""
    unknown = [b for b in options.backends if b not in BACKENDS]
    if unknown:
        raise HilError(f"unknown backend(s) {unknown}; choose from {', '.join(BACKENDS)}")
    started = time.perf_counter()
    work = load_workload(build_dir, cache_dir, options.run_dir, options.users, log)
    golden = golden_lists(work)
    backends = _run_backends(work, options, log)
    out_dir.mkdir(parents=True, exist_ok=True)
    quality: dict[str, Any] = {"golden": {**list_metrics(work, golden), "topk_file": "topk_golden.tsv"}}
    write_topk_tsv(out_dir / "topk_golden.tsv", work, golden)
    for name, backend in backends.items():
        if backend.status == "failed":
            log(f"[red]{name} failed[/]: {backend.reason}")
        own = out_dir / f"topk_{name}.tsv"
        own.unlink(missing_ok=True)  # no stale lists beside a new report
        if backend.lists is None:
            continue
        differ = backend.lists.mismatches(golden)
        if differ.size:   # a backend's own file only where it differs from the reference
            write_topk_tsv(own, work, backend.lists)
        quality[name] = {**list_metrics(work, backend.lists),
                         "topk_file": own.name if differ.size else "topk_golden.tsv (the same lists)",
                         "lists_differing_from_golden": int(differ.size),
                         "first_differing_users": [work.user_ids[i] for i in differ[:10]]}
    fpga_wrong: dict[str, int] = {n: quality[n]["lists_differing_from_golden"] for n in ("sim", "pynq")
                                  if n in quality and quality[n]["lists_differing_from_golden"]}
    for name in ("sim", "pynq"):  # the batched (back-to-back) runs must give the same answers as the latency run
        for batch, row in (backends[name].data.get("batches", {}) if name in backends else {}).items():
            if row.get("differ_from_latency_run"):
                fpga_wrong[f"{name} batch {batch}"] = row["differ_from_latency_run"]
    sim, gpu, cpu = backends.get("sim"), backends.get("gpu"), backends.get("cpu")
    params = work.params
    pc = protocol_check(work)
    report: dict[str, Any] = {
        "format": FORMAT, "hybrec": __version__, "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "build": {"dir": str(work.build.path), "build_id": work.build_id, "kernel_sha256": work.kernel_sha256,
                  "n_items": params.n_items, "lmax": params.lmax, "k": params.k, "lanes": work.build.kernel.lanes,
                  "source": work.source},
        "workload": {"queries": work.n_queries, "what": "one query per test user (at least one test item): the "
                     f"last {params.lmax} training items by time as its history and the user's other training and "
                     "validation items as its exclusion list, as queries.npz of the build's export",
                     "history_length": stats(np.array([h.size for h in work.histories])),
                     "exclusion_length": stats(np.array([e.size for e in work.excludes])),
                     "kernel_protocol": "top-K over the items in neither the history nor the exclusion list (what "
                                        "the kernel computes); NDCG/recall against the user's test items"},
        "quality": quality, "protocol_check": pc, "served_vs_protocol": served_vs_protocol(quality, pc),
        "model_load": model_load(backends),
        "fpga_equals_golden": {n: quality[n]["lists_differing_from_golden"] == 0 for n in ("sim", "pynq")
                               if n in quality},
        "fpga_batched_runs_differing": {n: c for n, c in fpga_wrong.items() if " batch " in n},
        "backends": {name: {"status": b.status, "reason": b.reason, **b.data} for name, b in backends.items()},
        "bar_10x": bar_10x(sim, gpu), "throughput": throughput_table(cpu, gpu, sim),
        "catalogue": catalogue_model(work, sim, gpu, options.ddr_gbs), "paper": PAPER,
        "options": {"backends": list(options.backends), "cpu_batches": list(options.cpu_batches),
                    "cpu_threads": options.cpu_threads, "fpga_batches": list(options.fpga_batches),
                    "clock_mhz": options.clock_mhz, "host_model": vars(options.host), "ddr_gbs": options.ddr_gbs,
                    "bitstream": str(options.bitstream) if options.bitstream else None,
                    "gpu_json": str(options.gpu_json) if options.gpu_json else None},
    }
    if options.plots:
        report["plots"] = write_plots(report, out_dir)
    for backend in report["backends"].values():  # the GPU's per-call samples stay in its own committed JSON
        for row in backend.get("rows", []) if backend.get("source") else []:
            row.pop("samples_us", None)
    report["seconds"] = round(time.perf_counter() - started, 1)
    atomic_write_text(out_dir / "hil.md", render_markdown(report))
    atomic_write_text(out_dir / "hil.json", compact_json(report))
    if fpga_wrong:  # the report is written (it shows the failure); the run still fails
        raise HilError(f"the FPGA's top-{params.k} lists differ from the golden model's: "
                       + ", ".join(f"{n}: {c} users" for n, c in fpga_wrong.items())
                       + f" (lists and counts in {out_dir})")
    return report
