"""From the FPGA's cycles to time: the clock (a bitstream's, named explicitly, or one the user states and the
report labels assumed), the host's per-query overhead on a PYNQ board (a stated model, not a measurement), the
latency against catalogue size (the kernel's cycle model, :class:`hybrec.compile.blocks.KernelPlan`), and the
comparisons with the GPU the report makes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybrec.bench.backends import Backend
from hybrec.bench.workload import HilError, Workload
from hybrec.builddir import REPO_ROOT, Bitstream, BuildDirError
from hybrec.compile.blocks import KernelPlan
from hybrec.devices import device

PYNQ_DDR_GBS = 2.1  # PYNQ-Z1/Z2: 16-bit DDR3 at 1050 MT/s (Digilent's reference manual), peak
PAPER = {
    "claim": "NDCG@10 of 0.75 at 40-60 ms per request for the best hybrid (GNN + LLM) + FPGA + DeepSpeed configuration",
    "protocol": "not stated: split, candidate set (full catalogue or sampled negatives), masking and cut-off "
                "definitions are unknown, and whether 40-60 ms covers one request, a batch or the whole service",
}


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


def _shown(path: Path) -> str:
    resolved = path.resolve()
    return str(resolved.relative_to(REPO_ROOT) if resolved.is_relative_to(REPO_ROOT) else path)


def fpga_clock(work: Workload, bitstream: Path | None, assumed_mhz: float | None) -> dict[str, Any]:
    """The clock the FPGA's cycles are converted with: the bitstream's (named explicitly; it must be of this
    build's kernel shape — by its shape key where its manifest records one, else the same build or the same
    kernel files), else ``assumed_mhz`` (labelled ASSUMED), else none (cycles only)."""
    if bitstream is not None:
        try:
            bit = Bitstream.read(bitstream)
        except BuildDirError as err:
            raise HilError(str(err)) from None
        match = bit.matches(work.build)
        if match is None:
            raise HilError(f"{bit.path} is a bitstream of kernel shape {bit.shape_key[:16]}…, the build "
                           f"{work.build_id} is of shape {work.build.kernel.shape_key[:16]}… (or of other kernel "
                           "files): its model image does not fit it (name a bitstream of this shape, or build one: "
                           "hybrec bitstream)")
        if bit.fmax_mhz is None:
            raise HilError(f"{bit.path} records no post-route Fmax ({bit.device}); state the clock with --clock-mhz")
        other = {"same build": "", "same shape": f"; built from build {bit.build_id}, the same kernel shape"}.get(
            match, f"; build {bit.build_id}, same kernel files")
        info = {"manifest": _shown(bit.path), "device": bit.device, "target": bit.target, "fmax_mhz": bit.fmax_mhz,
                "timing_met": bit.timing_met, "constraint_mhz": bit.constraint_mhz, "build_id": bit.build_id,
                "match": match}
        if bit.timing_met and bit.constraint_mhz and bit.constraint_mhz < bit.fmax_mhz:
            # the bitstream's PLL makes the constrained clock: a faster post-route Fmax is slack, not speed
            mhz = float(bit.constraint_mhz)
            label = (f"{mhz:g} MHz, the clock of {info['manifest']} ({bit.device}: timing met, post-route "
                     f"Fmax {bit.fmax_mhz:g} MHz{other})")
        else:
            mhz = bit.fmax_mhz
            label = (f"Fmax {bit.fmax_mhz:g} MHz of {info['manifest']} ({bit.device}, post-route"
                     f"{', timing met' if bit.timing_met else ', timing NOT met'}{other})")
        clock: dict[str, Any] = {"mhz": mhz, "source": "bitstream", "bitstream": info, "label": label}
        if assumed_mhz is not None:
            clock["ignored_assumed_mhz"] = assumed_mhz
        return clock
    missing = "no bitstream given (--bitstream), so there is no Fmax"
    if assumed_mhz is not None:
        return {"mhz": float(assumed_mhz), "source": "assumed", "missing": missing,
                "label": f"{assumed_mhz:g} MHz ASSUMED (--clock-mhz; {missing})"}
    return {"mhz": None, "source": None, "missing": missing, "label": f"none: {missing}; cycles only"}


def gpu_best(gpu: Backend, batch: int = 1, key: str = "compute") -> dict[str, Any] | None:
    """The exact GPU row of ``batch`` with the lowest p50 of ``key`` (compute or end_to_end)."""
    rows = [r for r in gpu.data.get("rows", []) if r.get("exact") and r["batch"] == batch]
    if gpu.status != "ok" or not rows:
        return None
    best = min(rows, key=lambda r: r[key]["p50_us"])
    return {"mode": best["mode"], "dtype": best["dtype"], "batch": batch, "p50_us": best[key]["p50_us"],
            "p99_us": best[key]["p99_us"], "what": key}


def bar_10x(sim: Backend | None, gpu: Backend | None) -> dict[str, Any]:
    """The 10x bar, like for like: the FPGA's kernel time (cycles / clock) against the best exact GPU batch-1
    compute time (CUDA events, query already on the GPU), and the FPGA with its DMA/host model against the best
    GPU end-to-end time (host ids in, top-K back in host memory); both at least 10x (p50)."""
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


def _gpu_catalogue(gpu: Backend | None) -> list[dict[str, Any]]:
    return list(gpu.data.get("catalogue", [])) if gpu is not None and gpu.status == "ok" else []


def catalogue_model(work: Workload, sim: Backend | None, gpu: Backend | None, ddr_gbs: float) -> dict[str, Any]:
    """FPGA latency vs catalogue size from the kernel's cycle model (the same blocks, more scorer rows), beside
    the GPU's measured sweep; where the item vectors no longer fit the Zynq-7020's block RAM they stream from the
    board's DDR."""
    kernel = work.build.kernel
    plan = KernelPlan.from_parameters(kernel.parameters)
    lanes, dim, bits = plan.scorer.lanes, plan.scorer.out_dim, plan.scorer.item_bits
    n0 = int(kernel.cycle_model.get("n_items", plan.scorer.n_items))   # the live items the cycles were taken at
    history = int(kernel.cycle_model["history"])
    sim_ok = sim is not None and sim.status == "ok"
    if sim_ok:
        assert sim is not None
        base = float(sim.data["cycles"]["p50"])
        base_from = f"the simulated p50 over the test users ({base:.0f} cycles at {n0:,} items)"
    else:
        base = float(plan.query_cycles(history, n0))
        base_from = f"the kernel's cycle model for a {history}-id history ({base:.0f} cycles)"
    zynq = device("xc7z020")
    capacity = zynq.bram_bits // (dim * bits)
    f = sim.data["clock"].get("mhz") if sim_ok and sim is not None else None
    host = sim.data["host_model"]["total_us"] if sim_ok and sim is not None else 0.0
    sweep = _gpu_catalogue(gpu)
    sizes = sorted({int(r["n_items"]) for r in sweep}) or [1682, 10_000, 31_623, 100_000, 316_228, 1_000_000]
    points = []
    for n in sizes:
        cycles = base + plan.scorer.rows(n) - plan.scorer.rows(n0)
        ddr_us = n * dim * bits / 8 / (ddr_gbs * 1e3) if n > capacity else 0.0
        point: dict[str, Any] = {"n_items": n, "fpga_cycles": cycles, "on_chip": n <= capacity,
                                 "ddr_stream_us": ddr_us}
        rows = [r for r in sweep if r["n_items"] == n and r["batch"] == 1]
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
    fit = work.build.fit_report("xc7z020")
    fit_summary = None if fit is None else {"file": str(work.build.fit_dir / "xc7z020.json"), "fits": fit.get("fits"),
                                            "usage": fit.get("usage"), "tool": fit.get("tool")}
    return {"lanes": lanes, "base_cycles": base, "base_from": base_from, "item_bytes": dim * bits // 8,
            "this_build_on_xc7z020": fit_summary,
            "on_chip_capacity_items": capacity, "ddr_gbs": ddr_gbs, "clock_mhz": f, "host_model_us": host,
            "model": (f"cycles(N) = {base:.0f} + ceil(N / {lanes}) - ceil({n0} / {lanes}): the same kernel with "
                      f"{lanes} scorer lanes, one row of {lanes} items per cycle (base: {base_from}); the item "
                      f"vectors ({dim * bits // 8} B each) fit the Zynq-7020's block RAM "
                      f"({zynq.bram_bits // 8 // 1024} KB) up to {capacity:,} items if nothing else used it; beyond "
                      f"that they must stream from the board's DDR at {ddr_gbs:g} GB/s (PYNQ-Z1/Z2 peak, assumed "
                      "reachable), so latency >= N * item bytes / bandwidth whatever the clock"),
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
        one = {"backend": "sim", "mode": "FPGA (simulated)", "batch": 1, "cycles_per_query": sim.data["cycles"]["p50"]}
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
