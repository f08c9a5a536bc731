"""A simulated PYNQ device: what :class:`hybrec.driver.KernelDriver` reaches through pynq (``allocate``'d
buffers, the AXI DMA's registers) is served here, and the DMA's streams are connected to the Verilated
kernel (:class:`hybrec.driver.simmodel.KernelModel`). The board's driver code runs unchanged against it.

    dev = SimDevice.from_build("build/ml100k", seed=1, source_pause=0.3, sink_pause=0.3)
    with dev.activate():                       # pynq.Device.active_device = dev
        driver = KernelDriver(dev.dma(), dev.manifest)      # asks the kernel for its status (shape word)
        driver.load_model(dev.image_path)      # the model image, through the DMA like any packet
        results = driver.run(histories, excludes)
    dev.records().latency()                    # simulated cycles per query (loads and status requests skipped)
    dev.records().load_cycles()                # simulated cycles per load

Like a freshly configured bitstream, the simulated kernel holds no model until one is loaded.

Memory: every ``allocate`` gets its own block at a made-up physical address (4 KiB aligned, with an unmapped
page after it). The host sees its own copy; ``flush`` copies it to the device side and ``invalidate`` back,
as on a Zynq with non-coherent buffers, so a driver that forgets either gets stale data here too.

The DMA (Xilinx AXI DMA, PG021, direct register mode; what ``pynq.lib.dma`` uses):

=======  ===========  ============================================================================
offset   register     implemented
=======  ===========  ============================================================================
0x00     MM2S_DMACR   RS (bit 0), Reset (bit 2: both channels, self-clearing); other bits stored
                      (IRQThreshold: a 0 keeps the old value, mirrored in DMASR[23:16])
0x04     MM2S_DMASR   Halted, Idle, DMAIntErr, DMASlvErr, DMADecErr, IOC_Irq/Err_Irq (write 1 clears)
0x18/1C  MM2S_SA(_MSB) source address
0x28     MM2S_LENGTH  writing it starts the transfer (26-bit length)
0x30-58  S2MM_…       the same for the receive channel: DMACR, DMASR, DA(_MSB) 0x48/0x4C, LENGTH 0x58
                      (after completion LENGTH reads the bytes actually received)
=======  ===========  ============================================================================

Errors, as the hardware reports them: a zero LENGTH or a received packet longer than LENGTH sets DMAIntErr;
a transfer outside every allocated buffer sets DMADecErr; :meth:`SimDevice.inject_error` sets DMASlvErr on
the next transfer of a channel. An error halts the channel (RS cleared) until a reset.

Time: simulated clock cycles pass only while a channel has a transfer in flight, and only when the host
reads that channel's DMASR (each read runs the model until an event or ``cycles_per_poll`` cycles), so the
host is modelled as infinitely fast; the model stops at every completion so the driver's next transfer
starts on the very next cycle. :meth:`SimDevice.records` gives the per-query cycle counts.
"""

from __future__ import annotations

import bisect
import contextlib
import struct
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pynq
from pynq.buffer import PynqBuffer

from hybrec.builddir import BuildDir

from .simmodel import ALL_EVENTS, IN_DONE, OUT_DONE, OVERFLOW, CycleRecords, KernelModel, model_library
from .words import KernelInfo

DMA_BASE = 0x4040_0000  # where PYNQ-Z2 designs usually put axi_dma_0
DMA_RANGE = 0x1_0000
MEM_BASE = 0x1000_0000
PAGE = 4096
LENGTH_BITS = 26

CR_RS, CR_RESET = 1 << 0, 1 << 2
SR_HALTED, SR_IDLE = 1 << 0, 1 << 1
SR_INT_ERR, SR_SLV_ERR, SR_DEC_ERR = 1 << 4, 1 << 5, 1 << 6
SR_IOC_IRQ, SR_DLY_IRQ, SR_ERR_IRQ = 1 << 12, 1 << 13, 1 << 14
SR_W1C = SR_IOC_IRQ | SR_DLY_IRQ | SR_ERR_IRQ
DMACR_DEFAULT = 0x0001_0000  # IRQThreshold = 1


class _Channel:
    def __init__(self, name: str, base: int) -> None:
        self.name, self.base = name, base
        self.reset()

    def reset(self) -> None:
        self.dmacr = DMACR_DEFAULT
        self.halted, self.idle, self.busy = True, False, False
        self.errors = 0
        self.irq = 0
        self.address = 0
        self.length = 0
        self.actual = 0
        self.inject = 0

    @property
    def status(self) -> int:
        return (SR_HALTED * self.halted | SR_IDLE * self.idle | self.errors | self.irq
                | (self.dmacr & 0x00FF_0000))

    def fail(self, error: int) -> None:
        self.errors |= error
        self.irq |= SR_ERR_IRQ
        self.busy, self.idle, self.halted = False, False, True
        self.dmacr &= ~CR_RS

    def complete(self) -> None:
        self.busy, self.idle = False, True
        self.irq |= SR_IOC_IRQ


class _Block:
    def __init__(self, address: int, size: int) -> None:
        self.address, self.size = address, size
        self.host = np.zeros(size, dtype=np.uint8)
        self.device = np.zeros(size, dtype=np.uint8)


class ScriptedKernel:
    """A stand-in for the Verilated kernel, for the driver's error paths: ``answer(packet_bytes)`` gives the
    words of each packet's answer (uint64), or None for a kernel that takes the input and never answers.
    Each input beat (``in_bytes`` wide) and each output word takes one cycle."""

    out_bytes = 8

    def __init__(self, answer: Callable[[bytes], np.ndarray | None], in_bytes: int = 4) -> None:
        self.answer = answer
        self.in_bytes = in_bytes
        self.cycle = 0
        self._pending: list[bytes] = []
        self._out: list[int] = []
        self._dest: np.ndarray | None = None
        self._cap = self._written = 0
        self._first_in: list[int] = []
        self._kinds: list[int] = []
        self._last_out: list[int] = []

    def send(self, data: bytes | np.ndarray) -> int:
        self._pending.append(bytes(np.asarray(data, dtype=np.uint8)) if not isinstance(data, bytes) else data)
        return -(-len(self._pending[-1]) // self.in_bytes)

    def abort_send(self) -> int:
        dropped = sum(-(-len(p) // self.in_bytes) for p in self._pending)
        self._pending.clear()
        return dropped

    def pending_packets(self) -> int:
        return len(self._pending)

    def arm_recv(self, dest: np.ndarray, capacity: int) -> None:
        self._dest, self._cap, self._written = dest, capacity, 0

    def abort_recv(self) -> None:
        self._dest = None

    def recv_written(self) -> int:
        return self._written

    def run(self, max_cycles: int, stop: int = ALL_EVENTS) -> int:
        if self._pending:
            packet = self._pending.pop(0)
            self._first_in.append(self.cycle + 1)
            self._kinds.append(packet[3] if len(packet) >= 4 else 0)
            self.cycle += -(-len(packet) // self.in_bytes)
            words = self.answer(packet)
            if words is not None:
                self._out.extend(int(w) for w in np.asarray(words, dtype=np.uint64).ravel())
                self._out.append(-1)  # tlast after this packet's words
            return IN_DONE
        while self._out and self._dest is not None:
            if self._out[0] == -1:
                self._out.pop(0)
                self._dest = None
                self._last_out.append(self.cycle)
                return OUT_DONE
            if self._written + self.out_bytes > self._cap:
                self._dest = None
                return OVERFLOW
            self._dest[self._written: self._written + 8] = np.array([self._out.pop(0)], dtype="<u8").view(np.uint8)
            self._written += 8
            self.cycle += 1
            if self._out and self._out[0] == -1:
                self._out.pop(0)
                self._dest = None
                self._last_out.append(self.cycle)
                return OUT_DONE
        self.cycle += max_cycles
        return 0

    def records(self) -> CycleRecords:
        first, last = np.array(self._first_in, dtype=np.int64), np.array(self._last_out, dtype=np.int64)
        return CycleRecords(first, first, last, last, np.array(self._kinds, dtype=np.int64))

    def reset(self, cycles: int = 8) -> None:
        self._pending.clear()
        self._out.clear()


class SimDevice(pynq.Device):
    """A pynq device whose memory, DMA registers and streams are simulated (see the module's docstring).

    ``kernel``: a :class:`KernelModel` (or anything with its interface, e.g. :class:`ScriptedKernel`).
    ``manifest``: the kernel build's manifest (stream widths for the DMA's description).
    ``cycles_per_poll``: the most cycles one DMASR read may run the model."""

    def __init__(self, kernel: Any, manifest: dict[str, Any] | None = None, *, cycles_per_poll: int = 4096,
                 tag: str = "hybrec-sim") -> None:
        super().__init__(tag)
        self.capabilities = {"REGISTER_RW": True}
        self.name = "hybrec simulated device (Verilator)"
        self.kernel = kernel
        self.manifest = manifest or {}
        self.cycles_per_poll = int(cycles_per_poll)
        self._blocks: list[_Block] = []
        self._by_id: dict[int, _Block] = {}
        self._next_bid = 1   # buffer handles are never reused (a freed handle's number may not alias a live one)
        self._next = MEM_BASE
        self.mm2s = _Channel("MM2S", 0x00)
        self.s2mm = _Channel("S2MM", 0x30)
        self.register_log: list[tuple[str, int, int]] | None = None
        self.polls = 0
        self.image_path: Path | None = None   # the build's model image, when made by from_build

    @classmethod
    def from_build(cls, build_dir: str | Path, *, seed: int = 1, source_pause: float = 0.0, sink_pause: float = 0.0,
                   cycles_per_poll: int = 4096) -> SimDevice:
        """The device around the build's kernel model (``BUILD/sim/model/libkernel.so``)."""
        build = BuildDir.open(build_dir, verify=False)
        lib = model_library(build_dir)
        model = KernelModel(lib, seed=seed, source_pause=source_pause, sink_pause=sink_pause)
        dev = cls(model, build.manifest.raw, cycles_per_poll=cycles_per_poll)
        dev.image_path = build.image_path
        return dev

    # ---------------------------------------------------------------------------------------- pynq plumbing
    @contextlib.contextmanager
    def activate(self) -> Iterator[SimDevice]:
        """Make this the ``pynq.Device.active_device`` (what ``pynq.allocate`` and ``MMIO`` use) for a while."""
        previous = pynq.Device.__dict__.get("_active_device")
        pynq.Device.active_device = self
        try:
            yield self
        finally:
            if previous is None:
                with contextlib.suppress(AttributeError):
                    del pynq.Device._active_device
            else:
                pynq.Device.active_device = previous

    def dma_description(self, name: str = "axi_dma_0") -> dict[str, Any]:
        """An ``ip_dict`` entry like the one pynq parses from a .hwh for hybrec's AXI DMA."""
        # the widths the simulated hardware has: the kernel model's (what a .hwh would say), else the manifest's
        in_bits, out_bits = 32, 64
        if self.manifest:
            info = KernelInfo.from_manifest(self.manifest)
            in_bits, out_bits = info.in_bits, info.out_bits
        in_bits = 8 * int(getattr(self.kernel, "in_bytes", in_bits // 8))
        out_bits = 8 * int(getattr(self.kernel, "out_bytes", out_bits // 8))
        return {
            "fullpath": name, "type": "xilinx.com:ip:axi_dma:7.1", "device": self, "phys_addr": DMA_BASE,
            "addr_range": DMA_RANGE, "state": None, "interrupts": {}, "gpio": {},
            "parameters": {"c_include_sg": "0", "c_micro_dma": "0", "c_sg_length_width": str(LENGTH_BITS),
                           "c_include_mm2s": "1", "c_include_s2mm": "1", "c_include_mm2s_dre": "0",
                           "c_include_s2mm_dre": "0", "c_m_axi_mm2s_data_width": "32",
                           "c_m_axi_s2mm_data_width": "64", "c_m_axis_mm2s_tdata_width": str(in_bits),
                           "c_s_axis_s2mm_tdata_width": str(out_bits)},
        }

    def dma(self, name: str = "axi_dma_0") -> Any:
        """A real ``pynq.lib.dma.DMA`` driver bound to this device's DMA registers."""
        from pynq.lib.dma import DMA

        return DMA(self.dma_description(name))

    def allocate(self, shape: Any, dtype: Any = "u4", **kwargs: Any) -> PynqBuffer:
        dtype = np.dtype(dtype)
        count = int(np.prod(shape)) if np.ndim(shape) else int(shape)
        nbytes = max(1, count * dtype.itemsize)
        size = -(-nbytes // PAGE) * PAGE
        block = _Block(self._next, size)
        self._next += size + PAGE  # an unmapped page after every buffer
        bid = self._next_bid
        self._next_bid += 1
        self._by_id[bid] = block
        bisect.insort(self._blocks, block, key=lambda b: b.address)
        buf = PynqBuffer(shape, dtype, buffer=block.host, device=self, device_address=block.address, bo=bid,
                         coherent=False)
        weakref.finalize(buf, self._free, bid)
        return buf

    def _free(self, bid: int) -> None:
        block = self._by_id.pop(bid, None)
        if block is not None:
            self._blocks.remove(block)

    def flush(self, bo: int, offset: int, vaddr: int, nbytes: int) -> None:
        block = self._by_id[bo]
        block.device[offset: offset + nbytes] = block.host[offset: offset + nbytes]

    def invalidate(self, bo: int, offset: int, vaddr: int, nbytes: int) -> None:
        block = self._by_id[bo]
        block.host[offset: offset + nbytes] = block.device[offset: offset + nbytes]

    def _memory(self, address: int, nbytes: int) -> np.ndarray | None:
        """The device-side bytes [address, address + nbytes), or None when not inside one buffer."""
        i = bisect.bisect_right([b.address for b in self._blocks], address) - 1
        if i < 0:
            return None
        block = self._blocks[i]
        start = address - block.address
        if start + nbytes > block.size:
            return None
        return block.device[start: start + nbytes]

    def read_registers(self, address: int, length: int) -> bytes:
        offset = address - DMA_BASE
        if not 0 <= offset < DMA_RANGE or length != 4:
            raise ValueError(f"no simulated register at 0x{address:x} ({length} bytes)")
        value = self._read(offset)
        if self.register_log is not None:
            self.register_log.append(("r", offset, value))
        return struct.pack("<I", value)

    def write_registers(self, address: int, data: bytes) -> None:
        offset = address - DMA_BASE
        if not 0 <= offset < DMA_RANGE or len(data) % 4:
            raise ValueError(f"no simulated register at 0x{address:x}")
        for i in range(0, len(data), 4):
            value = struct.unpack_from("<I", data, i)[0]
            if self.register_log is not None:
                self.register_log.append(("w", offset + i, value))
            self._write(offset + i, value)

    # ---------------------------------------------------------------------------------------- the DMA
    def _channel(self, offset: int) -> tuple[_Channel, int]:
        ch = self.mm2s if offset < 0x30 else self.s2mm
        return ch, offset - ch.base

    def _read(self, offset: int) -> int:
        ch, reg = self._channel(offset)
        if reg == 0x00:
            return ch.dmacr
        if reg == 0x04:
            if ch.busy:
                self._advance()
            return ch.status
        if reg == 0x18:
            return ch.address & 0xFFFF_FFFF
        if reg == 0x1C:
            return ch.address >> 32
        if reg == 0x28:
            return ch.actual if ch is self.s2mm and ch.idle else ch.length
        return 0

    def _write(self, offset: int, value: int) -> None:
        ch, reg = self._channel(offset)
        if reg == 0x00:
            if value & CR_RESET:
                self.reset_dma()
                return
            if not value & 0x00FF_0000:  # PG021: writing 0 to IRQThreshold has no effect
                value |= ch.dmacr & 0x00FF_0000
            ch.dmacr = value & ~CR_RESET
            if value & CR_RS:
                if not ch.errors:
                    ch.halted = False
            else:
                if ch.busy:
                    self._abort(ch)
                ch.halted, ch.idle, ch.busy = True, False, False
        elif reg == 0x04:
            ch.irq &= ~(value & SR_W1C)
        elif reg == 0x18:
            ch.address = (ch.address & ~0xFFFF_FFFF) | value
        elif reg == 0x1C:
            ch.address = (ch.address & 0xFFFF_FFFF) | (value << 32)
        elif reg == 0x28:
            self._start(ch, value & ((1 << LENGTH_BITS) - 1))

    def _start(self, ch: _Channel, length: int) -> None:
        ch.length, ch.actual = length, 0
        if ch.halted or ch.busy:
            return  # the hardware ignores a length written while halted or busy
        if length == 0:
            ch.fail(SR_INT_ERR)
            return
        if ch.inject:
            ch.fail(ch.inject)
            ch.inject = 0
            return
        memory = self._memory(ch.address, length)
        if memory is None:
            ch.fail(SR_DEC_ERR)
            return
        ch.busy, ch.idle = True, False
        if ch is self.mm2s:
            self.kernel.send(memory.tobytes())
        else:
            self.kernel.arm_recv(memory, length)

    def _abort(self, ch: _Channel) -> None:
        if ch is self.mm2s:
            self.kernel.abort_send()
        else:
            self.kernel.abort_recv()

    def _advance(self) -> None:
        self.polls += 1
        events = self.kernel.run(self.cycles_per_poll, ALL_EVENTS)
        if events & IN_DONE and self.mm2s.busy:
            self.mm2s.complete()
        if events & OUT_DONE and self.s2mm.busy:
            self.s2mm.actual = self.kernel.recv_written()
            self.s2mm.complete()
        if events & OVERFLOW and self.s2mm.busy:
            self.s2mm.actual = self.kernel.recv_written()
            self.s2mm.fail(SR_INT_ERR)

    def reset_dma(self) -> None:
        """DMACR.Reset: both channels stop (their transfers are dropped) and return to their reset state."""
        for ch in (self.mm2s, self.s2mm):
            if ch.busy:
                self._abort(ch)
            ch.reset()

    # ---------------------------------------------------------------------------------------- for tests/bench
    def inject_error(self, channel: str, error: int = SR_SLV_ERR) -> None:
        """Make the next transfer of ``channel`` ("MM2S" or "S2MM") fail with DMASR ``error`` bits."""
        (self.mm2s if channel.upper() == "MM2S" else self.s2mm).inject = error

    def reset_kernel(self, cycles: int = 8) -> None:
        """Pulse the kernel's ``ap_rst_n`` (what reloading the overlay does on a board)."""
        self.kernel.reset(cycles)

    def records(self) -> CycleRecords:
        """Per-query cycle records of everything the kernel has seen since it was created."""
        records: CycleRecords = self.kernel.records()
        return records

    @property
    def cycle(self) -> int:
        return int(self.kernel.cycle)
