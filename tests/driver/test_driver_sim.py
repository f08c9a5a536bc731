"""The driver's own code against the simulated PYNQ device driving the Verilated tiny kernel (capacity 32, its
model image of 24 items, lmax 8, K = 3): every answer equals the golden model's under random backpressure, the
per-query cycle records, and each error path (bitstream checks, DMA errors and timeouts, bad input, wrong
answers). The bitstream checks run on the protocol-level stand-in (no RTL needed); model loads are in
test_model_load.py."""

from __future__ import annotations

import gc
import hashlib
import json
from pathlib import Path
from typing import ClassVar

import numpy as np
import pynq
import pytest
from pynq.lib.dma import DMA

from conftest import manifest_of
from hybrec.driver import (
    FLAG_BAD_ID,
    FLAG_EMPTY,
    FLAG_TRUNCATED,
    BitstreamMismatch,
    ConfigurationError,
    DmaError,
    DmaTimeout,
    DriverError,
    HistoryTooLong,
    IdOutOfRange,
    KernelDriver,
    KernelInfo,
    MalformedResult,
    NoModel,
    ResultError,
    ShapeMismatch,
    WordCountMismatch,
)
from hybrec.driver.simdevice import SR_DEC_ERR, SR_INT_ERR, SR_SLV_ERR, ScriptedKernel, SimDevice
from hybrec.driver.simmodel import KernelModel, model_library
from hybrec.driver.words import query_bytes
from hybrec.protocol import KIND_STATUS, ModelImage, Status

VALID = 1 << 52


def scripted(build: Path, answer) -> SimDevice:
    """A simulated device whose kernel is a script (answer(packet bytes) -> words or None), same stream widths.
    Status requests are answered as by a kernel of the build's shape holding a model of 24 items."""
    manifest = manifest_of(build)
    info = KernelInfo.from_manifest(manifest)

    def with_status(packet: bytes):
        if len(packet) == 4 and packet[3] == KIND_STATUS:
            return Status(info.shape_word, 24, 0, True, 0, 0).words()
        return answer(packet)

    return SimDevice(ScriptedKernel(with_status, info.in_bits // 8), manifest)


def loaded(dev: SimDevice, build: Path, **kwargs) -> KernelDriver:
    """A driver of the device with the build's model image loaded."""
    driver = KernelDriver(dev.dma(), manifest_of(build), **kwargs)
    driver.load_model(build / "model" / "model.img")
    return driver


def assert_golden(results, golden: dict, rows: np.ndarray | slice = slice(None)) -> None:
    np.testing.assert_array_equal(results.ids, golden["topk"][rows])
    np.testing.assert_array_equal(results.scores, golden["scores"][rows])
    np.testing.assert_array_equal(results.valid, golden["valid"][rows].astype(bool))
    np.testing.assert_array_equal(results.flags, golden["flags"][rows])


def length_writes(dev: SimDevice) -> list[int]:
    return [off for kind, off, _ in dev.register_log or [] if kind == "w" and off in (0x28, 0x58)]


# ------------------------------------------------------------------------------------------ golden answers
@pytest.mark.parametrize(("pipelined", "pause", "seed"), [(True, 0.0, 1), (True, 0.4, 2), (False, 0.4, 3)])
def test_every_query_equals_the_golden_model(make_device, golden, sim_build, pipelined, pause, seed) -> None:
    dev = make_device(seed=seed, source_pause=pause, sink_pause=pause)
    dma = dev.dma()
    assert isinstance(dma, DMA)  # pynq's own DMA driver writes the simulated registers
    driver = loaded(dev, sim_build, timeout_s=5.0)
    results = driver.run(golden["histories"], golden["excludes"], pipelined=pipelined)
    assert len(results) == len(golden["histories"]) > 100
    assert_golden(results, golden)
    assert {"empty", "overlong", "bad_ids", "duplicates", "single", "all_bad", "exclude_only",
            "long_exclusion"} <= set(golden["kind"].tolist())
    # one cycle record per query (the status request and the load are not queries); every latency at least
    # the kernel's pipeline, and no gap for the host
    records = dev.records().queries()
    assert records.in_first.size == records.out_last.size == len(results)
    assert dev.records().packets == len(results) + 2
    latency = records.latency()
    assert (latency > 20).all() and (records.out_last > records.in_last).all()
    assert results.latency_s.shape == (len(results),) and (results.latency_s > 0).all() and results.wall_s > 0


def test_back_to_back_answers_come_faster_than_one_latency(make_device, golden, sim_build) -> None:
    histories, excludes = golden["histories"][:40], golden["excludes"][:40]
    seq = make_device(seed=4)
    loaded(seq, sim_build).run(histories, excludes, pipelined=False)
    pipe = make_device(seed=4)
    results = loaded(pipe, sim_build).run(histories, excludes, pipelined=True)
    assert_golden(results, golden, slice(0, 40))
    alone = seq.records().queries()
    # sequential: the next query starts the cycle after the previous answer's last beat
    np.testing.assert_array_equal(alone.in_first[1:], alone.out_last[:-1] + 1)
    assert pipe.records().intervals().mean() < 0.6 * alone.latency().mean()
    assert pipe.records().queries().out_last[-1] < alone.out_last[-1]


def test_repeated_runs_and_records_since(make_device, golden, sim_build) -> None:
    dev = make_device(seed=5, source_pause=0.2, sink_pause=0.2)
    driver = loaded(dev, sim_build)
    first = driver.run(golden["histories"][:10], golden["excludes"][:10])
    mark = dev.records().packets
    second = driver.run(golden["histories"][10:30], golden["excludes"][10:30])
    assert_golden(first, golden, slice(0, 10))
    assert_golden(second, golden, slice(10, 30))
    assert dev.records().since(mark).latency().size == 20
    assert driver.run([]).ids.shape == (0, 3)


def test_the_model_without_a_dma(sim_build, golden) -> None:
    """KernelModel on its own: packets queued back to back, the words collected in C++."""
    model = KernelModel(model_library(sim_build), seed=9, source_pause=0.3, sink_pause=0.3)
    image = ModelImage.read(sim_build / "model" / "model.img")
    status = Status.from_words(model.run_packets([image.packet_bytes()], 2)[0])
    assert (status.code, status.n_items, (status.s1, status.s2)) == (0, 24, image.checksums)
    packets = [query_bytes(h, e) for h, e in zip(golden["histories"][:25], golden["excludes"][:25], strict=True)]
    words = model.run_packets(packets, 3)
    ids = ((words >> np.uint64(32)) & np.uint64(0xFFFF)).astype(np.int64)
    valid = ((words >> np.uint64(52)) & np.uint64(1)).astype(bool)
    np.testing.assert_array_equal(np.where(valid, ids, -1), golden["topk"][:25])
    assert model.records().latency().size == 25 and model.cycle > 25 * 8
    assert model.records().load_cycles().size == 1
    model.close()


# ------------------------------------------------------------------------------------------ awkward input
def test_empty_overlong_and_out_of_range_histories_go_to_the_kernel(make_device, sim_build) -> None:
    dev = make_device(seed=6)
    driver = loaded(dev, sim_build)
    results = driver.run([[], list(range(12)), [3, 24, 5, 0xFFFF], [24, 25], [1]], [[], [], [], [], [2, 30, 6]])
    assert results.flags.tolist() == [FLAG_EMPTY, FLAG_TRUNCATED, FLAG_BAD_ID, FLAG_EMPTY | FLAG_BAD_ID, 0]
    np.testing.assert_array_equal(results.ids[0], results.ids[3])  # both: the MLP's answer to a zero mean
    assert not np.isin(results.ids[2], [3, 5]).any()  # the valid history items are excluded
    assert not np.isin(results.ids[4], [1, 2, 6]).any()  # and the exclusion list's


def test_strict_checking_refuses_before_sending(make_device, sim_build) -> None:
    dev = make_device()
    dev.register_log = []
    driver = loaded(dev, sim_build, strict=True)
    dev.register_log = []
    with pytest.raises(IdOutOfRange, match=r"query 1: id 24 at position 2 of the history is out of range .*24 items"):
        driver.run([[1, 2], [0, 1, 24]])
    with pytest.raises(IdOutOfRange, match=r"query 0: id 25 at position 0 of the exclusion list"):
        driver.run([[1, 2]], [[25]])
    with pytest.raises(HistoryTooLong, match=r"query 0: 9 ids, .* lmax = 8"):
        driver.run([list(range(9))])
    assert length_writes(dev) == []  # nothing was sent
    assert driver.run([list(range(8)), []]).flags.tolist() == [0, FLAG_EMPTY]
    with pytest.raises(IdOutOfRange):
        driver.run([[24]], strict=True)
    assert driver.run([[24]], strict=False).flags.tolist() == [FLAG_EMPTY | FLAG_BAD_ID]


@pytest.mark.parametrize("bad", [[-1], [65536], [1, 2, 70000]])
def test_ids_that_do_not_fit_16_bits_are_always_refused(make_device, sim_build, bad) -> None:
    driver = loaded(make_device(), sim_build)
    with pytest.raises(IdOutOfRange, match="16-bit"):
        driver.run([bad])
    with pytest.raises(IdOutOfRange, match="16-bit"):
        driver.run([[1]], [bad])


def test_non_integer_histories_are_refused(make_device, sim_build) -> None:
    driver = loaded(make_device(), sim_build)
    with pytest.raises(ValueError, match="integers"):
        driver.run([[1.5, 2.0]])
    with pytest.raises(ValueError, match="1-D"):
        driver.run([[[1, 2]]])


# ------------------------------------------------------------------------------------------ DMA errors
def test_timeout_when_the_kernel_never_answers(make_device, golden, sim_build) -> None:
    dev = make_device()
    driver = loaded(dev, sim_build, timeout_s=0.3)
    dev.kernel.set_pauses(0.0, 1.0)  # S2MM armed but the kernel's m_axis never sees tready
    # IOC_Irq (bit 12) stays set from the load's completed transfers: pynq's driver never clears it
    with pytest.raises(DmaTimeout, match=r"S2MM transfer did not complete within 0.3 s, S2MM DMASR = 0x00011000 "
                                         r"\(IOC_Irq\); MM2S DMASR = 0x00011002 \(Idle, IOC_Irq\)") as err:
        driver.run(golden["histories"][:2])
    assert err.value.channel == "S2MM" and err.value.status == 0x11000
    with pytest.raises(DriverError, match="call reset"):
        driver.run(golden["histories"][:1])
    # what reloading the overlay does on a board: the DMA and the kernel start over, without a model
    driver.reset()
    dev.reset_kernel()
    dev.kernel.set_pauses(0.0, 0.0)
    assert driver.status().model_valid is False
    with pytest.raises(NoModel):
        driver.run(golden["histories"][:6], golden["excludes"][:6])
    driver.load_model(sim_build / "model" / "model.img")
    assert_golden(driver.run(golden["histories"][:6], golden["excludes"][:6]), golden, slice(0, 6))


def test_timeout_with_a_kernel_that_takes_input_and_never_answers(tiny_build) -> None:
    dev = scripted(tiny_build, lambda packet: None)
    with dev.activate():
        driver = KernelDriver(dev.dma(), manifest_of(tiny_build), timeout_s=0.2)
        with pytest.raises(DmaTimeout, match="S2MM"):
            driver.run([[1, 2, 3]])


def test_a_longer_answer_than_the_receive_buffer_is_a_dma_internal_error(tiny_build) -> None:
    word = VALID | (5 << 32) | 7
    dev = scripted(tiny_build, lambda packet: np.full(20, word, dtype=np.uint64))
    with dev.activate():
        driver = KernelDriver(dev.dma(), manifest_of(tiny_build))
        with pytest.raises(DmaError, match=r"S2MM channel error, DMASR = 0x000\w{5} \(Halted, DMAIntErr, "
                                           r"(IOC_Irq, )?Err_Irq"):
            driver.run([[1, 2]])


def test_pynq_sees_the_receive_overflow_too(make_protocol) -> None:
    """pynq's own wait() on the simulated registers: a 2-word answer (the status words answering a packet of
    a bad header) into an 8-byte receive transfer. The error halts the channel (PG021), so pynq's wait()
    stops on the halt (or on the error bit, when it is already waiting as the error comes)."""
    dev = make_protocol()
    dma = dev.dma()
    out = pynq.allocate((8,), dtype=np.uint8)
    ids = pynq.allocate((4,), dtype=np.uint16)
    ids[:] = [1, 2, 3, 4]
    dma.recvchannel.transfer(out)
    dma.sendchannel.transfer(ids)
    dma.sendchannel.wait()
    with pytest.raises(RuntimeError, match=r"DMA channel not started|DMA Internal Error"):
        dma.recvchannel.wait()
    assert dev.s2mm.status & (SR_INT_ERR | 1) == SR_INT_ERR | 1 and dev.s2mm.actual == 8


@pytest.mark.parametrize("channel", ["MM2S", "S2MM"])
def test_a_slave_error_on_either_channel(make_device, sim_build, channel) -> None:
    dev = make_device()
    driver = loaded(dev, sim_build)
    dev.inject_error(channel, SR_SLV_ERR)
    with pytest.raises(DmaError, match=rf"{channel} channel error, DMASR = .*DMASlvErr") as err:
        driver.run([[1, 2, 3]])
    assert err.value.status & SR_SLV_ERR


def test_register_level_errors_and_reset(make_protocol) -> None:
    dev = make_protocol()
    dma = dev.dma()
    mmio = dma.mmio
    assert mmio.read(0x04) & 0x3 == 0  # running, not idle before the first transfer (PG021)
    mmio.write(0x18, 0x100)  # a source address outside every buffer
    mmio.write(0x28, 64)
    assert mmio.read(0x04) & (SR_DEC_ERR | 1) == SR_DEC_ERR | 1  # DMADecErr, halted
    mmio.write(0x00, 1)
    assert mmio.read(0x04) & 1  # an error keeps the channel halted
    mmio.write(0x00, 4)  # soft reset: both channels
    assert mmio.read(0x04) == 0x00010001 and mmio.read(0x34) == 0x00010001 and mmio.read(0x00) == 0x00010000
    mmio.write(0x30, 1)
    mmio.write(0x58, 0)  # zero length
    assert mmio.read(0x34) & SR_INT_ERR


def test_timeout_names_a_dma_that_never_leaves_reset() -> None:
    class StuckDma:
        sendchannel = recvchannel = object()
        description: ClassVar[dict] = {"parameters": {}}

        class mmio:
            @staticmethod
            def read(offset: int) -> int:
                return 0x4 if offset == 0 else 0x1

            @staticmethod
            def write(offset: int, value: int) -> None:
                pass

    manifest = {"build_id": "x", "kernel": {"parameters": {"n_items": 24, "lmax": 8, "k": 3},
                                            "shape": {"key": "ab" * 32}, "interface": {"in_bits": 32}}}
    driver = KernelDriver(StuckDma(), manifest, timeout_s=0.05, check_hardware=False)
    with pytest.raises(DmaTimeout, match="reset"):
        driver.reset()


# ------------------------------------------------------------------------------------------ wrong answers
@pytest.mark.parametrize(("k", "got"), [(2, 3), (4, 3)])
def test_word_count_mismatch(make_device, sim_build, k, got) -> None:
    manifest = manifest_of(sim_build)
    manifest["kernel"]["parameters"]["k"] = k  # a manifest that is not the bitstream's kernel
    driver = KernelDriver(make_device().dma(), manifest)
    driver.load_model(sim_build / "model" / "model.img")
    with pytest.raises(WordCountMismatch, match=rf"query 0: the kernel answered {got} words, the manifest's K is {k}"):
        driver.run([[1, 2], [3]])


@pytest.mark.parametrize(("words", "message"), [
    ([VALID | (5 << 32) | 9, (1 << 60) | VALID | (6 << 32) | 8, VALID | (7 << 32)], "reserved bits"),
    ([VALID | (5 << 32) | 9, VALID | (6 << 32) | 8, 7 << 32], "invalid word must carry id 0xFFFF"),
    ([VALID | (30 << 32) | 9, VALID | (6 << 32) | 8, VALID | (7 << 32)], "item id out of range"),
    ([VALID | (5 << 32) | 9, 0xFFFF << 32, VALID | (7 << 32)], "valid result after an invalid one"),
    ([VALID | (5 << 32) | 9, VALID | (2 << 48) | (6 << 32) | 8, VALID | (7 << 32)], "flags differ"),
    ([VALID | (5 << 32) | 9, VALID | (6 << 32) | 10, VALID | (7 << 32)], "out of order"),
    ([VALID | (6 << 32) | 9, VALID | (5 << 32) | 9, VALID | (7 << 32)], "ties to the lower id"),
    ([(0xA5 << 56) | VALID, VALID | (5 << 32), VALID | (7 << 32)], "status word where a result word"),
])
def test_malformed_words_are_refused(tiny_build, words, message) -> None:
    dev = scripted(tiny_build, lambda packet: np.array(words, dtype=np.uint64))
    with dev.activate():
        driver = KernelDriver(dev.dma(), manifest_of(tiny_build))
        with pytest.raises(MalformedResult, match=message):
            driver.run([[1, 2]])


def test_status_words_in_place_of_results_are_named(tiny_build) -> None:
    answer = Status(KernelInfo.from_manifest(manifest_of(tiny_build)).shape_word, 24, 3, True, 0, 0).words()
    dev = scripted(tiny_build, lambda packet: answer)
    with dev.activate():
        driver = KernelDriver(dev.dma(), manifest_of(tiny_build))
        with pytest.raises(ResultError, match=r"query 0: the kernel answered with status words \(code BAD_HEADER\)"):
            driver.run([[1, 2]])


def test_a_scripted_well_formed_answer_decodes(tiny_build) -> None:
    words = [VALID | (5 << 32) | 9, VALID | (6 << 32) | 0xFFFFFFFE, 0xFFFF << 32]
    dev = scripted(tiny_build, lambda packet: np.array(words, dtype=np.uint64))
    with dev.activate():
        results = KernelDriver(dev.dma(), manifest_of(tiny_build)).run([[1, 2]])
    assert results.ids.tolist() == [[5, 6, -1]] and results.scores.tolist() == [[9, -2, 0]]
    assert results.valid.tolist() == [[True, True, False]] and results.flags.tolist() == [0]


# ------------------------------------------------------------------------------------------ configuration
def test_the_dma_must_match_the_kernel(make_protocol, tiny_build) -> None:
    dev = make_protocol()
    desc = dev.dma_description()
    bits = KernelInfo.from_manifest(manifest_of(tiny_build)).in_bits
    desc["parameters"]["c_m_axis_mm2s_tdata_width"] = str(2 * bits)
    with pytest.raises(ConfigurationError,
                       match=f"c_m_axis_mm2s_tdata_width is {2 * bits} bits but the kernel's s_axis is {bits}"):
        KernelDriver(DMA(desc), manifest_of(tiny_build))
    desc = dev.dma_description()
    desc["parameters"]["c_include_s2mm"] = "0"
    with pytest.raises(ConfigurationError, match="both channels"):
        KernelDriver(DMA(desc), manifest_of(tiny_build))
    with pytest.raises(ConfigurationError, match="not a hybrec build manifest"):
        KernelDriver(dev.dma(), {"build_id": "x"})


def test_device_memory_needs_flush_and_invalidate(make_protocol) -> None:
    dev = make_protocol()
    buf = pynq.allocate((16,), dtype=np.uint8)
    buf[:] = 7
    assert dev._memory(buf.physical_address, 16).tolist() == [0] * 16  # not flushed yet
    buf[4:8].flush()
    assert dev._memory(buf.physical_address, 16).tolist() == [0] * 4 + [7] * 4 + [0] * 8
    dev._memory(buf.physical_address, 16)[:] = 9
    buf.invalidate()
    assert buf.tolist() == [9] * 16


# ------------------------------------------------------------------------------------------ the board path
@pytest.fixture
def bitstream_files(tmp_path: Path, tiny_build: Path) -> dict[str, Path]:
    bit = tmp_path / "hybrec.bit"
    bit.write_bytes(b"\x00\x09bitstream of the tiny kernel" * 10)
    (tmp_path / "hybrec.hwh").write_text("<hwh/>")
    build = manifest_of(tiny_build)
    manifest = {"format": "hybrec-bitstream/3", "target": "xc7z020", "device": "PYNQ-Z2", "kernel_top": "hybrec_kernel",
                "build": {"build_id": build["build_id"]}, "shape": {"key": build["kernel"]["shape"]["key"]},
                "fmax_mhz": None, "timing_met": None,
                "bitstream": {"file": bit.name, "sha256": hashlib.sha256(bit.read_bytes()).hexdigest()}}
    (tmp_path / "bitstream.json").write_text(json.dumps(manifest))
    return {"bit": bit, "bitstream": tmp_path / "bitstream.json", "build": tiny_build / "manifest.json"}


class FakeOverlay:
    """Stands in for pynq.Overlay (no board here): an overlay whose only IP is the simulated DMA, named as
    hybrec's Vivado script names it."""

    loaded: ClassVar[list[str]] = []
    device: ClassVar[SimDevice | None] = None

    def __init__(self, bitfile: str) -> None:
        FakeOverlay.loaded.append(bitfile)
        assert FakeOverlay.device is not None
        self.ip_dict = {"dma": {"type": "xilinx.com:ip:axi_dma:7.1"},
                        "ps7": {"type": "xilinx.com:ip:processing_system7"}}
        self.dma = FakeOverlay.device.dma("dma")


@pytest.fixture
def fake_overlay(monkeypatch: pytest.MonkeyPatch, make_protocol) -> type[FakeOverlay]:
    FakeOverlay.loaded = []
    FakeOverlay.device = make_protocol()
    monkeypatch.setattr(pynq, "Overlay", FakeOverlay)
    return FakeOverlay


def test_from_overlay_checks_then_loads(bitstream_files, fake_overlay, golden, tiny_build) -> None:
    f = bitstream_files
    driver = KernelDriver.from_overlay(str(f["bit"]), str(f["build"]), str(f["bitstream"]))
    assert fake_overlay.loaded == [str(f["bit"])] and driver.dma_name == "dma"
    assert driver.hardware is not None and not driver.model_loaded   # asked at open: no model yet
    driver.load_model(tiny_build / "model" / "model.img")
    assert_golden(driver.run(golden["histories"][:8], golden["excludes"][:8]), golden, slice(0, 8))


def test_a_bitstream_that_records_its_shape_serves_any_build_of_that_shape(bitstream_files, fake_overlay,
                                                                           tmp_path) -> None:
    f = bitstream_files
    build = json.loads(f["build"].read_text())
    manifest = json.loads(f["bitstream"].read_text())
    manifest["build"]["build_id"] = "a-build-of-the-same-shape"
    manifest["shape"] = {"key": build["kernel"]["shape"]["key"]}
    f["bitstream"].write_text(json.dumps(manifest))
    driver = KernelDriver.from_overlay(str(f["bit"]), str(f["build"]), str(f["bitstream"]))
    assert driver.shape_key == build["kernel"]["shape"]["key"]
    manifest["shape"] = {"key": "0" * 64}
    f["bitstream"].write_text(json.dumps(manifest))
    with pytest.raises(BitstreamMismatch, match=r"the bitstream is of kernel shape 0{16}…, the build \w+ of shape"):
        KernelDriver.from_overlay(str(f["bit"]), str(f["build"]), str(f["bitstream"]))
    assert fake_overlay.loaded == [str(f["bit"])]   # the second one was refused before loading


def test_a_kernel_of_another_shape_behind_the_overlay_is_refused(bitstream_files, fake_overlay, make_protocol) -> None:
    f = bitstream_files
    fake_overlay.device = make_protocol(shape_word=0x0BADF00D)
    with pytest.raises(ShapeMismatch, match="shape word 0badf00d"):
        KernelDriver.from_overlay(str(f["bit"]), str(f["build"]), str(f["bitstream"]))


def test_wrong_bitstream_is_refused_before_loading(bitstream_files, fake_overlay) -> None:
    f = bitstream_files
    f["bit"].write_bytes(f["bit"].read_bytes() + b"\x01")
    with pytest.raises(BitstreamMismatch, match=r"hybrec.bit is not the bitstream of .*bitstream.json: its sha256"):
        KernelDriver.from_overlay(str(f["bit"]), str(f["build"]), str(f["bitstream"]))
    assert fake_overlay.loaded == []


def test_bitstream_of_another_shape_is_refused(bitstream_files, fake_overlay, tmp_path) -> None:
    f = bitstream_files
    other = json.loads(f["build"].read_text())
    other["build_id"] = "0123456789abcdef"
    other["kernel"]["shape"]["key"] = "1" * 64
    (tmp_path / "other.json").write_text(json.dumps(other))
    with pytest.raises(BitstreamMismatch, match=r"the bitstream is of kernel shape \w+…, the build 0123456789abcdef "
                                                r"of shape 1{16}…"):
        KernelDriver.from_overlay(str(f["bit"]), str(tmp_path / "other.json"), str(f["bitstream"]))
    manifest = json.loads(f["bitstream"].read_text())
    shape = manifest.pop("shape")
    f["bitstream"].write_text(json.dumps(manifest))
    with pytest.raises(BitstreamMismatch, match=r"damaged bitstream manifest \(missing or bad 'shape'\)"):
        KernelDriver.from_overlay(str(f["bit"]), str(f["build"]), str(f["bitstream"]))
    manifest["shape"] = shape
    del manifest["bitstream"]["sha256"]
    f["bitstream"].write_text(json.dumps(manifest))
    with pytest.raises(BitstreamMismatch, match=r"damaged bitstream manifest \(missing or bad 'sha256'\)"):
        KernelDriver.from_overlay(str(f["bit"]), str(f["build"]), str(f["bitstream"]))
    assert fake_overlay.loaded == []


def test_missing_hwh_and_unknown_dma(bitstream_files, fake_overlay, monkeypatch) -> None:
    f = bitstream_files
    with pytest.raises(ConfigurationError, match="no IP named 'axi_dma_1'"):
        monkeypatch.setattr(FakeOverlay, "__init__", _two_dmas)
        KernelDriver.from_overlay(str(f["bit"]), str(f["build"]), str(f["bitstream"]), dma_name="axi_dma_1")
    f["bit"].with_suffix(".hwh").unlink()
    with pytest.raises(ConfigurationError, match=r"hybrec\.hwh is missing"):
        KernelDriver.from_overlay(str(f["bit"]), str(f["build"]), str(f["bitstream"]))


def _two_dmas(self: FakeOverlay, bitfile: str) -> None:
    FakeOverlay.loaded.append(bitfile)
    self.ip_dict = {"dma": {"type": "xilinx.com:ip:axi_dma:7.1"}, "dma2": {"type": "xilinx.com:ip:axi_dma:7.1"}}


def test_a_freed_buffer_handle_is_never_given_to_a_new_buffer(tiny_build) -> None:
    """Buffers are found by handle: a new buffer must not take the number of a live one after a free."""
    dev = scripted(tiny_build, lambda packet: [])
    first, second = dev.allocate(16, "u4"), dev.allocate(16, "u4")
    second[:] = 7
    second.flush()
    del first
    gc.collect()
    third = dev.allocate(16, "u4")
    third[:] = 9
    third.flush()
    second.invalidate()
    assert (second == 7).all(), "writing the new buffer changed a live one"
