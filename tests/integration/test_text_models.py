"""The language models that ship inside PyPI wheels load offline and embed item texts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hybrec.models.text_encoder import encode_texts, load_text_model

pytestmark = pytest.mark.integration

TEXTS = ["Toy Story (1995). Genres: Animation, Children's, Comedy.",
         "Toy Story (1995). Genres: Animation, Children's, Comedy.",
         "Heat (1995). Genres: Action, Crime, Thriller."]


def check_embeddings(embeddings: np.ndarray, dim: int) -> None:
    assert embeddings.shape == (3, dim) and embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(embeddings[0], embeddings[1], atol=1e-6)  # same text, same vector
    assert float(embeddings[0] @ embeddings[2]) < 0.99  # different texts differ


def test_minilm_embeds_offline() -> None:
    torch.manual_seed(0)
    model = load_text_model("minilm")
    assert model.dim == 384
    check_embeddings(encode_texts(model, TEXTS, progress=False), 384)


@pytest.mark.slow
def test_smollm2_decoder_embeds_offline() -> None:
    model = load_text_model("smollm2")
    assert model.dim == 576
    check_embeddings(encode_texts(model, TEXTS, progress=False), 576)


def test_unknown_text_model_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown text model"):
        load_text_model("bert-huge")
