"""Evaluation: RecBole-compatible full-ranking metrics, and the sampled protocol for comparison."""

from hybrec.eval.metrics import ranking_metrics, topk_ids
from hybrec.eval.protocol import EvalSets, eval_sets, full_ranking, masked_topk, sampled_ranking

__all__ = ["EvalSets", "eval_sets", "full_ranking", "masked_topk", "ranking_metrics", "sampled_ranking",
           "topk_ids"]
