"""The hardware-in-the-loop benchmark (``hybrec hil``): the same queries through every backend, the same
answers required, latency and throughput measured where they can be and modelled only where stated.

Workload: one query per ML-100K test user (users with at least one test item under the run's split and
evaluation protocol, :mod:`hybrec.eval`); the query is the user's history as the kernel sees it —
``queries.npz`` of the build's export: the last ``lmax`` training items by time. Every backend computes the
quantized hybrid's integer pipeline (integer mean of the int8 features -> quantized MLP -> int8 user vector ·
int8 item vectors -> top-K without the history, ties to the lower id); NDCG@10 and recall@10 come from each
backend's own top-K lists, against the user's test items.

Backends:

- ``golden``: :class:`hybrec.export.golden.GoldenModel` (numpy), the contract; its lists are the reference.
- ``cpu``: :class:`hybrec.bench.hil_torch.IntegerKernel` on this machine's CPU (PyTorch, float32, exact:
  see ``hil_torch``), batch sizes 1/16/256, wall-clock per call.
- ``gpu``: read from the committed JSON of ``hybrec.bench.hil_gpu`` (``reports/hil/gpu/<machine>/hil_gpu.json``),
  produced on the lent GPU machine by ``scripts/device_hil_gpu.sh``; never measured or invented here.
- ``sim``: the kernel's RTL (Verilator) behind the PYNQ driver and its simulated device, in the board-like
  environment (``.venv-board``, a subprocess: :mod:`hybrec.bench.hil_board`). Latency = simulated cycles /
  the clock (the Fmax of a bitstream of this build, or a clock the user states, labelled assumed) plus a
  stated DMA/host overhead model (:class:`HostModel`), each term reported on its own.
- ``pynq``: the same driver on a real board, wall-clock measured there (:mod:`hybrec.bench.hil_board`);
  stops with a clear message when not on a board.

Results go to ``OUT`` (``reports/hil/<run>/``): ``hil.json``, ``hil.md``, the plots, and
``topk_<backend>.tsv`` (user id, rank, item id, score; the dataset's own ids), each written atomically.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hybrec import numerics
from hybrec.artifacts import atomic_write_bytes, atomic_write_text
from hybrec.export.golden import GoldenModel, KernelParams

FORMAT = "hybrec-hil/1"
REPO_ROOT = Path(__file__).resolve().parents[3]
GPU_GLOB = "reports/hil/gpu/*/hil_gpu.json"
BACKENDS = ("cpu", "gpu", "sim", "pynq")
Log = Callable[[str], None]


class HilError(RuntimeError):
    """A clear reason the benchmark cannot run as asked (exit code 2 in the CLI)."""


# -- the workload -------------------------------------------------------------------------------------------
@dataclass
class Workload:
    """The build's kernel, the test users' queries and what they should find."""

    build_dir: Path
    manifest: dict[str, Any]
    params: KernelParams
    histories: list[np.ndarray]         # per test user, the query (kernel item indices)
    users: np.ndarray                   # internal user index of each test user (= row in queries.npz)
    user_ids: list[str]                 # dataset user id of each test user
    item_ids: list[str]                 # dataset item id of each kernel item index
    positives: list[np.ndarray]         # per test user, the test items (kernel indices)
    eval_masked: list[np.ndarray]       # per test user, what the evaluation protocol masks (train + valid)
    run_dir: Path
    run_metrics: dict[str, Any] | None  # the run's own metrics of this variant and seed, when recorded
    run_summary: dict[str, Any] = field(default_factory=dict)  # the run's sampled NDCG, its best variant
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def n_queries(self) -> int:
        return len(self.histories)

    @property
    def build_id(self) -> str:
        return str(self.manifest["build_id"])

    @property
    def kernel_sha256(self) -> str:
        return str(self.manifest["files"]["export/kernel.npz"])

    @property
    def queries_sha256(self) -> str:
        return str(self.manifest["files"]["export/queries.npz"])

    def user_ids_sha256(self) -> str:
        return hashlib.sha256("\n".join(self.user_ids).encode()).hexdigest()


def read_queries(path: Path) -> tuple[list[np.ndarray], list[str], list[str]]:
    """``queries.npz`` of an export (format: :func:`hybrec.export.bundle.save_queries`)."""
    with np.load(path) as data:
        ids, offsets = data["ids"].astype(np.int64), data["offsets"]
        histories = [ids[offsets[i]: offsets[i + 1]] for i in range(offsets.size - 1)]
        return histories, [str(u) for u in data["user_ids"]], [str(i) for i in data["item_ids"]]


def load_workload(build_dir: Path, cache_dir: Path, run_dir: Path | None = None, users: int | None = None,
                  log: Log = print) -> Workload:
    """The build's kernel and one query per test user of the run the build was compiled from."""
    from hybrec.compile.build import read_manifest
    from hybrec.config import RunConfig
    from hybrec.data import load_configured, make_split, user_item_lists
    from hybrec.eval import eval_sets

    manifest = read_manifest(build_dir)
    params = KernelParams.load(build_dir / "export" / "kernel.npz")
    all_histories, all_user_ids, item_ids = read_queries(build_dir / "export" / "queries.npz")
    source = manifest["source"]
    if run_dir is None:
        run_dir = Path(source["run_dir"])
        if not (run_dir / "run.json").is_file() and not run_dir.is_absolute():
            run_dir = REPO_ROOT / run_dir
    if not (run_dir / "run.json").is_file():
        raise HilError(f"{run_dir}: no run.json; the build {build_dir} was compiled from {source['run_dir']!r} "
                       "(pass --run to name the run directory)")
    run = json.loads((run_dir / "run.json").read_text())
    config = RunConfig.model_validate(run["config"])
    if run.get("config_sha256") != source.get("config_sha256"):
        raise HilError(f"{run_dir}: its configuration (sha256 {str(run.get('config_sha256'))[:12]}) is not the one "
                       f"the build was compiled from ({str(source.get('config_sha256'))[:12]})")
    d = config.dataset
    data = load_configured(d.name, d.interactions, d.items, cache_dir)
    split = make_split(data, config.split.kind, config.split.ratios, config.split.seed)
    if list(map(str, data.user_ids)) != all_user_ids or list(map(str, data.item_ids)) != item_ids:
        raise HilError(f"{build_dir}/export/queries.npz: its user/item ids are not the dataset's")
    lmax = params.lmax
    train = user_item_lists(data, split.train)
    for u, (query, items) in enumerate(zip(all_histories, train, strict=True)):
        if not np.array_equal(query, items[-lmax:]):
            raise HilError(f"queries.npz, user {all_user_ids[u]}: the query is not the user's last {lmax} training "
                           "items under the run's split")
    sets = eval_sets(data, split, "test")
    test_users = np.asarray([u for u, pos in enumerate(sets.positives) if pos.size], dtype=np.int64)
    if users is not None:
        test_users = test_users[:users]
    metrics, summary = None, {}
    metrics_path = run_dir / "metrics.json"
    if metrics_path.is_file():
        variants = json.loads(metrics_path.read_text()).get("variants", {})
        variant = variants.get(source["variant"], {})
        metrics = variant.get("seeds", {}).get(str(source["seed"]))
        k = params.k
        best = max(variants, key=lambda v: variants[v].get(f"ndcg@{k}", -1.0), default=None)
        summary = {"sampled_ndcg": variant.get(f"sampled_ndcg@{k}"), "best_variant": best,
                   "best_variant_ndcg": variants[best].get(f"ndcg@{k}") if best else None,
                   "metrics_file": str(metrics_path)}
    log(f"workload: {test_users.size} test users of {data.n_users} ({data.name}), kernel {manifest['build_id']} "
        f"({params.n_items} items, lmax {lmax}, top-{params.k})")
    return Workload(build_dir=build_dir, manifest=manifest, params=params,
                    histories=[all_histories[u] for u in test_users], users=test_users,
                    user_ids=[all_user_ids[u] for u in test_users], item_ids=item_ids,
                    positives=[sets.positives[u] for u in test_users],
                    eval_masked=[sets.masked[u] for u in test_users], run_dir=run_dir, run_metrics=metrics,
                    run_summary=summary,
                    source={"run_dir": str(source["run_dir"]), "variant": source["variant"], "seed": source["seed"],
                            "dataset": data.name, "split": split.describe(), "users_in_dataset": data.n_users})


def kernel_arrays(work: Workload) -> Any:
    """The workload as :class:`hybrec.bench.hil_torch.KernelArrays` (the CPU/GPU backends' input)."""
    from hybrec.bench.hil_torch import KernelArrays, pad_histories

    p = work.params
    hist, lengths = pad_histories(work.histories, p.lmax, p.n_items)
    header = {"build_id": work.build_id, "kernel_sha256": work.kernel_sha256, "queries_sha256": work.queries_sha256,
              "n_queries": work.n_queries, "user_ids_sha256": work.user_ids_sha256(), "lmax": p.lmax}
    return KernelArrays(features=p.features, items=p.items, weights=p.weights, thresholds=p.thresholds,
                        out_biases=[spec.out_bias for spec in p.layers],
                        recip=numerics.reciprocal_table(p.lmax, p.agg_shift), feature_bits=p.feature_bits,
                        agg_shift=p.agg_shift, k=p.k, histories=hist, lengths=lengths, header=header)


def prepare_gpu_inputs(work: Workload, out_dir: Path) -> Path:
    """``OUT/inputs.npz`` for ``hybrec.bench.hil_gpu`` on the GPU machine (carried there by the device script)."""
    arrays = kernel_arrays(work)
    path = out_dir / "inputs.npz"
    atomic_write_bytes(path, arrays.save(path))
    return path


# -- top-K lists --------------------------------------------------------------------------------------------
@dataclass
class TopK:
    """Per query the K results: ``ids [Q, K]`` (kernel item indices, -1 where invalid), ``scores [Q, K]``."""

    ids: np.ndarray
    scores: np.ndarray

    def mismatches(self, other: TopK) -> np.ndarray:
        """Indices of the queries whose lists (ids or scores) differ."""
        return np.flatnonzero(((self.ids != other.ids) | (self.scores != other.scores)).any(axis=1))


def golden_lists(work: Workload) -> TopK:
    results = GoldenModel(work.params).run(work.histories)
    return TopK(np.stack([r.ids for r in results]), np.stack([r.scores for r in results]))


def list_metrics(work: Workload, lists: TopK) -> dict[str, float]:
    from hybrec.eval import ranking_metrics

    k = work.params.k
    m = ranking_metrics(lists.ids, work.positives, k)
    return {name: m[f"{name}@{k}"] for name in ("ndcg", "recall", "hit", "mrr", "precision")}


def protocol_check(work: Workload) -> dict[str, Any]:
    """The golden model's integer scores ranked under the evaluation protocol (train and validation items
    masked, as ``hybrec train`` evaluates) — to set the kernel's lists (history masked only) beside the
    training report's number for the same model."""
    from hybrec.eval import ranking_metrics, topk_ids

    golden = GoldenModel(work.params)
    means = np.stack([golden.aggregate(h)[0] for h in work.histories])
    scores = golden.scores(golden.mlp(means))
    for row, masked in enumerate(work.eval_masked):
        scores[row, masked] = np.iinfo(np.int64).min
    k = work.params.k
    m = ranking_metrics(topk_ids(scores, k), work.positives, k)
    out: dict[str, Any] = {"ndcg": m[f"ndcg@{k}"], "recall": m[f"recall@{k}"],
                           "masked": "train + validation items (hybrec.eval, RecBole's test protocol)"}
    if work.run_metrics is not None:
        out["run_metrics_ndcg"] = work.run_metrics.get(f"ndcg@{k}")
        out["equal_to_run_metrics"] = bool(out["run_metrics_ndcg"] is not None
                                           and abs(out["ndcg"] - out["run_metrics_ndcg"]) < 1e-12)
    out["run_summary"] = work.run_summary
    return out


def write_topk_tsv(path: Path, work: Workload, lists: TopK) -> None:
    """``user_id  rank  item_id  score`` (tab-separated, a header line; the dataset's own ids; rank from 1;
    invalid results — fewer than K candidates — are left out)."""
    out = io.StringIO()
    out.write("user_id\trank\titem_id\tscore\n")
    for row, user in enumerate(work.user_ids):
        for rank, (item, score) in enumerate(zip(lists.ids[row], lists.scores[row], strict=True), start=1):
            if item >= 0:
                out.write(f"{user}\t{rank}\t{work.item_ids[int(item)]}\t{int(score)}\n")
    atomic_write_text(path, out.getvalue())


def read_topk_tsv(path: Path, work: Workload) -> TopK:
    """The inverse of :func:`write_topk_tsv` (dataset ids back to kernel indices)."""
    row_of = {u: r for r, u in enumerate(work.user_ids)}
    index_of = {item: i for i, item in enumerate(work.item_ids)}
    ids = np.full((work.n_queries, work.params.k), -1, dtype=np.int64)
    scores = np.zeros((work.n_queries, work.params.k), dtype=np.int64)
    lines = path.read_text().splitlines()
    if not lines or lines[0].split("\t") != ["user_id", "rank", "item_id", "score"]:
        raise HilError(f"{path}: not a top-K list file (header user_id, rank, item_id, score)")
    for line in lines[1:]:
        user, rank, item, score = line.split("\t")
        ids[row_of[user], int(rank) - 1] = index_of[item]
        scores[row_of[user], int(rank) - 1] = int(score)
    return TopK(ids, scores)


# -- backends -----------------------------------------------------------------------------------------------
@dataclass
class Backend:
    """One backend's outcome: ``status`` ok / unavailable (with the reason: nothing is invented in its place) /
    failed; its lists (when it produced any) and everything else for the report."""

    name: str
    status: str
    reason: str = ""
    lists: TopK | None = None
    data: dict[str, Any] = field(default_factory=dict)


def _progress_bar(total: int, description: str, enabled: bool) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        disable=not enabled, transient=False)
    task = progress.add_task(description, total=total)
    return progress, task


def cpu_machine(threads: int) -> dict[str, Any]:
    import os

    import torch

    from hybrec.bench.hil_gpu import _cpu_model

    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"cpu": _cpu_model(), "cpu_cores": os.cpu_count(), "torch_threads": threads, "torch": torch.__version__,
            "python": platform.python_version(), "host": platform.node(),
            "load_average_1_5_15": [round(x, 2) for x in load] if load else None}


def run_cpu(work: Workload, batches: list[int], min_calls: int, threads: int, progress: bool, log: Log) -> Backend:
    """The integer pipeline in PyTorch on this machine's CPU (float32, exact), batch sizes ``batches``."""
    import torch

    from hybrec.bench.hil_gpu import run_config
    from hybrec.bench.hil_torch import IntegerKernel, check_exact_bounds

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        arrays = kernel_arrays(work)
        bounds = check_exact_bounds(arrays, work.params.lmax)
        model = IntegerKernel(arrays).eval()
        rows, lists = [], None
        bar, task = _progress_bar(len(batches), "cpu (PyTorch)", progress)
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


def find_gpu_json(path: Path | None, root: Path = REPO_ROOT) -> Path | None:
    """``path`` if given (it must exist), else the newest ``ROOT/reports/hil/gpu/*/hil_gpu.json``, else None."""
    if path is not None:
        if not path.is_file():
            raise HilError(f"{path}: no such GPU results file (write one with scripts/device_hil_gpu.sh)")
        return path
    found = sorted(root.glob(GPU_GLOB), key=lambda p: p.stat().st_mtime, reverse=True)
    return found[0] if found else None


def read_gpu(work: Workload, path: Path | None, root: Path = REPO_ROOT) -> Backend:
    """The committed GPU figures; never measured or invented here."""
    from hybrec.bench.hil_gpu import FORMAT as GPU_FORMAT

    source = find_gpu_json(path, root)
    if source is None:
        return Backend("gpu", "unavailable", reason=(
            f"no GPU results: nothing matches {root / GPU_GLOB}. They are measured on the lent GPU machine "
            "(hybrec hil --prepare-gpu .device/hil; scripts/device_hil_gpu.sh) and committed; this benchmark "
            "never makes GPU numbers up"))
    report = json.loads(source.read_text())
    if report.get("format") != GPU_FORMAT:
        return Backend("gpu", "unavailable", reason=f"{source}: format {report.get('format')!r}, expected {GPU_FORMAT}")
    inputs = report.get("inputs", {})
    same_model = inputs.get("kernel_sha256") == work.kernel_sha256
    same_queries = (inputs.get("queries_sha256") == work.queries_sha256 and inputs.get("n_queries") == work.n_queries
                    and inputs.get("user_ids_sha256") == work.user_ids_sha256())
    data: dict[str, Any] = {"source": str(source.relative_to(REPO_ROOT) if source.is_relative_to(REPO_ROOT)
                                          else source),
                            "machine": report["machine"], "date_utc": report.get("date_utc"),
                            "timing": report.get("timing"), "arithmetic": report.get("arithmetic"),
                            "rows": report.get("rows", []), "catalogue": report.get("catalogue", []),
                            "errors": report.get("errors", []), "complete": report.get("complete", False),
                            "build_id": inputs.get("build_id"), "same_kernel": same_model,
                            "same_queries": same_queries}
    lists = None
    if "lists" in report and same_model and same_queries:
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


# -- the FPGA: clock, host model, simulated device, board ---------------------------------------------------
@dataclass(frozen=True)
class HostModel:
    """The per-query time outside the kernel's cycles on a PYNQ board — a stated model, not a measurement.

    ``registers_per_query`` DMA register accesses (the driver's own count, logged by the simulated device),
    each ``register_us`` (an uncached AXI-Lite access by the Zynq's Cortex-A9 through M_AXI_GP0; assumed), plus
    ``dma_us`` for the AXI DMA (MM2S: from the LENGTH write to the first stream beat, including the DDR read;
    S2MM: from the last beat to the words in DDR and the status update; assumed). The kernel's own cycles run
    from the first input beat to the last output beat, so streaming the ids and the results is inside them."""

    dma_us: float = 1.0
    register_us: float = 0.2

    def terms(self, registers_per_query: float) -> dict[str, float]:
        return {"dma_us": self.dma_us, "registers_per_query": registers_per_query,
                "register_us_each": self.register_us, "registers_us": registers_per_query * self.register_us,
                "total_us": self.dma_us + registers_per_query * self.register_us}


def _kernel_files(files: dict[str, str]) -> dict[str, str]:
    """The kernel's own files (``rtl/``) of a build's file list, with their sha256."""
    return {name: digest for name, digest in files.items() if name.startswith("rtl/")}


def find_bitstream(work: Workload, root: Path | None = None) -> dict[str, Any] | None:
    """The best bitstream manifest of this build's kernel under ``bitstreams/`` (timing met first, then the
    same build, the highest Fmax, the newest manifest): of this build, or of another build whose kernel files
    (``rtl/``: Verilog and ROMs) have the same sha256 (a build id also covers the compiler's own source, so a
    reformatted compiler makes a new id for the same kernel)."""
    root = root or REPO_ROOT / "bitstreams"
    mine = _kernel_files(work.manifest.get("files", {}))
    found = []
    for path in sorted(root.glob("*/manifest.json")):
        try:
            m = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        build = m.get("build") or {}
        same_build = build.get("build_id") == work.build_id
        same_kernel = bool(mine) and _kernel_files(build.get("files") or {}) == mine
        if (same_build or same_kernel) and m.get("fmax_mhz"):
            found.append((bool(m.get("timing_met")), same_build, float(m["fmax_mhz"]), path.stat().st_mtime, path, m))
    if not found:
        return None
    met, same_build, fmax, _, path, m = max(found, key=lambda x: x[:4])
    return {"manifest": str(path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path),
            "device": m.get("device"), "target": m.get("target"), "fmax_mhz": fmax, "timing_met": met,
            "constraint_mhz": (m.get("clock") or {}).get("constraint_mhz"),
            "build_id": (m.get("build") or {}).get("build_id"),
            "match": "same build" if same_build else "same kernel files, another build"}


def fpga_clock(work: Workload, assumed_mhz: float | None, bitstream_root: Path | None = None) -> dict[str, Any]:
    bit = find_bitstream(work, bitstream_root)
    if bit is not None:
        other = "" if bit["match"] == "same build" else f"; build {bit['build_id']}, same kernel files"
        constraint = bit.get("constraint_mhz")
        if bit["timing_met"] and constraint and constraint < bit["fmax_mhz"]:
            # the bitstream's PLL makes the constrained clock: a faster post-route Fmax is slack, not speed
            mhz = float(constraint)
            label = (f"{mhz:g} MHz, the clock of {bit['manifest']} ({bit['device']}: timing met, post-route "
                     f"Fmax {bit['fmax_mhz']:g} MHz{other})")
        else:
            mhz = bit["fmax_mhz"]
            label = (f"Fmax {bit['fmax_mhz']:g} MHz of {bit['manifest']} ({bit['device']}, post-route"
                     f"{', timing met' if bit['timing_met'] else ', timing NOT met'}{other})")
        clock = {"mhz": mhz, "source": "bitstream", "bitstream": bit, "label": label}
        if assumed_mhz is not None:
            clock["ignored_assumed_mhz"] = assumed_mhz
        return clock
    missing = f"no bitstream of build {work.build_id} under bitstreams/ (make bitstream), so there is no Fmax"
    if assumed_mhz is not None:
        return {"mhz": float(assumed_mhz), "source": "assumed", "missing": missing,
                "label": f"{assumed_mhz:g} MHz ASSUMED (--clock-mhz; {missing})"}
    return {"mhz": None, "source": None, "missing": missing, "label": f"none: {missing}; cycles only"}


def _run_worker(cmd: list[str], total: int, description: str, progress: bool) -> tuple[int, str]:
    """Run the board-side worker, its ``progress`` lines driving a bar; returns (exit code, stderr tail)."""
    import os
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "sw")}
    bar, task = _progress_bar(total, description, progress)
    with bar, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                               cwd=REPO_ROOT) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        for line in proc.stdout:
            parts = line.split()
            if len(parts) == 3 and parts[0] == "progress":
                bar.update(task, completed=int(parts[1]), total=int(parts[2]))
        err = proc.stderr.read()
        code = proc.wait()
    return code, err[-3000:]


def _board_arrays(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    with np.load(path) as data:
        arrays = {key: data[key] for key in data.files}
    return arrays, json.loads(bytes(arrays.pop("info")).decode())


def _board_python(path: Path | None) -> Path:
    return path or REPO_ROOT / ".venv-board" / "bin" / "python"


def run_sim(work: Workload, batches: list[int], clock: dict[str, Any], host: HostModel, board_python: Path | None,
            scratch: Path, progress: bool, log: Log) -> Backend:
    """Every query through the PYNQ driver and the simulated device (the Verilated kernel), in .venv-board."""
    from hybrec.bench.hil_board import write_queries

    python = _board_python(board_python)
    if not python.is_file():
        return Backend("sim", "unavailable", reason=f"{python}: no board-like environment (numpy<2 + pynq) for the "
                                                    "driver; `make setup` builds .venv-board")
    if not (REPO_ROOT / "sw" / "hybrec" / "driver" / "simdevice.py").is_file():
        return Backend("sim", "unavailable", reason="hybrec.driver.simdevice is not in this checkout")
    from hybrec.simulate.shared_model import build_shared_model

    build_shared_model(work.build_dir, log=log)  # the Verilated kernel as a library (rebuilt only when stale)
    queries, results = scratch / "sim_queries.npz", scratch / "sim_results.npz"
    atomic_write_bytes(queries, write_queries(queries, work.histories))
    extra = [b for b in batches if b != 1]
    cmd = [str(python), "-m", "hybrec.bench.hil_board", "sim", "--build", str(work.build_dir.resolve()),
           "--queries", str(queries), "--out", str(results), "--batches", *map(str, extra)]
    code, err = _run_worker(cmd, work.n_queries * (1 + len(extra)), "sim (driver + simulated device)", progress)
    if code != 0:
        return Backend("sim", "failed", reason=f"the simulated-device run exited with {code}:\n{err}")
    arrays, info = _board_arrays(results)
    cycles = arrays["latency_cycles"].astype(np.int64)
    lists = TopK(arrays["ids"].astype(np.int64), arrays["scores"].astype(np.int64))
    regs = info["registers_per_query"]
    data: dict[str, Any] = {
        "machine": {"simulator": "Verilator (hybrec.driver.simdevice + simmodel, the kernel's RTL as a library)",
                    "driver": "hybrec.driver.KernelDriver (pynq 4.0 API, .venv-board)", "host": info.get("host"),
                    "python": info.get("python"), "numpy": info.get("numpy")},
        "clock": clock, "cycles": _stats(cycles), "cycles_per_query": cycles.tolist(),
        "history_lengths": [int(h.size) for h in work.histories],
        "registers_per_query": regs, "host_model": host.terms(regs["writes"] + regs["reads"]),
        "simulation_seconds": info.get("seconds"), "batches": {}}
    f = clock.get("mhz")
    if f:
        data["kernel_us"] = _stats(cycles / f)
        data["total_us"] = _stats(cycles / f + data["host_model"]["total_us"])
    for batch in extra:
        chunk = arrays[f"batch{batch}_cycles"].astype(np.int64)
        sizes = arrays[f"batch{batch}_queries"].astype(np.int64)
        keep = sizes == batch if (sizes == batch).any() else sizes > 0  # full batches when there are any
        per_query = float(np.median(chunk[keep] / sizes[keep]))
        row: dict[str, Any] = {"cycles_per_batch": _stats(chunk[keep]), "queries_per_batch": int(sizes[keep].max()),
                               "cycles_per_query": per_query, **info["batches"][str(batch)]}
        if f:
            row["batch_us_p50"] = float(np.median(chunk[keep])) / f + data["host_model"]["total_us"]
            row["queries_per_s"] = 1e6 / (per_query / f + data["host_model"]["total_us"] / sizes[keep].max())
        data["batches"][str(batch)] = row
    log(f"sim: {work.n_queries} queries, cycles p50 {np.median(cycles):.0f} (min {cycles.min()}, max {cycles.max()}); "
        f"{info.get('seconds')} s of simulation")
    return Backend("sim", "ok", lists=lists, data=data)


def run_pynq(work: Workload, batches: list[int], results_path: Path | None, bitfile: Path | None,
             bitstream_manifest: Path | None, board_python: Path | None, scratch: Path, progress: bool,
             log: Log) -> Backend:
    """The same driver on a real PYNQ board: its measured wall clock. Off a board it says so."""
    from hybrec.bench.hil_board import EXIT_NOT_A_BOARD, write_queries

    if results_path is None:
        if bitfile is None or bitstream_manifest is None:
            return Backend("pynq", "unavailable", reason=(
                "no PYNQ board run: this needs a PYNQ-Z2 bitstream of this build (hybrec bitstream --target pynq-z2, "
                "which needs Vivado) and a board. On the board: python -m hybrec.bench.hil_board pynq --bitfile "
                "hybrec.bit --bitstream-manifest M.json --build-manifest BUILD/manifest.json --queries Q.npz --out "
                "R.npz (Q.npz: hybrec hil --prepare-board DIR), then hybrec hil --pynq-results R.npz"))
        python = _board_python(board_python)
        queries, results_path = scratch / "pynq_queries.npz", scratch / "pynq_results.npz"
        atomic_write_bytes(queries, write_queries(queries, work.histories))
        extra = [b for b in batches if b != 1]
        cmd = [str(python), "-m", "hybrec.bench.hil_board", "pynq", "--bitfile", str(bitfile),
               "--bitstream-manifest", str(bitstream_manifest), "--build-manifest",
               str(work.build_dir / "manifest.json"), "--queries", str(queries), "--out", str(results_path),
               "--batches", *map(str, extra)]
        code, err = _run_worker(cmd, work.n_queries * (1 + len(extra)), "pynq (board)", progress)
        if code == EXIT_NOT_A_BOARD:  # the worker's own message (pynq's warnings before it are left out)
            said = [line for line in err.splitlines() if line.startswith("hil_board pynq:")]
            return Backend("pynq", "unavailable", reason=(said or [err.strip()])[-1])
        if code != 0:
            return Backend("pynq", "failed", reason=f"the board run exited with {code}:\n{err}")
    arrays, info = _board_arrays(results_path)
    if arrays["ids"].shape[0] != work.n_queries:
        raise HilError(f"{results_path}: {arrays['ids'].shape[0]} answers for {work.n_queries} queries")
    latency_us = arrays["latency_s"] * 1e6
    data: dict[str, Any] = {"machine": {k: info.get(k) for k in ("device", "host", "platform", "pynq", "python")},
                            "latency_us": _stats(latency_us), "batches": {}, "source": str(results_path)}
    for key, value in arrays.items():
        if key.startswith("batch") and key.endswith("_s"):
            batch = int(key[5:-2])
            data["batches"][str(batch)] = {"batch_us_p50": float(np.median(value) * 1e6),
                                           "queries_per_s": batch / float(np.median(value)),
                                           **info["batches"][str(batch)]}
    log(f"pynq: {work.n_queries} queries, wall clock p50 {np.median(latency_us):.1f} us")
    return Backend("pynq", "ok", lists=TopK(arrays["ids"].astype(np.int64), arrays["scores"].astype(np.int64)),
                   data=data)


def _stats(values: np.ndarray) -> dict[str, float]:
    v = np.asarray(values, dtype=np.float64)
    return {"p50": float(np.percentile(v, 50)), "p90": float(np.percentile(v, 90)),
            "p99": float(np.percentile(v, 99)), "mean": float(v.mean()), "min": float(v.min()),
            "max": float(v.max()), "n": int(v.size)}


# -- comparisons ----------------------------------------------------------------------------------------------
PAPER = {
    "claim": "NDCG@10 of 0.75 at 40-60 ms per request for the best hybrid (GNN + LLM) + FPGA + DeepSpeed configuration",
    "protocol": "not stated: split, candidate set (full catalogue or sampled negatives), masking and cut-off "
                "definitions are unknown, and whether 40-60 ms covers one request, a batch or the whole service",
}
ZYNQ_7020_BRAM_BITS = 140 * 36 * 1024  # 140 RAMB36 blocks (Zynq-7020 data sheet), 630 KB
PYNQ_DDR_GBS = 2.1  # PYNQ-Z1/Z2: 16-bit DDR3 at 1050 MT/s (Digilent's reference manual), peak


def gpu_best(gpu: Backend, batch: int = 1, key: str = "compute") -> dict[str, Any] | None:
    """The exact GPU row of ``batch`` with the lowest p50 of ``key`` (compute or end_to_end)."""
    rows = [r for r in gpu.data.get("rows", []) if r.get("exact") and r["batch"] == batch]
    if gpu.status != "ok" or not rows:
        return None
    best = min(rows, key=lambda r: r[key]["p50_us"])
    return {"mode": best["mode"], "dtype": best["dtype"], "batch": batch, "p50_us": best[key]["p50_us"],
            "p99_us": best[key]["p99_us"], "what": key}


def bar_10x(sim: Backend | None, gpu: Backend | None) -> dict[str, Any]:
    """The issue's bar, like for like: the FPGA's kernel time (cycles / clock) against the best exact GPU
    batch-1 compute time (CUDA events, query already on the GPU), and the FPGA with its DMA/host model against the
    best GPU end-to-end time (host ids in, top-K back in host memory); both at least 10x (p50)."""
    out: dict[str, Any] = {"rule": "p50 per query at batch 1, like for like: FPGA kernel cycles / clock <= best exact "
                                   "GPU compute time / 10, and FPGA kernel + DMA/host model <= best exact GPU "
                                   "end-to-end time / 10"}
    best = gpu_best(gpu) if gpu is not None else None
    best_e2e = gpu_best(gpu, key="end_to_end") if gpu is not None else None
    out["gpu"], out["gpu_end_to_end"] = best, best_e2e
    if sim is None or sim.status != "ok":
        return {**out, "met": None, "reason": "no simulated-FPGA figures" + (f" ({sim.reason})" if sim else "")}
    cycles = sim.data["cycles"]["p50"]
    host = sim.data["host_model"]["total_us"]
    out["fpga_cycles_p50"] = cycles
    out["fpga_host_model_us"] = host
    if best is None or best_e2e is None:
        return {**out, "met": None, "reason": "no GPU figures" + (f" ({gpu.reason})" if gpu is not None else "")}
    e2e_target = best_e2e["p50_us"] / 10
    out["clock_needed_mhz"] = {"device": 10 * cycles / best["p50_us"],
                               "end_to_end": cycles / (e2e_target - host) if e2e_target > host else None}
    f = sim.data["clock"].get("mhz")
    if not f:
        return {**out, "met": None, "reason": f"no clock: {sim.data['clock']['missing']}"}
    kernel, total = cycles / f, cycles / f + host
    ratios = {"device": best["p50_us"] / kernel, "end_to_end": best_e2e["p50_us"] / total}
    met = all(r >= 10 for r in ratios.values())
    out.update({"clock_mhz": f, "clock": sim.data["clock"]["label"], "fpga_kernel_us": kernel, "fpga_total_us": total,
                "ratios": ratios, "met": met})
    if sim.data["clock"]["source"] == "assumed":
        out["reason"] = "the clock is assumed, not a bitstream's Fmax: this does not establish the bar"
        out["met_at_assumed_clock"] = out.pop("met")
        out["met"] = None
    return out


def catalogue_model(work: Workload, sim: Backend | None, gpu: Backend | None, ddr_gbs: float) -> dict[str, Any]:
    """FPGA latency vs catalogue size from the kernel's cycle model (same lanes, more rows), beside the GPU's
    measured sweep; where the item vectors no longer fit on chip they stream from the board's DDR."""
    params = work.manifest["kernel"]["parameters"]
    lanes, n0, dim, bits = params["lanes"], params["n_items"], params["out_dim"], params["item_bits"]
    model = work.manifest["kernel"]["cycle_model"]
    if sim is not None and sim.status == "ok":
        base = float(sim.data["cycles"]["p50"])
        base_from = f"the simulated p50 over the test users ({base:.0f} cycles at {n0:,} items)"
    else:
        base = float(sum(model[k] for k in ("aggregation", "mlp_layer0", "mlp_rest", "scorer_rows", "topk_merge")))
        base_from = f"manifest kernel.cycle_model for a {model['history']}-id history ({base:.0f} cycles)"
    capacity = ZYNQ_7020_BRAM_BITS // (dim * bits)
    f = sim.data["clock"].get("mhz") if sim is not None and sim.status == "ok" else None
    host = sim.data["host_model"]["total_us"] if sim is not None and sim.status == "ok" else 0.0
    sizes = sorted({int(r["n_items"]) for r in (gpu.data.get("catalogue", []) if gpu and gpu.status == "ok" else [])})
    sizes = sizes or [1682, 10_000, 31_623, 100_000, 316_228, 1_000_000]
    points = []
    for n in sizes:
        cycles = base + math.ceil(n / lanes) - math.ceil(n0 / lanes)
        ddr_us = n * dim * bits / 8 / (ddr_gbs * 1e3) if n > capacity else 0.0
        point: dict[str, Any] = {"n_items": n, "fpga_cycles": cycles, "on_chip": n <= capacity,
                                 "ddr_stream_us": ddr_us}
        rows = [r for r in (gpu.data.get("catalogue", []) if gpu and gpu.status == "ok" else [])
                if r["n_items"] == n and r["batch"] == 1]
        if rows:
            best = min(rows, key=lambda r: r["compute"]["p50_us"])
            point["gpu"] = {"mode": best["mode"], "compute_p50_us": best["compute"]["p50_us"],
                            "end_to_end_p50_us": min(r["end_to_end"]["p50_us"] for r in rows)}
            point["clock_needed_mhz"] = cycles / best["compute"]["p50_us"]
            point["clock_needed_10x_mhz"] = 10 * cycles / best["compute"]["p50_us"]
        if f:
            point["fpga_on_chip_us"] = cycles / f + host
            point["fpga_us"] = max(cycles / f, ddr_us) + host
        points.append(point)
    crossover = None
    for n_prev, point in zip([None, *sizes], points, strict=False):
        gpu_us = point.get("gpu", {}).get("compute_p50_us")
        fpga_us = point.get("fpga_us", point["ddr_stream_us"] or None)
        if gpu_us is not None and fpga_us is not None and fpga_us >= gpu_us:
            crossover = {"first_size_gpu_wins": point["n_items"], "previous_size": n_prev,
                         "why": "the item vectors stream from DDR" if not point["on_chip"] else "more scorer rows"}
            break
    fit = None
    fit_path = work.build_dir / "fit" / "xc7z020.json"
    if fit_path.is_file():
        f_json = json.loads(fit_path.read_text())
        fit = {"file": str(fit_path), "fits": f_json.get("fits"), "usage": f_json.get("usage"),
               "tool": f_json.get("tool")}
    return {"lanes": lanes, "base_cycles": base, "base_from": base_from, "item_bytes": dim * bits // 8,
            "this_build_on_xc7z020": fit,
            "on_chip_capacity_items": capacity, "ddr_gbs": ddr_gbs, "clock_mhz": f, "host_model_us": host,
            "model": (f"cycles(N) = {base:.0f} + ceil(N / {lanes}) - ceil({n0} / {lanes}): the same kernel with "
                      f"{lanes} scorer lanes, one row of {lanes} items per cycle (base: {base_from}); the item "
                      f"vectors ({dim * bits // 8} B each) fit the Zynq-7020's block RAM (140 RAMB36 = 630 KB) up "
                      f"to {capacity:,} items if nothing else used it; beyond that they must stream from the "
                      f"board's DDR at {ddr_gbs:g} GB/s (PYNQ-Z1/Z2 peak, assumed reachable), so "
                      "latency >= N * item bytes / bandwidth whatever the clock"),
            "points": points, "crossover": crossover}


def throughput_table(cpu: Backend | None, gpu: Backend | None, sim: Backend | None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if cpu is not None and cpu.status == "ok":
        rows += [{"backend": "cpu", "mode": "eager float32", "batch": r["batch"],
                  "queries_per_s": r["queries_per_s_compute"], "batch_p50_us": r["compute"]["p50_us"]}
                 for r in cpu.data["rows"]]
    if gpu is not None and gpu.status == "ok":
        rows += [{"backend": "gpu", "mode": f"{r['mode']} {r['dtype']}", "batch": r["batch"],
                  "queries_per_s": r["queries_per_s_compute"], "batch_p50_us": r["compute"]["p50_us"],
                  "end_to_end_queries_per_s": r["queries_per_s_end_to_end"], "exact": r.get("exact")}
                 for r in gpu.data["rows"]]
    if sim is not None and sim.status == "ok":
        f = sim.data["clock"].get("mhz")
        host = sim.data["host_model"]["total_us"]
        one = {"backend": "sim", "mode": "FPGA (simulated)", "batch": 1,
               "cycles_per_query": sim.data["cycles"]["p50"]}
        if f:
            one["batch_p50_us"] = sim.data["cycles"]["p50"] / f + host
            one["queries_per_s"] = 1e6 / one["batch_p50_us"]
        rows.append(one)
        for batch, b in sim.data["batches"].items():
            row = {"backend": "sim", "mode": "FPGA (simulated)", "batch": int(batch),
                   "cycles_per_query": b["cycles_per_query"]}
            if f:
                row["batch_p50_us"] = b["batch_us_p50"]
                row["queries_per_s"] = b["queries_per_s"]
            rows.append(row)
    order = {"cpu": 0, "gpu": 1, "sim": 2}
    return sorted(rows, key=lambda r: (order[r["backend"]], r["mode"], r["batch"]))


# -- the whole benchmark --------------------------------------------------------------------------------------
@dataclass
class HilOptions:
    backends: tuple[str, ...] = BACKENDS
    cpu_batches: tuple[int, ...] = (1, 16, 256)
    cpu_min_calls: int = 50
    cpu_threads: int = 1
    fpga_batches: tuple[int, ...] = (1, 16, 256)
    gpu_json: Path | None = None
    gpu_root: Path = REPO_ROOT  # where reports/hil/gpu/*/hil_gpu.json is looked for
    clock_mhz: float | None = None
    host: HostModel = HostModel()
    ddr_gbs: float = PYNQ_DDR_GBS
    board_python: Path | None = None
    bitstream_root: Path | None = None
    pynq_results: Path | None = None
    bitfile: Path | None = None
    bitstream_manifest: Path | None = None
    users: int | None = None
    run_dir: Path | None = None
    progress: bool = True
    plots: bool = True


def run_hil(build_dir: Path, out_dir: Path, cache_dir: Path, options: HilOptions, log: Log = print) -> dict[str, Any]:
    """Run the benchmark and write the report into ``out_dir``; returns ``hil.json``'s content."""
    import tempfile

    from hybrec import __version__
    from hybrec.bench.hil_torch import dumps

    unknown = [b for b in options.backends if b not in BACKENDS]
    if unknown:
        raise HilError(f"unknown backend(s) {unknown}; choose from {', '.join(BACKENDS)}")
    started = time.perf_counter()
    work = load_workload(build_dir, cache_dir, options.run_dir, options.users, log)
    golden = golden_lists(work)
    backends: dict[str, Backend] = {}
    with tempfile.TemporaryDirectory(prefix="hybrec-hil-") as tmp:
        scratch = Path(tmp)
        if "cpu" in options.backends:
            backends["cpu"] = run_cpu(work, list(options.cpu_batches), options.cpu_min_calls, options.cpu_threads,
                                      options.progress, log)
        if "gpu" in options.backends:
            backends["gpu"] = read_gpu(work, options.gpu_json, options.gpu_root)
        clock = fpga_clock(work, options.clock_mhz, options.bitstream_root)
        if "sim" in options.backends:
            backends["sim"] = run_sim(work, list(options.fpga_batches), clock, options.host, options.board_python,
                                      scratch, options.progress, log)
        if "pynq" in options.backends:
            backends["pynq"] = run_pynq(work, list(options.fpga_batches), options.pynq_results, options.bitfile,
                                        options.bitstream_manifest, options.board_python, scratch, options.progress,
                                        log)
    out_dir.mkdir(parents=True, exist_ok=True)
    quality: dict[str, Any] = {"golden": {**list_metrics(work, golden), "topk_file": "topk_golden.tsv"}}
    write_topk_tsv(out_dir / "topk_golden.tsv", work, golden)
    for name, backend in backends.items():
        if backend.status != "ok" and name in ("sim", "pynq") and backend.status == "failed":
            log(f"[red]{name} failed[/]: {backend.reason}")
        if backend.lists is None:
            (out_dir / f"topk_{name}.tsv").unlink(missing_ok=True)  # no stale lists beside a new report
            continue
        differ = backend.lists.mismatches(golden)
        write_topk_tsv(out_dir / f"topk_{name}.tsv", work, backend.lists)
        quality[name] = {**list_metrics(work, backend.lists), "topk_file": f"topk_{name}.tsv",
                         "lists_differing_from_golden": int(differ.size),
                         "first_differing_users": [work.user_ids[i] for i in differ[:10]]}
    fpga_wrong: dict[str, int] = {n: quality[n]["lists_differing_from_golden"] for n in ("sim", "pynq") if n in quality
                  and quality[n]["lists_differing_from_golden"]}
    for name in ("sim", "pynq"):  # the batched (back-to-back) runs must give the same answers as the latency run
        for batch, row in (backends[name].data.get("batches", {}) if name in backends else {}).items():
            if row.get("differ_from_latency_run"):
                fpga_wrong[f"{name} batch {batch}"] = row["differ_from_latency_run"]
    sim, gpu, cpu = backends.get("sim"), backends.get("gpu"), backends.get("cpu")
    report: dict[str, Any] = {
        "format": FORMAT, "hybrec": __version__, "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "build": {"dir": str(build_dir), "build_id": work.build_id, "kernel_sha256": work.kernel_sha256,
                  "n_items": work.params.n_items, "lmax": work.params.lmax, "k": work.params.k,
                  "lanes": work.manifest["kernel"]["parameters"]["lanes"], "source": work.source},
        "workload": {"queries": work.n_queries, "what": "one query per test user (at least one test item): the "
                     f"last {work.params.lmax} training items by time, as queries.npz of the build's export",
                     "history_length": _stats(np.array([h.size for h in work.histories])),
                     "kernel_protocol": "top-K over the items not in the query's history (what the kernel "
                                        "computes); NDCG/recall against the user's test items"},
        "quality": quality, "protocol_check": protocol_check(work),
        "fpga_equals_golden": {n: quality[n]["lists_differing_from_golden"] == 0 for n in ("sim", "pynq")
                               if n in quality},
        "fpga_batched_runs_differing": {n: c for n, c in fpga_wrong.items() if " batch " in n},
        "backends": {name: {"status": b.status, "reason": b.reason, **b.data} for name, b in backends.items()},
        "bar_10x": bar_10x(sim, gpu), "throughput": throughput_table(cpu, gpu, sim),
        "catalogue": catalogue_model(work, sim, gpu, options.ddr_gbs), "paper": PAPER,
        "options": {"backends": list(options.backends), "cpu_batches": list(options.cpu_batches),
                    "cpu_threads": options.cpu_threads, "fpga_batches": list(options.fpga_batches),
                    "clock_mhz": options.clock_mhz, "host_model": vars(options.host), "ddr_gbs": options.ddr_gbs},
    }
    if options.plots:
        from hybrec.bench.hil_report import write_plots

        report["plots"] = write_plots(report, out_dir)
    for backend in report["backends"].values():  # the GPU's per-call samples stay in its own committed JSON
        for row in backend.get("rows", []) if backend.get("source") else []:
            row.pop("samples_us", None)
    report["seconds"] = round(time.perf_counter() - started, 1)
    from hybrec.bench.hil_report import render_markdown

    atomic_write_text(out_dir / "hil.md", render_markdown(report))
    atomic_write_text(out_dir / "hil.json", dumps(report))
    if fpga_wrong:  # the report is written (it shows the failure); the run still fails
        raise HilError(f"the FPGA's top-{work.params.k} lists differ from the golden model's: "
                       + ", ".join(f"{n}: {c} users" for n, c in fpga_wrong.items())
                       + f" (lists and counts in {out_dir})")
    return report
