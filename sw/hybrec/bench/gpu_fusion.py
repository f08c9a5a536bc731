"""GPU baseline for the kernel's per-request work: history aggregation -> fusion MLP -> scores -> top-10.

Runs the same shapes as the FPGA kernel (item features ``[N, F]``, the last ``lmax`` history items,
MLP ``F -> hidden -> D``, item vectors ``[N, D]``, top-``k``) in fp16 with PyTorch, eager and replayed as a
CUDA graph, for several batch sizes and catalogue sizes (1,682 items up to 1,000,000). Latency is
measured with CUDA events around each call (batch-1 distribution: p50/p90/p99 over ``repeats`` calls).
Weights are random: the timing depends on the shapes only; the ML-100K model's accuracy is measured
elsewhere (``hybrec train``). Needs only torch and numpy (and deepspeed for ``--deepspeed``), so it runs on
the lent GPU machine from ``sw/`` (``scripts/device_gpu_fusion.sh``):

    PYTHONPATH=sw python -m hybrec.bench.gpu_fusion --out DIR [--deepspeed]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn


class Fusion(nn.Module):
    """gather + masked mean -> Linear/ReLU -> Linear -> scores -> top-k (BatchNorm folded away)."""

    def __init__(self, n_items: int, features: int, hidden: int, dim: int, k: int) -> None:
        super().__init__()
        self.features = nn.Parameter(torch.randn(n_items, features), requires_grad=False)
        self.items = nn.Parameter(torch.randn(n_items, dim), requires_grad=False)
        self.mlp = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, dim))
        self.k = k

    def forward(self, history: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mask = (history >= 0).unsqueeze(-1)
        summed = (self.features[history.clamp_min(0)] * mask).sum(1)
        user = self.mlp(summed / lengths.unsqueeze(-1))
        scores = user @ self.items.T
        values, ids = torch.topk(scores, self.k, dim=1)
        return ids, values


def time_calls(fn: Any, repeats: int, warmup: int) -> np.ndarray:
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) * 1000.0)  # microseconds
    return np.asarray(times)


def measure(n_items: int, batch: int, args: argparse.Namespace) -> dict[str, Any]:
    torch.manual_seed(0)
    model = Fusion(n_items, args.features, args.hidden, args.dim, args.k).cuda().half().eval()
    history = torch.randint(0, n_items, (batch, args.lmax), device="cuda")
    lengths = torch.full((batch,), float(args.lmax), device="cuda", dtype=torch.half)
    result: dict[str, Any] = {"n_items": n_items, "batch": batch}
    with torch.no_grad():
        eager = time_calls(lambda: model(history, lengths), args.repeats, args.warmup)
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(3):
                model(history, lengths)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            model(history, lengths)
        graphed = time_calls(graph.replay, args.repeats, args.warmup)
    timings = [("eager", eager), ("cuda_graph", graphed)]
    if args.deepspeed:
        try:
            timings += deepspeed_timings(model, history, lengths, args)
        except Exception as err:  # recorded, so that the PyTorch figures of the run still come back
            result["deepspeed_error"] = f"{type(err).__name__}: {err}"
    for name, times in timings:
        result[name] = {"p50_us": float(np.percentile(times, 50)), "p90_us": float(np.percentile(times, 90)),
                        "p99_us": float(np.percentile(times, 99)), "mean_us": float(times.mean()),
                        "queries_per_s": float(batch / (np.median(times) * 1e-6))}
    return result


def deepspeed_timings(model: nn.Module, history: torch.Tensor, lengths: torch.Tensor,
                      args: argparse.Namespace) -> list[tuple[str, np.ndarray]]:
    """The same module under ``deepspeed.init_inference`` (fp16), without and with DeepSpeed's own CUDA graph.
    No kernel injection: DeepSpeed has no injection policy for this module, so it runs PyTorch's kernels."""
    import copy

    import deepspeed

    out = []
    for name, graph in (("deepspeed", False), ("deepspeed_cuda_graph", True)):
        engine = deepspeed.init_inference(copy.deepcopy(model), dtype=torch.half, enable_cuda_graph=graph)
        with torch.no_grad():
            engine(history, lengths)  # with a graph: the first call captures it
            out.append((name, time_calls(lambda engine=engine: engine(history, lengths), args.repeats, args.warmup)))
            ids_ref = model(history, lengths)[0]
            if not torch.equal(engine(history, lengths)[0], ids_ref):
                raise RuntimeError(f"{name}: top-k ids differ from the plain PyTorch module's")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--features", type=int, default=96)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--lmax", type=int, default=256)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--catalogues", type=int, nargs="+", default=[1682, 10_000, 100_000, 1_000_000])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 256])
    parser.add_argument("--deepspeed", action="store_true",
                        help="also time deepspeed.init_inference (fp16), with and without enable_cuda_graph")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        raise SystemExit("gpu_fusion needs a CUDA device")
    rows = []
    for n_items in args.catalogues:
        for batch in args.batches:
            row = measure(n_items, batch, args)
            rows.append(row)
            print(json.dumps(row), flush=True)
    report = {
        "what": "fp16 history aggregation + fusion MLP + scores over all items + top-k, random weights",
        "shapes": {k: getattr(args, k) for k in ("features", "hidden", "dim", "lmax", "k")},
        "machine": {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__,
                    "deepspeed": _deepspeed_version() if args.deepspeed else None,
                    "cuda": torch.version.cuda, "python": platform.python_version(), "host": platform.node()},
        "timing": "CUDA events around each call; batch latency (a batch of B queries); repeats "
                  f"{args.repeats} after {args.warmup} warm-up calls",
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "rows": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_fusion.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


def _deepspeed_version() -> str:
    import deepspeed

    return str(deepspeed.__version__)


if __name__ == "__main__":
    raise SystemExit(main())
