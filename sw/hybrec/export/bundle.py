"""The export stage: a trained quantized hybrid (a run directory's checkpoint) -> an export directory.

Export directory (every file written atomically; ``export.json`` last, so a directory without it is
unfinished)::

    kernel.npz       the integer kernel parameters (:class:`hybrec.golden.KernelParams`): int8 item
                     features, the MLP's integer weights and exact thresholds, int8 item vectors
    mlp.qonnx.onnx   the fusion MLP exported by Brevitas to QONNX (input: the integer mean at scale 1)
    queries.npz      one query per user: the last ``lmax`` training items by time (kernel item indices),
                     ``user_ids`` / ``item_ids`` the dataset's own ids
    export.json      format ``hybrec-export/1``; source run, variant, seed and checkpoint sha256; shapes,
                     bit widths and scales; sha256 of every file above; the agreement checks below

Checks recorded in ``export.json`` (``checks``): the golden model's user vectors and top-K lists
against Brevitas' own quantized forward for every user of the dataset.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hybrec import __version__
from hybrec.artifacts import atomic_write_json, first_changed_file, sha256_file
from hybrec.builddir import Queries
from hybrec.config import read_run
from hybrec.data import load_configured, make_split, user_item_lists
from hybrec.export.mlp import ExportError, export_qonnx_file, input_scale, integer_layers
from hybrec.golden import GoldenModel, KernelParams, QueryResult
from hybrec.models.checkpoint import CheckpointError, load_checkpoint
from hybrec.models.hybrid import HybridRecommender, HybridShape, QuantSpec

FORMAT = "hybrec-export/2"
DEFAULT_VARIANT = "hybrid_w4a4"


def load_quantized_hybrid(run_dir: Path, variant: str, seed: int | None) -> tuple[Any, dict[str, Any], Path]:
    """The trained model of ``variant`` (seed: the run's first by default), its checkpoint and path."""
    config, config_sha = read_run(run_dir)
    seed = config.seeds[0] if seed is None else seed
    path = run_dir / "checkpoints" / f"seed{seed}" / f"{variant}.pt"
    if not path.is_file():
        raise ExportError(f"{path}: no such checkpoint (variants of this run: {', '.join(config.variants)}; "
                          f"seeds: {', '.join(map(str, config.seeds))})")
    try:
        payload = load_checkpoint(path, config_sha)
    except CheckpointError as err:
        raise ExportError(str(err)) from None
    meta = payload["meta"]
    if meta.get("kind") != "hybrid" or not meta.get("quant"):
        raise ExportError(f"{path}: {variant} is not a quantized hybrid model; the kernel needs one "
                          "(e.g. hybrid_w4a4 or hybrid_w8a8)")
    shape = HybridShape(**{**meta["shape"], "hidden": tuple(meta["shape"]["hidden"])})
    text = torch.zeros(shape.n_items, shape.text_in_dim) if shape.text_in_dim else None
    gnn = torch.zeros(shape.n_items, shape.gnn_dim) if shape.gnn_dim else None
    model = HybridRecommender(shape, text, gnn, QuantSpec(**meta["quant"]))
    model.load_state_dict(payload["state_dict"])
    model.eval()
    return model, payload, path


def user_queries(run_dir: Path, lmax: int, cache_dir: Path) -> Queries:
    """Per user, the last ``lmax`` training items by time (the model's input), the other training and
    validation items (what the test protocol masks), and the dataset's ids."""
    config, _ = read_run(run_dir)
    d = config.dataset
    data = load_configured(d.name, d.interactions, d.items, cache_dir)
    split = make_split(data, config.split.kind, config.split.ratios, config.split.seed)
    train = user_item_lists(data, split.train)
    valid = user_item_lists(data, split.valid)
    histories = [items[-lmax:] for items in train]
    excludes = [np.setdiff1d(np.concatenate([t, v]), h).astype(np.int64)
                for t, v, h in zip(train, valid, histories, strict=True)]
    return Queries(histories, list(map(str, data.user_ids)), list(map(str, data.item_ids)), excludes)


def brevitas_topk(model: Any, golden: GoldenModel, histories: list[np.ndarray],
                  batch: int = 256) -> tuple[np.ndarray, list[QueryResult]]:
    """Brevitas' own integer user vectors (the model's quantized forward) and the top-K lists their exact
    integer scores give, with the same history exclusion as the kernel."""
    users, results = [], []
    for start in range(0, len(histories), batch):
        chunk = histories[start: start + batch]
        width = max(1, max(h.size for h in chunk))
        padded = np.full((len(chunk), width), -1, dtype=np.int64)
        for row, h in enumerate(chunk):
            padded[row, : h.size] = h
        lengths = torch.from_numpy(np.array([h.size for h in chunk], dtype=np.int64))
        vectors = model.integer_user_vectors(torch.from_numpy(padded), lengths).numpy()
        scores = golden.scores(vectors)
        users.append(vectors)
        results += [golden.select(scores[row], golden.counted_ids(h), 0) for row, h in enumerate(chunk)]
    return np.concatenate(users), results


def export_kernel(run_dir: Path, out_dir: Path, cache_dir: Path, variant: str = DEFAULT_VARIANT,
                  seed: int | None = None, k: int = 10, log: Any = print) -> dict[str, Any]:
    """Write the export directory (see the module docstring) and return ``export.json``'s content."""
    return export_model(load_quantized_hybrid(run_dir, variant, seed), run_dir, out_dir, cache_dir, k, log)


def kernel_params(model: Any, k: int = 10) -> KernelParams:
    """The integer kernel parameters of a loaded quantized hybrid, in memory (nothing is written): what
    ``hybrec compile`` plans and checks the kernel's fit with before the export."""
    shape, quant = model.shape, model.quant
    integer = model.integer_model()
    weights, thresholds, layers = integer_layers(model.mlp, shape.feature_dim)
    params = KernelParams(features=integer.features.numpy(), feature_bits=quant.feature_bits, lmax=shape.lmax,
                          weights=weights, thresholds=thresholds, layers=layers, items=integer.items.numpy(),
                          item_bits=quant.item_bits, k=k)
    params.validate()
    return params


def export_model(loaded: tuple[Any, dict[str, Any], Path], run_dir: Path, out_dir: Path, cache_dir: Path,
                 k: int = 10, log: Any = print, params: KernelParams | None = None) -> dict[str, Any]:
    """:func:`export_kernel` for a model :func:`load_quantized_hybrid` already loaded (``params``: its
    :func:`kernel_params`, if already made)."""
    model, payload, ckpt_path = loaded
    variant = payload["variant"]
    shape = model.shape
    integer = model.integer_model()
    if params is None:
        params = kernel_params(model, k)
    layers = params.layers
    golden = GoldenModel(params)
    queries = user_queries(run_dir, shape.lmax, cache_dir)
    histories, item_ids = queries.histories, queries.item_ids
    if list(map(str, payload.get("item_ids", item_ids))) != item_ids:
        raise ExportError(f"{ckpt_path}: its item ids differ from the run's dataset")

    # Agreement of the golden model with Brevitas' own quantized forward, every user.
    results = golden.run(histories)
    means = np.stack([golden.aggregate(h)[0] for h in histories])
    gold_users = golden.mlp(means)
    brev_users, brev_results = brevitas_topk(model, golden, histories)
    vector_mismatch = int((gold_users != brev_users).any(axis=1).sum())
    topk_mismatch = int(sum(not np.array_equal(a.ids, b.ids) for a, b in zip(results, brev_results, strict=True)))
    log(f"export: golden vs Brevitas over {len(histories)} users: {vector_mismatch} user vectors and "
        f"{topk_mismatch} top-{k} lists differ")

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "export.json").unlink(missing_ok=True)  # the directory is unfinished until it is rewritten
    params.save(out_dir / "kernel.npz")
    queries.save(out_dir / "queries.npz")
    export_qonnx_file(model.mlp, shape.feature_dim, out_dir / "mlp.qonnx.onnx")
    files = {name: sha256_file(out_dir / name) for name in ("kernel.npz", "queries.npz", "mlp.qonnx.onnx")}
    summary = {
        "format": FORMAT, "hybrec": __version__,
        "source": {"run_dir": str(run_dir), "variant": variant, "seed": payload["seed"],
                   "checkpoint": str(ckpt_path), "checkpoint_sha256": sha256_file(ckpt_path),
                   "config_sha256": payload["config_sha256"]},
        "shape": {"n_items": params.n_items, "feature_dim": params.feature_dim, "out_dim": params.out_dim,
                  "hidden": list(shape.hidden), "lmax": params.lmax, "k": k, "n_users": len(histories)},
        "quant": {"feature_bits": params.feature_bits, "item_bits": params.item_bits,
                  "layers": [vars(spec) for spec in layers]},
        "scales": {"feature": integer.feature_scale, "item": integer.item_scale,
                   "mlp_input": input_scale(model.mlp, shape.feature_dim)},
        "files": files,
        "checks": {"users": len(histories), "user_vector_mismatches_vs_brevitas": vector_mismatch,
                   "topk_mismatches_vs_brevitas": topk_mismatch},
    }
    atomic_write_json(out_dir / "export.json", summary)
    return summary


def read_export(export_dir: Path) -> dict[str, Any]:
    """``export.json`` after checking the format and every file's sha256."""
    path = export_dir / "export.json"
    if not path.is_file():
        raise ExportError(f"{export_dir}: no export.json (an unfinished or foreign export directory)")
    summary: dict[str, Any] = json.loads(path.read_text())
    if summary.get("format") != FORMAT:
        raise ExportError(f"{path}: format {summary.get('format')!r}, this hybrec reads {FORMAT}")
    if (changed := first_changed_file(export_dir, summary["files"])) is not None:
        raise ExportError(f"{changed}: missing or changed since the export (sha256 mismatch)")
    return summary
