"""The host driver of ``hybrec_kernel`` behind a Xilinx AXI DMA (simple mode), written against pynq 4.0.

The bitstream is the kernel's *shape*; the trained model is a *model image* the driver loads at run time
through the same input stream (docs/model-image.md). Every exchange is one MM2S transfer (one AXI-Stream
packet, tlast on its last beat) and one S2MM transfer (the kernel's answer, which ends with tlast):

- a status request (:meth:`KernelDriver.status`) and a load (:meth:`KernelDriver.load_model`) are answered by
  two status words (the kernel's shape word, the live item count, a code, the checksums of the last load);
- a query (:meth:`KernelDriver.run`: a header word, the history, the ids to exclude) by ``K`` result words.

The same code drives a PYNQ board (:meth:`KernelDriver.from_overlay`) and the RTL simulation
(``hybrec.driver.simdevice``), because both are reached only through ``pynq.allocate`` buffers, the DMA's
channels and its registers.

Imports: numpy, pynq, the standard library and hybrec's ground floor (:mod:`hybrec.builddir`, which reads
the build and bitstream manifests, and :mod:`hybrec.protocol`, the formats; numpy only), so it runs in a
board's own Python.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pynq

from hybrec import protocol
from hybrec.artifacts import sha256_file
from hybrec.builddir import Bitstream, BuildDirError, read_manifest_file
from hybrec.protocol import ImageError, ModelImage, Status

from .errors import (
    BitstreamMismatch,
    ConfigurationError,
    DmaError,
    DmaTimeout,
    DriverError,
    IdOutOfRange,
    MalformedResult,
    ModelLoadError,
    NoModel,
    ResultError,
    ShapeMismatch,
    WordCountMismatch,
)
from .words import (
    ID_BYTES,
    STATUS_WORDS,
    WORD_BYTES,
    KernelInfo,
    Results,
    bitstream_shape_key,
    check_histories,
    decode_status,
    decode_words,
    is_status_answer,
    pack_packets,
)

# Xilinx AXI DMA register map (PG021), direct register (simple) mode.
MM2S_DMACR, MM2S_DMASR, MM2S_LENGTH = 0x00, 0x04, 0x28
S2MM_DMACR, S2MM_DMASR, S2MM_LENGTH = 0x30, 0x34, 0x58
CR_RESET = 1 << 2
SR_HALTED, SR_IDLE = 1 << 0, 1 << 1
SR_ERRORS = {4: "DMAIntErr", 5: "DMASlvErr", 6: "DMADecErr", 8: "SGIntErr", 9: "SGSlvErr", 10: "SGDecErr"}
SR_ERROR_MASK = sum(1 << b for b in SR_ERRORS)
SR_NAMES = {0: "Halted", 1: "Idle", 3: "SGIncld", **SR_ERRORS, 12: "IOC_Irq", 13: "Dly_Irq", 14: "Err_Irq"}

ALIGN = 64  # every transfer starts on a 64-byte boundary: no DMA data width (<= 512 bits) needs DRE for it
SPARE_WORDS = 8  # a receive slot holds this many words more than expected, so that a longer answer is counted
LOAD_TIMEOUT_S = 30.0  # the default deadline of a load's answer (the payload streams at one word per cycle)


def describe_status(status: int) -> str:
    """``0x00001002 (Idle, IOC_Irq)``: a DMASR value with its set bits named."""
    names = [name for bit, name in SR_NAMES.items() if status >> bit & 1]
    return f"0x{status:08x} ({', '.join(names) or 'running, busy'})"


def check_bitstream(bitfile: str | os.PathLike[str], build: dict[str, Any], bitstream: dict[str, Any],
                    bitstream_manifest: str = "the bitstream manifest") -> None:
    """The board-side guard: ``bitfile`` must be the file the bitstream manifest describes (sha256), and that
    bitstream must be of the kernel shape of the build whose manifest the driver was given (a bitstream depends
    only on the shape: any build of that shape may use it)."""
    recorded = (bitstream.get("bitstream") or {}).get("sha256")
    if not recorded:
        raise BitstreamMismatch(f"{bitstream_manifest} records no bitstream sha256 (bitstream.sha256)")
    actual = sha256_file(bitfile)
    if actual != recorded:
        raise BitstreamMismatch(f"{bitfile} is not the bitstream of {bitstream_manifest}: its sha256 is "
                                f"{actual[:16]}…, the manifest records {recorded[:16]}… (wrong or rebuilt .bit)")
    top = bitstream.get("kernel_top")
    if top and top != (build.get("kernel") or {}).get("top"):
        raise BitstreamMismatch(f"the bitstream holds kernel {top}, the build's kernel is "
                                f"{(build.get('kernel') or {}).get('top')}")
    build_shape = str(((build.get("kernel") or {}).get("shape") or {}).get("key", ""))
    shape = bitstream_shape_key(bitstream)
    if shape is None:
        raise BitstreamMismatch(f"{bitstream_manifest} records no kernel shape (shape.key): a bitstream of another "
                                "hybrec version; build it again (`hybrec bitstream`)")
    if shape != build_shape:
        raise BitstreamMismatch(f"the bitstream is of kernel shape {shape[:16]}…, the build "
                                f"{build.get('build_id')} of shape {build_shape[:16] or '(none)'}…: its model "
                                "image does not fit this bitstream (compile the model for the bitstream's "
                                "configuration, or build a bitstream of the build's shape)")


def _find_dma(overlay: Any, dma_name: str) -> tuple[Any, str]:
    ip_dict = getattr(overlay, "ip_dict", {}) or {}
    name = dma_name
    if name not in ip_dict:
        dmas = [n for n, d in ip_dict.items() if str(d.get("type", "")).startswith("xilinx.com:ip:axi_dma")]
        if len(dmas) != 1:
            raise ConfigurationError(f"the overlay has no IP named {dma_name!r}; its AXI DMAs: {dmas or 'none'} "
                                     "(pass dma_name=)")
        name = dmas[0]  # the only AXI DMA in the design (hybrec's Vivado script calls it "dma")
    target = overlay
    for part in name.split("/"):
        target = getattr(target, part)
    return target, name


@dataclass(frozen=True)
class LoadReport:
    """A confirmed load: the kernel's status answer, the image's size, and the host's wall-clock time from
    starting the load packet's transfer to the status words' arrival (``seconds``)."""

    status: Status
    words: int
    seconds: float

    @property
    def n_items(self) -> int:
        return self.status.n_items


class KernelDriver:
    """The kernel behind an AXI DMA in simple mode: its status, model loads and queries.

    ``dma``: a ``pynq.lib.dma.DMA`` (both channels, no scatter-gather). ``manifest``: the kernel build's
    ``manifest.json`` as a dict (its shape, ``lmax``, ``K``, stream widths). ``shape_key``: the shape the
    bitstream was built for, when its manifest records it (default: the build's). ``timeout_s``: how long one
    DMA transfer may take before :class:`DmaTimeout`. ``strict``: the default of :meth:`run`'s checking.
    ``check_hardware``: ask the kernel for its status now and refuse hardware of another shape
    (:class:`ShapeMismatch`); it also tells the driver whether a model is already held.
    """

    def __init__(self, dma: Any, manifest: dict[str, Any], *, timeout_s: float = 1.0, strict: bool = False,
                 shape_key: str | None = None, check_hardware: bool = True) -> None:
        self.info = KernelInfo.from_manifest(manifest)
        self.manifest = manifest
        self.shape_key = shape_key or self.info.shape_key
        if self.shape_key != self.info.shape_key:
            raise ShapeMismatch(f"the bitstream is of kernel shape {self.shape_key[:16]}…, the build manifest "
                                f"describes shape {self.info.shape_key[:16]}…")
        self.timeout_s = float(timeout_s)
        self.strict = strict
        self.dma = dma
        self.overlay: Any = None
        self.dma_name: str | None = None
        if getattr(dma, "sendchannel", None) is None or getattr(dma, "recvchannel", None) is None:
            raise ConfigurationError("the DMA needs both channels (MM2S to the kernel's s_axis, S2MM from m_axis)")
        params = (getattr(dma, "description", None) or {}).get("parameters") or {}
        if int(params.get("c_include_sg", 0)):
            raise ConfigurationError("the DMA is in scatter-gather mode; this driver uses direct register mode "
                                     "(c_include_sg = 0, as hybrec's Vivado script builds it)")
        for key, bits, port in (("c_m_axis_mm2s_tdata_width", self.info.in_bits, "s_axis"),
                                ("c_s_axis_s2mm_tdata_width", self.info.out_bits, "m_axis")):
            if key in params and int(params[key]) != bits:
                raise ConfigurationError(f"the DMA's {key} is {params[key]} bits but the kernel's {port} is {bits}")
        self.max_transfer = (1 << int(params.get("c_sg_length_width", 26))) - 1
        self._device = getattr(dma, "device", None)
        self._in_buf: Any = None
        self._out_buf: Any = None
        self._ctl_in: Any = None
        self._ctl_out: Any = None
        self._failed: str | None = None
        self.out_slot = -(-(self.info.k + SPARE_WORDS) * WORD_BYTES // ALIGN) * ALIGN
        # what the kernel holds, as its last status answer said (None: not asked yet)
        self.hardware: Status | None = None
        self.image: ModelImage | None = None
        self.last_load: LoadReport | None = None
        if check_hardware:
            self.status()

    # ------------------------------------------------------------------------------------------------ board
    @classmethod
    def from_overlay(cls, bitfile: str, build_manifest: str, bitstream_manifest: str, *,
                     dma_name: str = "axi_dma_0", timeout_s: float = 1.0, strict: bool = False) -> KernelDriver:
        """Load ``bitfile`` (with its ``.hwh`` beside it) as a ``pynq.Overlay`` and drive its DMA, after
        checking, before anything is loaded, that the ``.bit`` is the one ``bitstream_manifest`` describes
        (sha256) and that it is of the shape of the build of ``build_manifest``; then asks the kernel for its
        status and refuses one of another shape word. No model is held until :meth:`load_model`.

        ``dma_name``: the DMA's name in the block design; when the overlay has no IP of that name but exactly
        one AXI DMA, that one is used."""
        try:
            build = read_manifest_file(Path(build_manifest)).raw
        except BuildDirError as err:
            raise ConfigurationError(str(err)) from None
        try:
            bitstream = Bitstream.read(bitstream_manifest).raw
        except BuildDirError as err:
            raise BitstreamMismatch(str(err)) from None
        check_bitstream(bitfile, build, bitstream, str(bitstream_manifest))
        KernelInfo.from_manifest(build)  # a bad build manifest fails here, before the board is touched
        hwh = Path(bitfile).with_suffix(".hwh")
        if not hwh.is_file():
            raise ConfigurationError(f"{hwh} is missing: pynq.Overlay needs the .hwh from the same Vivado run "
                                     "beside the .bit")
        overlay = pynq.Overlay(str(bitfile))
        dma, name = _find_dma(overlay, dma_name)
        driver = cls(dma, build, timeout_s=timeout_s, strict=strict, shape_key=bitstream_shape_key(bitstream))
        driver.overlay, driver.dma_name = overlay, name
        return driver

    # ------------------------------------------------------------------------------------------------ model
    @property
    def n_items(self) -> int:
        """The live item count: the kernel's, as its last status answer said (0: no model held)."""
        return self.hardware.n_items if self.hardware is not None else 0

    @property
    def model_loaded(self) -> bool:
        return self.hardware is not None and self.hardware.model_valid

    def status(self) -> Status:
        """Ask the kernel (a status request): its shape word, the live item count, whether a model is held and
        the checksums of the last load. Raises :class:`ShapeMismatch` when the shape word is not the
        bitstream's (the driver talks to another kernel than its manifest describes)."""
        words, _ = self._exchange(protocol.status_units().astype("<u2").tobytes(), "status request")
        status = decode_status(words)
        self._check_shape_word(status, "status request")
        if status.code != protocol.OK:
            raise MalformedResult(f"the kernel answered a status request with code {status.code_name}", -1)
        self.hardware = status
        return status

    def load_model(self, image: ModelImage | str | os.PathLike[str], *, timeout_s: float | None = None) -> LoadReport:
        """Load a model image (a :class:`hybrec.protocol.ModelImage` or its file, ``BUILD/model/model.img``).

        Refused before any byte is sent (:class:`ShapeMismatch`) when the image is of another shape than the
        bitstream or holds more items than its capacity. Then the load packet goes through the DMA as one
        transfer and the kernel's two status words must confirm it: code ``OK``, a model held, the image's
        ``n_items`` and its checksums ``s1``/``s2`` (what the kernel computed over what it received); else
        :class:`ModelLoadError`, naming what differs, and the kernel holds no model. ``timeout_s``: the
        deadline of the answer (default: the larger of the driver's and 30 s)."""
        if not isinstance(image, ModelImage):
            try:
                image = ModelImage.read(Path(image))
            except ImageError as err:
                raise ModelLoadError(str(err)) from None
        try:
            image.check_fits(self.shape_key, self.info.n_items_max, "the bitstream")
        except ImageError as err:
            raise ShapeMismatch(str(err)) from None
        data = image.packet_bytes()
        if len(data) > self.max_transfer:
            raise ConfigurationError(f"the model image's load packet is {len(data)} bytes; the DMA's length "
                                     f"register holds at most {self.max_transfer} (c_sg_length_width): build the "
                                     "DMA with a wider length register (the load is one AXI-Stream packet)")
        deadline = max(self.timeout_s, LOAD_TIMEOUT_S) if timeout_s is None else float(timeout_s)
        self.hardware = None   # from the first payload word on, the kernel holds no model until it confirms one
        self.image = None
        words, seconds = self._exchange(data, "load", deadline)
        status = decode_status(words)
        self.hardware = status
        self._check_shape_word(status, "load")
        s1, s2 = image.checksums
        wrong = []
        if status.code != protocol.OK:
            wrong.append(f"code {status.code_name} (expected OK)")
        if not status.model_valid:
            wrong.append("no model held")
        if status.n_items != image.n_items:
            wrong.append(f"n_items {status.n_items} (the image has {image.n_items})")
        if (status.s1, status.s2) != (s1, s2):
            wrong.append(f"checksums s1 0x{status.s1:08x} s2 0x{status.s2:08x} (the image's: s1 0x{s1:08x} "
                         f"s2 0x{s2:08x}: the kernel received other words than the image's)")
        if wrong:
            raise ModelLoadError("the kernel did not confirm the model image: " + "; ".join(wrong), status)
        self.image = image
        self.last_load = LoadReport(status, int(image.packet.size), seconds)
        return self.last_load

    def _check_shape_word(self, status: Status, what: str) -> None:
        want = protocol.shape_word(self.shape_key)
        if status.shape_word != want:
            raise ShapeMismatch(f"the kernel answered the {what} with shape word {status.shape_word:08x}, the "
                                f"bitstream's is {want:08x}: the overlay holds another kernel than the manifests "
                                "describe (load the right bitstream, or give its build's manifest)")

    # ------------------------------------------------------------------------------------------------ queries
    def run(self, histories: Sequence[Any], exclude: Sequence[Any] | None = None, *, strict: bool | None = None,
            pipelined: bool = True, allow_no_model: bool = False) -> Results:
        """One query per history (a sequence of item ids); returns the decoded answers.

        ``exclude``: per history, more ids the answer must leave out (the user's other seen items; only
        excluded, never aggregated); the history's own ids are always excluded.

        Checking: ids must fit the 16-bit stream (``0 .. 65535``), always. With ``strict`` (default: the
        driver's ``strict``), ids at or above the loaded model's ``n_items`` raise :class:`IdOutOfRange` and
        histories longer than ``lmax`` raise :class:`HistoryTooLong` before anything is sent; without it they
        go to the kernel, which skips such ids (``FLAG_BAD_ID``, never excluded: no such item is live) and
        aggregates the first ``lmax`` ids (``FLAG_TRUNCATED``), so the answer says what happened. An empty
        history is a query of ``n_hist = 0`` (``FLAG_EMPTY``).

        A kernel without a model answers every query with ``FLAG_NO_MODEL`` and no result: then :class:`NoModel`
        is raised (its ``results`` holds the answers) unless ``allow_no_model``. With ``strict`` and no model
        known to be held, :class:`NoModel` is raised before anything is sent.

        ``pipelined``: the next query's input is sent while the kernel still works on the previous one
        (back-to-back, the throughput mode); otherwise each query waits for the previous answer (latency
        mode). The answers are the same either way."""
        self._check_usable()
        info = self.info
        strict = self.strict if strict is None else strict
        if strict and not allow_no_model and self.hardware is not None and not self.hardware.model_valid:
            raise NoModel("no model is loaded (call load_model first); nothing was sent")
        live = self.n_items if self.hardware is not None else info.n_items_max
        packets = check_histories(histories, info, strict, n_items=live, excludes=exclude)
        q_count = len(packets)
        if q_count == 0:
            return decode_words(np.zeros((0, info.k), dtype=np.uint64), live)
        data, starts, nbytes = pack_packets(packets, ALIGN)
        if int(nbytes.max()) > self.max_transfer:
            q = int(np.argmax(nbytes))
            raise IdOutOfRange(f"query {q}: {int(nbytes[q])} bytes, more than one DMA transfer holds "
                               f"({self.max_transfer})", q)
        in_buf = self._buffer("_in_buf", data.size)
        out_buf = self._buffer("_out_buf", q_count * self.out_slot)
        in_buf[: data.size] = data
        cap = (info.k + SPARE_WORDS) * WORD_BYTES
        ins = [in_buf[s: s + n] for s, n in zip(starts.tolist(), nbytes.tolist(), strict=True)]
        outs = [out_buf[q * self.out_slot: q * self.out_slot + cap] for q in range(q_count)]
        received = np.zeros(q_count, dtype=np.int64)
        t_start = np.zeros(q_count)
        t_done = np.zeros(q_count)
        send, recv = self.dma.sendchannel, self.dma.recvchannel
        began = time.perf_counter()
        try:
            recv.transfer(outs[0])
            t_start[0] = time.perf_counter()
            send.transfer(ins[0])
            sent, send_open = 1, True
            for q in range(q_count):
                if not pipelined and q > 0:
                    if send_open:
                        self._wait_done("MM2S", MM2S_DMASR)
                        send.wait()
                    recv.transfer(outs[q])
                    t_start[q] = time.perf_counter()
                    send.transfer(ins[q])
                    sent, send_open = q + 1, True
                deadline = time.perf_counter() + self.timeout_s
                while True:
                    if send_open and self._done("MM2S", MM2S_DMASR):
                        send.wait()
                        send_open = False
                    if pipelined and not send_open and sent < q_count:
                        t_start[sent] = time.perf_counter()
                        send.transfer(ins[sent])
                        sent, send_open = sent + 1, True
                    if self._done("S2MM", S2MM_DMASR, deadline):
                        break
                recv.wait()
                t_done[q] = time.perf_counter()
                received[q] = recv.transferred
                if pipelined and q + 1 < q_count:
                    recv.transfer(outs[q + 1])  # armed at once: the kernel's next answer never waits for it
            if send_open:  # every answer is in, so the kernel has taken every input
                self._wait_done("MM2S", MM2S_DMASR)
                send.wait()
        except DmaError as err:
            self._failed = f"{type(err).__name__}: {err}"
            raise
        wall = time.perf_counter() - began
        expected = info.k * WORD_BYTES
        wrong = np.flatnonzero(received != expected)
        if wrong.size:
            q = int(wrong[0])
            got = np.asarray(outs[q][: int(received[q])]).view("<u8") if received[q] % WORD_BYTES == 0 else None
            if got is not None and is_status_answer(got):
                status = decode_status(got)
                raise ResultError(f"query {q}: the kernel answered with status words (code {status.code_name}) "
                                  "instead of results: it did not take the packet as a query", q)
            raise WordCountMismatch(f"query {q}: the kernel answered {received[q] / WORD_BYTES:g} words, the "
                                    f"manifest's K is {info.k} ({wrong.size} of {q_count} queries differ)", q)
        words = np.array([np.asarray(o[:expected]).view("<u8") for o in outs], dtype=np.uint64)
        results = decode_words(words, live)
        results.latency_s = t_done - t_start
        results.wall_s = wall
        if results.no_model.any():
            first = int(np.flatnonzero(results.no_model)[0])
            if self.hardware is not None and self.hardware.model_valid:
                # the kernel lost its model since it last said (a reset, another process's failed load)
                self.hardware = replace(self.hardware, n_items=0, model_valid=False)
                self.image = None
            if not allow_no_model:
                raise NoModel(f"query {first}: the kernel holds no model ({int(results.no_model.sum())} of "
                              f"{q_count} answers flagged NO_MODEL); call load_model first", results)
        return results

    # ------------------------------------------------------------------------------------------------ DMA
    def dma_status(self) -> dict[str, int]:
        """Both channels' DMASR values."""
        return {"MM2S": int(self.dma.mmio.read(MM2S_DMASR)), "S2MM": int(self.dma.mmio.read(S2MM_DMASR))}

    def _check_usable(self) -> None:
        if self._failed is not None:
            raise DriverError(f"an earlier transfer failed ({self._failed}); call reset() first (on a board, "
                              "reload the overlay if the kernel may hold half a packet)")

    def _exchange(self, data: bytes, what: str, timeout_s: float | None = None) -> tuple[np.ndarray, float]:
        """One packet out, its answer of two status words in; returns the words and the wall-clock seconds
        from starting the send to the answer's arrival."""
        self._check_usable()
        timeout = self.timeout_s if timeout_s is None else timeout_s
        cap = (STATUS_WORDS + SPARE_WORDS) * WORD_BYTES
        if len(data) > 4 * ALIGN:
            in_buf = pynq.allocate(shape=(-(-len(data) // 4096) * 4096,), dtype=np.uint8, target=self._device)
        else:
            in_buf = self._ctl_in = self._ctl_in if self._ctl_in is not None else \
                pynq.allocate(shape=(4 * ALIGN,), dtype=np.uint8, target=self._device)
        out_buf = self._ctl_out = self._ctl_out if self._ctl_out is not None else \
            pynq.allocate(shape=(ALIGN * -(-cap // ALIGN),), dtype=np.uint8, target=self._device)
        in_buf[: len(data)] = np.frombuffer(data, dtype=np.uint8)
        send, recv = self.dma.sendchannel, self.dma.recvchannel
        try:
            recv.transfer(out_buf[:cap])
            began = time.perf_counter()
            send.transfer(in_buf[: len(data)])
            deadline = began + timeout
            send_open = True
            while True:
                if send_open and self._done("MM2S", MM2S_DMASR):
                    send.wait()
                    send_open = False
                if self._done("S2MM", S2MM_DMASR, deadline, timeout):
                    break
            recv.wait()
            seconds = time.perf_counter() - began
            got = int(recv.transferred)
            if send_open:
                self._wait_done("MM2S", MM2S_DMASR)
                send.wait()
        except DmaError as err:
            self._failed = f"{type(err).__name__}: {err}"
            raise
        finally:
            if in_buf is not self._ctl_in and hasattr(in_buf, "freebuffer"):
                in_buf.freebuffer()
        words = np.asarray(out_buf[: got - got % WORD_BYTES]).view("<u8").astype(np.uint64)
        if got != STATUS_WORDS * WORD_BYTES or not is_status_answer(words):
            raise MalformedResult(f"the kernel answered the {what} with {got / WORD_BYTES:g} words, not its two "
                                  "status words" + (f" (first 0x{int(words[0]):016x})" if words.size else ""), -1)
        return words, seconds

    def _done(self, name: str, offset: int, deadline: float | None = None, timeout_s: float | None = None) -> bool:
        """One look at a channel: True when idle; raises on error bits, a halt, or (with a deadline) when it
        has passed. A timeout names both channels' status registers."""
        status = int(self.dma.mmio.read(offset))
        if status & SR_ERROR_MASK:
            raise DmaError(f"{name} channel error, DMASR = {describe_status(status)}", name, status)
        if status & SR_IDLE:
            return True
        if status & SR_HALTED:
            raise DmaError(f"{name} channel halted during a transfer, DMASR = {describe_status(status)}", name,
                           status)
        if deadline is not None and time.perf_counter() > deadline:
            other = {k: describe_status(v) for k, v in self.dma_status().items() if k != name}
            limit = self.timeout_s if timeout_s is None else timeout_s
            raise DmaTimeout(f"{name} transfer did not complete within {limit:g} s, {name} DMASR = "
                             f"{describe_status(status)}" + "".join(f"; {k} DMASR = {v}" for k, v in other.items()),
                             name, status)
        return False

    def _wait_done(self, name: str, offset: int) -> None:
        deadline = time.perf_counter() + self.timeout_s
        while not self._done(name, offset, deadline):
            pass

    def reset(self) -> None:
        """Soft-reset the DMA (both channels, DMACR.Reset) and start its channels again. Clears the state an
        error or a timeout left. It does not reset the kernel itself."""
        self.dma.mmio.write(MM2S_DMACR, CR_RESET)
        deadline = time.perf_counter() + self.timeout_s
        while int(self.dma.mmio.read(MM2S_DMACR)) & CR_RESET:
            if time.perf_counter() > deadline:
                raise DmaTimeout("the DMA did not come out of reset", "MM2S", int(self.dma.mmio.read(MM2S_DMASR)))
        for channel in (self.dma.sendchannel, self.dma.recvchannel):
            channel.start()
        self._failed = None
        self.hardware = None   # unknown until the next status answer

    def _buffer(self, attr: str, nbytes: int) -> Any:
        buf = getattr(self, attr)
        if buf is None or buf.size < nbytes:
            size = max(ALIGN, -(-nbytes // 4096) * 4096)
            buf = pynq.allocate(shape=(size,), dtype=np.uint8, target=self._device)
            setattr(self, attr, buf)
        return buf

    def close(self) -> None:
        """Free the DMA buffers (they are allocated again by the next exchange)."""
        for attr in ("_in_buf", "_out_buf", "_ctl_in", "_ctl_out"):
            buf = getattr(self, attr)
            if buf is not None and hasattr(buf, "freebuffer"):
                buf.freebuffer()
            setattr(self, attr, None)

    def __enter__(self) -> KernelDriver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["ID_BYTES", "KernelDriver", "LoadReport", "bitstream_shape_key", "check_bitstream", "describe_status"]
