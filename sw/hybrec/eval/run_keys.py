"""The metric names of a run evaluated at K, and the K of a run's ``metrics.json`` for its readers.

``hybrec train`` evaluates at the run's ``eval.k`` (K, 10 by default) and names every figure after it:
``ndcg@K``, ``recall@K``, ``hit@K``, ``mrr@K``, ``precision@K`` (test), ``valid_ndcg@K`` (what early stopping
and model selection use), ``sampled_ndcg@K`` and ``sampled_hit@K``. ``metrics.json`` records K as
``protocol.k``; a file written before it did has K only in its key names (and in ``run.json``'s
``config.eval.k``), which :func:`metrics_k` reads too.

A reader that needs the figures at another K than the run's gets :class:`MetricsKError` (which K the run has,
which it needs, and how to train at it), never a ``KeyError``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from hybrec.errors import HybrecError

METRIC_NAMES = ("ndcg", "recall", "hit", "mrr", "precision")


class MetricsKError(HybrecError):
    """A run's metrics are at another K than a reader needs (or their K cannot be told)."""


def metric_keys(k: int) -> tuple[str, ...]:
    """The test metrics at ``k``: ``("ndcg@k", "recall@k", "hit@k", "mrr@k", "precision@k")``."""
    return tuple(f"{name}@{k}" for name in METRIC_NAMES)


def valid_key(k: int) -> str:
    """The validation NDCG at ``k`` (early stopping, model selection)."""
    return f"valid_ndcg@{k}"


def sampled_keys(k: int) -> tuple[str, str]:
    return f"sampled_ndcg@{k}", f"sampled_hit@{k}"


_NDCG = re.compile(r"ndcg@(\d+)")


def metrics_k(metrics: Mapping[str, Any], where: str = "metrics.json") -> int:
    """The K a ``metrics.json`` content was evaluated at: ``protocol.k``, else the K of its ``ndcg@K`` keys."""
    k = metrics.get("protocol", {}).get("k")
    if isinstance(k, int) and not isinstance(k, bool):
        return k
    found = {int(m.group(1)) for entry in metrics.get("variants", {}).values() if isinstance(entry, Mapping)
             for key in entry if (m := _NDCG.fullmatch(key))}
    if len(found) != 1:
        what = "no ndcg@K figure" if not found else f"figures at several K ({sorted(found)})"
        raise MetricsKError(f"{where}: no protocol.k and {what}: not the metrics.json of a hybrec run; "
                            "train the run again")
    return found.pop()


def require_k(metrics: Mapping[str, Any], k: int, where: str = "metrics.json", reader: str = "its readers") -> None:
    """Raise :class:`MetricsKError` unless ``metrics`` (a ``metrics.json`` content) was evaluated at ``k``;
    ``reader`` (plural: "... need K") names what needs that K."""
    have = metrics_k(metrics, where)
    if have != k:
        raise MetricsKError(f"{where}: the run was evaluated at K={have} (its eval.k), but {reader} need K={k}: "
                            f"train the run with `eval: {{k: {k}}}` in its configuration to compare at K={k}")
