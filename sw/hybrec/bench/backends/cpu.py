"""The CPU backend: the kernel's integer pipeline in PyTorch on this machine's CPU (float32, exact:
:mod:`hybrec.bench.integer_kernel`), batch sizes 1/16/256, wall clock per call."""

from __future__ import annotations

import os
import platform
from typing import Any

import torch

from hybrec.bench.backends import Backend, Log, TopK, progress_bar
from hybrec.bench.gpu_baseline import cpu_model, run_config
from hybrec.bench.integer_kernel import IntegerKernel, check_exact_bounds
from hybrec.bench.workload import Workload, kernel_arrays


def cpu_machine(threads: int) -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"cpu": cpu_model(), "cpu_cores": os.cpu_count(), "torch_threads": threads, "torch": torch.__version__,
            "python": platform.python_version(), "host": platform.node(),
            "load_average_1_5_15": [round(x, 2) for x in load] if load else None}


def run_cpu(work: Workload, batches: list[int], min_calls: int, threads: int, progress: bool, log: Log) -> Backend:
    """The integer pipeline in PyTorch on this machine's CPU (float32, exact), batch sizes ``batches``."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        arrays = kernel_arrays(work)
        bounds = check_exact_bounds(arrays, work.params.lmax)
        model = IntegerKernel(arrays).eval()
        rows, lists = [], None
        bar, task = progress_bar(len(batches), "cpu (PyTorch)", progress)
        with bar:
            for batch in sorted(batches):
                row = run_config(arrays, model, "eager", torch.float32, batch, torch.device("cpu"), min_calls,
                                 warmup=3, keep_samples=batch == 1)
                ids, scores = row.pop("_lists")
                if lists is None:
                    lists = TopK(ids, scores)
                row["queries_differing_from_first_row"] = int(TopK(ids, scores).mismatches(lists).size)
                rows.append(row)
                bar.advance(task)
                log(f"cpu batch {batch}: p50 {row['compute']['p50_us']:.0f} us per call, "
                    f"{row['queries_per_s_compute']:.0f} queries/s")
        machine = cpu_machine(threads)
    finally:
        torch.set_num_threads(previous)
    assert lists is not None
    return Backend("cpu", "ok", lists=lists, data={
        "machine": machine, "rows": rows, "arithmetic": {"dtype": "float32", "bounds": bounds,
                                                         "float32_exact_below": 1 << 24},
        "timing": "host wall clock (time.perf_counter) around the forward call (compute) and from the padded ids "
                  "to the top-K copied out (end_to_end); latency of a batch = latency of each of its queries"})
