"""The benchmark's workload: one query per test user of the run a build was compiled from, what each user
should find, and the top-K list files every backend's answers are written to.

A query is the user's history as the kernel sees it (``export/queries.npz`` of the build: the last ``lmax``
training items by time) and its exclusion list (the user's other training and validation items), so a served
top-K leaves out exactly what the evaluation protocol masks; the test users are those with at least one test
item under the run's split and evaluation protocol (:mod:`hybrec.eval`); NDCG@K and recall@K of a backend
come from its own lists, at the kernel's K. The run's own ``metrics.json`` is compared only when the run was
evaluated at the same K (its ``eval.k``); otherwise the report says why it is not.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hybrec import numerics
from hybrec.artifacts import atomic_write_bytes, atomic_write_text
from hybrec.bench.backends import Log, TopK
from hybrec.builddir import REPO_ROOT, BuildDir
from hybrec.config import read_run
from hybrec.data import load_configured, make_split, user_item_lists
from hybrec.errors import HybrecError
from hybrec.eval import eval_sets, ranking_metrics, topk_ids
from hybrec.eval.run_keys import MetricsKError, require_k
from hybrec.golden import GoldenModel, KernelParams


class HilError(HybrecError):
    """A clear reason the benchmark cannot run as asked."""


@dataclass
class Workload:
    """The build's kernel, the test users' queries and what they should find."""

    build: BuildDir
    params: KernelParams
    histories: list[np.ndarray]         # per test user, the query's history (kernel item indices)
    excludes: list[np.ndarray]          # per test user, the query's exclusion list (other train + valid items)
    users: np.ndarray                   # internal user index of each test user (= row in queries.npz)
    user_ids: list[str]                 # dataset user id of each test user
    item_ids: list[str]                 # dataset item id of each kernel item index
    positives: list[np.ndarray]         # per test user, the test items (kernel indices)
    eval_masked: list[np.ndarray]       # per test user, what the evaluation protocol masks (train + valid)
    run_dir: Path
    run_metrics: dict[str, Any] | None  # the run's own metrics of this variant and seed, when recorded
    run_summary: dict[str, Any] = field(default_factory=dict)  # the run's sampled NDCG, its best variant
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def n_queries(self) -> int:
        return len(self.histories)

    @property
    def build_id(self) -> str:
        return self.build.build_id

    @property
    def kernel_sha256(self) -> str:
        return self.build.manifest.files["export/kernel.npz"]

    @property
    def queries_sha256(self) -> str:
        return self.build.manifest.files["export/queries.npz"]

    def user_ids_sha256(self) -> str:
        return hashlib.sha256("\n".join(self.user_ids).encode()).hexdigest()


def _run_dir(build: BuildDir, run_dir: Path | None) -> Path:
    if run_dir is None:
        run_dir = Path(build.manifest.source.run_dir)
        if not (run_dir / "run.json").is_file() and not run_dir.is_absolute():
            run_dir = REPO_ROOT / run_dir
    if not (run_dir / "run.json").is_file():
        raise HilError(f"{run_dir}: no run.json; the build {build.path} was compiled from "
                       f"{build.manifest.source.run_dir!r} (pass --run to name the run directory)")
    return run_dir


def _run_metrics(run_dir: Path, variant: str, seed: int, k: int) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The run's own metrics of ``variant`` and ``seed`` and its summary, at the kernel's ``k``: none when the
    run has no ``metrics.json``, and only ``not_compared`` (the reason) when it was evaluated at another K."""
    metrics_path = run_dir / "metrics.json"
    if not metrics_path.is_file():
        return None, {}
    content = json.loads(metrics_path.read_text())
    try:
        require_k(content, k, str(metrics_path), f"the kernel's top-{k} lists")
    except MetricsKError as err:
        return None, {"metrics_file": str(metrics_path), "not_compared": str(err)}
    variants = content.get("variants", {})
    entry = variants.get(variant, {})
    best = max(variants, key=lambda v: variants[v].get(f"ndcg@{k}", -1.0), default=None)
    return entry.get("seeds", {}).get(str(seed)), {
        "sampled_ndcg": entry.get(f"sampled_ndcg@{k}"), "best_variant": best,
        "best_variant_ndcg": variants[best].get(f"ndcg@{k}") if best else None, "metrics_file": str(metrics_path)}


def load_workload(build_dir: Path, cache_dir: Path, run_dir: Path | None = None, users: int | None = None,
                  log: Log = print) -> Workload:
    """The build's kernel and one query per test user of the run the build was compiled from."""
    build = BuildDir.open(build_dir)
    params = build.kernel_params()
    queries = build.queries()
    source = build.manifest.source
    run_dir = _run_dir(build, run_dir)
    config, config_sha256 = read_run(run_dir)
    if config_sha256 != source.config_sha256:
        raise HilError(f"{run_dir}: its configuration (sha256 {config_sha256[:12]}) is not the one the build was "
                       f"compiled from ({source.config_sha256[:12]})")
    d = config.dataset
    data = load_configured(d.name, d.interactions, d.items, cache_dir)
    split = make_split(data, config.split.kind, config.split.ratios, config.split.seed)
    if list(map(str, data.user_ids)) != queries.user_ids or list(map(str, data.item_ids)) != queries.item_ids:
        raise HilError(f"{build.export_dir / 'queries.npz'}: its user/item ids are not the dataset's")
    lmax = params.lmax
    for u, (query, items) in enumerate(zip(queries.histories, user_item_lists(data, split.train), strict=True)):
        if not np.array_equal(query, items[-lmax:]):
            raise HilError(f"queries.npz, user {queries.user_ids[u]}: the query is not the user's last {lmax} "
                           "training items under the run's split")
    sets = eval_sets(data, split, "test")
    if queries.excludes is None:
        raise HilError(f"{build.export_dir / 'queries.npz'} has no exclusion lists (a build of the first stream "
                       "protocol): compile the build again")
    for u, (query, extra, masked) in enumerate(zip(queries.histories, queries.excludes, sets.masked, strict=True)):
        if not np.array_equal(np.union1d(query, extra), np.unique(masked)):
            raise HilError(f"queries.npz, user {queries.user_ids[u]}: the history and the exclusion list are not the "
                           "items the evaluation protocol masks (train + validation) under the run's split")
    test_users = np.asarray([u for u, pos in enumerate(sets.positives) if pos.size], dtype=np.int64)
    if users is not None:
        test_users = test_users[:users]
    metrics, summary = _run_metrics(run_dir, source.variant, source.seed, params.k)
    if "not_compared" in summary:
        log(f"[yellow]warning:[/] {summary['not_compared']}; the served lists are not compared with it")
    log(f"workload: {test_users.size} test users of {data.n_users} ({data.name}), kernel {build.build_id} "
        f"({params.n_items} items, lmax {lmax}, top-{params.k})")
    return Workload(build=build, params=params, histories=[queries.histories[u] for u in test_users],
                    excludes=[queries.excludes[u] for u in test_users],
                    users=test_users, user_ids=[queries.user_ids[u] for u in test_users], item_ids=queries.item_ids,
                    positives=[sets.positives[u] for u in test_users],
                    eval_masked=[sets.masked[u] for u in test_users], run_dir=run_dir, run_metrics=metrics,
                    run_summary=summary,
                    source={"run_dir": source.run_dir, "variant": source.variant, "seed": source.seed,
                            "dataset": data.name, "split": split.describe(), "users_in_dataset": data.n_users})


# -- the CPU and GPU backends' input ------------------------------------------------------------------------
def kernel_arrays(work: Workload) -> Any:
    """The workload as :class:`hybrec.bench.integer_kernel.KernelArrays` (the CPU/GPU backends' input)."""
    from hybrec.bench.integer_kernel import KernelArrays, pad_histories  # lazy: torch

    p = work.params
    hist, lengths = pad_histories(work.histories, p.lmax, p.n_items, work.excludes)
    header = {"build_id": work.build_id, "kernel_sha256": work.kernel_sha256, "queries_sha256": work.queries_sha256,
              "n_queries": work.n_queries, "user_ids_sha256": work.user_ids_sha256(), "lmax": p.lmax,
              "exclusion_lists": True}
    return KernelArrays(features=p.features, items=p.items, weights=p.weights, thresholds=p.thresholds,
                        out_biases=[spec.out_bias for spec in p.layers],
                        recip=numerics.reciprocal_table(p.lmax, p.agg_shift), feature_bits=p.feature_bits,
                        agg_shift=p.agg_shift, k=p.k, histories=hist, lengths=lengths, header=header)


def prepare_gpu_inputs(work: Workload, out_dir: Path) -> Path:
    """``OUT/inputs.npz`` for ``hybrec.bench.gpu_baseline`` on the GPU machine (carried there by the device script)."""
    path = out_dir / "inputs.npz"
    atomic_write_bytes(path, kernel_arrays(work).save(path))
    return path


# -- lists and their quality ----------------------------------------------------------------------------------
def list_metrics(work: Workload, lists: TopK) -> dict[str, float]:
    k = work.params.k
    m = ranking_metrics(lists.ids, work.positives, k)
    return {name: m[f"{name}@{k}"] for name in ("ndcg", "recall", "hit", "mrr", "precision")}


def protocol_check(work: Workload) -> dict[str, Any]:
    """The golden model's integer scores ranked under the evaluation protocol (train and validation items
    masked, as ``hybrec train`` evaluates): the training report's number for the same model, which the served
    lists (history and exclusion list left out) must reach."""
    golden = GoldenModel(work.params)
    means = np.stack([golden.aggregate(h)[0] for h in work.histories])
    scores = golden.scores(golden.mlp(means))
    for row, masked in enumerate(work.eval_masked):
        scores[row, masked] = np.iinfo(np.int64).min
    k = work.params.k
    m = ranking_metrics(topk_ids(scores, k), work.positives, k)
    out: dict[str, Any] = {"ndcg": m[f"ndcg@{k}"], "recall": m[f"recall@{k}"],
                           "masked": "train + validation items (hybrec.eval, RecBole's test protocol)"}
    if "not_compared" in work.run_summary:
        out["run_metrics_not_compared"] = work.run_summary["not_compared"]
    if work.run_metrics is not None:
        out["run_metrics_ndcg"] = work.run_metrics.get(f"ndcg@{k}")
        out["equal_to_run_metrics"] = bool(out["run_metrics_ndcg"] is not None
                                           and abs(out["ndcg"] - out["run_metrics_ndcg"]) < 1e-12)
    out["run_summary"] = work.run_summary
    return out


def write_topk_tsv(path: Path, work: Workload, lists: TopK) -> None:
    """``user_id  rank  item_id  score`` (tab-separated, a header line; the dataset's own ids; rank from 1;
    invalid results — fewer than K candidates — are left out)."""
    out = io.StringIO()
    out.write("user_id\trank\titem_id\tscore\n")
    for row, user in enumerate(work.user_ids):
        for rank, (item, score) in enumerate(zip(lists.ids[row], lists.scores[row], strict=True), start=1):
            if item >= 0:
                out.write(f"{user}\t{rank}\t{work.item_ids[int(item)]}\t{int(score)}\n")
    atomic_write_text(path, out.getvalue())


def read_topk_tsv(path: Path, work: Workload) -> TopK:
    """The inverse of :func:`write_topk_tsv` (dataset ids back to kernel indices)."""
    row_of = {u: r for r, u in enumerate(work.user_ids)}
    index_of = {item: i for i, item in enumerate(work.item_ids)}
    ids = np.full((work.n_queries, work.params.k), -1, dtype=np.int64)
    scores = np.zeros((work.n_queries, work.params.k), dtype=np.int64)
    lines = path.read_text().splitlines()
    if not lines or lines[0].split("\t") != ["user_id", "rank", "item_id", "score"]:
        raise HilError(f"{path}: not a top-K list file (header user_id, rank, item_id, score)")
    for line in lines[1:]:
        user, rank, item, score = line.split("\t")
        ids[row_of[user], int(rank) - 1] = index_of[item]
        scores[row_of[user], int(rank) - 1] = int(score)
    return TopK(ids, scores)
