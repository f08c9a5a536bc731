"""The HIL benchmark's markdown report and plots, from the report dictionary :func:`hybrec.bench.hil.run_hil`
builds (the content of ``hil.json``, before the GPU's per-call samples are dropped from it).

Every figure names the machine of each curve in its title; FPGA figures in microseconds appear only with a
clock (a bitstream's Fmax, or a clock the user stated, labelled assumed); without one they are in cycles.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from hybrec.artifacts import atomic_write_bytes

GPU_MODES = {"eager": "PyTorch eager", "cuda_graph": "CUDA graph", "deepspeed": "DeepSpeed",
             "deepspeed_cuda_graph": "DeepSpeed + CUDA graph", "compiled_cuda_graph": "torch.compile + CUDA graph"}


# -- names of machines ------------------------------------------------------------------------------------------
def cpu_name(report: dict[str, Any]) -> str:
    m = report["backends"].get("cpu", {}).get("machine")
    if not m:
        return "CPU: not run"
    return f"CPU: {m['cpu']} ({m['cpu_cores']} cores, {m['torch_threads']} torch thread(s), torch {m['torch']})"


def gpu_name(report: dict[str, Any]) -> str:
    g = report["backends"].get("gpu", {})
    if g.get("status") != "ok":
        return "GPU: no committed figures"
    m = g["machine"]
    return f"GPU: {m.get('gpu')} (torch {m.get('torch')}, CUDA {m.get('cuda')}, {g.get('date_utc', '')[:10]})"


def fpga_name(report: dict[str, Any]) -> str:
    s = report["backends"].get("sim", {})
    if s.get("status") != "ok":
        return "FPGA: not simulated"
    return f"FPGA: Verilator simulation of kernel {report['build']['build_id']}, clock {s['clock']['label']}"


def figure_machines(report: dict[str, Any]) -> str:
    """One line per device, short enough for a figure title."""
    lines = []
    m = report["backends"].get("cpu", {}).get("machine")
    if m:
        lines.append(f"CPU: {m['cpu']}, {m['cpu_cores']} cores, {m['torch_threads']} torch thread(s), this machine")
    g = report["backends"].get("gpu", {})
    if g.get("status") == "ok":
        lines.append(f"GPU: {g['machine'].get('gpu')} (lent machine, {g.get('date_utc', '')[:10]}, "
                     f"torch {g['machine'].get('torch')})")
    if report["backends"].get("sim", {}).get("status") == "ok":
        lines.append(f"FPGA: kernel {report['build']['build_id']} simulated (Verilator) through the PYNQ driver, "
                     f"{_short_clock(report)}")
    return "\n".join(lines)


def _short_clock(report: dict[str, Any]) -> str:
    clock = report["backends"].get("sim", {}).get("clock") or {}
    if clock.get("source") == "bitstream":
        fmax = (clock.get("bitstream") or {}).get("fmax_mhz")
        if fmax is not None and clock["mhz"] < fmax:
            return f"{clock['mhz']:g} MHz (the bitstream's clock, timing met)"
        return f"{clock['mhz']:g} MHz (bitstream Fmax)"
    if clock.get("source") == "assumed":
        return f"{clock['mhz']:g} MHz ASSUMED"
    return "no clock (cycles only)"


# -- plots ------------------------------------------------------------------------------------------------------
def _save(fig: Any, path: Path) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    atomic_write_bytes(path, buffer.getvalue())
    return path.name


def _ecdf(ax: Any, values: np.ndarray, label: str, **kw: Any) -> None:
    v = np.sort(np.asarray(values, dtype=np.float64))
    ax.step(v, np.arange(1, v.size + 1) / v.size, where="post", label=label, **kw)


def write_plots(report: dict[str, Any], out_dir: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    backends = report["backends"]
    sim, gpu, cpu = backends.get("sim", {}), backends.get("gpu", {}), backends.get("cpu", {})
    sim_ok, gpu_ok, cpu_ok = sim.get("status") == "ok", gpu.get("status") == "ok", cpu.get("status") == "ok"
    f = sim.get("clock", {}).get("mhz") if sim_ok else None
    machines = figure_machines(report)
    colours = {"eager": "tab:blue", "cuda_graph": "tab:orange", "deepspeed": "tab:green",
               "deepspeed_cuda_graph": "tab:purple", "compiled_cuda_graph": "tab:brown"}

    # 1. latency distribution at batch 1
    fig, axes = plt.subplots(1, 1 if f or not sim_ok else 2, figsize=(11 if not f and sim_ok else 8, 5),
                             squeeze=False, layout="constrained")
    ax = axes[0, 0]
    if cpu_ok:
        row = next((r for r in cpu["rows"] if r["batch"] == 1 and "samples_us" in r), None)
        if row is not None:   # `--batches` without 1: no batch-1 distribution to draw
            _ecdf(ax, row["samples_us"]["compute"], "CPU PyTorch (float32)", color="tab:gray")
    if gpu_ok:
        for r in gpu["rows"]:
            if r["batch"] == 1 and r.get("exact") and "samples_us" in r:
                _ecdf(ax, r["samples_us"]["compute"], f"GPU {GPU_MODES.get(r['mode'], r['mode'])}",
                      color=colours.get(r["mode"]))
        best = min((r for r in gpu["rows"] if r["batch"] == 1 and r.get("exact") and "samples_us" in r),
                   key=lambda r: r["end_to_end"]["p50_us"], default=None)
        if best is not None:
            _ecdf(ax, best["samples_us"]["end_to_end"], f"GPU {GPU_MODES.get(best['mode'], best['mode'])}, "
                  "end to end (copies + host)", linestyle="--", color="black")
    if sim_ok and f:
        cycles = np.asarray(sim["cycles_per_query"], dtype=np.float64)
        _ecdf(ax, cycles / f, f"FPGA kernel at {_short_clock(report)}", color="tab:red", linewidth=2)
        _ecdf(ax, cycles / f + sim["host_model"]["total_us"], "FPGA kernel + DMA/host model", color="tab:red",
              linestyle="--")
    ax.set_xscale("log")
    ax.set_xlabel("latency per query, batch 1 (µs, log)")
    ax.set_ylabel("fraction of the test users' queries")
    ax.grid(True, which="both", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="lower right")
    ax.set_title("compute time (CPU, GPU) and kernel time (FPGA) unless marked" if f else
                 "CPU and GPU: compute time unless marked", fontsize=9)
    if sim_ok and not f:
        ax2 = axes[0, 1]
        _ecdf(ax2, sim["cycles_per_query"], "FPGA kernel (simulated cycles)", color="tab:red", linewidth=2)
        ax2.set_xlabel("cycles per query (first input beat -> last output beat)")
        ax2.set_title("FPGA: no bitstream of this build, so no clock: cycles only", fontsize=9)
        ax2.grid(True, alpha=0.3)
        ax2.legend(fontsize=7, loc="lower right")
    gpu_note = ""
    if gpu_ok and gpu.get("rows") and not gpu.get("same_queries"):
        gpu_note = " (GPU: its own run's queries)"
    fig.suptitle(f"Latency per query at batch 1, {report['workload']['queries']} ML-100K test users{gpu_note}\n"
                 f"{machines}", fontsize=8)
    files.append(_save(fig, out_dir / "latency_distribution.png"))
    plt.close(fig)

    # 2. throughput vs batch size
    fig, ax = plt.subplots(figsize=(8, 5.5), layout="constrained")
    series: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for r in report["throughput"]:
        if r.get("queries_per_s"):
            series.setdefault((r["backend"], r["mode"]), []).append((r["batch"], r["queries_per_s"]))
    for (backend, mode), points in series.items():
        points.sort()
        name, _, dtype = mode.partition(" ")
        style: dict[str, Any] = {}
        if backend == "gpu":
            label = f"GPU {GPU_MODES.get(name, name)} {dtype}" + ("" if dtype == "float32" else " (timing only)")
            style = {"color": colours.get(name), "linestyle": "--" if dtype == "float16" else "-"}
        elif backend == "cpu":
            label, style = f"CPU PyTorch {dtype}", {"color": "tab:gray"}
        else:
            label = f"FPGA (simulated) at {_short_clock(report)} + DMA/host model"
            style = {"color": "tab:red", "linewidth": 2}
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label, **style)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("batch size (queries per call)")
    ax.set_ylabel("queries per second (compute time; log)")
    ax.grid(True, which="both", alpha=0.3)
    if series:
        ax.legend(fontsize=7)
    note = "" if f or not sim_ok else "\nFPGA not drawn: no clock (cycles per query are in the report)"
    ax.set_title(f"Throughput vs batch size{note}\n{machines}", fontsize=7)
    files.append(_save(fig, out_dir / "throughput_vs_batch.png"))
    plt.close(fig)

    # 3. latency vs catalogue size
    cat = report["catalogue"]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 5.5), layout="constrained")
    sizes = [p["n_items"] for p in cat["points"]]
    if gpu_ok:
        for mode in ("eager", "cuda_graph", "deepspeed_cuda_graph", "compiled_cuda_graph"):
            pts = sorted((r["n_items"], r["compute"]["p50_us"]) for r in gpu.get("catalogue", [])
                         if r["mode"] == mode and r["batch"] == 1)
            if pts:
                ax.plot(*zip(*pts, strict=True), marker="o", label=f"GPU {GPU_MODES[mode]} (batch 1, p50)",
                        color=colours[mode])
    ddr = [(p["n_items"], p["ddr_stream_us"]) for p in cat["points"] if p["ddr_stream_us"]]
    if ddr:
        ax.plot(*zip(*ddr, strict=True), color="tab:red", linestyle=":", marker="s",
                label=f"FPGA lower bound off chip: N x {cat['item_bytes']} B / {cat['ddr_gbs']:g} GB/s (any clock)")
    if f:
        ax.plot(sizes, [p["fpga_us"] for p in cat["points"]], color="tab:red", linewidth=2, marker="o",
                label=f"FPGA model at {_short_clock(report)} (+ DMA/host model)")
        ax.plot(sizes, [p["fpga_on_chip_us"] for p in cat["points"]], color="tab:red", linestyle="--",
                label="FPGA model if every item fitted on chip")
    ax.axvline(cat["on_chip_capacity_items"], color="gray", linestyle="--", linewidth=1)
    ax.text(cat["on_chip_capacity_items"], 0.02,
            f" Zynq-7020 block RAM\n holds {cat['on_chip_capacity_items']:,} items at most",
            fontsize=7, va="bottom", transform=ax.get_xaxis_transform())
    if cat.get("crossover"):
        c = cat["crossover"]
        ax.axvspan(c["previous_size"] or sizes[0], c["first_size_gpu_wins"], color="tab:orange", alpha=0.15,
                   label=f"crossover: the GPU wins from {c['first_size_gpu_wins']:,} items on ({c['why']})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("catalogue size N (items; GPU: random item vectors of the same widths)")
    ax.set_ylabel("latency per query (µs, log)")
    ax.grid(True, which="both", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    ax.set_title("Latency vs catalogue size (GPU measured; FPGA from its cycle model)", fontsize=9)
    need = [(p["n_items"], p["clock_needed_mhz"], p["clock_needed_10x_mhz"]) for p in cat["points"]
            if "clock_needed_mhz" in p]
    if need:
        ax2.plot([n[0] for n in need], [n[1] for n in need], marker="o", color="tab:red",
                 label="to match the best GPU (batch 1, p50)")
        ax2.plot([n[0] for n in need], [n[2] for n in need], marker="o", color="tab:red", linestyle="--",
                 label="to be 10x below it")
        if f:
            ax2.axhline(f, color="black", linewidth=1, label=f"clock: {_short_clock(report)}")
    ax2.axvline(cat["on_chip_capacity_items"], color="gray", linestyle="--", linewidth=1)
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.set_xlabel("catalogue size N (items)")
    ax2.set_ylabel("FPGA clock needed (MHz, kernel cycles only, items on chip)")
    ax2.grid(True, which="both", alpha=0.3)
    if need:
        ax2.legend(fontsize=7)
    else:
        ax2.text(0.5, 0.5, "no GPU figures to compare with", ha="center", transform=ax2.transAxes)
    ax2.set_title(f"Clock the kernel ({cat['lanes']} lanes) would need", fontsize=9)
    fig.suptitle(f"Latency vs catalogue size (GPU measured with random item vectors; FPGA: cycle model, see hil.md)\n"
                 f"{machines}", fontsize=8)
    files.append(_save(fig, out_dir / "latency_vs_catalogue.png"))
    plt.close(fig)
    return files


# -- markdown ---------------------------------------------------------------------------------------------------
def _us(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:,.1f} µs" if x < 1000 else f"{x / 1000:,.2f} ms"


def _qps(x: float | None) -> str:
    return "—" if x is None else f"{x:,.0f}"


def render_markdown(report: dict[str, Any]) -> str:
    b = report["build"]
    top_k = b["k"]  # the kernel's K: every list, and every metric of the lists, is at it
    backends = report["backends"]
    q = report["quality"]
    lines = [f"# Hardware-in-the-loop benchmark — kernel {b['build_id']}", "",
             f"`hybrec hil` on {report['date_utc']}: {report['workload']['queries']} queries, one per test user of "
             f"{b['source'].get('dataset')} ({b['source'].get('variant')}, seed {b['source'].get('seed')}, run "
             f"`{b['source'].get('run_dir')}`); {b['n_items']:,} items, top-{b['k']}, histories of "
             f"{report['workload']['history_length']['min']:.0f}–{report['workload']['history_length']['max']:.0f} "
             f"ids (median {report['workload']['history_length']['p50']:.0f}). Every backend computes the quantized "
             "hybrid's integer pipeline (integer mean of the int8 features → quantized MLP → int8 user vector · int8 "
             "item vectors → top-K without the user's seen items, ties to the lower id). Each query carries the user's "
             "history and, as its exclusion list, the user's other training and validation items.", "",
             "Machines: " + "; ".join([cpu_name(report), gpu_name(report), fpga_name(report)]) + ".", ""]

    # status of each backend
    lines += ["## Backends", "", "| backend | status | what |", "|---|---|---|"]
    cpu_m = backends.get("cpu", {}).get("machine") or {}
    load = cpu_m.get("load_average_1_5_15")
    what = {"cpu": "PyTorch on this machine's CPU, float32 (exact: every sum < 2^24)"
                   + (f"; load average {load[0]:g} on {cpu_m.get('cpu_cores')} cores at the end of the run (a shared "
                      "machine: CPU timings vary with it)" if load else ""),
            "gpu": "committed JSON of the lent GPU machine (`scripts/device_hil_gpu.sh`), never invented here",
            "sim": "the RTL (Verilator) behind the PYNQ driver and its simulated device (`.venv-board`)",
            "pynq": "the same driver on a PYNQ board, measured wall clock"}
    for name, data in backends.items():
        status = data["status"] if data["status"] == "ok" else f"**{data['status']}**: {data['reason']}"
        src = f" (`{data['source']}`)" if data.get("source") else ""
        lines.append(f"| {name} | {status} | {what.get(name, '')}{src} |")
    lines.append("")

    # correctness and quality
    lines += ["## Answers and quality", "",
              f"NDCG@{top_k} and recall@{top_k} from each backend's own top-{top_k} lists (`topk_golden.tsv`, and "
              "`topk_<backend>.tsv` for a backend whose lists differ from it: user id, rank, "
              "item id, score, in the dataset's ids), against each user's test items.", "",
              f"| backend | lists ≠ golden | NDCG@{top_k} | recall@{top_k} | hit@{top_k} |",
              "|---|---:|---:|---:|---:|"]
    for name, m in q.items():
        differ = "(reference)" if name == "golden" else f"{m['lists_differing_from_golden']}"
        lines.append(f"| {name} | {differ} | {m['ndcg']:.4f} | {m['recall']:.4f} | {m['hit']:.4f} |")
    for name, ok in report.get("fpga_equals_golden", {}).items():
        lines.append("")
        lines.append(f"**{name}: the FPGA's top-{top_k} lists {'equal' if ok else 'DO NOT equal'} the golden model's "
                     f"for {'every one of the' if ok else 'all'} {report['workload']['queries']} users.**")
        batches = backends.get(name, {}).get("batches", {})
        if batches:
            same = all(not b.get("differ_from_latency_run") for b in batches.values())
            lines.append(f"Sent back to back in batches of {', '.join(batches)}, the answers "
                         + ("are the same." if same else "DIFFER: " + ", ".join(
                             f"batch {k}: {b['differ_from_latency_run']} queries" for k, b in batches.items())
                            + "."))
    g = backends.get("gpu", {})
    if g.get("note"):
        lines += ["", f"GPU: {g['note']}."]
    pc = report["protocol_check"]
    lines += ["", "### Served NDCG and the evaluation protocol's", "",
              f"A query excludes its history (its last {b['lmax']} training items) and its exclusion list (the user's "
              "other training and validation items), which is what the evaluation protocol of `hybrec train` masks. "
              f"Ranked under that protocol, the golden model's integer scores give NDCG@{top_k} "
              f"{pc['ndcg']:.4f} (recall@{top_k} {pc['recall']:.4f})"
              + (f", equal to the run's own `metrics.json` ({pc['run_metrics_ndcg']:.4f})"
                 if pc.get("equal_to_run_metrics") else
                 f"; the run's `metrics.json` says {pc['run_metrics_ndcg']:.4f} for all its test users"
                 if pc.get("run_metrics_ndcg") is not None else
                 f"; not compared with the run's `metrics.json`: {pc['run_metrics_not_compared']}"
                 if pc.get("run_metrics_not_compared") else "")
              + ". The served lists:", "",
              f"| backend | served NDCG@{top_k} | protocol NDCG@{top_k} | served = protocol |", "|---|---:|---:|---|"]
    for name, row in report.get("served_vs_protocol", {}).get("backends", {}).items():
        lines.append(f"| {name} | {row['served_ndcg']:.4f} | {pc['ndcg']:.4f} | "
                     f"{'equal' if row['equal_to_protocol'] else '**not equal**'} |")
    lines.append("")

    # the model image
    loads = report.get("model_load", {})
    if loads:
        lines += ["## Model load", "",
                  "The bitstream holds the kernel's shape only; the trained model is the build's model image "
                  "(`model/model.img`), loaded at run time through the same DMA and input stream as the queries, "
                  "and confirmed by the kernel's status words (item count and checksums).", "",
                  "| backend | words | bytes | time |", "|---|---:|---:|---|"]
        for name, ld in loads.items():
            if "cycles" in ld:
                when = f"{ld['cycles']:,} cycles" + (f" = {_us(ld['us'])} at {_short_clock(report)}"
                                                     if ld.get("us") is not None else " (no clock)")
            else:
                when = f"{_us(ld.get('us'))} (host wall clock)"
            lines.append(f"| {name} | {ld['words']:,} | {ld['bytes']:,} | {when} |")
        lines.append("")

    # latency at batch 1
    bar = report["bar_10x"]
    lines += ["## Latency per query, batch 1", "", "| backend | configuration | p50 | p90 | p99 | end to end p50 |",
              "|---|---|---:|---:|---:|---:|"]
    cpu1 = [r for r in backends.get("cpu", {}).get("rows", []) if r["batch"] == 1]
    if backends.get("cpu", {}).get("status") == "ok" and cpu1:
        r = cpu1[0]
        lines.append(f"| cpu | PyTorch float32 | {_us(r['compute']['p50_us'])} | {_us(r['compute']['p90_us'])} | "
                     f"{_us(r['compute']['p99_us'])} | {_us(r['end_to_end']['p50_us'])} |")
    if g.get("status") == "ok":
        for r in g["rows"]:
            if r["batch"] == 1:
                label = GPU_MODES.get(r["mode"], r["mode"]) + f" {r['dtype']}" + ("" if r.get("exact") else
                                                                                  " (timing only: lists not exact)")
                lines.append(f"| gpu | {label} | {_us(r['compute']['p50_us'])} | {_us(r['compute']['p90_us'])} | "
                             f"{_us(r['compute']['p99_us'])} | {_us(r['end_to_end']['p50_us'])} |")
    s = backends.get("sim", {})
    if s.get("status") == "ok":
        c = s["cycles"]
        lines.append(f"| sim | kernel cycles (first input beat → last output beat) | {c['p50']:.0f} cycles | "
                     f"{c['p90']:.0f} cycles | {c['p99']:.0f} cycles | — |")
        if s.get("kernel_us"):
            k, t = s["kernel_us"], s["total_us"]
            lines.append(f"| sim | kernel at {_short_clock(report)} | {_us(k['p50'])} | {_us(k['p90'])} | "
                         f"{_us(k['p99'])} | — |")
            lines.append(f"| sim | kernel + DMA/host model | {_us(t['p50'])} | {_us(t['p90'])} | {_us(t['p99'])} | "
                         f"{_us(t['p50'])} |")
    lines += ["", "GPU and CPU: compute = the forward call alone (CUDA events on the GPU, the query already in GPU "
              f"memory); end to end = the host's ids in, the top-{top_k} back in host memory. FPGA: the simulated "
              "kernel's cycles; the DMA/host terms are a model (below).", ""]
    if s.get("status") == "ok":
        hm = s["host_model"]
        lines += ["### FPGA latency, term by term", "",
                  f"- kernel: simulated cycles from the first input beat to the last output beat (streaming the ids "
                  f"in and the results out is inside them): p50 {s['cycles']['p50']:.0f} cycles, "
                  f"{s['cycles']['min']:.0f}–{s['cycles']['max']:.0f} over the users;",
                  f"- clock: {s['clock']['label']};",
                  f"- DMA (model, assumed): {hm['dma_us']:g} µs per query (MM2S start to first beat incl. the DDR "
                  "read, S2MM last beat to memory and status);",
                  f"- host register accesses (model): {hm['registers_per_query']:g} per query (the driver's own DMA "
                  f"register writes and status reads, as the simulated device logged them) × "
                  f"{hm['register_us_each']:g} µs (assumed: an uncached AXI-Lite access by the Cortex-A9) = "
                  f"{hm['registers_us']:.1f} µs;",
                  "- not modelled: the Python interpreter time of the PYNQ driver on the board's Cortex-A9 (only the "
                  "`pynq` backend on a board measures it).", ""]

    lines += ["## The bar: FPGA at least 10× below the best GPU batch-1 latency", "", f"Rule: {bar['rule']}.", ""]
    gb, ge = bar.get("gpu"), bar.get("gpu_end_to_end")
    if gb and ge and "fpga_cycles_p50" in bar:
        need = bar.get("clock_needed_mhz", {})
        ratios = bar.get("ratios", {})
        f = bar.get("clock_mhz")
        cyc, host = bar["fpga_cycles_p50"], bar["fpga_host_model_us"]
        lines += [f"Side by side ({gpu_name(report)}; {fpga_name(report)}):", "",
                  "| | best GPU, batch 1, p50 | FPGA, p50 | GPU / FPGA | FPGA clock for 10× |",
                  "|---|---|---|---:|---:|"]
        fpga_dev = f"{cyc:.0f} cycles" + (f" = {_us(cyc / f)}" if f else "")
        fpga_e2e = f"{cyc:.0f} cycles + {host:.1f} µs model" + (f" = {_us(cyc / f + host)}" if f else "")
        need_e2e = f"{need['end_to_end']:.0f} MHz" if need.get("end_to_end") else \
            "unreachable: the DMA/host model alone exceeds a tenth of the GPU's time"
        r_dev = f"{ratios['device']:.1f}×" if ratios else "—"
        r_e2e = f"{ratios['end_to_end']:.1f}×" if ratios else "—"
        lines += [f"| device time | {_us(gb['p50_us'])} ({GPU_MODES.get(gb['mode'])} {gb['dtype']}, CUDA events) | "
                  f"{fpga_dev} | {r_dev} | {need.get('device', 0):.0f} MHz |",
                  f"| end to end | {_us(ge['p50_us'])} ({GPU_MODES.get(ge['mode'])} {ge['dtype']}, host wall clock) | "
                  f"{fpga_e2e} | {r_e2e} | {need_e2e} |", ""]
    verdict = {True: "**met**", False: "**not met**", None: "**not evaluated**"}[bar.get("met")]
    lines += [f"- verdict: {verdict}" + (f" — {bar['reason']}" if bar.get("reason") else "")
              + (f" (at the assumed clock it would be {'met' if bar['met_at_assumed_clock'] else 'not met'})"
                 if "met_at_assumed_clock" in bar else ""), ""]

    # throughput
    lines += ["## Throughput vs batch size", "", "| backend | configuration | batch | batch p50 | queries/s |",
              "|---|---|---:|---:|---:|"]
    for r in report["throughput"]:
        conf = r["mode"] if r["backend"] != "gpu" else GPU_MODES.get(r["mode"].split()[0], r["mode"]) + " " + \
            r["mode"].split()[1] + ("" if r.get("exact") else " (timing only)")
        lat = _us(r.get("batch_p50_us")) if "batch_p50_us" in r else f"{r['cycles_per_query'] * r['batch']:.0f} cycles"
        qps = _qps(r.get("queries_per_s")) if r.get("queries_per_s") else \
            f"1 per {r['cycles_per_query']:.0f} cycles"
        lines.append(f"| {r['backend']} | {conf} | {r['batch']} | {lat} | {qps} |")
    lines += ["", "FPGA batches are sent back to back by the driver (`pipelined=True`): the kernel overlaps queries, "
              "one answer per scorer pass once it is full.", ""]

    # catalogue
    cat = report["catalogue"]
    lines += ["## Latency vs catalogue size", "", f"FPGA model: {cat['model']}.", "",
              "| items | GPU best batch-1 p50 (mode) | FPGA cycles | FPGA clock to match / for 10× (kernel only) "
              "| off-chip bound"
              + (" | FPGA model |" if cat.get("clock_mhz") else " |"),
              "|---:|---|---:|---:|---:" + ("|---:|" if cat.get("clock_mhz") else "|")]
    for p in cat["points"]:
        gpu_cell = (f"{_us(p['gpu']['compute_p50_us'])} ({GPU_MODES.get(p['gpu']['mode'])})" if "gpu" in p else "—")
        need = (f"{p['clock_needed_mhz']:.0f} / {p['clock_needed_10x_mhz']:.0f} MHz" if "clock_needed_mhz" in p
                else "—")
        ddr = "on chip" if p["on_chip"] else _us(p["ddr_stream_us"])
        row = f"| {p['n_items']:,} | {gpu_cell} | {p['fpga_cycles']:,.0f} | {need} | {ddr} |"
        if cat.get("clock_mhz"):
            row += f" {_us(p.get('fpga_us'))} |"
        lines.append(row)
    c = cat.get("crossover")
    if c:
        first = next(p for p in cat["points"] if p["n_items"] == c["first_size_gpu_wins"])
        prev = next((p for p in cat["points"] if p["n_items"] == c["previous_size"]), None)
        text = (f"Crossover: from {first['n_items']:,} items on the GPU wins"
                + (f" at {_short_clock(report)}" if cat.get("clock_mhz") else " at any FPGA clock")
                + (f": the item vectors no longer fit on chip and streaming them from DDR alone takes "
                   f"{_us(first['ddr_stream_us'])}, against the GPU's {_us(first['gpu']['compute_p50_us'])}."
                   if not first["on_chip"] else f": {c['why']}."))
        if prev is not None and "clock_needed_mhz" in prev:
            text += (f" At {prev['n_items']:,} items ({'on chip' if prev['on_chip'] else 'off chip'}) the kernel "
                     f"matches the GPU from {prev['clock_needed_mhz']:.0f} MHz and is 10× below it from "
                     f"{prev['clock_needed_10x_mhz']:.0f} MHz (kernel cycles only).")
    else:
        text = "No crossover within the measured sizes" + ("" if cat.get("clock_mhz") else
                                                           " that can be stated without a clock") + "."
    fit = cat.get("this_build_on_xc7z020")
    if fit and fit.get("usage"):
        u = fit["usage"]
        text += (f" (The on-chip capacity is an upper bound: this build already uses {u['RAMB36']['used']:.0f} of "
                 f"{u['RAMB36']['capacity']} RAMB36 at {b['n_items']:,} items, and {u['LUT']['used']:,.0f} of "
                 f"{u['LUT']['capacity']:,} LUTs — {'it fits' if fit.get('fits') else 'it does not fit the Zynq-7020'}"
                 f" — by {fit.get('tool')}.)")
    lines += ["", text,
              "GPU: random int8 item vectors and features of the same widths for every size (timing only), the "
              "trained MLP, the same queries; the sweep ran PyTorch eager, CUDA graph and DeepSpeed + CUDA graph "
              "(not torch.compile, which compiles per shape).", ""]

    # the paper
    p = report["paper"]
    golden = q["golden"]
    rs = pc.get("run_summary", {})
    split = b["source"].get("split", {})
    lines += ["## The seed paper's headline", "",
              f"Claim: {p['claim']}. Its protocol: {p['protocol']}.", "",
              f"Here: NDCG@{top_k} {golden['ndcg']:.4f} from the kernel's own lists (seen items excluded) and "
              f"{pc['ndcg']:.4f} under RecBole's full-ranking protocol (all {b['n_items']:,} items ranked, train and "
              f"validation items masked, {split.get('kind')} split, seed {split.get('seed')}), "
              "averaged over every test user. "
              + (f"The best variant of the training run ({rs['best_variant']}) reaches {rs['best_variant_ndcg']:.4f} "
                 "under full ranking; " if rs.get("best_variant_ndcg") is not None else "")
              + "an NDCG@10 of 0.75 on ML-100K looks like an easier protocol — sampled candidates "
              + (f"(this variant's sampled 1-vs-99 NDCG@{top_k} in the training report: {rs['sampled_ndcg']:.4f}), "
                 if rs.get("sampled_ndcg") is not None else "")
              + "leave-one-out with few negatives, or a short candidate list — rather than a better model; with "
              "the protocol unknown the two numbers cannot be compared. Latency: 40–60 ms is two to three orders of "
              "magnitude above every batch-1 latency here (tens to hundreds of µs on the GPU, hundreds of cycles "
              "per query on the FPGA), so it "
              "must include work this benchmark does not (e.g. a language model per request, a network hop, "
              "Python serving); unknown.", ""]

    # files and reproduction
    lines += ["## Files", ""]
    lines += [f"- `{name}`" for name in report.get("plots", [])]
    lines += [f"- `{m['topk_file']}`" for m in q.values() if m["topk_file"].endswith(".tsv")]
    lines += ["- `hil.json`: every number above", "",
              "Reproduce: `make hil` (or `hybrec hil --build " + b["dir"] + " --out <dir> --bitstream <bitstream "
              "folder> --gpu-json <hil_gpu.json>`); the GPU figures: "
              "`hybrec hil --build ... --prepare-gpu .device/hil`, then `scripts/device_hil_gpu.sh` on the GPU "
              "machine.", ""]
    return "\n".join(lines)
