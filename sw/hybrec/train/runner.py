"""``hybrec train``: split the data, train and evaluate every variant, write the run directory.

Run directory (``--out``)::

    run.json              configuration, its sha256, package versions, dataset summary (written first)
    split/{train,valid,test}.tsv   the split, in the dataset's own ids
    checkpoints/seed<S>/<variant>.pt   one per trained variant (atomic); a rerun resumes from them
    metrics.json          written last, only when every variant of every seed is done
    metrics.md            the same as a table

A directory holding ``run.json`` from another configuration is refused rather than mixed.

Every metric is at the run's ``eval.k`` (K): ``ndcg@K`` ... ``precision@K``, ``valid_ndcg@K`` (early stopping
and model selection), ``sampled_*@K``; ``metrics.json`` records K as ``protocol.k`` (:mod:`hybrec.eval.run_keys`).
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hybrec import __version__
from hybrec.artifacts import atomic_write_json, atomic_write_text, sha256_json
from hybrec.config import GRAPH_VARIANTS, RunConfig
from hybrec.data import InteractionData, Split, load_configured, make_split, user_item_lists, write_split
from hybrec.errors import HybrecError
from hybrec.eval import EvalSets, eval_sets, full_ranking, sampled_ranking
from hybrec.eval.run_keys import metric_keys, metrics_k, sampled_keys, valid_key
from hybrec.models.baselines import EASE, GraphRecommender, MatrixFactorization, Popularity, bipartite_edges
from hybrec.models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from hybrec.models.hybrid import HybridRecommender, HybridShape, QuantSpec, init_student_from_teacher
from hybrec.models.text_encoder import cached_text_embeddings
from hybrec.protocol import id_limit_message
from hybrec.train.bpr import BPRConfig, train_bpr
from hybrec.train.history import HistoryTrainConfig, pad_histories, train_history_model
from hybrec.train.text_finetune import cached_finetuned_embeddings, settings_from_config


class RunDirError(HybrecError):
    pass


def load_dataset(config: RunConfig, cache_dir: Path) -> InteractionData:
    d = config.dataset
    return load_configured(d.name, d.interactions, d.items, cache_dir)


def versions() -> dict[str, str]:
    import brevitas
    import torch_geometric
    import transformers

    return {"hybrec": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "brevitas": brevitas.__version__, "torch_geometric": torch_geometric.__version__,
            "transformers": transformers.__version__, "numpy": np.__version__}


def count_params(model: nn.Module) -> tuple[int, int]:
    if isinstance(model, EASE):  # fitted in closed form: its item-item matrix
        return model.weights.numel(), model.weights.numel()
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable


class Context:
    """Everything the variant trainers share for one seed."""

    def __init__(self, config: RunConfig, data: InteractionData, split: Split, cache_dir: Path,
                 seed: int, progress: bool) -> None:
        self.config, self.data, self.split, self.seed, self.progress = config, data, split, seed, progress
        self.valid: EvalSets = eval_sets(data, split, "valid")
        self.test: EvalSets = eval_sets(data, split, "test")
        self.histories = user_item_lists(data, split.train)
        self.cache_dir = cache_dir
        self._text: torch.Tensor | None = None
        self.models: dict[str, nn.Module] = {}
        self._valid: dict[str, float] = {}

    def valid_ndcg(self, name: str) -> float:
        """Validation NDCG@k of a trained ID-embedding variant (computed once; resumed models too)."""
        if name not in self._valid:
            k = self.config.eval.k
            self._valid[name] = full_ranking(self.id_scores(self.models[name]), self.valid, k)[f"ndcg@{k}"]
        return self._valid[name]

    def text_embeddings(self) -> torch.Tensor:
        """Item-text embeddings: frozen LM (``text.mode: frozen``), or the LM fine-tuned once per seed on the
        training histories only (``lora`` / ``full``); both cached under ``cache_dir/text-embeddings``."""
        if self._text is None:
            t = self.config.text
            if t.mode == "frozen":
                embeddings = cached_text_embeddings(t.model, self.data.item_texts, self.cache_dir, t.batch_size,
                                                    t.max_length, self.progress)
            else:
                embeddings = cached_finetuned_embeddings(
                    t.model, self.data.item_texts, self.histories, self.data.n_items,
                    settings_from_config(self.config), self.seed, self.cache_dir, self.progress)
            self._text = torch.from_numpy(embeddings)
        return self._text

    def id_scores(self, model: nn.Module) -> Callable[[np.ndarray], np.ndarray]:
        def score(users: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return model.scores(torch.from_numpy(users)).numpy()  # type: ignore[operator]
        return score

    def history_scores(self, model: HybridRecommender) -> Callable[[np.ndarray], np.ndarray]:
        lmax = model.shape.lmax

        def score(users: np.ndarray) -> np.ndarray:
            history, lengths = pad_histories([self.histories[int(u)] for u in users], lmax)
            with torch.no_grad():
                if model.quant is not None:
                    return model.integer_scores(history, lengths).numpy()
                return model(history, lengths).numpy()
        return score

    def scores_of(self, model: nn.Module) -> Callable[[np.ndarray], np.ndarray]:
        """A trained variant's score function: from the history for the hybrids, by user id otherwise."""
        return self.history_scores(model) if isinstance(model, HybridRecommender) else self.id_scores(model)

    def evaluate(self, score: Callable[[np.ndarray], np.ndarray]) -> dict[str, float]:
        k = self.config.eval.k
        metrics = full_ranking(score, self.test, k)
        metrics.update(sampled_ranking(score, self.data, self.test, k, self.config.eval.sampled_negatives,
                                       seed=self.seed))
        return metrics


def bpr_config(c: Any, eval_k: int) -> BPRConfig:
    contrastive = {"cl_method": c.method, "cl_weight": c.cl_weight, "eps": c.eps, "temperature": c.temperature,
                   "cl_layer": c.cl_layer} if hasattr(c, "cl_weight") else {}
    return BPRConfig(epochs=c.epochs, batch_size=c.batch_size, lr=c.lr, reg=c.reg, eval_every=c.eval_every,
                     patience=c.patience, eval_k=eval_k, **contrastive)


def graph_source(ctx: Context) -> str:
    """The graph variant whose item embeddings are the hybrid's graph features (``hybrid.graph_features``;
    ``auto``: the trained graph variant with the higher validation NDCG@K, the first listed on a tie)."""
    choice = ctx.config.hybrid.graph_features
    if choice != "auto":
        return choice
    trained = [name for name in GRAPH_VARIANTS if name in ctx.models]
    if not trained:
        raise RuntimeError("no graph variant trained before the hybrid")
    return max(trained, key=lambda name: ctx.valid_ndcg(name))


def teacher_scores(ctx: Context, names: tuple[str, ...]) -> torch.Tensor:
    """Every user's scores ``[n_users, n_items]`` from the ID-embedding variants ``names``, each standardised
    per user (mean 0, std 1), averaged: the graph teacher of ``hybrid_float``. A name listed twice counts twice."""
    total = torch.zeros(ctx.data.n_users, ctx.data.n_items)
    standardised: dict[str, torch.Tensor] = {}
    for name in names:
        if name in standardised:  # listed again: counted again (a weight)
            total += standardised[name]
            continue
        model = ctx.models.get(name)
        if model is None and name == "ease_float":  # not a variant of this run: fitted for the teacher only
            rows = ctx.split.train
            model = EASE(ctx.data.n_users, ctx.data.n_items, ctx.data.users[rows], ctx.data.items[rows])
            model.fit(ctx.config.ease.l2)
        if model is None:
            raise RuntimeError(f"the teacher {name} was not trained before hybrid_float")
        with torch.no_grad():
            scores = model.scores(torch.arange(ctx.data.n_users))  # type: ignore[operator]
        standardised[name] = (scores - scores.mean(1, keepdim=True)) / scores.std(1, keepdim=True).clamp_min(1e-8)
        total += standardised[name]
    return total / len(names)


def hybrid_shape(ctx: Context, with_gnn: bool) -> HybridShape:
    h = ctx.config.hybrid
    gnn_dim = 0
    if with_gnn:
        gnn_dim = ctx.config.gnn_cl.dim if graph_source(ctx) == "gnn_cl_float" else ctx.config.gnn.dim
    return HybridShape(n_items=ctx.data.n_items, gnn_dim=gnn_dim,
                       text_in_dim=int(ctx.text_embeddings().shape[1]), text_dim=h.text_dim,
                       hidden=tuple(h.hidden), out_dim=h.out_dim, lmax=h.lmax)


def gnn_item_embeddings(ctx: Context) -> torch.Tensor:
    gnn = ctx.models[graph_source(ctx)]
    assert isinstance(gnn, GraphRecommender)
    with torch.no_grad():
        return gnn.embeddings()[1].detach().clone()


def train_variant(name: str, ctx: Context) -> tuple[nn.Module, dict[str, Any], dict[str, Any]]:
    """Train one variant; returns (model, meta for the checkpoint, training log)."""
    data, split, cfg = ctx.data, ctx.split, ctx.config
    train_users, train_items = data.users[split.train], data.items[split.train]
    validate_id = lambda m: full_ranking(ctx.id_scores(m), ctx.valid, cfg.eval.k)[f"ndcg@{cfg.eval.k}"]  # noqa: E731
    validate_hist = lambda m: full_ranking(ctx.history_scores(m), ctx.valid, cfg.eval.k)[f"ndcg@{cfg.eval.k}"]  # noqa: E731
    h = cfg.hybrid
    if name == "pop":
        return Popularity(data.n_items, train_items), {"kind": "pop"}, {}
    if name == "ease_float":
        ease = EASE(data.n_users, data.n_items, train_users, train_items).fit(cfg.ease.l2)
        ease.eval()
        return ease, {"kind": "ease", "l2": cfg.ease.l2}, {valid_key(cfg.eval.k): validate_id(ease)}
    if name == "bpr_float":
        mf = MatrixFactorization(data.n_users, data.n_items, cfg.bpr.dim)
        model, log = train_bpr(mf, train_users, train_items, data.n_items, bpr_config(cfg.bpr, cfg.eval.k),
                               validate_id, ctx.seed, "bpr_float", ctx.progress)
        return model, {"kind": "mf", "dim": cfg.bpr.dim}, log
    if name in GRAPH_VARIANTS:
        g = cfg.gnn if name == "gnn_float" else cfg.gnn_cl
        edges = bipartite_edges(train_users, train_items, data.n_users)
        gnn = GraphRecommender(data.n_users, data.n_items, g.dim, g.layers, edges)
        label = "gnn_float (LightGCN)" if name == "gnn_float" else f"gnn_cl_float ({cfg.gnn_cl.method})"
        model, log = train_bpr(gnn, train_users, train_items, data.n_items, bpr_config(g, cfg.eval.k),
                               validate_id, ctx.seed, label, ctx.progress)
        meta = {"kind": "lightgcn", "dim": g.dim, "layers": g.layers}
        if name == "gnn_cl_float":
            meta["contrastive"] = {"method": cfg.gnn_cl.method, "cl_weight": cfg.gnn_cl.cl_weight,
                                   "eps": cfg.gnn_cl.eps, "temperature": cfg.gnn_cl.temperature,
                                   "cl_layer": cfg.gnn_cl.cl_layer}
        return model, meta, log
    history_cfg = HistoryTrainConfig(epochs=h.epochs, batch_size=h.batch_size, lr=h.lr,
                                     weight_decay=h.weight_decay, target_fraction=h.target_fraction,
                                     eval_every=h.eval_every, patience=h.patience, kd_weight=0.0,
                                     eval_k=cfg.eval.k)
    if name in ("lm_float", "hybrid_float"):
        with_gnn = name == "hybrid_float"
        shape = hybrid_shape(ctx, with_gnn)
        model_h = HybridRecommender(shape, ctx.text_embeddings(), gnn_item_embeddings(ctx) if with_gnn else None,
                                    train_gnn_features=h.train_gnn_features)
        teacher_fn = None
        names: tuple[str, ...] = ()
        if with_gnn and h.graph_kd_weight > 0:
            names = tuple(graph_source(ctx) if t == "graph_features" else t for t in h.graph_kd_teachers)
            graph_scores = teacher_scores(ctx, names)
            teacher_fn = lambda users, history, lengths: graph_scores[torch.from_numpy(users)]  # noqa: E731
            history_cfg = replace(history_cfg, kd_weight=h.graph_kd_weight, kd_temperature=h.graph_kd_temperature)
        model_h, log = train_history_model(model_h, ctx.histories, history_cfg, validate_hist, ctx.seed, name,
                                           teacher=teacher_fn, progress=ctx.progress)
        meta_h: dict[str, Any] = {"kind": "hybrid", "shape": asdict(shape), "quant": None, "text_model": cfg.text.model,
                  "text_mode": cfg.text.mode}
        if with_gnn:
            meta_h["graph_features"] = graph_source(ctx)
            meta_h["graph_kd_teachers"] = list(names)
        return model_h, meta_h, log
    spec_cfg = h.quant[name.removeprefix("hybrid_")]
    spec = QuantSpec(**spec_cfg.model_dump())
    teacher = ctx.models["hybrid_float"]
    assert isinstance(teacher, HybridRecommender)
    student = HybridRecommender(teacher.shape, ctx.text_embeddings(), gnn_item_embeddings(ctx), quant=spec,
                                train_gnn_features=h.train_gnn_features)
    init_student_from_teacher(student, teacher)
    qat_cfg = HistoryTrainConfig(epochs=h.qat_epochs, batch_size=h.batch_size, lr=h.qat_lr,
                                 weight_decay=h.weight_decay, target_fraction=h.target_fraction,
                                 eval_every=h.eval_every, patience=h.patience, kd_weight=h.kd_weight,
                                 kd_temperature=h.kd_temperature, eval_k=cfg.eval.k)
    teacher.eval()
    student, log = train_history_model(student, ctx.histories, qat_cfg, validate_hist, ctx.seed, name,
                                       teacher=lambda users, history, lengths: teacher(history, lengths),
                                       progress=ctx.progress)
    meta = {"kind": "hybrid", "shape": asdict(teacher.shape), "quant": asdict(spec), "text_model": cfg.text.model,
            "text_mode": cfg.text.mode, "teacher": "hybrid_float", "graph_features": graph_source(ctx)}
    return student, meta, log


def rebuild(name: str, payload: dict[str, Any], ctx: Context) -> nn.Module:
    """A model from its checkpoint (used when a run resumes)."""
    meta, data = payload["meta"], ctx.data
    kind = meta["kind"]
    model: nn.Module
    if kind == "pop":
        model = Popularity(data.n_items, data.items[ctx.split.train])
    elif kind == "ease":
        model = EASE(data.n_users, data.n_items, data.users[ctx.split.train], data.items[ctx.split.train])
    elif kind == "mf":
        model = MatrixFactorization(data.n_users, data.n_items, meta["dim"])
    elif kind == "lightgcn":
        edges = bipartite_edges(data.users[ctx.split.train], data.items[ctx.split.train], data.n_users)
        model = GraphRecommender(data.n_users, data.n_items, meta["dim"], meta["layers"], edges)
    else:
        shape = HybridShape(**{**meta["shape"], "hidden": tuple(meta["shape"]["hidden"])})
        quant = QuantSpec(**meta["quant"]) if meta["quant"] else None
        gnn_init = torch.zeros(shape.n_items, shape.gnn_dim) if shape.gnn_dim else None
        model = HybridRecommender(shape, ctx.text_embeddings(), gnn_init, quant)
    model.load_state_dict(payload["state_dict"])
    model.eval()
    return model


def evaluate_variant(name: str, model: nn.Module, ctx: Context) -> dict[str, float]:
    """Test metrics (full and sampled ranking) and the validation NDCG@k the model was selected on."""
    score = ctx.scores_of(model)
    k = ctx.config.eval.k
    return {**ctx.evaluate(score), valid_key(k): full_ranking(score, ctx.valid, k)[f"ndcg@{k}"]}


def training_order(variants: tuple[str, ...]) -> list[str]:
    """Variants in dependency order: GNN before the hybrid, the float hybrid before its quantized students."""
    rank = {"pop": 0, "bpr_float": 1, "ease_float": 2, "gnn_float": 3, "gnn_cl_float": 4, "lm_float": 5,
            "hybrid_float": 6}
    return sorted(variants, key=lambda name: (rank.get(name, 7), variants.index(name)))


def check_run_dir(out: Path, config_sha: str) -> None:
    run_json = out / "run.json"
    if run_json.is_file():
        import json

        previous = json.loads(run_json.read_text())
        if previous.get("config_sha256") != config_sha:
            raise RunDirError(f"{out} holds a run of another configuration (run.json config_sha256 "
                              f"{previous.get('config_sha256', '?')[:12]}); use another --out or delete it")
    elif out.exists() and any(out.iterdir()):
        raise RunDirError(f"{out} exists and is not a hybrec run directory; use another --out")


def run_training(config: RunConfig, out: Path, cache_dir: Path, progress: bool = True,
                 log: Callable[[str], None] = print) -> dict[str, Any]:
    torch.set_num_threads(config.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    data = load_dataset(config, cache_dir)  # bad input fails here, before anything is written
    if (why := id_limit_message(data.n_items)) is not None:   # a warning: the CPU/GPU metrics still hold
        log(f"[yellow]warning:[/] {why}; training goes on (the evaluation needs no kernel)")
    split = make_split(data, config.split.kind, config.split.ratios, config.split.seed)
    config_json = config.model_dump(mode="json")
    config_sha = sha256_json({"config": config_json, "data": data.sources, "hybrec": __version__})
    check_run_dir(out, config_sha)
    atomic_write_json(out / "run.json", {"config": config_json, "config_sha256": config_sha,
                                         "versions": versions(), "dataset": data.summary(),
                                         "split": split.describe()})
    write_split(data, split, out / "split")
    per_seed: dict[str, dict[int, dict[str, Any]]] = {v: {} for v in config.variants}
    for seed in config.seeds:
        ctx = Context(config, data, split, cache_dir, seed, progress)
        for name in training_order(config.variants):
            path = out / "checkpoints" / f"seed{seed}" / f"{name}.pt"
            payload = None
            if path.is_file():
                try:
                    payload = load_checkpoint(path, config_sha)
                except CheckpointError as err:
                    log(f"[yellow]ignoring {err}; retraining[/]")
            if payload is not None:
                model = rebuild(name, payload, ctx)
                result = payload["result"]
                log(f"seed {seed} {name}: resumed from {path}")
            else:
                torch.manual_seed(seed)
                start = time.perf_counter()
                model, meta, train_log = train_variant(name, ctx)
                seconds = time.perf_counter() - start
                metrics = evaluate_variant(name, model, ctx)
                total, trainable = count_params(model)
                result = {**metrics, "train_seconds": seconds, "params": total, "trainable_params": trainable}
                if "text_model" in meta:
                    result["text_model"] = meta["text_model"]
                    result["text_mode"] = meta["text_mode"]
                if "graph_features" in meta:
                    result["graph_features"] = meta["graph_features"]
                save_checkpoint(path, {"variant": name, "config_sha256": config_sha, "seed": seed,
                                       "state_dict": model.state_dict(), "meta": meta, "result": result,
                                       "train_log": train_log, "item_ids": data.item_ids})
                graph = f", graph features {meta['graph_features']}" if "graph_features" in meta else ""
                k = config.eval.k
                log(f"seed {seed} {name}: ndcg@{k} {metrics[f'ndcg@{k}']:.4f}, valid {metrics[valid_key(k)]:.4f}  "
                    f"({seconds:.1f} s{graph})")
            ctx.models[name] = model
            per_seed[name][seed] = result
    metrics = summarise(config, data, split, per_seed)
    atomic_write_text(out / "metrics.md", metrics_table(metrics))
    atomic_write_json(out / "metrics.json", metrics)
    return metrics


def summarise(config: RunConfig, data: InteractionData, split: Split,
              per_seed: dict[str, dict[int, dict[str, Any]]]) -> dict[str, Any]:
    k = config.eval.k
    variants: dict[str, Any] = {}
    for name, seeds in per_seed.items():
        results = [seeds[s] for s in config.seeds]
        entry: dict[str, Any] = {}
        for key in (*metric_keys(k), valid_key(k), *sampled_keys(k), "train_seconds"):
            if any(key not in r for r in results):  # checkpoints of an older hybrec: no validation figure
                continue
            values = [float(r[key]) for r in results]
            entry[key] = float(np.mean(values))
            if len(values) > 1:
                entry[f"{key}_std"] = float(np.std(values, ddof=1))
        entry["params"] = int(results[0]["params"])
        entry["trainable_params"] = int(results[0]["trainable_params"])
        if "text_mode" in results[0]:
            entry["text_mode"] = results[0]["text_mode"]
        entry["seeds"] = {str(s): {key: seeds[s][key] for key in (*metric_keys(k), valid_key(k), "train_seconds")
                                   if key in seeds[s]} for s in config.seeds}
        if "graph_features" in results[0]:
            entry["graph_features"] = {str(s): seeds[s]["graph_features"] for s in config.seeds}
        variants[name] = entry
    return {
        "dataset": data.summary(),
        "protocol": {
            "split": split.describe() | {"ratios": list(config.split.ratios)},
            "ranking": "full ranking over all items; train items masked (validation also masked for test)",
            "metrics": f"RecBole definitions @{k}, averaged over test users",
            "k": k,
            "feedback": "implicit: every interaction is a positive",
            "seeds": list(config.seeds),
            "sampled": f"sampled_* = 1 positive vs {config.eval.sampled_negatives} sampled negatives; "
                       "for comparison with papers only, never the headline",
        },
        "variants": variants,
    }


def metric_cell(v: dict[str, Any], key: str) -> str:
    """A variant's metric as shown in the tables: ``mean ± std`` over several seeds, else the value; ``-``
    where it was not recorded."""
    if key not in v:
        return "-"
    return f"{v[key]:.4f} ± {v[key + '_std']:.4f}" if f"{key}_std" in v else f"{v[key]:.4f}"


def metrics_table(metrics: dict[str, Any]) -> str:
    """``metrics.md``: every test metric and the validation NDCG at the run's K, per variant."""
    k = metrics_k(metrics)
    rows = [f"| variant | NDCG@{k} | Recall@{k} | Hit@{k} | MRR@{k} | Precision@{k} | valid NDCG@{k} | train s | "
            "params | trainable |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, v in metrics["variants"].items():
        cells = " | ".join(metric_cell(v, key) for key in (*metric_keys(k), valid_key(k)))
        rows.append(f"| {name} | {cells} | {v['train_seconds']:.1f} | {v['params']:,} | {v['trainable_params']:,} |")
    d, p = metrics["dataset"], metrics["protocol"]
    head = (f"# {d['name']}: {d['users']} users, {d['items']} items, {d['interactions']} interactions\n\n"
            f"Protocol: {p['split']['kind']} split {p['split'].get('ratios')}, {p['ranking']}; {p['metrics']}; "
            f"seeds {p['seeds']} (mean ± std where several).\n\n")
    return head + "\n".join(rows) + "\n"


def summary_table(metrics: dict[str, Any]) -> Any:
    """The headline columns of ``metrics.json`` as a rich table, narrow enough for an 80-column terminal (the
    full table is :func:`metrics_table`'s ``metrics.md``)."""
    from rich import box
    from rich.table import Table

    seeds = metrics["protocol"]["seeds"]
    k = metrics_k(metrics)
    several = len(seeds) > 1
    title = (f"{metrics['dataset']['name']}, full ranking, seed{'s' if several else ''} "
             f"{', '.join(str(s) for s in seeds)}{' (mean ± std)' if several else ''}")
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("variant", f"NDCG@{k}", f"Recall@{k}", f"valid NDCG@{k}", "train s"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    for name, v in metrics["variants"].items():
        table.add_row(name, *(metric_cell(v, key) for key in (f"ndcg@{k}", f"recall@{k}", valid_key(k))),
                      f"{v['train_seconds']:.0f}")
    return table
