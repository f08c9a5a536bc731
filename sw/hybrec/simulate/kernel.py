"""``hybrec sim``: the whole kernel of a build directory under cocotb (Verilator or Icarus), checked
against the build's golden vectors, with random AXI-Stream backpressure. Writes ``BUILD/sim/report.json``.

The kernel holds no model after a reset: each check first loads the build's model image through the input
stream (docs/model-image.md); the model images of ``models`` (other builds of the same shape) are loaded and
their queries checked after it, on the same kernel. The ``load`` check (not run by default: it loads the image
five times, minutes under cocotb for an ML-100K kernel; the test suite runs it on the tiny kernel) exercises
every status answer (no model, another shape, interrupted, overlong and bad-count loads, a bad header).

Report: users/queries checked, mismatches, the pauses used, the load's cycles, cycles per query (first input
beat to last output beat, idle kernel, the longest user history) and the initiation interval of back-to-back
queries. On a mismatch the failing queries are simulated again with waves on, and the trace is kept
(``BUILD/sim/mismatch.fst`` or ``.vcd``).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from hybrec.artifacts import atomic_write_json
from hybrec.builddir import SIM_DIR, BuildDir
from hybrec.simulate.harness import same_shape
from hybrec.simulate.runner import CONFIG_ENV, SimulationFailed, run_cocotb

# The MLP's simulated latency (first beat into layer 0 .. last beat out of the last layer, idle kernel)
# against FINN's estimate, the sum of the layers' exp_cycles (MH/PE * MW/SIMD). FINN's model counts MAC
# steps and no pipeline fill; each MVAU adds its read/multiply/accumulate stages and its thresholds (the
# channels through the threshold units, out_bits stages, the collector: Mvau.pipeline_depth,
# hw/mvau/README.md), while a layer's first fold overlaps its producer. Tolerance:
# |simulated - FINN| <= 5 % of FINN + the layers' pipeline depths.
MLP_CYCLE_TOLERANCE = 0.05


def simulate_build(build_dir: Path, users: int | None = None, simulator: str = "verilator",
                   source_pause: float = 0.3, sink_pause: float = 0.3, seed: int = 1,
                   checks: tuple[str, ...] = ("golden", "latency", "reset"),
                   models: list[Path] | None = None, log: Any = print) -> dict[str, Any]:
    build = BuildDir.open(build_dir)   # the simulator runs in sim/<simulator>: every path it sees is absolute
    kernel = build.kernel
    vectors = build.vectors()
    queries = vectors.select(users, seed)
    sim_dir = build.sim_dir
    sim_dir.mkdir(parents=True, exist_ok=True)
    report_path = sim_dir / f"tb_report_{simulator}.json"
    report_path.unlink(missing_ok=True)
    loads = [{"image": str(b.image_path), "vectors": str(b.path / b.manifest.vectors_file)}
             for b in [build, *same_shape(build, models or [])]]
    config = {"models": loads, "queries": queries, "k": kernel.k, "lmax": kernel.lmax,
              "n_items_max": kernel.n_items, "check_load": "load" in checks,
              "source_pause": source_pause, "sink_pause": sink_pause, "seed": seed, "report": str(report_path),
              "longest_query": vectors.longest_user_query(), "burst": 32,
              "mlp_layers": len(kernel.parameters["layers"]), "check_golden": "golden" in checks,
              "check_latency": "latency" in checks, "check_reset": "reset" in checks}
    started = time.perf_counter()
    error = _run(build, simulator, config, sim_dir / simulator, waves=False)
    tb = json.loads(report_path.read_text()) if report_path.is_file() else {}
    if error is not None and "golden" in checks and not tb.get("golden"):
        # the testbench never compared an answer: there is no mismatch count to report
        atomic_write_json(sim_dir / "report.json", {"build_id": build.build_id, "simulator": simulator,
                                                    "passed": False, "error": error, "mismatches": None})
        raise SimulationFailed(error)
    wave = None
    if error is not None and tb.get("golden", {}).get("mismatches"):
        failing = [m["query"] for m in tb["golden"]["first_mismatches"]]
        log(f"[red]{tb['golden']['mismatches']} mismatches[/]; simulating queries {failing} again with waves on")
        wave = _rerun_with_waves(build, simulator, {**config, "queries": failing,
                                                    "report": str(sim_dir / "waves_report.json")})
    seconds = time.perf_counter() - started
    timing = tb.get("timing") or {}
    finn = build.manifest.finn
    mlp_vs_finn = None
    if "mlp_latency_cycles" in timing and "exp_cycles_total" in finn:
        simulated, estimate = timing["mlp_latency_cycles"], finn["exp_cycles_total"]
        fill = sum(layer["pipeline_depth"] for layer in kernel.parameters["layers"])
        allowed = MLP_CYCLE_TOLERANCE * estimate + fill
        mlp_vs_finn = {"simulated_mlp_cycles": simulated, "finn_exp_cycles": finn["exp_cycles_per_layer"],
                       "finn_exp_cycles_total": estimate, "ratio": round(simulated / estimate, 3),
                       "tolerance": f"|simulated - FINN| <= {MLP_CYCLE_TOLERANCE:.0%} of FINN + {fill} "
                                    "pipeline cycles", "allowed_difference": round(allowed, 1),
                       "within_tolerance": abs(simulated - estimate) <= allowed}
    report = {
        "build_id": build.build_id, "simulator": simulator, "seconds": round(seconds, 1),
        "users": int(sum(1 for q in queries if vectors.user[q] >= 0)), "queries": len(queries),
        "corner_cases": sorted({str(vectors.kind[q]) for q in queries if vectors.user[q] < 0}),
        "mismatches": tb.get("golden", {}).get("mismatches"), "backpressure": {"source_pause": source_pause,
                                                                              "sink_pause": sink_pause},
        "timing": tb.get("timing"), "reset_check": tb.get("reset"), "load_check": tb.get("load"),
        "golden": tb.get("golden"),
        "cycle_model": kernel.cycle_model, "mlp_vs_finn": mlp_vs_finn,
        "passed": error is None, "error": error,
        "waveform": wave,
    }
    atomic_write_json(sim_dir / "report.json", report)
    return report


def _run(build: BuildDir, simulator: str, config: dict[str, Any], work: Path, waves: bool) -> str | None:
    work.mkdir(parents=True, exist_ok=True)
    config_path = work / "tb_config.json"
    config_path.write_text(json.dumps(config, indent=1))
    try:
        run_cocotb(toplevel=build.kernel.top, sources=build.sources, test_module="test_kernel",
                   test_dir=SIM_DIR / "kernel", build_dir=work,
                   parameters={build.kernel.mem_dir_parameter: f'"{build.mem_dir_value()}"'}, simulator=simulator,
                   waves=waves, extra_env={CONFIG_ENV: str(config_path)})
    except SimulationFailed as err:
        return str(err)
    return None


def _rerun_with_waves(build: BuildDir, simulator: str, config: dict[str, Any]) -> str | None:
    work = build.sim_dir / f"{simulator}-waves"
    _run(build, simulator, {**config, "check_latency": False, "check_reset": False, "check_load": False}, work,
         waves=True)
    for pattern in ("*.fst", "*.vcd"):
        for trace in work.rglob(pattern):
            target = build.sim_dir / f"mismatch{trace.suffix}"
            shutil.move(str(trace), target)
            return str(target)
    return None
