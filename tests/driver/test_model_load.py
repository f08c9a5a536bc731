"""Model images loaded at run time through the DMA (docs/model-image.md): the driver's status request, its
refusals before anything is sent, the kernel's confirmation (code, model held, item count, checksums), queries
before a load, two models of the same shape one after the other, and a catalogue with items removed.

Each test runs against the Verilated RTL (``rtl``) and against the protocol-level stand-in answered by the
golden model (``protocol``, no RTL needed)."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pytest

from conftest import manifest_of
from hybrec.driver import (
    FLAG_NO_MODEL,
    IdOutOfRange,
    KernelDriver,
    ModelLoadError,
    NoModel,
    ShapeMismatch,
)
from hybrec.golden import GoldenModel, KernelParams, no_model_result
from hybrec.protocol import ModelImage


@pytest.fixture(params=["protocol", "rtl"])
def device(request: pytest.FixtureRequest):
    """``device()``: a fresh simulated board (no model held) behind one of the two kernels."""
    if request.param == "rtl":
        make = request.getfixturevalue("make_device")
        return lambda **kw: make(seed=kw.pop("seed", 1), source_pause=kw.pop("pause", 0.2),
                                 sink_pause=kw.pop("pause", 0.2))
    make = request.getfixturevalue("make_protocol")
    return lambda **kw: make()


def packets_sent(dev) -> int:
    """Input packets the kernel has taken (the stand-in's own list, the RTL's cycle records)."""
    return len(dev.protocol.packets) if hasattr(dev, "protocol") else dev.records().packets


def length_writes(dev) -> list[int]:
    return [off for kind, off, _ in dev.register_log or [] if kind == "w" and off in (0x28, 0x58)]


def image(build: Path, name: str | None = None) -> ModelImage:
    return ModelImage.read(build / "model" / "model.img" if name is None else build / "images" / f"{name}.img")


def params(build: Path, name: str | None = None) -> KernelParams:
    return KernelParams.load(build / "export" / "kernel.npz" if name is None else build / "images" / f"{name}.npz")


def assert_golden_of(results, model: KernelParams, histories, excludes) -> None:
    want = GoldenModel(model).run(list(histories), list(excludes))
    np.testing.assert_array_equal(results.ids, np.stack([r.ids for r in want]))
    np.testing.assert_array_equal(results.scores, np.stack([r.scores for r in want]))
    np.testing.assert_array_equal(results.valid, np.stack([r.valid for r in want]))
    np.testing.assert_array_equal(results.flags, [r.flags for r in want])


# ------------------------------------------------------------------------------------------ status and open
def test_the_driver_asks_the_kernel_its_status_when_it_opens(device, tiny_build) -> None:
    dev = device()
    driver = KernelDriver(dev.dma(), manifest_of(tiny_build))
    assert packets_sent(dev) == 1   # the status request
    status = driver.hardware
    assert status is not None and status.shape_word == int(manifest_of(tiny_build)["kernel"]["shape"]["word"], 16)
    assert (status.n_items, status.model_valid, driver.n_items, driver.model_loaded) == (0, False, 0, False)
    assert driver.status() == status and packets_sent(dev) == 2


def test_hardware_of_another_shape_is_refused_when_the_driver_opens(make_protocol, tiny_build) -> None:
    dev = make_protocol(shape_word=0x12345678)
    with pytest.raises(ShapeMismatch, match=r"shape word 12345678, the bitstream's is [0-9a-f]{8}: the overlay "
                                            r"holds another kernel"):
        KernelDriver(dev.dma(), manifest_of(tiny_build))


# ------------------------------------------------------------------------------------------ loads
def test_a_load_is_confirmed_by_the_kernel(device, tiny_build) -> None:
    dev = device()
    driver = KernelDriver(dev.dma(), manifest_of(tiny_build))
    img = image(tiny_build)
    report = driver.load_model(tiny_build / "model" / "model.img")
    s1, s2 = img.checksums
    assert (report.status.code, report.status.model_valid, report.n_items) == (0, True, 24)
    assert (report.status.s1, report.status.s2) == (s1, s2) and report.words == img.packet.size
    assert report.seconds > 0 and driver.n_items == 24 and driver.model_loaded and driver.image is not None
    assert driver.image.checksums == img.checksums
    assert driver.status().n_items == 24
    if not hasattr(dev, "protocol"):   # the RTL: one load, of at least one cycle per payload word
        cycles = dev.records().load_cycles()
        assert cycles.size == 1 and cycles[0] >= img.packet.size
        assert dev.records().latency().size == 0   # a load and status requests are not queries


def test_an_image_of_another_shape_is_refused_before_any_byte_is_sent(device, tiny_build) -> None:
    dev = device()
    driver = KernelDriver(dev.dma(), manifest_of(tiny_build))
    before = packets_sent(dev)
    dev.register_log = []
    other_key = hashlib.sha256(b"another shape").hexdigest()
    wrong_shape = dataclasses.replace(image(tiny_build), shape_key=other_key)
    with pytest.raises(ShapeMismatch, match=rf"shape {other_key[:16]}.*the bitstream has shape"):
        driver.load_model(wrong_shape)
    too_many = ModelImage.build(image(tiny_build).shape_key, 40, 64, [(32, list(range(64)))])
    with pytest.raises(ShapeMismatch, match="40 items; the bitstream holds at most 32"):
        driver.load_model(too_many)
    assert length_writes(dev) == [] and packets_sent(dev) == before   # nothing reached the DMA or the kernel


def flip_a_payload_bit(dev, byte: int) -> None:
    """The next large packet reaches the kernel with one bit flipped (what a forgotten flush or a bad link does)."""
    send = dev.kernel.send

    def flipped(data) -> int:
        raw = bytearray(bytes(data))
        if len(raw) > 64:
            raw[byte] ^= 0x10
            dev.kernel.send = send
        return send(bytes(raw))

    dev.kernel.send = flipped


def test_a_checksum_mismatch_is_detected(device, tiny_build) -> None:
    dev = device()
    driver = KernelDriver(dev.dma(), manifest_of(tiny_build))
    flip_a_payload_bit(dev, 4 * 40 + 1)   # a word of the payload (word 40 of 83)
    with pytest.raises(ModelLoadError, match=r"did not confirm the model image: .*checksums s1 0x[0-9a-f]{8} s2 "
                                             r"0x[0-9a-f]{8} \(the image's: s1") as err:
        driver.load_model(image(tiny_build))
    assert err.value.status is not None and driver.image is None
    flip_a_payload_bit(dev, 8)            # n_items' low byte: 24 arrives as 8
    with pytest.raises(ModelLoadError, match=r"n_items [08] \(the image has 24\)"):
        driver.load_model(image(tiny_build))
    driver.load_model(image(tiny_build))  # the same image, sent intact: confirmed
    assert driver.model_loaded


def test_queries_before_a_load_are_answered_no_model(device, tiny_build, golden) -> None:
    dev = device()
    driver = KernelDriver(dev.dma(), manifest_of(tiny_build))
    histories, excludes = golden["histories"][:12], golden["excludes"][:12]
    with pytest.raises(NoModel, match=r"query 0: the kernel holds no model \(12 of 12 answers flagged NO_MODEL\)") \
            as err:
        driver.run(histories, excludes)
    results = err.value.results
    assert results.no_model.all() and not results.valid.any()
    want = [no_model_result(h, 3, 8) for h in histories]
    np.testing.assert_array_equal(results.flags, [r.flags for r in want])
    assert (driver.run(histories, excludes, allow_no_model=True).flags & FLAG_NO_MODEL).all()
    sent = packets_sent(dev)
    with pytest.raises(NoModel, match="nothing was sent"):
        driver.run(histories, excludes, strict=True)
    assert packets_sent(dev) == sent
    driver.load_model(image(tiny_build))
    assert_golden_of(driver.run(histories, excludes), params(tiny_build), histories, excludes)


def test_two_models_of_one_shape_are_served_one_after_the_other(device, tiny_build, golden) -> None:
    dev = device()
    driver = KernelDriver(dev.dma(), manifest_of(tiny_build), timeout_s=5.0)
    histories, excludes = golden["histories"], golden["excludes"]
    answers = []
    for name in (None, "retrained", None):
        report = driver.load_model(image(tiny_build, name))
        assert report.n_items == 24
        results = driver.run(histories, excludes)
        assert_golden_of(results, params(tiny_build, name), histories, excludes)
        answers.append(results.ids)
    assert (answers[0] != answers[1]).any(axis=1).mean() > 0.5   # another model: other answers
    np.testing.assert_array_equal(answers[0], answers[2])


def test_a_catalogue_with_items_removed(device, tiny_build, golden) -> None:
    dev = device()
    driver = KernelDriver(dev.dma(), manifest_of(tiny_build), timeout_s=5.0)
    assert driver.load_model(image(tiny_build, "smaller")).n_items == 16
    assert driver.status().n_items == 16 and driver.n_items == 16
    histories, excludes = golden["histories"], golden["excludes"]
    assert max(int(np.max(h, initial=0)) for h in histories) >= 16   # the queries name removed items
    results = driver.run(histories, excludes)
    assert_golden_of(results, params(tiny_build, "smaller"), histories, excludes)
    assert results.valid.any() and (results.ids[results.valid] < 16).all()
    sent = packets_sent(dev)
    with pytest.raises(IdOutOfRange, match=r"id 20 at position 1 of the history .*16 items, ids 0..15"):
        driver.run([[3, 20]], strict=True)
    assert packets_sent(dev) == sent
