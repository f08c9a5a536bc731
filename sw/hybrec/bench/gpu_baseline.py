"""The GPU backend of the hardware-in-the-loop benchmark, run on the lent GPU machine.

Runs the trained kernel's integer pipeline (:class:`hybrec.bench.integer_kernel.IntegerKernel`, float32 with
TF32 off, so exact) for every query of an inputs file written by ``hybrec hil --prepare-gpu DIR``, as

- ``eager``: PyTorch eager,
- ``cuda_graph``: the same module captured once per batch size and replayed (``torch.cuda.CUDAGraph``),
- ``deepspeed`` / ``deepspeed_cuda_graph``: ``deepspeed.init_inference(module, dtype=..., enable_cuda_graph=...)``
  (no kernel injection: DeepSpeed has no policy for this module and runs PyTorch's kernels),
- ``compiled_cuda_graph`` (``--compile``): ``torch.compile`` (Inductor fuses the elementwise steps), captured
  in a CUDA graph — fewer kernel launches, the strongest GPU baseline here,

at batch sizes 1/16/256, and writes ``hil_gpu.json``: the machine, each configuration's top-K lists
compared with the reference (eager, float32, the largest batch), whose lists are written in full, and the
latencies. float16 rows (``--fp16``) are timing only: the integers exceed float16 (see ``integer_kernel``).

Every call is timed two ways: ``compute`` = CUDA events around the forward call alone (the history is
already on the GPU), ``end_to_end`` = host wall clock from the host's padded ids to the top-K back in host
memory (pinned copies in and out + the call + synchronisation). A batch's latency is the latency of each of
its queries; throughput = batch / p50. Queries run in the inputs' order, chunked by the batch size (the
last chunk is filled up with repeated rows, which are not counted); passes repeat until ``--min-calls``.

``--catalogues`` adds a sweep over catalogue sizes with random int8 item features and vectors of the same
widths (same MLP, same queries): timing only.

Needs torch and numpy (deepspeed for ``--deepspeed``); from ``sw/``:
    PYTHONPATH=sw python -m hybrec.bench.gpu_baseline --inputs .device/hil/inputs.npz --out DIR --deepspeed --fp16
(``scripts/device_hil_gpu.sh``). ``--device cpu`` runs the eager rows on the CPU, to test this script.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hybrec import tools
from hybrec.artifacts import atomic_write_text, compact_json, sha256_file
from hybrec.bench.integer_kernel import (
    IntegerKernel,
    KernelArrays,
    check_exact_bounds,
    exact_matmul,
    lists_digest,
    percentiles,
    random_catalogue,
)

FORMAT = "hybrec-hil-gpu/1"
Forward = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


class Runner:
    """One configuration (mode, dtype, batch size): static device inputs, pinned host buffers, a forward."""

    def __init__(self, model: IntegerKernel, mode: str, dtype: torch.dtype, batch: int, lmax: int,
                 device: torch.device, n_items: int) -> None:
        self.device, self.batch = device, batch
        self.cuda = device.type == "cuda"
        self.host_hist = torch.full((batch, lmax), n_items, dtype=torch.int64, pin_memory=self.cuda)
        self.host_len = torch.zeros(batch, dtype=torch.int64, pin_memory=self.cuda)
        self.dev_hist = self.host_hist.to(device)
        self.dev_len = self.host_len.to(device)
        k = model.k
        self.out_ids = torch.zeros((batch, k), dtype=torch.int64, pin_memory=self.cuda)
        self.out_scores = torch.zeros((batch, k), dtype=torch.int64, pin_memory=self.cuda)
        self.forward = self._build(model.to(device), mode, dtype)

    def _build(self, model: IntegerKernel, mode: str, dtype: torch.dtype) -> Forward:
        if mode == "eager":
            return model  # type: ignore[return-value]
        if mode in ("cuda_graph", "compiled_cuda_graph"):
            if mode == "compiled_cuda_graph":  # Inductor's fused kernels, captured in our own CUDA graph
                model = torch.compile(model, dynamic=False)  # type: ignore[assignment]
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream), torch.no_grad():
                for _ in range(3):
                    model(self.dev_hist, self.dev_len)
            torch.cuda.current_stream().wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph), torch.no_grad():
                static = model(self.dev_hist, self.dev_len)

            def replay(hist: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
                graph.replay()  # reads self.dev_hist / self.dev_len, which the caller filled
                return static
            return replay
        if mode in ("deepspeed", "deepspeed_cuda_graph"):
            import deepspeed

            engine = deepspeed.init_inference(model, dtype=dtype, enable_cuda_graph=mode == "deepspeed_cuda_graph")
            with torch.no_grad():
                engine(self.dev_hist, self.dev_len)  # with a graph: the first call captures it
            return engine  # type: ignore[no-any-return]
        raise ValueError(f"unknown mode {mode!r}")

    def call(self, hist: np.ndarray, lengths: np.ndarray) -> tuple[float, float]:
        """One timed call; returns (compute_us, end_to_end_us). Results land in out_ids / out_scores."""
        n = hist.shape[0]
        started = time.perf_counter()
        self.host_hist[:n].copy_(torch.from_numpy(hist))
        self.host_len[:n].copy_(torch.from_numpy(lengths))
        if n < self.batch:  # fill the batch with copies of its first row (not counted)
            self.host_hist[n:] = self.host_hist[0]
            self.host_len[n:] = self.host_len[0]
        if not self.cuda:
            t0 = time.perf_counter()
            with torch.no_grad():
                ids, scores = self.forward(self.host_hist, self.host_len)
            t1 = time.perf_counter()
            self.out_ids.copy_(ids)
            self.out_scores.copy_(scores)
            return (t1 - t0) * 1e6, (time.perf_counter() - started) * 1e6
        self.dev_hist.copy_(self.host_hist, non_blocking=True)
        self.dev_len.copy_(self.host_len, non_blocking=True)
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        begin.record()
        with torch.no_grad():
            ids, scores = self.forward(self.dev_hist, self.dev_len)
        end.record()
        self.out_ids.copy_(ids, non_blocking=True)
        self.out_scores.copy_(scores, non_blocking=True)
        torch.cuda.synchronize()
        wall = (time.perf_counter() - started) * 1e6
        return float(begin.elapsed_time(end)) * 1000.0, wall


def run_config(arrays: KernelArrays, model: IntegerKernel, mode: str, dtype: torch.dtype, batch: int,
               device: torch.device, min_calls: int, warmup: int, keep_samples: bool) -> dict[str, Any]:
    """All queries of ``arrays`` through one configuration; the first pass's lists, the timings."""
    lmax = arrays.histories.shape[1]
    runner = Runner(copy.deepcopy(model), mode, dtype, batch, lmax, device, arrays.n_items)
    q = arrays.histories.shape[0]
    chunks = [(s, min(s + batch, q)) for s in range(0, q, batch)]
    for s, e in chunks[:1] * warmup:
        runner.call(arrays.histories[s:e], arrays.lengths[s:e])
    ids = np.zeros((q, model.k), dtype=np.int64)
    scores = np.zeros((q, model.k), dtype=np.int64)
    compute: list[float] = []
    wall: list[float] = []
    passes = 0
    while passes == 0 or len(compute) < min_calls:
        for s, e in chunks:
            c, w = runner.call(arrays.histories[s:e], arrays.lengths[s:e])
            compute.append(c)
            wall.append(w)
            if passes == 0:
                ids[s:e] = runner.out_ids[: e - s].numpy()
                scores[s:e] = runner.out_scores[: e - s].numpy()
        passes += 1
    c_arr, w_arr = np.asarray(compute), np.asarray(wall)
    row: dict[str, Any] = {
        "mode": mode, "dtype": str(dtype).replace("torch.", ""), "batch": batch, "n_items": arrays.n_items,
        "passes": passes, "compute": percentiles(c_arr), "end_to_end": percentiles(w_arr),
        "queries_per_s_compute": batch / (float(np.median(c_arr)) * 1e-6),
        "queries_per_s_end_to_end": batch / (float(np.median(w_arr)) * 1e-6),
        "lists_sha256": lists_digest(ids, scores)}
    if keep_samples:  # per call of the first pass (= per query at batch 1), in query order
        row["samples_us"] = {"compute": [round(float(x), 3) for x in c_arr[: len(chunks)]],
                             "end_to_end": [round(float(x), 3) for x in w_arr[: len(chunks)]]}
    row["_lists"] = (ids, scores)
    del runner
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return row


def machine_info(device: torch.device, with_deepspeed: bool) -> dict[str, Any]:
    info: dict[str, Any] = {"torch": torch.__version__, "python": platform.python_version(), "host": platform.node(),
                            "cpu": cpu_model(), "cpu_cores": os.cpu_count(), "device": str(device)}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update({"gpu": torch.cuda.get_device_name(device), "gpu_memory_gib": round(props.total_memory / 2**30, 1),
                     "cuda": torch.version.cuda, "driver": _nvidia_smi("driver_version")})
    if with_deepspeed:
        try:
            import deepspeed

            info["deepspeed"] = str(deepspeed.__version__)
        except ImportError as err:
            info["deepspeed"] = f"not importable: {err}"
    return info


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _nvidia_smi(field: str) -> str:
    try:
        out = tools.output(tools.NVIDIA_SMI, [f"--query-gpu={field}", "--format=csv,noheader"], timeout_s=20)
    except (tools.ToolMissing, tools.ToolFailed):
        return "?"
    return out.strip().splitlines()[0] if out.strip() else "?"


def configurations(args: argparse.Namespace, cuda: bool) -> list[tuple[str, torch.dtype]]:
    if not cuda:
        return [("eager", torch.float32)]
    configs = [("eager", torch.float32), ("cuda_graph", torch.float32)]
    if args.deepspeed:
        configs += [("deepspeed", torch.float32), ("deepspeed_cuda_graph", torch.float32)]
    if args.compile:
        configs += [("compiled_cuda_graph", torch.float32)]
    if args.fp16:
        configs += [("cuda_graph", torch.float16)]
        if args.deepspeed:
            configs += [("deepspeed_cuda_graph", torch.float16)]
    return configs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=Path, required=True, help="inputs.npz of `hybrec hil --prepare-gpu`")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 256])
    parser.add_argument("--min-calls", type=int, default=200, help="timed calls per configuration (at least 1 pass)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--deepspeed", action="store_true", help="also deepspeed.init_inference (+ enable_cuda_graph)")
    parser.add_argument("--compile", action="store_true",
                        help="also torch.compile (Inductor) captured in a CUDA graph (compiles once per batch size)")
    parser.add_argument("--fp16", action="store_true", help="also float16 rows (timing only; lists not exact)")
    parser.add_argument("--catalogues", type=int, nargs="*", default=[],
                        help="random catalogues of these sizes (timing only)")
    parser.add_argument("--catalogue-batches", type=int, nargs="+", default=[1, 256])
    parser.add_argument("--catalogue-calls", type=int, default=200)
    parser.add_argument("--catalogue-modes", nargs="+", default=["eager", "cuda_graph", "deepspeed_cuda_graph"],
                        help="float32 modes of the catalogue sweep (among those run)")
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu (to test this script)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("gpu_baseline: no CUDA device here (use --device cpu to test the script on a CPU)")
    exact_matmul()
    arrays = KernelArrays.load(args.inputs)
    bounds = check_exact_bounds(arrays, int(arrays.recip.size) - 1)
    started = time.perf_counter()
    report: dict[str, Any] = {
        "format": FORMAT, "inputs": {k: arrays.header.get(k) for k in ("build_id", "kernel_sha256", "queries_sha256",
                                                                      "n_queries", "user_ids_sha256",
                                                                      "exclusion_lists")},
        "inputs_sha256": sha256_file(args.inputs),
        "machine": machine_info(device, args.deepspeed),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "arithmetic": {"dtype": "float32, TF32 off, matmul precision 'highest'", "bounds": bounds,
                       "float32_exact_below": 1 << 24, "topk": "int64 keys score * 2^b - id (ties to the lower id)"},
        "timing": ("compute: CUDA events around the forward call (history already on the GPU); end_to_end: host "
                   "wall clock from pinned host ids to the top-K in pinned host memory, incl. synchronisation. "
                   "Latency of a batch = latency of each of its queries." if device.type == "cuda" else
                   "compute: host wall clock around the forward call; end_to_end: from the host's padded ids to "
                   "the top-K copied out. Latency of a batch = latency of each of its queries."),
        "rows": [], "catalogue": [], "errors": [], "complete": False}
    model = IntegerKernel(arrays).eval()
    cuda = device.type == "cuda"
    configs = configurations(args, cuda)
    # the reference first (eager float32 at the largest batch), then the exact rows, the catalogue sweep, and the
    # float16 rows last (a failure inside a float16 graph capture cannot spoil the exact figures)
    order = [("eager", torch.float32, max(args.batches))]
    order += [(m, d, b) for m, d in configs for b in args.batches if (m, d, b) != order[0]]
    exact_rows = [c for c in order if c[1] == torch.float32]
    for mode, dtype, batch in exact_rows:
        main_row(report, arrays, model, mode, dtype, batch, device, args, started)
    sweep_configs = [(m, d) for m, d in configs if d == torch.float32 and m in args.catalogue_modes]
    for n_items in args.catalogues:
        big = random_catalogue(arrays, n_items)
        big_model = IntegerKernel(big).eval()
        for mode, dtype in sweep_configs:
            for batch in args.catalogue_batches:
                name = f"catalogue {n_items}: {mode}/batch{batch}"
                try:
                    row = run_config(big, big_model, mode, dtype, batch, device, args.catalogue_calls, args.warmup,
                                     keep_samples=False)
                except Exception as err:
                    report["errors"].append({"config": name, "error": f"{type(err).__name__}: {err}"})
                    print(f"{name}: FAILED {type(err).__name__}: {err}", flush=True)
                    continue
                row.pop("_lists")
                report["catalogue"].append(row)
                save(report, args.out)
                print(f"{name}: compute p50 {row['compute']['p50_us']:.1f} us, end-to-end p50 "
                      f"{row['end_to_end']['p50_us']:.1f} us ({time.perf_counter() - started:.0f} s)", flush=True)
        del big_model
        if cuda:
            torch.cuda.empty_cache()
    half = [c for c in order if c[1] != torch.float32]
    if half:
        half_model = IntegerKernel(arrays, dtype=torch.float16).eval()
        for mode, dtype, batch in half:
            main_row(report, arrays, half_model, mode, dtype, batch, device, args, started)
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["complete"] = True
    save(report, args.out)
    print(f"wrote {args.out / 'hil_gpu.json'} ({report['seconds']} s, {len(report['errors'])} errors)", flush=True)
    return 0


def main_row(report: dict[str, Any], arrays: KernelArrays, model: IntegerKernel, mode: str, dtype: torch.dtype,
             batch: int, device: torch.device, args: argparse.Namespace, started: float) -> None:
    """One row of the real workload; the first row's lists become the reference the others are compared with."""
    name = f"{mode}/{str(dtype).replace('torch.', '')}/batch{batch}"
    try:
        row = run_config(arrays, model, mode, dtype, batch, device, args.min_calls, args.warmup, keep_samples=True)
    except Exception as err:  # recorded; the other rows still come back
        report["errors"].append({"config": name, "error": f"{type(err).__name__}: {err}"})
        print(f"{name}: FAILED {type(err).__name__}: {err}", flush=True)
        return
    ids, scores = row.pop("_lists")
    if "lists" not in report:
        report["lists"] = {"reference": name, "ids": ids.tolist(), "scores": scores.tolist(),
                           "sha256": row["lists_sha256"]}
    ref_ids, ref_scores = np.asarray(report["lists"]["ids"]), np.asarray(report["lists"]["scores"])
    row["queries_differing_from_reference"] = int(((ids != ref_ids) | (scores != ref_scores)).any(axis=1).sum())
    row["exact"] = dtype == torch.float32
    report["rows"].append(row)
    save(report, args.out)  # after every row: a run cut short still leaves what it measured
    print(f"{name}: compute p50 {row['compute']['p50_us']:.1f} us, end-to-end p50 "
          f"{row['end_to_end']['p50_us']:.1f} us, {row['queries_differing_from_reference']} lists differ "
          f"({time.perf_counter() - started:.0f} s)", flush=True)


def save(report: dict[str, Any], out: Path) -> None:
    atomic_write_text(out / "hil_gpu.json", compact_json(report))


if __name__ == "__main__":
    raise SystemExit(main())
