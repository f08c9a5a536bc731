"""The GPU backend: the figures of the lent GPU machine, read from the JSON that ``hybrec.bench.gpu_baseline``
wrote there (``scripts/device_hil_gpu.sh``) and that is committed (``reports/hil/gpu/<machine>/hil_gpu.json``).
Never measured or invented here: without the file the backend says so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from hybrec.bench.backends import Backend, TopK
from hybrec.bench.gpu_baseline import FORMAT as GPU_FORMAT
from hybrec.bench.workload import HilError, Workload
from hybrec.builddir import REPO_ROOT


def read_gpu(work: Workload, path: Path | None) -> Backend:
    """The GPU figures of ``path`` (a ``hil_gpu.json``); its lists are compared when they are of this kernel
    and these queries."""
    if path is None:
        return Backend("gpu", "unavailable", reason=(
            "no GPU results given (--gpu-json): they are measured on the lent GPU machine (hybrec hil --prepare-gpu "
            ".device/hil; scripts/device_hil_gpu.sh) and committed under reports/hil/gpu/"))
    if not path.is_file():
        raise HilError(f"{path}: no such GPU results file (write one with scripts/device_hil_gpu.sh)")
    report = json.loads(path.read_text())
    if report.get("format") != GPU_FORMAT:
        return Backend("gpu", "unavailable", reason=f"{path}: format {report.get('format')!r}, expected {GPU_FORMAT}")
    inputs = report.get("inputs", {})
    same_model = inputs.get("kernel_sha256") == work.kernel_sha256
    same_queries = (inputs.get("queries_sha256") == work.queries_sha256 and inputs.get("n_queries") == work.n_queries
                    and inputs.get("user_ids_sha256") == work.user_ids_sha256())
    resolved = path.resolve()
    data: dict[str, Any] = {"source": str(resolved.relative_to(REPO_ROOT) if resolved.is_relative_to(REPO_ROOT)
                                          else path),
                            "machine": report["machine"], "date_utc": report.get("date_utc"),
                            "timing": report.get("timing"), "arithmetic": report.get("arithmetic"),
                            "rows": report.get("rows", []), "catalogue": report.get("catalogue", []),
                            "errors": report.get("errors", []), "complete": report.get("complete", False),
                            "build_id": inputs.get("build_id"), "same_kernel": same_model,
                            "same_queries": same_queries}
    lists = None
    with_exclusions = bool(inputs.get("exclusion_lists"))
    data["timings_only"] = not with_exclusions
    if not with_exclusions:
        data["note"] = ("timings only: its lists were computed without the queries' exclusion lists (only the "
                        "history left out), so they are not the served lists and are not compared; the timings "
                        "depend on the shapes only")
    elif "lists" in report and same_model and same_queries:
        lists = TopK(np.asarray(report["lists"]["ids"], dtype=np.int64),
                     np.asarray(report["lists"]["scores"], dtype=np.int64))
        data["lists_from"] = report["lists"]["reference"]
    elif not same_model:
        data["note"] = (f"measured for kernel build {inputs.get('build_id')} (kernel.npz sha256 "
                        f"{str(inputs.get('kernel_sha256'))[:12]}…), this build is {work.build_id} "
                        f"({work.kernel_sha256[:12]}…): its lists are not this model's and are not compared; its "
                        "timings depend on the shapes only")
    else:
        data["note"] = (f"measured for the same kernel over {inputs.get('n_queries')} queries, this run has "
                        f"{work.n_queries} (or other ones): its lists are not compared; its timings stand")
    return Backend("gpu", "ok", lists=lists, data=data)
