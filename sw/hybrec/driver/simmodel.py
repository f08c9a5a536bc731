"""ctypes access to the Verilated kernel (``BUILD/sim/model/libkernel.so``, built in the main environment by
``hybrec sim --build BUILD --shared-lib`` from ``sim/harness/kernel_model.cpp``). numpy + ctypes only.

:class:`KernelModel` queues whole input packets, arms an output destination (or collects the words itself)
and runs the clock in C++ until something happens; the per-packet cycle records give each query's
simulated latency (first input beat accepted to last output beat), the spacing of back-to-back answers, and
each model load's cycles (its first beat to its status answer's last). Every packet is recorded with its kind
(the header word's top byte), so loads and status requests never count as queries.
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hybrec.builddir import BuildDir
from hybrec.protocol import KIND_LOAD, KIND_QUERY

from .errors import DriverError

ABI = 2
IN_DONE, OUT_DONE, OVERFLOW = 1, 2, 4
ALL_EVENTS = IN_DONE | OUT_DONE | OVERFLOW
_U64, _P = ctypes.c_uint64, ctypes.c_void_p
_SIGNATURES: dict[str, tuple[Any, list[Any]]] = {
    "km_abi": (ctypes.c_int, []), "km_in_bytes": (ctypes.c_int, []), "km_out_bytes": (ctypes.c_int, []),
    "km_has_tkeep": (ctypes.c_int, []),
    "km_create": (_P, [_U64, ctypes.c_double, ctypes.c_double]), "km_destroy": (None, [_P]),
    "km_error": (ctypes.c_char_p, [_P]), "km_set_pauses": (None, [_P, ctypes.c_double, ctypes.c_double]),
    "km_reset": (ctypes.c_int, [_P, ctypes.c_int]), "km_send": (ctypes.c_int64, [_P, _P, _U64]),
    "km_abort_send": (_U64, [_P]), "km_pending_packets": (_U64, [_P]), "km_recv": (None, [_P, _P, _U64]),
    "km_abort_recv": (None, [_P]), "km_recv_written": (_U64, [_P]), "km_recv_armed": (ctypes.c_int, [_P]),
    "km_collect": (None, [_P, ctypes.c_int]), "km_collected": (_U64, [_P]), "km_take": (_U64, [_P, _P, _U64]),
    "km_run": (ctypes.c_int, [_P, _U64, ctypes.c_int]), "km_cycle": (_U64, [_P]), "km_beats_in": (_U64, [_P]),
    "km_beats_out": (_U64, [_P]), "km_records": (_U64, [_P, ctypes.c_int]),
    "km_copy_records": (_U64, [_P, ctypes.c_int, _U64, _P, _U64]),
}
_LIBS: dict[str, ctypes.CDLL] = {}


class SimModelError(DriverError):
    """The kernel model library is missing, stale, or failed."""


@dataclass
class CycleRecords:
    """Cycle numbers (rising edges since reset) per input packet (``in_first``/``in_last``: its first and
    last accepted beat; ``in_kind``: its header's kind, ``0x51`` a query, ``0x4C`` a load, ``0x53`` a status
    request) and per output packet (``out_first``/``out_last``). Each input packet has one answer, in order,
    so the arrays pair by index."""

    in_first: np.ndarray
    in_last: np.ndarray
    out_first: np.ndarray
    out_last: np.ndarray
    in_kind: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def _answered(self, kind: int) -> np.ndarray:
        n = min(self.in_first.size, self.out_last.size, self.in_kind.size)
        return np.flatnonzero(self.in_kind[:n] == kind)

    def of_kind(self, kind: int) -> CycleRecords:
        """The answered packets of one kind."""
        rows = self._answered(kind)
        return CycleRecords(self.in_first[rows], self.in_last[rows], self.out_first[rows], self.out_last[rows],
                            self.in_kind[rows])

    def queries(self) -> CycleRecords:
        """The answered queries only (no load, no status request)."""
        return self.of_kind(KIND_QUERY)

    def latency(self) -> np.ndarray:
        """Per answered query: first input beat to last output beat, inclusive (the C++ harness's count)."""
        q = self.queries()
        return (q.out_last - q.in_first + 1).astype(np.int64)

    def intervals(self) -> np.ndarray:
        """Cycles between consecutive queries' answers' last beats (back-to-back: the initiation interval)."""
        return np.diff(self.queries().out_last).astype(np.int64)

    def load_cycles(self) -> np.ndarray:
        """Per model load: its first input beat to the last of its status answer, inclusive."""
        loads = self.of_kind(KIND_LOAD)
        return (loads.out_last - loads.in_first + 1).astype(np.int64)

    def since(self, start: int) -> CycleRecords:
        """The records of the packets from ``start`` on (e.g. one :meth:`KernelDriver.run`)."""
        return CycleRecords(self.in_first[start:], self.in_last[start:], self.out_first[start:],
                            self.out_last[start:], self.in_kind[start:])

    @property
    def packets(self) -> int:
        """Input packets recorded (the mark to give :meth:`since`)."""
        return int(self.in_first.size)


def load_library(path: str | Path) -> ctypes.CDLL:
    key = str(Path(path).resolve())
    if key not in _LIBS:
        try:
            lib = ctypes.CDLL(key)
        except OSError as err:
            raise SimModelError(f"cannot load {key}: {err}") from None
        for name, (restype, argtypes) in _SIGNATURES.items():
            fn = getattr(lib, name, None)
            if fn is None:
                raise SimModelError(f"{key} has no {name}: not a hybrec kernel model (rebuild it)")
            fn.restype, fn.argtypes = restype, argtypes
        if lib.km_abi() != ABI:
            raise SimModelError(f"{key} speaks model ABI {lib.km_abi()}, this driver {ABI}: rebuild it")
        _LIBS[key] = lib
    return _LIBS[key]


def model_library(build_dir: str | Path) -> Path:
    """``BUILD/sim/model/libkernel.so``, checked against its ``model.json`` (sha256), the build's id and the
    build's folder (the library reads the memory files from where they were when it was built)."""
    lib, why = BuildDir.open(build_dir, verify=False).sim_model()
    if lib is None:
        raise SimModelError(why)
    return lib


class KernelModel:
    """One instance of the Verilated kernel (reset on creation)."""

    def __init__(self, library: str | Path, *, seed: int = 1, source_pause: float = 0.0,
                 sink_pause: float = 0.0) -> None:
        self._lib = load_library(library)
        self.library = Path(library)
        for p in (source_pause, sink_pause):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"a pause probability is in [0, 1] (got {p})")
        handle = self._lib.km_create(seed, source_pause, sink_pause)
        if not handle:
            raise SimModelError(f"{library}: the model could not be created")
        self._h: int | None = handle
        self.in_bytes = int(self._lib.km_in_bytes())
        self.out_bytes = int(self._lib.km_out_bytes())
        self.has_tkeep = bool(self._lib.km_has_tkeep())
        self._dest: np.ndarray | None = None

    @property
    def handle(self) -> int:
        if self._h is None:
            raise SimModelError("the model was closed")
        return self._h

    def _check(self, code: int) -> int:
        if code < 0:
            raise SimModelError(f"kernel model: {self._lib.km_error(self.handle).decode(errors='replace')}")
        return code

    def set_pauses(self, source_pause: float, sink_pause: float) -> None:
        self._lib.km_set_pauses(self.handle, source_pause, sink_pause)

    def reset(self, cycles: int = 8) -> None:
        """``ap_rst_n`` low for ``cycles`` clocks; queued input and a half-received answer are dropped."""
        self._check(self._lib.km_reset(self.handle, cycles))

    @property
    def cycle(self) -> int:
        return int(self._lib.km_cycle(self.handle))

    def send(self, data: bytes | np.ndarray) -> int:
        """Queue one input packet (bytes, little-endian ids); returns its number of beats."""
        raw = np.ascontiguousarray(np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes)
                                   else np.asarray(data).view(np.uint8).ravel())
        return self._check(int(self._lib.km_send(self.handle, raw.ctypes.data, raw.size)))

    def abort_send(self) -> int:
        return int(self._lib.km_abort_send(self.handle))

    def pending_packets(self) -> int:
        return int(self._lib.km_pending_packets(self.handle))

    def arm_recv(self, dest: np.ndarray, capacity: int) -> None:
        """The next output beats go to ``dest`` (a contiguous uint8 array the caller keeps alive) until the
        kernel's tlast, at most ``capacity`` bytes."""
        if dest.dtype != np.uint8 or not dest.flags.c_contiguous or capacity > dest.size:
            raise ValueError("the destination is a contiguous uint8 array of at least `capacity` bytes")
        self._dest = dest
        self._lib.km_recv(self.handle, dest.ctypes.data, capacity)

    def abort_recv(self) -> None:
        self._lib.km_abort_recv(self.handle)
        self._dest = None

    def recv_written(self) -> int:
        return int(self._lib.km_recv_written(self.handle))

    def recv_armed(self) -> bool:
        return bool(self._lib.km_recv_armed(self.handle))

    def run(self, max_cycles: int, stop: int = ALL_EVENTS) -> int:
        """Clock until an event in ``stop`` happens (returns the events of that cycle) or ``max_cycles``
        pass (returns 0)."""
        return self._check(int(self._lib.km_run(self.handle, max_cycles, stop)))

    def records(self) -> CycleRecords:
        arrays = []
        for which in range(5):
            n = int(self._lib.km_records(self.handle, which))
            out = np.zeros(n, dtype=np.uint64)
            if n:
                self._lib.km_copy_records(self.handle, which, 0, out.ctypes.data, n)
            arrays.append(out.astype(np.int64))
        return CycleRecords(*arrays)

    def run_packets(self, packets: Sequence[bytes | np.ndarray], words_per_packet: int,
                    max_cycles: int = 10_000_000) -> np.ndarray:
        """Queue every packet back to back, collect the answers (the model keeps the words), and return
        them as ``(len(packets), words_per_packet)`` uint64. Without a DMA in between: the kernel's own
        throughput."""
        self._lib.km_collect(self.handle, 1)
        try:
            for p in packets:
                self.send(p)
            want = len(packets) * words_per_packet
            budget = max_cycles
            while int(self._lib.km_collected(self.handle)) < want:
                start = self.cycle
                if self.run(min(budget, 100_000), OUT_DONE) == 0 and self.cycle - start >= budget:
                    break
                budget -= self.cycle - start
                if budget <= 0:
                    break
            got = int(self._lib.km_collected(self.handle))
            out = np.zeros(got, dtype=np.uint64)
            if got:
                self._lib.km_take(self.handle, out.ctypes.data, got)
        finally:
            self._lib.km_collect(self.handle, 0)
        if got != want:
            raise SimModelError(f"{got} of {want} result words within {max_cycles} cycles")
        return out.reshape(len(packets), words_per_packet)

    def close(self) -> None:
        if self._h is not None:
            self._lib.km_destroy(self._h)
            self._h = None
            self._dest = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()
