"""The kernel as HLS C++ (``hls_kernels/``): the build's parameters and ROMs as headers, C-simulation with
g++ against the build's golden vectors, and the Vitis HLS synthesis scripts.

``BUILD/hls/`` (or another ``out_dir``)::

    params.h          the blocks' parameter structs, from manifest.json ``kernel.parameters``
    mlp.h             the chain of the build's MVAU layers (template ``templates/hls_mlp.h.j2``)
    rom_features.h    item features [N][F] and the reciprocal table [LMAX + 1]
    rom_mvau.h        per layer: weights [PE][NF*SF][SIMD] and thresholds [PE][NF][2^bits - 1]
    rom_items.h       item vectors [LANES][NROWS][D]
    csim/             queries.txt, expected.txt, results.txt, the C-sim program and its compile log
    csim_report.json  written by :func:`run_csim`
    run_hls.tcl, hls_settings.tcl, src/    written by :func:`synth_hls`: everything Vitis HLS needs

C-simulation compiles ``hls_kernels/kernel/{hybrec_kernel_hls,kernel_tb}.cpp`` with g++ ``-std=c++17`` and
``-Wall -Wextra -Werror`` for the project's own code; Xilinx's Apache-2.0 ap_types headers come from the
``hls4ml`` wheel (installed with ``--no-deps``; only its headers are used) and are included with
``-isystem``. The program feeds every query to the top function, one call per query, and compares the
64-bit result words with the golden model's (:func:`hybrec.compile.vectors.output_words`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from hybrec import numerics
from hybrec.artifacts import atomic_write_json, atomic_write_text
from hybrec.bitstream.yosys import ToolMissing
from hybrec.compile.hls_headers import (
    c_array,
    c_struct,
    item_rom,
    kernel_structs,
    mvau_threshold_rom,
    mvau_weight_rom,
)

HLS_DIR = Path(__file__).resolve().parents[3] / "hls_kernels"
HLS4ML = "hls4ml==1.3.0"
TOP = "hybrec_kernel_hls"
SOURCE_INCLUDES = (HLS_DIR, HLS_DIR / "common")  # "hist_agg/hist_agg.h", "hybrec_hls.h"
BLOCK_DIRS = ("common", "hist_agg", "mvau", "scorer", "hist_mask", "topk", "kernel")
# Warnings of the project's own C++ are errors; the ap_types headers are system headers (-isystem). Two
# exceptions, both for Vitis HLS' sake: `#pragma HLS` directives (g++ does not know them) and loop labels
# (`rows: for (...)`: they name the loops in Vitis HLS' reports and are never jumped to).
CXXFLAGS = ("-std=c++17", "-Wall", "-Wextra", "-Werror", "-Wno-unknown-pragmas", "-Wno-unused-label",
            "-DHYBREC_NO_AP_AXI_SDATA")
HLS_TOOLS = {"vitis_hls": ["vitis_hls", "-f", "run_hls.tcl"],
             "vitis-run": ["vitis-run", "--mode", "hls", "--tcl", "run_hls.tcl"]}

Log = Callable[[str], Any]


class HlsToolMissing(ToolMissing):
    """g++, the ap_types headers or Vitis HLS is not installed; the message says which and how to get it."""


class HlsError(RuntimeError):
    """The C++ did not compile, or a program failed; the message holds the tool's output."""


# -- tools -------------------------------------------------------------------------------------------------
def ap_types_dir() -> Path:
    """Xilinx's ap_types headers inside the installed hls4ml wheel (found without importing hls4ml)."""
    spec = importlib.util.find_spec("hls4ml")
    if spec is not None and spec.submodule_search_locations:
        folder = Path(next(iter(spec.submodule_search_locations))) / "templates" / "vivado" / "ap_types"
        if (folder / "ap_int.h").is_file() and (folder / "hls_stream.h").is_file():
            return folder
    raise HlsToolMissing(f"the ap_types headers are not installed: pip install --no-deps {HLS4ML} (make setup; "
                         "only the wheel's headers are used, none of its dependencies)")


def compiler() -> str:
    found = shutil.which("g++")
    if found is None:
        raise HlsToolMissing("g++ is not installed (apt-get install g++); C-simulation needs it")
    return found


def compile_program(sources: Sequence[Path], exe: Path, include_dirs: Sequence[Path], opt: str = "-O2") -> float:
    """Compile a C-simulation program; returns the seconds it took. The log is kept beside ``exe``.

    ``include_dirs`` are searched in order (:data:`SOURCE_INCLUDES` for ``hls_kernels/`` itself).
    """
    cmd = [compiler(), *CXXFLAGS, opt, "-isystem", str(ap_types_dir()), *(f"-I{d}" for d in include_dirs),
           *map(str, sources), "-o", str(exe)]
    exe.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    exe.with_suffix(".log").write_text(" ".join(cmd) + "\n\n" + result.stdout + result.stderr)
    if result.returncode != 0:
        raise HlsError(f"g++ failed on {', '.join(s.name for s in sources)}:\n{result.stderr[-4000:]}")
    return seconds


# -- headers -----------------------------------------------------------------------------------------------
def _header(body: str, guard: str, about: str) -> str:
    return (f"// {about}\n// Generated by hybrec.compile.hls; do not edit.\n#ifndef {guard}\n#define {guard}\n\n"
            f"{body}\n#endif  // {guard}\n")


def write_hls_params(build_dir: Path, out_dir: Path | None = None) -> Path:
    """Write the build's ``params.h``, ``mlp.h`` and ROM headers into ``out_dir`` (default ``BUILD/hls``).

    Reads ``BUILD/manifest.json`` (the RTL top's parameters: the same folding, lanes and K) and
    ``BUILD/export/kernel.npz`` (the integer parameters); returns ``out_dir``.
    """
    from hybrec.compile.build import read_manifest
    from hybrec.export.golden import KernelParams

    manifest = read_manifest(build_dir)
    kp = manifest["kernel"]["parameters"]
    params = KernelParams.load(build_dir / "export" / "kernel.npz")
    checks = {"n_items": params.n_items, "feature_dim": params.feature_dim, "lmax": params.lmax,
              "out_dim": params.out_dim, "k": params.k, "feature_bits": params.feature_bits,
              "item_bits": params.item_bits, "agg_shift": params.agg_shift}
    differ = [f"{key} ({kp[key]} vs {value})" for key, value in checks.items() if kp[key] != value]
    if len(kp["layers"]) != len(params.layers):
        differ.append(f"layers ({len(kp['layers'])} vs {len(params.layers)})")
    if differ:
        raise HlsError(f"{build_dir}: manifest.json and export/kernel.npz disagree: {', '.join(differ)}")
    out = (out_dir or build_dir / "hls").resolve()
    out.mkdir(parents=True, exist_ok=True)
    build_id = manifest["build_id"]
    about = f"build {build_id}"

    structs = kernel_structs(kp)
    body = "namespace hybrec_cfg {\n\n" + f'constexpr const char* BUILD_ID = "{build_id}";\n'
    body += f"constexpr int NUM_LAYERS = {len(kp['layers'])};\n\n"
    body += "\n".join(c_struct(name, fields) for name, fields in structs.items())
    body += f"\ntypedef Layer0P FirstLayerP;\ntypedef Layer{len(kp['layers']) - 1}P LastLayerP;\n"
    body += "\n}  // namespace hybrec_cfg\n"
    atomic_write_text(out / "params.h", _header(body, "HYBREC_BUILD_PARAMS_H", f"params.h: the kernel of {about}"))

    def rom(name: str, arrays: dict[str, np.ndarray], what: str) -> None:
        text = "namespace hybrec_rom {\n\n" + "\n".join(c_array(k, v) for k, v in arrays.items()) + "\n}\n"
        atomic_write_text(out / name, _header(text, f"HYBREC_BUILD_{name[:-2].upper()}_H", f"{name}: {what}, {about}"))

    rom("rom_features.h", {"FEATURES": params.features,
                           "RECIP": numerics.reciprocal_table(params.lmax, params.agg_shift)},
        "item features [N][F] and the reciprocal table [LMAX + 1]")
    layers: dict[str, np.ndarray] = {}
    for index, (layer, w, t) in enumerate(zip(kp["layers"], params.weights, params.thresholds, strict=True)):
        layers[f"MVAU{index}_WEIGHTS"] = mvau_weight_rom(w, layer["simd"], layer["pe"])
        layers[f"MVAU{index}_THRESHOLDS"] = mvau_threshold_rom(t, layer["pe"])
    rom("rom_mvau.h", layers, "MVAU weights [PE][NF*SF][SIMD] and thresholds [PE][NF][2^bits - 1]")
    rom("rom_items.h", {"ITEMS": item_rom(params.items, kp["lanes"])}, "item vectors [LANES][NROWS][D]")

    env = jinja2.Environment(loader=jinja2.PackageLoader("hybrec.compile", "templates"),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
    text = env.get_template("hls_mlp.h.j2").render(build_id=build_id, n_layers=len(kp["layers"]))
    atomic_write_text(out / "mlp.h", text)
    return out


# -- C-simulation ------------------------------------------------------------------------------------------
def _kernel_sources() -> list[Path]:
    return [HLS_DIR / "kernel" / f"{TOP}.cpp", HLS_DIR / "kernel" / "kernel_tb.cpp"]


def build_csim(out: Path, log: Log = print) -> tuple[Path, float]:
    """Compile the kernel's C-sim program against the headers in ``out``; reused while nothing changed."""
    exe = out / "csim" / "kernel_tb"
    digest = hashlib.sha256(" ".join(CXXFLAGS).encode())
    for path in sorted([*_kernel_sources(), *HLS_DIR.glob("*/*.h"), *out.glob("*.h")]):
        digest.update(path.name.encode() + path.read_bytes())
    stamp = out / "csim" / "sources.sha256"
    if exe.is_file() and stamp.is_file() and stamp.read_text() == digest.hexdigest():
        return exe, 0.0
    log("compiling the HLS kernel's C-simulation (g++) ...")
    seconds = compile_program(_kernel_sources(), exe, [out, *SOURCE_INCLUDES])
    stamp.write_text(digest.hexdigest())
    return exe, seconds


def run_csim(build_dir: Path, users: int | None = None, out_dir: Path | None = None, seed: int = 1,
             log: Log = print) -> dict[str, Any]:
    """C-simulate the HLS kernel on every golden vector (or ``users`` users + the corner cases).

    Writes ``csim_report.json`` into ``out_dir`` (default ``BUILD/hls``) and returns it: queries,
    mismatches (queries whose K words differ from the golden model's), protocol errors, seconds.
    """
    from hybrec.compile.build import read_manifest
    from hybrec.compile.vectors import load_vectors, output_words, select_queries, write_text_vectors

    build_dir = build_dir.resolve()
    out = write_hls_params(build_dir, out_dir)
    manifest = read_manifest(build_dir, verify=False)
    vectors = load_vectors(build_dir / manifest["vectors"]["file"])
    queries = select_queries(vectors, users, seed)
    write_text_vectors(out / "csim", vectors, queries)
    expected = output_words(vectors)[queries]
    exe, compile_seconds = build_csim(out, log)
    started = time.perf_counter()
    result = subprocess.run([str(exe), str(out / "csim" / "queries.txt"), str(out / "csim" / "expected.txt"),
                             str(out / "csim" / "results.txt")], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode not in (0, 1):
        output = (result.stdout + result.stderr)[-3000:]
        raise HlsError(f"the C-simulation failed (exit {result.returncode}):\n{output}")
    fields = result.stdout.strip().splitlines()[-1].split()  # "queries Q mismatches M protocol_errors E ..."
    summary = dict(zip(fields[0::2], map(int, fields[1::2]), strict=True))
    # ap_types' own run-time checks (width mismatches, overflow of a conversion) print "WARNING:" lines
    ap_warnings = [line for line in result.stderr.splitlines() if line.startswith(("WARNING:", "ERROR:"))]
    got = [list(map(int, line.split()[1:])) for line in (out / "csim" / "results.txt").read_text().splitlines()]
    bad = [i for i, row in enumerate(expected) if i >= len(got) or got[i] != row.tolist()]
    kinds = vectors["kind"][queries]
    report: dict[str, Any] = {
        "build_id": manifest["build_id"], "top": TOP, "simulator": "g++ C-simulation (ap_types of hls4ml 1.3.0)",
        "compiler": subprocess.run([compiler(), "--version"], capture_output=True, text=True).stdout.splitlines()[0],
        "cxxflags": " ".join(CXXFLAGS), "queries": len(queries),
        "users": int(sum(1 for q in queries if vectors["user"][q] >= 0)),
        "corner_cases": sorted({str(k) for k in kinds if k != "user"}),
        "mismatches": len(bad), "protocol_errors": summary.get("protocol_errors", -1),
        "ap_types_warnings": len(ap_warnings), "first_ap_types_warning": ap_warnings[0] if ap_warnings else None,
        "seconds": round(seconds, 2), "compile_seconds": round(compile_seconds, 2),
        "passed": result.returncode == 0 and not bad and summary.get("mismatches") == 0 and not ap_warnings,
    }
    if bad:
        first = bad[0]
        report["first_mismatch"] = {"query": queries[first], "kind": str(kinds[first]),
                                    "expected": expected[first].tolist(), "got": got[first] if first < len(got) else []}
    atomic_write_json(out / "csim_report.json", report)
    return report


# -- synthesis ---------------------------------------------------------------------------------------------
def write_synth_scripts(build_dir: Path, out_dir: Path | None = None) -> Path:
    """Everything ``vitis_hls -f run_hls.tcl`` needs, in one relocatable folder (default ``BUILD/hls``):
    the generated headers, a copy of ``hls_kernels/`` under ``src/``, the golden vectors for its C-sim
    step, ``hls_settings.tcl`` (part, clock, steps) and ``run_hls.tcl``."""
    from hybrec.compile.build import read_manifest
    from hybrec.compile.vectors import load_vectors, select_queries, write_text_vectors

    build_dir = build_dir.resolve()
    out = write_hls_params(build_dir, out_dir)
    manifest = read_manifest(build_dir, verify=False)
    vectors = load_vectors(build_dir / manifest["vectors"]["file"])
    write_text_vectors(out / "csim", vectors, select_queries(vectors, None, 1))
    shutil.rmtree(out / "src", ignore_errors=True)
    for block in BLOCK_DIRS:
        (out / "src" / block).mkdir(parents=True)
        for source in [*(HLS_DIR / block).glob("*.h"), *(HLS_DIR / block).glob("*.cpp")]:
            if not source.name.endswith("_tb.cpp") or source.name == "kernel_tb.cpp":
                shutil.copyfile(source, out / "src" / block / source.name)
    config = manifest["inputs"]["kernel_config"]
    settings = [f"# Generated by hybrec.compile.hls for build {manifest['build_id']}; read by run_hls.tcl.",
                f"set hybrec_top {TOP}", f"set hybrec_part {config['fpga_part']}",
                f"set hybrec_clock_ns {1000.0 / config['clock_mhz']:.3f}", "set hybrec_steps {csim csynth export}"]
    atomic_write_text(out / "hls_settings.tcl", "\n".join(settings) + "\n")
    shutil.copyfile(HLS_DIR / "run_hls.tcl", out / "run_hls.tcl")
    return out


def hls_tool() -> list[str]:
    """The command that runs ``run_hls.tcl``: ``vitis_hls -f`` or, from Vitis 2024.2 on, ``vitis-run``."""
    for name, cmd in HLS_TOOLS.items():
        if shutil.which(name):
            return cmd
    vpp = " (`v++` is, but it does not run Tcl scripts)" if shutil.which("v++") else ""
    raise HlsToolMissing(f"Vitis HLS is not installed here: neither `vitis_hls` nor `vitis-run` is on PATH{vpp}")


def synth_hls(build_dir: Path, out_dir: Path | None = None, log: Log = print) -> dict[str, Any]:
    """Vitis HLS: C-sim, C synthesis and IP export of the kernel, where Vitis HLS is installed.

    The scripts are written first (:func:`write_synth_scripts`); without ``vitis_hls``/``vitis-run`` on
    PATH this raises :class:`HlsToolMissing` naming the tool and the folder to run them in elsewhere.
    Otherwise it runs the tool there and writes ``synth_report.json`` (the tool's own csynth report is
    under ``prj/``; the IP under ``ip/``).
    """
    out = write_synth_scripts(build_dir, out_dir)
    try:
        cmd = hls_tool()
    except HlsToolMissing as err:
        raise HlsToolMissing(f"{err}. Nothing was synthesized. The scripts are in {out}: run "
                             f"`vitis_hls -f run_hls.tcl` there on a machine with Vitis HLS") from None
    log(f"running {' '.join(cmd)} in {out} ...")
    started = time.perf_counter()
    with open(out / "vitis_hls.log", "w") as handle:
        result = subprocess.run(cmd, cwd=out, stdout=handle, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        tail = (out / "vitis_hls.log").read_text(errors="replace")[-3000:]
        raise HlsError(f"{cmd[0]} failed (exit {result.returncode}); log {out / 'vitis_hls.log'}:\n{tail}")
    report = {"tool": cmd[0], "command": " ".join(cmd), "seconds": round(seconds, 1), "log": "vitis_hls.log",
              "ip": sorted(str(p.relative_to(out)) for p in (out / "ip").glob("*")) if (out / "ip").is_dir() else [],
              "csynth_reports": sorted(str(p.relative_to(out)) for p in (out / "prj").rglob("csynth.xml"))}
    atomic_write_json(out / "synth_report.json", report)
    log(json.dumps(report, indent=2))
    return report
