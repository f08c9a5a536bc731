"""The run configuration: strict keys, paths relative to the file, variant dependencies."""

from __future__ import annotations

from pathlib import Path

import pytest

from hybrec.config import ConfigError, RunConfig, load_config, smoke_config, with_variants
from hybrec.train.runner import training_order

pytestmark = pytest.mark.unit


def test_shipped_config_loads() -> None:
    config = load_config(Path(__file__).parents[2] / "configs" / "ml100k.yaml")
    assert config.hybrid.lmax == 256 and set(config.hybrid.quant) == {"w8a8", "w4a4"}
    assert "hybrid_w4a4" in config.variants


@pytest.mark.parametrize(("text", "expected"), [
    ("hybrid:\n  lmaxx: 8\n", "lmaxx"),
    ("seeds: [0]\nunknown: 1\n", "unknown"),
    ("hybrid:\n  quant:\n    w2a2: {weight_bits: 1, act_bits: 2, out_bits: 2}\n", "weight_bits"),
    ("variants: [pop, hybrid_w9]\n", "hybrid_w9"),
    ("variants: [pop, hybrid_w4a4]\n", "hybrid_float"),
    ("dataset: {name: shop}\n", "interactions"),
    ("- just\n- a list\n", "mapping"),
    ("hybrid: {lmax: [\n", "YAML"),
    ("variants: [pop, lm_float, hybrid_float]\n", "graph features"),
    ("variants: [gnn_float, lm_float, hybrid_float]\nhybrid: {graph_features: gnn_cl_float}\n", "gnn_cl_float"),
    ("variants: [ease_float, lm_float, hybrid_float]\nhybrid: {graph_kd_teachers: [gnn_float]}\n", "gnn_float"),
    ("hybrid: {graph_kd_teachers: [lm_float]}\n", "graph_kd_teachers"),
    ("gnn_cl: {layers: 2, cl_layer: 3}\n", "cl_layer"),
    ("gnn_cl: {method: simclr}\n", "method"),
], ids=["typo", "top-level", "bit-width", "unknown-variant", "missing-teacher", "missing-files", "list", "yaml",
        "no-graph-variant", "named-graph-missing", "kd-teacher-missing", "kd-teacher-kind", "cl-layer", "cl-method"])
def test_bad_config_is_refused_naming_file_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "run.yaml" in str(err.value) and expected in str(err.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_dataset_paths_are_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "run.yaml"
    path.write_text("dataset: {name: shop, interactions: data/a.inter, items: /abs/b.item}\n")
    config = load_config(path)
    assert config.dataset.interactions == (tmp_path / "sub" / "data" / "a.inter").resolve()
    assert config.dataset.items == Path("/abs/b.item")


def test_training_order_puts_teachers_first() -> None:
    order = training_order(("hybrid_w4a4", "hybrid_float", "lm_float", "gnn_cl_float", "gnn_float", "ease_float",
                            "pop"))
    assert order == ["pop", "ease_float", "gnn_float", "gnn_cl_float", "lm_float", "hybrid_float", "hybrid_w4a4"]


def test_ease_teacher_need_not_be_listed() -> None:
    config = RunConfig(variants=("gnn_float", "hybrid_float", "hybrid_w4a4"))  # what tests/conftest.py trains
    assert config.hybrid.graph_kd_teachers == ("graph_features", "graph_features", "ease_float")


def test_smoke_preset_is_a_valid_config() -> None:
    config = smoke_config()
    assert isinstance(config, RunConfig) and config.hybrid.lmax == 16


def test_variants_override_is_checked_like_the_file() -> None:
    config = load_config(Path(__file__).parents[2] / "configs" / "ml100k.yaml")
    demo = with_variants(config, ["gnn_cl_float", "hybrid_float", "hybrid_w4a4"])
    assert demo.variants == ("gnn_cl_float", "hybrid_float", "hybrid_w4a4")
    assert demo.hybrid == config.hybrid and demo.dataset == config.dataset
    with pytest.raises(ConfigError, match=r"--variants: .*hybrid_float"):
        with_variants(config, ["gnn_float", "hybrid_w4a4"])
    with pytest.raises(ConfigError, match="unknown variant"):
        with_variants(config, ["hybrid_w9"])
