"""The ``hybrec`` command line. The only module that reads the environment.

Each command imports its stage only once its arguments are read (the stages load torch, Brevitas, FINN or
cocotb), so ``--help`` and argument errors answer at once. The terminal gets progress and a short summary;
the external tools' output goes to log files whose paths are printed (``-v`` shows it as it comes), and an
error names what failed and the way out (exit status 2).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from hybrec import tools
from hybrec.console import console
from hybrec.errors import HybrecError


def cache_dir() -> Path:
    return Path(os.environ.get("HYBREC_CACHE", ".cache/hybrec")).resolve()


def show_progress(args: argparse.Namespace) -> bool:
    """Progress bars only on a terminal (in a log they would be redrawn line by line)."""
    return not getattr(args, "quiet", False) and console.is_terminal


def cmd_data_fetch(args: argparse.Namespace) -> int:
    from hybrec.data import fetch_ml100k  # lazy: the data package loads numpy and the file readers

    folder = fetch_ml100k(cache_dir())
    console.print(f"MovieLens-100K verified in {folder}")
    return 0


def cmd_data_synth(args: argparse.Namespace) -> int:
    from hybrec.data.synthetic import write_shop  # lazy: numpy

    shop = write_shop(Path(args.out), users=args.users, items=args.items, per_user=args.per_user, seed=args.seed,
                      active_items=args.active_items)
    console.print(f"synthetic shop: {shop.n_users:,} users, {shop.n_items:,} items, {shop.n_interactions:,} "
                  f"interactions in {shop.interactions} and {shop.items}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from hybrec.config import PRESETS, load_config, with_variants  # lazy: pydantic, yaml
    from hybrec.train.runner import run_training, summary_table  # lazy: torch, PyG, transformers, Brevitas

    config = PRESETS[args.preset]() if args.preset else load_config(args.config)
    if args.seeds:
        config = config.model_copy(update={"seeds": tuple(args.seeds)})
    if args.variants:
        config = with_variants(config, args.variants)
    out = Path(args.out)
    metrics = run_training(config, out, cache_dir(), progress=show_progress(args), log=console.print)
    Console().print(summary_table(metrics))
    console.print(f"wrote {out / 'metrics.json'} and {out / 'metrics.md'} (every metric; "
                  f"{len(metrics['variants'])} variants)")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from hybrec.train.compare import compare_table, compare_variants  # lazy: torch

    result = compare_variants(Path(args.run), args.variant, args.against, cache_dir(), part=args.part,
                              resamples=args.resamples)
    Console().print(compare_table(result))
    console.print(f"wrote {result['file']} (every metric, per seed)")
    return 0


def cmd_compile(args: argparse.Namespace) -> int:
    from hybrec.compile.build import compile_kernel  # lazy: torch, Brevitas, FINN
    from hybrec.compile.config import KERNEL_PRESETS, load_kernel_config  # lazy: pydantic, yaml

    config = load_kernel_config(args.config) if args.config else KERNEL_PRESETS[args.preset]()
    out = Path(args.out)
    targets = tuple(args.target) if args.target is not None else None
    manifest = compile_kernel(Path(args.run), out, cache_dir(), config, force=args.force, log=console.print,
                              targets=targets)
    kernel = manifest.kernel
    model = kernel.cycle_model
    folding = ", ".join(f"SIMD {layer['simd']} PE {layer['pe']}{' lut_mult' if layer['lut_mult'] else ''}"
                        for layer in kernel.folding)
    console.print(f"kernel {kernel.top} ({len(kernel.sources)} sources, folding {folding}); cycles of a "
                  f"{model['history']}-id query: aggregation {model['aggregation']}, MLP {model['mlp_layer0']} + "
                  f"{model['mlp_rest']}, scorer {model['scorer_rows']} rows, top-K merge {model['topk_merge']}")
    console.print(f"build {manifest.build_id}: {out / 'manifest.json'} (HLS headers in {out / 'hls'})")
    return 0


def cmd_sim(args: argparse.Namespace) -> int:
    build = Path(args.build)
    if args.shared_lib:
        from hybrec.simulate.shared_model import build_shared_model  # lazy: the build's numpy readers

        lib = build_shared_model(build, log=console.print, force=args.force)
        console.print(f"kernel model library for the simulated PYNQ device: {lib}")
        return 0
    if args.harness:
        from hybrec.simulate.harness import run_harness  # lazy: the build's numpy readers

        fast = run_harness(build, users=args.users, source_pause=args.pause, sink_pause=args.pause, seed=args.seed,
                           models=args.model, log=console.print)
        verdict = "[green]0 mismatches[/]" if fast["passed"] else f"[bold red]{fast['mismatches']} mismatches[/]"
        models = fast["models"]
        what = (f"{fast['users']} users + corner cases after its model load" if len(models) == 1 else
                f"{len(models)} models loaded in turn, " + " + ".join(str(m["users"]) for m in models)
                + " users + corner cases")
        console.print(f"C++ harness: {what}, {verdict} under {args.pause:.0%} random pauses; {fast['cycles']} cycles "
                      f"in {fast['seconds']} s ({fast['cycles_per_second']:.0f} simulated cycles/s); "
                      f"{build / 'sim' / 'harness_report.json'}")
        return 0 if fast["passed"] else 1
    from hybrec.simulate.kernel import simulate_build  # lazy: cocotb

    report = simulate_build(build, users=args.users, simulator=args.simulator, source_pause=args.pause,
                            sink_pause=args.pause, seed=args.seed, models=args.model, log=console.print)
    timing = report.get("timing") or {}
    if report.get("mlp_vs_finn"):
        m = report["mlp_vs_finn"]
        console.print(f"MLP: {m['simulated_mlp_cycles']} simulated cycles vs FINN's {m['finn_exp_cycles_total']} "
                      f"(ratio {m['ratio']}; tolerance {m['tolerance']})")
    verdict = "[green]0 mismatches[/]" if report["mismatches"] == 0 else \
        f"[bold red]{report['mismatches']} mismatches[/]"
    console.print(f"{report['simulator']}: {report['users']} users + {len(report['corner_cases'])} corner cases, "
                  f"{verdict} under random backpressure ({args.pause:.0%} pauses); latency "
                  f"{timing.get('latency_cycles')} cycles for a {timing.get('latency_query_length')}-id history, "
                  f"initiation interval {timing.get('ii_mean_cycles', 0):.1f} cycles; {report['seconds']} s")
    if report["waveform"]:
        console.print(f"waveform of the failing queries: {report['waveform']}")
    console.print(f"report: {build / 'sim' / 'report.json'}")
    if not report["passed"]:
        console.print(f"[bold red]simulation failed:[/] {report['error']}")
        return 1
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    from hybrec.bitstream.yosys import synthesize  # lazy: the build's numpy readers

    fits = True
    for target in args.target:
        report = synthesize(Path(args.build), target, log=console.print)
        use = ", ".join(f"{k} {v['used']:g}/{v['capacity']:g} ({v['percent']}%)" for k, v in report["usage"].items())
        verdict = "[green]fits[/]" if report["fits"] else "[red]does not fit[/]"
        console.print(f"{report['device']}: {use} — {verdict} ({report['seconds']} s)")
        if report.get("estimate"):
            est = report["estimate"]["usage"]
            console.print("  fit check's estimate (hybrec compile): " + ", ".join(
                (f"{k} {v['estimate']:g}" if v["exact"] else f"{k} ~{v['estimate']:,.0f}")
                + f" (Yosys {report['usage'][k]['used']:,g})"
                for k, v in est.items() if k in report["usage"]))
        fits &= report["fits"]
    console.print(f"reports: {Path(args.build) / 'fit'}")
    return 0 if fits else 1


def cmd_bitstream(args: argparse.Namespace) -> int:
    build = Path(args.build).resolve()
    if args.target == "pynq-z2" and args.place_only:
        raise HybrecError("--place-only is for the open ECP5 flow (nextpnr); the PYNQ-Z2 flow is Vivado's")
    if args.target == "pynq-z2":
        from hybrec.bitstream.vivado import run_vivado  # lazy: the build's numpy readers

        out = args.out or build / "vivado"
        info = run_vivado(build, out, clock_mhz=args.freq, log=console.print)   # no Vivado: ToolMissing
        console.print(f"wrote {out / 'hybrec.bit'} and {out / 'hybrec.hwh'} ({info['seconds']} s)")
        return 0
    from hybrec.bitstream.ecp5 import DEFAULT_SEEDS, build_bitstream, place_design  # lazy: the build's numpy readers

    if args.place_only:
        placement = place_design(build, out_dir=args.out, target=args.target, freq_mhz=args.freq,
                                 seeds=args.seeds or DEFAULT_SEEDS, jobs=args.jobs, timeout_s=args.timeout,
                                 log=console.print, console=console, margin_pct=args.margin)
        print_placement(placement)
        return 0
    result = build_bitstream(build, out_dir=args.out, target=args.target, freq_mhz=args.freq,
                             seeds=args.seeds or DEFAULT_SEEDS, jobs=args.jobs, timeout_s=args.timeout,
                             log=console.print, console=console, stop_when_met=not args.all_seeds,
                             tmg_ripup=args.tmg_ripup, margin_pct=args.margin)
    use = ", ".join(f"{k} {v['used']}/{v['capacity']} ({v['percent']}%)" for k, v in result["utilisation"].items()
                    if k in ("LUT4", "FF", "DP16KD", "MULT18X18D"))
    verdict = "[green]met[/]" if result["timing_met"] else "[red]NOT met[/]"
    console.print(f"{result['device']}: Fmax {result['fmax_mhz']} MHz for {result['clock']['constraint_mhz']} MHz "
                  f"(timing {verdict}); {use}; tools {result['seconds']} s")
    return 0 if result["timing_met"] else 1


def print_placement(placement: dict) -> None:
    """Each seed's estimate after placement and the blocks with the most failing endpoints."""
    from rich import box
    from rich.table import Table

    period = placement["clock"]["period_ns"]
    for run in placement["seeds"]:
        if "by_block" not in run:
            console.print(f"seed {run['seed']}: {run.get('error') or run.get('stopped')}")
            continue
        if not run["by_block"]:
            console.print(f"seed {run['seed']}: estimated {run['fmax_mhz']} MHz after placement, none of "
                          f"{run['endpoints']:,} endpoints failing at {period:g} ns")
            continue
        table = Table(title=f"seed {run['seed']}: estimated {run['fmax_mhz']} MHz after placement, "
                            f"{run['failing']:,} of {run['endpoints']:,} endpoints failing at {period:g} ns",
                      title_justify="left", box=box.SIMPLE_HEAD)
        for column in ("block", "failing", "worst slack ns"):
            table.add_column(column, justify="left" if column == "block" else "right")
        for group in run["by_block"][:8]:
            table.add_row(group["group"], f"{group['failing']:,}", f"{group['worst_slack_ns']:.2f}")
        console.print(table)


def cmd_hls(args: argparse.Namespace) -> int:
    from hybrec.compile.hls import run_csim, synth_hls  # lazy: jinja2, the build's numpy readers

    build = Path(args.build)
    if args.synth:
        report = synth_hls(build, out_dir=args.out, log=console.print)
        console.print(f"Vitis HLS ({report['tool']}): {report['seconds']} s; IP {report['ip']}")
        return 0
    report = run_csim(build, users=args.users, out_dir=args.out, log=console.print)
    verdict = "[green]0 mismatches[/]" if report["mismatches"] == 0 else \
        f"[bold red]{report['mismatches']} mismatches[/]"
    console.print(f"HLS C-simulation: {report['users']} users + {len(report['corner_cases'])} corner cases, {verdict}, "
                  f"{report['protocol_errors']} protocol errors; {report['seconds']} s (compile "
                  f"{report['compile_seconds']} s); {(args.out or build / 'hls') / 'csim_report.json'}")
    return 0 if report["passed"] else 1


def cmd_hil(args: argparse.Namespace) -> int:
    from hybrec.bench.hil import BACKENDS, HilOptions, HostModel, run_hil  # lazy: torch, matplotlib
    from hybrec.bench.workload import load_workload, prepare_gpu_inputs  # lazy: with the benchmark

    build = Path(args.build)
    if args.prepare_gpu or args.prepare_board:
        work = load_workload(build, cache_dir(), args.run, args.users, log=console.print)
        if args.prepare_gpu:
            console.print(f"wrote {prepare_gpu_inputs(work, args.prepare_gpu)} (carry it to the GPU machine: "
                          "scripts/device_hil_gpu.sh)")
        if args.prepare_board:
            from hybrec.bench.board_worker import write_queries  # lazy: with the benchmark

            path = write_queries(args.prepare_board / "queries.npz", work.histories, work.excludes)
            console.print(f"wrote {path} (for python -m hybrec.bench.board_worker pynq on the board)")
        return 0
    options = HilOptions(backends=tuple(args.backends) if args.backends else BACKENDS,
                         cpu_batches=tuple(args.batches), fpga_batches=tuple(args.batches),
                         cpu_min_calls=args.cpu_calls, cpu_threads=args.cpu_threads, gpu_json=args.gpu_json,
                         bitstream=args.bitstream, clock_mhz=args.clock_mhz,
                         host=HostModel(dma_us=args.dma_us, register_us=args.register_us), ddr_gbs=args.ddr_gbs,
                         board_python=args.board_python, pynq_results=args.pynq_results, bitfile=args.bitfile,
                         bitstream_manifest=args.bitstream_manifest, users=args.users, run_dir=args.run,
                         progress=show_progress(args))
    report = run_hil(build, args.out, cache_dir(), options, log=console.print)
    for name, backend in report["backends"].items():
        if backend["status"] != "ok":
            console.print(f"[yellow]{name}: {backend['status']}[/] — {backend['reason']}")
    for name, ok in report["fpga_equals_golden"].items():
        console.print(f"{name}: top-10 lists {'equal' if ok else 'DIFFER FROM'} the golden model's for all "
                      f"{report['workload']['queries']} test users")
    bar = report["bar_10x"]
    verdict = {True: "[green]met[/]", False: "[red]not met[/]", None: "[yellow]not evaluated[/]"}[bar["met"]]
    reason = f" — {bar['reason']}" if bar.get("reason") else ""
    console.print(f"10x bar (FPGA vs best GPU batch 1): {verdict}{reason}")
    console.print(f"report: {args.out / 'hil.md'} (and hil.json, the plots and the top-K lists in {args.out})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hybrec", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show the external tools' output as they run (it always goes to their log files)")
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="datasets")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    fetch = data_sub.add_parser("fetch", help="fetch and verify MovieLens-100K (from the recbole wheel)")
    fetch.set_defaults(func=cmd_data_fetch)
    synth = data_sub.add_parser("synth", help="write a synthetic shop in the user file format (docs/data-format.md)")
    synth.add_argument("--out", required=True, type=Path, help="folder for shop.inter and shop.item")
    synth.add_argument("--users", type=int, default=1500)
    synth.add_argument("--items", type=int, default=3000, help="the catalogue's size")
    synth.add_argument("--active-items", type=int, default=None,
                       help="only the first N items get interactions (default: all); the rest are catalogue only")
    synth.add_argument("--per-user", type=int, default=30, help="interactions per user, on average (at least 10)")
    synth.add_argument("--seed", type=int, default=0)
    synth.set_defaults(func=cmd_data_synth)

    train = sub.add_parser("train", help="train and evaluate every variant; writes OUT/metrics.json")
    source = train.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", type=Path, help="YAML run configuration (configs/ml100k.yaml)")
    source.add_argument("--preset", choices=["smoke"], help="a built-in configuration")
    train.add_argument("--out", required=True, type=Path, help="run directory")
    train.add_argument("--seeds", type=int, nargs="+", help="override the configuration's seeds")
    train.add_argument("--variants", nargs="+", metavar="NAME",
                       help="train only these variants (default: the configuration's list)")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.set_defaults(func=cmd_train)

    cmp = sub.add_parser("compare", help="two variants of a run user by user: the mean difference and its paired "
                                         "bootstrap interval per seed (RUN/compare/)")
    cmp.add_argument("--run", required=True, type=Path, help="run directory of `hybrec train`")
    cmp.add_argument("variant", help="e.g. hybrid_w4a4")
    cmp.add_argument("against", help="e.g. ease_float")
    cmp.add_argument("--part", choices=["test", "valid"], default="test")
    cmp.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples of the users")
    cmp.set_defaults(func=cmd_compare)

    comp = sub.add_parser("compile", help="export + FINN front-end + RTL + golden vectors; writes OUT/manifest.json")
    comp.add_argument("--run", required=True, type=Path, help="run directory of `hybrec train`")
    comp.add_argument("--out", required=True, type=Path, help="build directory")
    kernel = comp.add_mutually_exclusive_group()
    kernel.add_argument("--config", type=Path, help="kernel configuration YAML (configs/kernel-ml100k.yaml)")
    kernel.add_argument("--preset", choices=["default", "ml100k", "smoke"], default="default",
                        help="a built-in kernel configuration (default: `default`, the MLP's folding derived for the "
                             "trained shape and the targets; ml100k: configs/kernel-ml100k.yaml)")
    comp.add_argument("--force", action="store_true",
                      help="replace whatever --out holds (a build of other inputs, a damaged build, another folder)")
    comp.add_argument("--target", nargs="*", choices=["ecp5-85k", "xc7z020"], default=None,
                      help="the parts the kernel must fit by block RAM and multipliers, checked before anything is "
                           "written (default: the configuration's `targets`, ecp5-85k and xc7z020; no value: no "
                           "check)")
    comp.set_defaults(func=cmd_compile)

    sim = sub.add_parser("sim", help="simulate the whole kernel against the golden vectors (BUILD/sim/report.json)")
    sim.add_argument("--build", required=True, type=Path, help="build directory of `hybrec compile`")
    sim.add_argument("--users", type=int, help="check this many users (random subset; default: all)")
    sim.add_argument("--simulator", choices=["verilator", "icarus"], default="verilator")
    sim.add_argument("--pause", type=float, default=0.3, help="per-cycle pause probability on both streams")
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--model", type=Path, action="append", default=[], metavar="BUILD",
                     help="another build of the same kernel shape: its model image is loaded into the same kernel "
                          "after this build's, and its queries checked (repeatable)")
    sim.add_argument("--harness", action="store_true",
                     help="the fast C++ Verilator harness instead of cocotb (no latency/reset checks)")
    sim.add_argument("--shared-lib", action="store_true",
                     help="only build BUILD/sim/model/libkernel.so, the kernel model the simulated PYNQ device "
                          "(hybrec.driver.simdevice) loads; reused while the RTL is unchanged")
    sim.add_argument("--force", action="store_true", help="with --shared-lib: rebuild even when up to date")
    sim.set_defaults(func=cmd_sim)

    hls = sub.add_parser("hls", help="the HLS C++ kernel: C-simulation against the golden vectors, or Vitis HLS")
    hls.add_argument("--build", required=True, type=Path, help="build directory of `hybrec compile`")
    hls.add_argument("--users", type=int, help="check this many users (random subset; default: all)")
    hls.add_argument("--out", type=Path, help="output folder (default: BUILD/hls)")
    hls.add_argument("--synth", action="store_true",
                     help="write the Vitis HLS scripts into the output folder and run them (needs vitis_hls)")
    hls.set_defaults(func=cmd_hls)

    bit = sub.add_parser("bitstream", help="bitstream of a build's kernel: ECP5 (open flow) or PYNQ-Z2 (Vivado)")
    bit.add_argument("--build", required=True, type=Path, help="build directory of `hybrec compile`")
    bit.add_argument("--target", choices=["ecp5-85k", "pynq-z2"], default="ecp5-85k")
    bit.add_argument("--out", type=Path, default=None,
                     help="the bitstream's folder (default: bitstreams/<target>-<shape key, 16 digits>; "
                          "pynq-z2: BUILD/vivado)")
    bit.add_argument("--freq", type=float, default=100.0, help="kernel clock in MHz (ECP5: made by the PLL)")
    bit.add_argument("--seeds", type=int, nargs="+", default=None, metavar="SEED",
                     help="nextpnr seeds, placed and routed side by side; the fastest routed result is kept "
                          "(default: 1 and 2); the first to meet the clock stops the others")
    bit.add_argument("--all-seeds", action="store_true",
                     help="run every seed to the end, even after one has met the clock")
    bit.add_argument("--tmg-ripup", action="store_true",
                     help="ECP5: router2 rips up and routes again the nets of paths that fail the clock (nextpnr "
                          "--tmg-ripup): the ML-100K kernel's placement routed at 98.7 MHz instead of 75.8; on a "
                          "clock the placement cannot reach the rip-up wanders, and a seed without progress for 80 "
                          "iterations is stopped as stalled")
    bit.add_argument("--margin", type=float, default=0.0, metavar="PCT",
                     help="ECP5: nextpnr places and routes for a clock PCT %% faster than the PLL's (an LPF "
                          "constraint on its output) and timing is judged at the PLL's: router2's own analysis, "
                          "which ends --tmg-ripup, is ~1 %% more optimistic than its final report (default 0)")
    bit.add_argument("--jobs", type=int, default=None,
                     help="nextpnr runs at a time (default: one per CPU core, up to one per seed)")
    bit.add_argument("--place-only", action="store_true",
                     help="ECP5: place without routing and report every block's failing endpoints from the "
                          "placement's estimated delays (BUILD/placement/<target>/placement.json); no bitstream")
    bit.add_argument("--timeout", type=int, default=3600, metavar="S",
                     help="seconds each tool may run before the flow stops with an error (ECP5; default 3600)")
    bit.set_defaults(func=cmd_bitstream)

    fit = sub.add_parser("fit", help="Yosys resource counts of a build's kernel against FPGA capacities")
    fit.add_argument("--build", required=True, type=Path, help="build directory of `hybrec compile`")
    fit.add_argument("--target", nargs="+", choices=["ecp5-85k", "xc7z020"], default=["ecp5-85k", "xc7z020"])
    fit.set_defaults(func=cmd_fit)

    hil = sub.add_parser("hil", help="hardware-in-the-loop benchmark: CPU, GPU (committed JSON), simulated FPGA "
                                     "through the PYNQ driver, PYNQ board; writes OUT/hil.md")
    hil.add_argument("--build", required=True, type=Path, help="build directory of `hybrec compile`")
    hil.add_argument("--out", type=Path, default=Path("reports/local/hil"),
                     help="report folder (default: reports/local/hil, not committed; make hil: reports/hil/ml100k)")
    hil.add_argument("--bitstream", type=Path,
                     help="the bitstream (its folder or manifest.json) of this kernel whose clock the FPGA runs at")
    hil.add_argument("--gpu-json", type=Path, help="the GPU machine's results (reports/hil/gpu/<machine>/hil_gpu.json)")
    hil.add_argument("--backends", nargs="+", choices=["cpu", "gpu", "sim", "pynq"],
                     help="default: all (those that cannot run say why)")
    hil.add_argument("--batches", type=int, nargs="+", default=[1, 16, 256], help="batch sizes (CPU and FPGA)")
    hil.add_argument("--users", type=int, help="only the first N test users (default: all)")
    hil.add_argument("--run", type=Path, help="the run directory the build came from (default: the manifest's)")
    hil.add_argument("--cpu-calls", type=int, default=50, help="timed CPU calls per batch size (at least one pass)")
    hil.add_argument("--cpu-threads", type=int, default=1, help="torch threads of the CPU backend")
    hil.add_argument("--clock-mhz", type=float, help="without --bitstream: an FPGA clock to assume (labelled ASSUMED)")
    hil.add_argument("--dma-us", type=float, default=1.0, help="DMA model: fixed time per query (assumed)")
    hil.add_argument("--register-us", type=float, default=0.2, help="host model: time per DMA register access")
    hil.add_argument("--ddr-gbs", type=float, default=2.1,
                     help="board DDR bandwidth for item vectors that do not fit on chip (PYNQ-Z1/Z2 peak: 2.1)")
    hil.add_argument("--board-python", type=Path, help="python of the board-like environment (default .venv-board)")
    hil.add_argument("--pynq-results", type=Path,
                     help="R.npz of `python -m hybrec.bench.board_worker pynq` on a board")
    hil.add_argument("--bitfile", type=Path, help="PYNQ overlay .bit (with its .hwh), to run on this board")
    hil.add_argument("--bitstream-manifest", type=Path, help="the .bit's manifest (sha256, build id)")
    hil.add_argument("--prepare-gpu", type=Path, metavar="DIR",
                     help="only write DIR/inputs.npz for scripts/device_hil_gpu.sh and stop")
    hil.add_argument("--prepare-board", type=Path, metavar="DIR",
                     help="only write DIR/queries.npz for hybrec.bench.board_worker on a board and stop")
    hil.add_argument("--quiet", action="store_true", help="no progress bars")
    hil.set_defaults(func=cmd_hil)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Brevitas warns on import that an optional accelerator package is missing; nothing here uses it
    warnings.filterwarnings("ignore", message="fast_hadamard_transform package not found")
    token = tools.ECHO.set(bool(args.verbose))
    try:
        return int(args.func(args))
    except HybrecError as err:
        console.print(f"[bold red]error:[/] {escape(str(err))}")   # a tool's log lines are not rich markup
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]interrupted; rerun the same command to resume[/]")
        return 130
    finally:
        tools.ECHO.reset(token)


if __name__ == "__main__":
    sys.exit(main())
