"""Input packing, manifest reading and result-word decoding (numpy only)."""

from __future__ import annotations

import numpy as np
import pytest

from hybrec.driver import ConfigurationError, HistoryTooLong, IdOutOfRange, KernelInfo, decode_words
from hybrec.driver.words import check_histories, pack_packets


def manifest(**interface: int) -> dict:
    m = {"build_id": "b", "kernel": {"top": "hybrec_kernel", "parameters": {"n_items": 24, "lmax": 8, "k": 3}}}
    if interface:
        m["kernel"]["interface"] = interface
    return m


@pytest.mark.parametrize(("interface", "params", "in_bits"), [
    ({}, {}, 16), ({"s_axis_tdata": 16, "m_axis_tdata": 64}, {}, 16), ({"in_bits": 32, "out_bits": 64}, {}, 32),
    ({}, {"ids_per_beat": 2}, 32), ({"s_axis_tdata": 32}, {"ids_per_beat": 2}, 32),
])
def test_stream_widths_from_the_manifest(interface, params, in_bits) -> None:
    m = manifest(**interface)
    m["kernel"]["parameters"].update(params)
    info = KernelInfo.from_manifest(m)
    assert (info.in_bits, info.out_bits, info.n_items, info.lmax, info.k) == (in_bits, 64, 24, 8, 3)


@pytest.mark.parametrize(("interface", "message"), [({"out_bits": 32}, "decodes 64-bit"), ({"in_bits": 24}, "16-bit")])
def test_unsupported_widths(interface, message) -> None:
    with pytest.raises(ConfigurationError, match=message):
        KernelInfo.from_manifest(manifest(**interface))


def test_packets_are_aligned_little_endian_uint16() -> None:
    info = KernelInfo.from_manifest(manifest())
    packets = check_histories([[1, 0x1234], [], list(range(40))], info, strict=False)
    data, starts, nbytes = pack_packets(packets, 64)
    assert starts.tolist() == [0, 64, 128] and nbytes.tolist() == [4, 2, 80] and data.size == 256
    assert data[:4].tolist() == [1, 0, 0x34, 0x12] and data[64:66].tolist() == [0xFF, 0xFF]
    assert data[128:208].view("<u2").tolist() == list(range(40))
    with pytest.raises(HistoryTooLong):
        check_histories([list(range(9))], info, strict=True)
    with pytest.raises(IdOutOfRange):
        check_histories([[0, 24]], info, strict=True)
    assert check_histories([np.array([], dtype=np.float64)], info, strict=True)[0].tolist() == [0xFFFF]


def test_decode_round_trip() -> None:
    rng = np.random.default_rng(0)
    q, k = 50, 5
    scores = -np.sort(-rng.integers(-2**31, 2**31, size=(q, k)), axis=1)
    ids = np.array([rng.choice(1000, size=k, replace=False) for _ in range(q)])
    valid = np.arange(k)[None, :] < rng.integers(0, k + 1, size=(q, 1))
    flags = rng.integers(0, 8, size=q)
    words = ((valid.astype(np.uint64) << np.uint64(51)) | (flags[:, None].astype(np.uint64) << np.uint64(48))
             | (np.where(valid, ids, 0xFFFF).astype(np.uint64) << np.uint64(32))
             | (np.where(valid, scores, 0).astype(np.int64).astype(np.uint64) & np.uint64(0xFFFFFFFF)))
    r = decode_words(words, 1000)
    np.testing.assert_array_equal(r.ids, np.where(valid, ids, -1))
    np.testing.assert_array_equal(r.scores, np.where(valid, scores, 0))
    np.testing.assert_array_equal(r.valid, valid)
    np.testing.assert_array_equal(r.flags, flags)
    assert r.ids.dtype == np.int32 and r.scores.dtype == np.int64 and r.valid.dtype == bool
