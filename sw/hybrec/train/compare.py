"""``hybrec compare``: two variants of a run, user by user, on the same split.

A table of means says which variant is higher; it does not say whether the gap is larger than what the
choice of test users alone would move. For each seed of the run, both variants' checkpoints rank the same
users (full ranking, the protocol of :mod:`hybrec.eval.protocol`), every metric is computed per user, and the
mean of the per-user differences gets a paired bootstrap interval (users resampled). ``RUN/compare/
<variant>-vs-<against>-<part>.json`` holds the result (written atomically); nothing is retrained.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from hybrec.artifacts import atomic_write_json
from hybrec.config import read_run
from hybrec.data import make_split
from hybrec.errors import HybrecError
from hybrec.eval import masked_topk
from hybrec.eval.metrics import paired_interval, per_row_metrics
from hybrec.models.checkpoint import CheckpointError, load_checkpoint
from hybrec.train.runner import Context, load_dataset, rebuild


class CompareError(HybrecError):
    pass


def _per_user(model: nn.Module, ctx: Context, part: str, k: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    score = ctx.scores_of(model)
    sets = ctx.test if part == "test" else ctx.valid
    users, top = masked_topk(score, sets, k)
    return users, per_row_metrics(top, [sets.positives[u] for u in users], k)


def compare_variants(run_dir: Path, variant: str, against: str, cache_dir: Path, part: str = "test",
                     resamples: int = 2000, level: float = 0.95) -> dict[str, Any]:
    """``variant`` minus ``against``, per user and seed, from ``run_dir``'s checkpoints (see the module
    docstring); returns what ``RUN/compare/...json`` holds."""
    if part not in ("test", "valid"):
        raise CompareError(f"part must be test or valid, not {part!r}")
    if variant == against:
        raise CompareError("compare two different variants")
    if resamples < 100 or not 0.5 <= level < 1.0:
        raise CompareError(f"resamples must be at least 100 and level in [0.5, 1); got {resamples}, {level}")
    config, config_sha = read_run(run_dir)
    for name in (variant, against):
        if name not in config.variants:
            raise CompareError(f"{run_dir}: the run has no variant {name!r} (it has {', '.join(config.variants)})")
    data = load_dataset(config, cache_dir)
    split = make_split(data, config.split.kind, config.split.ratios, config.split.seed)
    k = config.eval.k
    seeds: dict[str, Any] = {}
    pooled: list[np.ndarray] = []
    for seed in config.seeds:
        ctx = Context(config, data, split, cache_dir, seed, progress=False)
        per_user = {}
        for name in (variant, against):
            path = Path(run_dir) / "checkpoints" / f"seed{seed}" / f"{name}.pt"
            if not path.is_file():
                raise CompareError(f"{path} is missing: finish the run first (`hybrec train` resumes it)")
            try:
                payload = load_checkpoint(path, config_sha)
            except CheckpointError as err:
                raise CompareError(str(err)) from None
            per_user[name] = _per_user(rebuild(name, payload, ctx), ctx, part, k)
        (users_a, a), (users_b, b) = per_user[variant], per_user[against]
        assert np.array_equal(users_a, users_b)   # the same protocol, the same users
        entry: dict[str, Any] = {"users": int(users_a.size)}
        for metric in a:
            diff = a[metric] - b[metric]
            low, high = paired_interval(diff, resamples, level, seed=seed)
            entry[metric] = {variant: float(a[metric].mean()), against: float(b[metric].mean()),
                             "difference": float(diff.mean()), "interval": [low, high],
                             "users_better": int((diff > 0).sum()), "users_worse": int((diff < 0).sum())}
        pooled.append(a[f"ndcg@{k}"] - b[f"ndcg@{k}"])
        seeds[str(seed)] = entry
    result = {
        "run": str(run_dir), "config_sha256": config_sha, "part": part, "k": k, "variant": variant,
        "against": against, "resamples": resamples, "level": level,
        "method": "per-user metric differences on the same users; percentile bootstrap of their mean, users "
                  "resampled with replacement, per seed",
        "seeds": seeds,
        "ndcg_difference_mean_over_seeds": float(np.mean([d.mean() for d in pooled])),
    }
    out = Path(run_dir) / "compare" / f"{variant}-vs-{against}-{part}.json"
    atomic_write_json(out, result)
    result["file"] = str(out)
    return result


def compare_table(result: dict[str, Any]) -> Any:
    """The NDCG rows of a comparison as a rich table."""
    from rich import box
    from rich.table import Table

    k, variant, against = result["k"], result["variant"], result["against"]
    key = f"ndcg@{k}"
    table = Table(title=f"{variant} - {against}: {result['part']} NDCG@{k}, per-user differences "
                        f"({round(100 * result['level'])} % bootstrap interval)",
                  title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("seed", variant[:12], against[:12], "diff", "interval", "users +/-"):
        table.add_column(column, justify="right", no_wrap=True)
    for seed, entry in result["seeds"].items():
        m = entry[key]
        low, high = m["interval"]
        table.add_row(seed, f"{m[variant]:.4f}", f"{m[against]:.4f}", f"{m['difference']:+.4f}",
                      f"{low:+.4f}, {high:+.4f}", f"{m['users_better']}/{m['users_worse']}")
    return table

