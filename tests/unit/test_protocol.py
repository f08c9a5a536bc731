"""The model image and the stream protocol (hybrec.protocol), and the shape/model split of the compiler:
what a kernel's shape is a function of, what an image carries, and how the golden model answers with an
exclusion list, without a model, and for another catalogue."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_golden import plan, random_params

from hybrec import numerics, protocol
from hybrec.compile.blocks import FoldingError
from hybrec.golden import GoldenModel, no_model_result


def test_checksums_are_fletcher_sums_mod_2_32() -> None:
    words = np.array([0xFFFFFFFF, 2, 3], dtype=np.uint32)
    s1 = (0xFFFFFFFF + 2 + 3) % 2**32
    s2 = (0xFFFFFFFF + (0xFFFFFFFF + 2) + s1) % 2**32
    assert protocol.checksums(words) == (s1, s2)
    assert protocol.checksums(words[::-1]) != protocol.checksums(words)   # s2 sees the order


def test_the_shape_does_not_depend_on_trained_values() -> None:
    """Another model of the same widths (other features, weights, thresholds, items, fewer items) has the
    same shape key; the image differs."""
    a, b = random_params(seed=0), random_params(seed=1, n=37)
    plan_a, plan_b = plan(a, [(2, 4), (4, 1)], n_items_max=64), plan(b, [(2, 4), (4, 1)], n_items_max=64)
    assert plan_a.shape_key == plan_b.shape_key
    assert plan(a, [(2, 4), (4, 1)], n_items_max=128).shape_key != plan_a.shape_key
    image_a, image_b = plan_a.model_image(a), plan_b.model_image(b)
    assert image_a.packet.size == image_b.packet.size == 3 + plan_a.load_bus().payload_words
    assert image_a.checksums != image_b.checksums and (image_a.n_items, image_b.n_items) == (40, 37)


def test_the_default_capacity_rounds_the_catalogue_up() -> None:
    assert plan(random_params(), [(2, 4), (4, 1)]).hist_agg.n_items == 256
    with pytest.raises(FoldingError, match="n_items_max=32 holds fewer"):
        plan(random_params(), [(2, 4), (4, 1)], n_items_max=32)


def test_an_image_round_trips_and_refuses_damage(tmp_path: Path) -> None:
    params = random_params()
    kernel = plan(params, [(2, 4), (4, 1)], n_items_max=64)
    image = kernel.model_image(params, "ab" * 32)
    path = image.write(tmp_path / "model.img")
    again = protocol.ModelImage.read(path)
    assert again.shape_key == kernel.shape_key and again.n_items == 40 and again.checkpoint_sha256 == "ab" * 32
    assert np.array_equal(again.packet, image.packet)
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x10
    with pytest.raises(protocol.ImageError, match="checksum"):
        protocol.ModelImage.from_bytes(bytes(data))
    with pytest.raises(protocol.ImageError, match="truncated"):
        protocol.ModelImage.from_bytes(path.read_bytes()[:-4])
    with pytest.raises(protocol.ImageError, match="not a hybrec model image"):
        protocol.ModelImage.from_bytes(b"PK" + bytes(200))
    other = plan(params, [(2, 4), (4, 1)], n_items_max=128)
    with pytest.raises(protocol.ImageError, match="shape"):
        image.check_fits(other.shape_key, 128)


def test_status_words_round_trip_and_are_not_results() -> None:
    status = protocol.Status(0x12345678, 1682, protocol.WRONG_SHAPE, True, 7, 9)
    assert protocol.Status.from_words(status.words()) == status
    result = protocol.result_words(np.array([[3]]), np.array([[-5]]), np.array([[1]]), np.array([8]))
    with pytest.raises(ValueError, match="status"):
        protocol.Status.from_words(np.concatenate([result[0], result[0]]))
    assert int(result[0, 0]) >> 48 == (1 << 4) | 8


def test_a_query_packet_starts_with_its_header() -> None:
    units = protocol.query_units([5, 6, 7], [9])
    assert units.tolist() == [3, 0x5100, 5, 6, 7, 9]


def test_the_exclusion_list_removes_exactly_its_items() -> None:
    golden = GoldenModel(random_params())
    history = np.array([1, 2, 3])
    plain = golden.query(history)
    banned = plain.ids[:2]
    excluded = golden.query(history, np.concatenate([banned, [10_000]]))   # an id out of range is ignored
    assert not set(banned.tolist()) & set(excluded.ids.tolist())
    assert excluded.ids[: golden.p.k - 2].tolist() == plain.ids[2:].tolist() and excluded.flags == plain.flags


def test_an_answer_without_a_model_is_flagged_and_empty() -> None:
    r = no_model_result(np.arange(9), k=4, lmax=8)
    assert r.flags == (numerics.FLAG_NO_MODEL | numerics.FLAG_EMPTY | numerics.FLAG_BAD_ID
                       | numerics.FLAG_TRUNCATED)
    assert not r.valid.any() and (r.ids == -1).all()
    assert no_model_result(np.zeros(0), k=4, lmax=8).flags == numerics.FLAG_NO_MODEL | numerics.FLAG_EMPTY


def test_another_catalogue_fits_the_same_kernel_up_to_its_capacity() -> None:
    params = random_params()
    kernel = plan(params, [(2, 4), (4, 1)], n_items_max=64)
    rows = np.concatenate([np.arange(5, 40), np.arange(0, 29)])          # 5 removed, 29 "new" items
    bigger = params.with_catalogue(params.features[rows], params.items[rows])
    assert kernel.model_image(bigger).n_items == 64
    with pytest.raises(FoldingError, match="at most 64"):
        kernel.model_image(params.with_catalogue(params.features[np.arange(65) % 40], params.items[np.arange(65) % 40]))
