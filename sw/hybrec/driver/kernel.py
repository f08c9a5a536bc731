"""The host driver of ``hybrec_kernel`` behind a Xilinx AXI DMA (simple mode), written against pynq 4.0.

One query = one MM2S transfer (its ids, one AXI-Stream packet, tlast on the last beat) and one S2MM
transfer (the kernel's ``K`` 64-bit result words, which end with tlast). The same code drives a PYNQ
board (:meth:`KernelDriver.from_overlay`) and the RTL simulation (``hybrec.driver.simdevice``), because
both are reached only through ``pynq.allocate`` buffers, the DMA's channels and its registers.

Imports: numpy, pynq, the standard library and hybrec's ground floor (:mod:`hybrec.builddir`, which reads
the build and bitstream manifests; numpy only), so it runs in a board's own Python.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pynq

from hybrec.artifacts import sha256_file
from hybrec.builddir import Bitstream, BuildDirError, read_manifest_file

from .errors import BitstreamMismatch, ConfigurationError, DmaError, DmaTimeout, DriverError, WordCountMismatch
from .words import ID_BYTES, WORD_BYTES, KernelInfo, Results, check_histories, decode_words, pack_packets

# Xilinx AXI DMA register map (PG021), direct register (simple) mode.
MM2S_DMACR, MM2S_DMASR, MM2S_LENGTH = 0x00, 0x04, 0x28
S2MM_DMACR, S2MM_DMASR, S2MM_LENGTH = 0x30, 0x34, 0x58
CR_RESET = 1 << 2
SR_HALTED, SR_IDLE = 1 << 0, 1 << 1
SR_ERRORS = {4: "DMAIntErr", 5: "DMASlvErr", 6: "DMADecErr", 8: "SGIntErr", 9: "SGSlvErr", 10: "SGDecErr"}
SR_ERROR_MASK = sum(1 << b for b in SR_ERRORS)
SR_NAMES = {0: "Halted", 1: "Idle", 3: "SGIncld", **SR_ERRORS, 12: "IOC_Irq", 13: "Dly_Irq", 14: "Err_Irq"}

ALIGN = 64  # every transfer starts on a 64-byte boundary: no DMA data width (<= 512 bits) needs DRE for it
SPARE_WORDS = 8  # the S2MM buffer holds this many words more than K, so that a longer answer is counted


def describe_status(status: int) -> str:
    """``0x00001002 (Idle, IOC_Irq)``: a DMASR value with its set bits named."""
    names = [name for bit, name in SR_NAMES.items() if status >> bit & 1]
    return f"0x{status:08x} ({', '.join(names) or 'running, busy'})"


def check_bitstream(bitfile: str | os.PathLike[str], build: dict[str, Any], bitstream: dict[str, Any],
                    bitstream_manifest: str = "the bitstream manifest") -> None:
    """The board-side guard: ``bitfile`` must be the file the bitstream manifest describes (sha256), and that
    manifest must name the build whose manifest the driver was given (``build_id``)."""
    recorded = (bitstream.get("bitstream") or {}).get("sha256")
    if not recorded:
        raise BitstreamMismatch(f"{bitstream_manifest} records no bitstream sha256 (bitstream.sha256)")
    actual = sha256_file(bitfile)
    if actual != recorded:
        raise BitstreamMismatch(f"{bitfile} is not the bitstream of {bitstream_manifest}: its sha256 is "
                                f"{actual[:16]}…, the manifest records {recorded[:16]}… (wrong or rebuilt .bit)")
    key = (bitstream.get("build") or {}).get("build_id", bitstream.get("build_id"))
    if not key:
        raise BitstreamMismatch(f"{bitstream_manifest} names no kernel build (build.build_id)")
    if key != build.get("build_id"):
        raise BitstreamMismatch(f"the bitstream was built from kernel build {key}, but the build manifest given is "
                                f"build {build.get('build_id')}: its item ids, K and ROMs may differ")
    top = bitstream.get("kernel_top")
    if top and top != (build.get("kernel") or {}).get("top"):
        raise BitstreamMismatch(f"the bitstream holds kernel {top}, the build's kernel is "
                                f"{(build.get('kernel') or {}).get('top')}")


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


class KernelDriver:
    """Queries to ``hybrec_kernel`` through an AXI DMA in simple mode.

    ``dma``: a ``pynq.lib.dma.DMA`` (both channels, no scatter-gather). ``manifest``: the kernel build's
    ``manifest.json`` as a dict (item count, ``lmax``, ``K``, stream widths). ``timeout_s``: how long one
    DMA transfer may take before :class:`DmaTimeout`. ``strict``: the default of :meth:`run`'s checking
    (see there).
    """

    def __init__(self, dma: Any, manifest: dict[str, Any], *, timeout_s: float = 1.0, strict: bool = False) -> None:
        self.info = KernelInfo.from_manifest(manifest)
        self.manifest = manifest
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
        self._device = getattr(dma, "device", None)
        self._in_buf: Any = None
        self._out_buf: Any = None
        self._failed: str | None = None
        self.out_slot = -(-(self.info.k + SPARE_WORDS) * WORD_BYTES // ALIGN) * ALIGN

    # ------------------------------------------------------------------------------------------------ board
    @classmethod
    def from_overlay(cls, bitfile: str, build_manifest: str, bitstream_manifest: str, *,
                     dma_name: str = "axi_dma_0", timeout_s: float = 1.0, strict: bool = False) -> KernelDriver:
        """Load ``bitfile`` (with its ``.hwh`` beside it) as a ``pynq.Overlay`` and drive its DMA, after
        checking, before anything is loaded, that the ``.bit`` is the one ``bitstream_manifest`` describes
        (sha256) and that it was built from the kernel build of ``build_manifest`` (build id).

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
        driver = cls(dma, build, timeout_s=timeout_s, strict=strict)
        driver.overlay, driver.dma_name = overlay, name
        return driver

    # ------------------------------------------------------------------------------------------------ queries
    def run(self, histories: Sequence[Any], *, strict: bool | None = None, pipelined: bool = True) -> Results:
        """One query per history (a sequence of the kernel's item indices); returns the decoded answers.

        Checking: ids must fit the 16-bit stream (``0 .. 65535``), always. With ``strict`` (default: the
        driver's ``strict``), ids ``>= n_items`` raise :class:`IdOutOfRange` and histories longer than
        ``lmax`` raise :class:`HistoryTooLong` before anything is sent; without it they go to the kernel,
        which skips such ids (``FLAG_BAD_ID``) and uses the first ``lmax`` ids (``FLAG_TRUNCATED``), so the
        answer says what happened. An empty history is sent as one ``0xFFFF`` id (``FLAG_EMPTY``).

        ``pipelined``: the next query's input is sent while the kernel still works on the previous one
        (back-to-back, the throughput mode); otherwise each query waits for the previous answer (latency
        mode). The answers are the same either way."""
        if self._failed is not None:
            raise DriverError(f"an earlier transfer failed ({self._failed}); call reset() first (on a board, "
                              "reload the overlay if the kernel may hold half a packet)")
        info = self.info
        packets = check_histories(histories, info, self.strict if strict is None else strict)
        q_count = len(packets)
        if q_count == 0:
            return decode_words(np.zeros((0, info.k), dtype=np.uint64), info.n_items)
        data, starts, nbytes = pack_packets(packets, ALIGN)
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
            raise WordCountMismatch(f"query {q}: the kernel answered {received[q] / WORD_BYTES:g} words, the "
                                    f"manifest's K is {info.k} ({wrong.size} of {q_count} queries differ)", q)
        words = np.array([np.asarray(o[:expected]).view("<u8") for o in outs], dtype=np.uint64)
        results = decode_words(words, info.n_items)
        results.latency_s = t_done - t_start
        results.wall_s = wall
        return results

    # ------------------------------------------------------------------------------------------------ DMA
    def status(self) -> dict[str, int]:
        """Both channels' DMASR values."""
        return {"MM2S": int(self.dma.mmio.read(MM2S_DMASR)), "S2MM": int(self.dma.mmio.read(S2MM_DMASR))}

    def _done(self, name: str, offset: int, deadline: float | None = None) -> bool:
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
            other = {k: describe_status(v) for k, v in self.status().items() if k != name}
            raise DmaTimeout(f"{name} transfer did not complete within {self.timeout_s:g} s, {name} DMASR = "
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

    def _buffer(self, attr: str, nbytes: int) -> Any:
        buf = getattr(self, attr)
        if buf is None or buf.size < nbytes:
            size = max(ALIGN, -(-nbytes // 4096) * 4096)
            buf = pynq.allocate(shape=(size,), dtype=np.uint8, target=self._device)
            setattr(self, attr, buf)
        return buf

    def close(self) -> None:
        """Free the DMA buffers (they are allocated again by the next run)."""
        for attr in ("_in_buf", "_out_buf"):
            buf = getattr(self, attr)
            if buf is not None and hasattr(buf, "freebuffer"):
                buf.freebuffer()
            setattr(self, attr, None)

    def __enter__(self) -> KernelDriver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["ID_BYTES", "KernelDriver", "check_bitstream", "describe_status"]
