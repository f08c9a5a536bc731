"""Query packets, manifest reading and result/status-word decoding (numpy only)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from hybrec.driver import (
    FLAG_BAD_ID,
    FLAG_EMPTY,
    FLAG_NO_MODEL,
    ConfigurationError,
    HistoryTooLong,
    IdOutOfRange,
    KernelInfo,
    MalformedResult,
    Status,
    decode_words,
)
from hybrec.driver.words import check_histories, decode_status, is_status_answer, pack_packets, query_bytes

KEY = hashlib.sha256(b"tiny shape").hexdigest()


def manifest(shape: dict | None = None, **interface: int) -> dict:
    m = {"build_id": "b", "kernel": {"top": "hybrec_kernel", "parameters": {"n_items": 32, "lmax": 8, "k": 3},
                                     "shape": {"key": KEY, "word": KEY[:8], "n_items_max": 32} if shape is None
                                     else shape, "interface": {"in_bits": 32, "out_bits": 64}}}
    m["kernel"]["interface"].update(interface)
    return m


def test_the_manifest_gives_the_shape_and_the_capacity() -> None:
    info = KernelInfo.from_manifest(manifest())
    assert (info.shape_key, info.shape_word, info.n_items_max, info.lmax, info.k) == (KEY, int(KEY[:8], 16), 32, 8, 3)
    older = manifest()
    older["kernel"]["interface"] = {"s_axis_tdata": 32, "m_axis_tdata": 64}
    assert KernelInfo.from_manifest(older).in_bits == 32


@pytest.mark.parametrize(("m", "message"), [
    (manifest(out_bits=32), "decodes 64-bit"),
    (manifest(in_bits=16), "one 32-bit word per beat"),
    (manifest(shape={}), "no kernel shape"),
    (manifest(shape={"key": KEY, "word": "00000000"}), "shape.word"),
    ({"build_id": "x"}, "not a hybrec build manifest"),
])
def test_manifests_the_driver_cannot_drive(m, message) -> None:
    with pytest.raises(ConfigurationError, match=message):
        KernelInfo.from_manifest(m)


def test_query_packets_are_a_header_word_the_history_and_the_exclusion_list() -> None:
    info = KernelInfo.from_manifest(manifest())
    packets = check_histories([[1, 0x1234], [], list(range(40))], info, strict=False,
                              excludes=[[7], [3, 4], []])
    data, starts, nbytes = pack_packets(packets, 64)
    assert starts.tolist() == [0, 64, 128] and nbytes.tolist() == [10, 8, 84] and data.size == 256
    # header word 0x51 << 24 | n_hist, little-endian, then the ids as uint16
    assert data[:10].tolist() == [2, 0, 0, 0x51, 1, 0, 0x34, 0x12, 7, 0]
    assert data[64:72].tolist() == [0, 0, 0, 0x51, 3, 0, 4, 0]       # an empty history: n_hist 0, ids excluded
    assert data[128:132].view("<u4").tolist() == [0x51000000 | 40]
    assert data[132:212].view("<u2").tolist() == list(range(40))
    assert query_bytes([5], [6, 7]) == bytes([1, 0, 0, 0x51, 5, 0, 6, 0, 7, 0])
    assert len(query_bytes([])) == 4   # one beat: the header word alone


def test_strict_checks_use_the_live_item_count() -> None:
    info = KernelInfo.from_manifest(manifest())
    check_histories([[0, 31]], info, strict=True)                     # below the capacity of 32
    with pytest.raises(IdOutOfRange, match=r"query 0: id 20 at position 1 of the history .*16 items, ids 0..15"):
        check_histories([[0, 20]], info, strict=True, n_items=16)
    with pytest.raises(IdOutOfRange, match="exclusion list"):
        check_histories([[0]], info, strict=True, n_items=16, excludes=[[3, 16]])
    with pytest.raises(IdOutOfRange, match="no model is loaded"):
        check_histories([[0]], info, strict=True, n_items=0)
    assert check_histories([[0, 20]], info, strict=False, n_items=16)[0].size == 4   # sent: the kernel skips it
    with pytest.raises(HistoryTooLong):
        check_histories([list(range(9))], info, strict=True)
    with pytest.raises(IdOutOfRange, match="16-bit"):
        check_histories([[1]], info, strict=False, excludes=[[65536]])
    with pytest.raises(ValueError, match="2 exclusion lists for 1"):
        check_histories([[1]], info, strict=False, excludes=[[], []])
    assert check_histories([np.array([], dtype=np.float64)], info, strict=True)[0].tolist() == [0, 0x5100]


def result_words(ids, scores, valid, flags) -> np.ndarray:
    return ((valid.astype(np.uint64) << np.uint64(52)) | (flags[:, None].astype(np.uint64) << np.uint64(48))
            | (np.where(valid, ids, 0xFFFF).astype(np.uint64) << np.uint64(32))
            | (np.where(valid, scores, 0).astype(np.int64).astype(np.uint64) & np.uint64(0xFFFFFFFF)))


def test_decode_round_trip() -> None:
    rng = np.random.default_rng(0)
    q, k = 50, 5
    scores = -np.sort(-rng.integers(-2**31, 2**31, size=(q, k)), axis=1)
    ids = np.array([rng.choice(1000, size=k, replace=False) for _ in range(q)])
    valid = np.arange(k)[None, :] < rng.integers(0, k + 1, size=(q, 1))
    flags = rng.integers(0, 8, size=q)
    r = decode_words(result_words(ids, scores, valid, flags), 1000)
    np.testing.assert_array_equal(r.ids, np.where(valid, ids, -1))
    np.testing.assert_array_equal(r.scores, np.where(valid, scores, 0))
    np.testing.assert_array_equal(r.valid, valid)
    np.testing.assert_array_equal(r.flags, flags)
    assert not r.no_model.any()
    assert r.ids.dtype == np.int32 and r.scores.dtype == np.int64 and r.valid.dtype == bool


def test_no_model_answers_decode_with_their_flag() -> None:
    words = result_words(np.zeros((2, 3), int), np.zeros((2, 3), int), np.zeros((2, 3), bool),
                         np.array([FLAG_NO_MODEL | FLAG_EMPTY, FLAG_NO_MODEL | FLAG_EMPTY | FLAG_BAD_ID]))
    r = decode_words(words, 0)
    assert r.no_model.tolist() == [True, True] and (r.ids == -1).all()
    assert r.flags.tolist() == [9, 13]


@pytest.mark.parametrize(("word", "message"), [
    ((1 << 53) | (1 << 52) | (5 << 32), "reserved bits"),
    ((0xA5 << 56) | (1 << 52), "status word"),
    ((1 << 52) | (8 << 48) | (5 << 32), "valid result flagged NO_MODEL"),
    ((1 << 52) | (20 << 32), "out of range"),
    (1 << 51, "invalid word must carry id 0xFFFF"),   # the first protocol's valid bit is now a reserved flag bit
])
def test_malformed_words(word, message) -> None:
    with pytest.raises(MalformedResult, match=message):
        decode_words(np.array([[word]], dtype=np.uint64), 16)


def test_status_words() -> None:
    status = Status(int(KEY[:8], 16), 24, 0, True, 0x12345678, 0x9ABCDEF0)
    words = status.words()
    assert is_status_answer(words) and not is_status_answer(words[:1])
    assert decode_status(words) == status
    with pytest.raises(MalformedResult, match="status words"):
        decode_status(np.array([1, 2], dtype=np.uint64))
