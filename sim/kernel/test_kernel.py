"""The whole kernel (BUILD/rtl/hybrec_kernel.v) under cocotb, checked against the golden test vectors.

Configuration (JSON named by ``HYBREC_TB_CONFIG``, written by ``hybrec.simulate.kernel``):
``models`` (a list of ``{"image": model.img, "vectors": golden.npz}``: each model image is loaded through the
input stream and its vectors' queries checked; the first is the build's own), ``queries`` (indices into the
vectors), ``k``, ``lmax``, ``source_pause`` / ``sink_pause`` (per-cycle pause probabilities), ``seed``,
``report`` (JSON written here), and which checks run: ``check_golden``, ``check_latency``, ``check_reset``,
``check_load``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, RisingEdge
from cocotbext.axi import AxiStreamFrame

from hybrec import protocol
from hybrec.builddir import GoldenVectors
from hybrec.golden import no_model_result
from hybrec.simulate.cocotb_tb import StreamBench, load_config, to_signed

CONFIG = load_config()
MODELS = [(protocol.ModelImage.read(Path(m["image"])), GoldenVectors.load(Path(m["vectors"])))
          for m in CONFIG["models"]]
IMAGE, VECTORS = MODELS[0]


def packet(index: int, vectors: GoldenVectors = VECTORS) -> bytes:
    """The query as the kernel's input bytes: the header word, the history, the exclusion list (uint16,
    little-endian; s_axis_tkeep marks the last beat's present ids, as an AXI DMA does)."""
    return vectors.query_units(index).astype("<u2").tobytes()


def ids_in(index: int) -> int:
    return int(VECTORS.offsets[index + 1] - VECTORS.offsets[index])


def beats_in(dut: Any, index: int) -> int:
    """Input beats of a query: the header word and its ids, ``len(s_axis_tkeep) / 2`` per beat."""
    per_beat = len(dut.s_axis_tkeep) // 2
    return -(-(ids_in(index) + 2) // per_beat)


def decode(word: int) -> tuple[int, int, int, int]:
    """(score, id, flags, valid) of one 64-bit result word."""
    return to_signed(word, 32), (word >> 32) & 0xFFFF, (word >> 48) & 0xF, (word >> 52) & 1


def rows_of(ids: np.ndarray, scores: np.ndarray, valid: np.ndarray, flags: int) -> list[tuple[int, int, int, int]]:
    return [(int(scores[r]) if valid[r] else 0, int(ids[r]) if valid[r] else 0xFFFF, int(flags), int(valid[r]))
            for r in range(int(CONFIG["k"]))]


def expected(index: int, vectors: GoldenVectors = VECTORS) -> list[tuple[int, int, int, int]]:
    return rows_of(vectors.topk[index], vectors.scores[index], vectors.valid[index], int(vectors.flags[index]))


def expected_without_model(index: int) -> list[tuple[int, int, int, int]]:
    r = no_model_result(VECTORS.history(index), int(CONFIG["k"]), int(CONFIG["lmax"]))
    return rows_of(r.ids, r.scores, r.valid, r.flags)


class KernelBench(StreamBench):
    """Source/sink plus a monitor that timestamps each query's first input beat and last output beat."""

    def __init__(self, dut: Any, seed: int) -> None:
        super().__init__(dut, seed)
        self.cycle = 0
        self.in_beats = 0   # input beats accepted (all queries)
        self.starts: list[int] = []
        self.ends: list[int] = []
        # The MLP's first input beat and its last layer's output beats (generated top's wire names).
        layers = int(CONFIG["mlp_layers"])
        self.mlp_in = (dut.l0_valid, dut.l0_ready)
        self.mlp_out = (getattr(dut, f"l{layers}_valid"), getattr(dut, f"l{layers}_ready"))
        self.mlp_in_cycles: list[int] = []
        self.mlp_out_cycles: list[int] = []
        # stage boundaries: (name, valid, ready) handshakes of the generated top's internal streams
        self.events = {name: (getattr(dut, f"{prefix}_valid"), getattr(dut, f"{prefix}_ready"))
                       for name, prefix in (("mean", "agg"), ("user_vector", "user"), ("scores", "sc"),
                                            ("masked", "mk"), ("topk", "tk"))}
        self.event_cycles: dict[str, list[int]] = {name: [] for name in self.events}
        cocotb.start_soon(self._monitor())

    async def _monitor(self) -> None:
        dut = self.dut
        in_packet = False
        while True:
            await RisingEdge(dut.ap_clk)
            self.cycle += 1
            if not int(dut.ap_rst_n.value):
                in_packet = False
                continue
            if int(dut.s_axis_tvalid.value) and int(dut.s_axis_tready.value):
                self.in_beats += 1
                if not in_packet:
                    self.starts.append(self.cycle)
                in_packet = not int(dut.s_axis_tlast.value)
            if int(dut.m_axis_tvalid.value) and int(dut.m_axis_tready.value) and int(dut.m_axis_tlast.value):
                self.ends.append(self.cycle)
            if int(self.mlp_in[0].value) and int(self.mlp_in[1].value):
                self.mlp_in_cycles.append(self.cycle)
            if int(self.mlp_out[0].value) and int(self.mlp_out[1].value):
                self.mlp_out_cycles.append(self.cycle)
            for name, (valid, ready) in self.events.items():
                if int(valid.value) and int(ready.value):
                    self.event_cycles[name].append(self.cycle)

    async def run_queries(self, indices: list[int], vectors: GoldenVectors = VECTORS,
                          loaded: bool = True) -> list[dict[str, Any]]:
        """Send every packet (back to back as far as the kernel takes them), collect and compare answers (the
        golden model's, or without a model loaded, :func:`hybrec.golden.no_model_result`'s)."""
        async def send() -> None:
            for index in indices:
                await self.source.send(AxiStreamFrame(packet(index, vectors)))

        sender = cocotb.start_soon(send())
        mismatches = []
        for index in indices:
            frame = await self.sink.recv()
            got = [decode(int(w)) for w in frame.tdata]
            want = expected(index, vectors) if loaded else expected_without_model(index)
            if got != want:
                mismatches.append({"query": int(index), "got": got, "expected": want})
        await sender
        return mismatches

    async def request(self, data: bytes) -> protocol.Status:
        """Send one non-query packet and read the two status words that answer it."""
        await self.source.send(AxiStreamFrame(data))
        frame = await self.sink.recv()
        return protocol.Status.from_words([int(w) for w in frame.tdata])

    async def load(self, image: protocol.ModelImage = IMAGE) -> protocol.Status:
        """Load ``image`` and check that the kernel reports it held, with the image's checksums."""
        status = await self.request(image.packet_bytes())
        s1, s2 = image.checksums
        want = protocol.Status(image.shape_word, image.n_items, protocol.OK, True, s1, s2)
        assert status == want, f"load answered {status}, expected {want}"
        return status


def write_report(section: str, content: dict[str, Any]) -> None:
    path = Path(CONFIG["report"])
    report = json.loads(path.read_text()) if path.is_file() else {}
    report[section] = content
    path.write_text(json.dumps(report, indent=1))


@cocotb.test(skip=not CONFIG.get("check_golden", True))
async def golden_vectors_under_backpressure(dut: Any) -> None:
    """Every configured query, random pauses on both streams, answers equal to the golden model's."""
    tb = KernelBench(dut, CONFIG["seed"])
    tb.set_pauses(CONFIG["source_pause"], CONFIG["sink_pause"])
    await tb.reset()
    indices = [int(i) for i in CONFIG["queries"]]
    per_model = []
    mismatches: list[dict[str, Any]] = []
    for number, (image, vectors) in enumerate(MODELS):   # one kernel, each model loaded in turn
        start = tb.cycle
        await tb.load(image)
        load_cycles = tb.cycle - start
        found = await tb.run_queries([i for i in indices if i < vectors.n_queries], vectors)
        per_model.append({"shape_key_head": image.shape_key[:16], "n_items": image.n_items,
                          "load_words": int(image.packet.size), "load_cycles": load_cycles,
                          "mismatches": len(found)})
        mismatches += [{**m, "model": number} for m in found]
    write_report("golden", {"queries": len(indices), "mismatches": len(mismatches), "first_mismatches": mismatches[:5],
                            "models": per_model, "source_pause": CONFIG["source_pause"],
                            "sink_pause": CONFIG["sink_pause"], "cycles": tb.cycle})
    assert not mismatches, f"{len(mismatches)} of {len(indices)} queries differ from the golden model: {mismatches[:2]}"


@cocotb.test(skip=not CONFIG.get("check_latency", True))
async def latency_and_initiation_interval(dut: Any) -> None:
    """No pauses: the longest query alone (latency), then back-to-back queries (initiation interval)."""
    tb = KernelBench(dut, CONFIG["seed"] + 1)
    tb.set_pauses(0.0, 0.0)
    await tb.reset()
    await tb.load()
    longest = int(CONFIG["longest_query"])
    assert not await tb.run_queries([longest])
    latency = tb.ends[-1] - tb.starts[-1] + 1
    mlp_cycles = tb.mlp_out_cycles[-1] - tb.mlp_in_cycles[0] + 1   # first beat into layer 0 .. last beat out
    start = tb.starts[-1]
    stages = {"first_input": 0, "last_input": beats_in(dut, longest) - 1,
              "mlp_first_input": tb.mlp_in_cycles[0] - start, "mlp_last_output": tb.mlp_out_cycles[-1] - start}
    for name, cycles in tb.event_cycles.items():
        stages[f"{name}_first"] = cycles[0] - start
        stages[f"{name}_last"] = cycles[-1] - start
    stages["last_output"] = tb.ends[-1] - start
    await ClockCycles(dut.ap_clk, 5)
    burst = [int(i) for i in CONFIG["queries"]][: int(CONFIG.get("burst", 32))]
    first = len(tb.ends)
    assert not await tb.run_queries(burst)
    ends = tb.ends[first:]
    gaps = np.diff(ends)
    lengths = [ids_in(i) for i in burst]
    write_report("timing", {"latency_cycles": latency, "mlp_latency_cycles": mlp_cycles, "stage_cycles": stages,
                            "latency_query": longest,
                            "latency_query_length": ids_in(longest), "latency_query_beats": beats_in(dut, longest),
                            "burst_queries": len(burst), "burst_mean_length": float(np.mean(lengths)),
                            "ii_mean_cycles": float(gaps.mean()) if gaps.size else None,
                            "ii_max_cycles": int(gaps.max()) if gaps.size else None,
                            "ii_min_cycles": int(gaps.min()) if gaps.size else None})


@cocotb.test(skip=not CONFIG.get("check_reset", True))
async def reset_in_the_middle_of_a_packet(dut: Any) -> None:
    """A whole query inside the kernel (its history bits set in a mask bank) and the next one half sent,
    a reset, then correct answers for the next queries (the reset sweeps the mask RAMs first)."""
    tb = KernelBench(dut, CONFIG["seed"] + 2)
    tb.set_pauses(0.2, 0.2)
    await tb.reset()
    await tb.load()
    index = int(CONFIG["longest_query"])
    before = tb.in_beats
    await tb.source.send(AxiStreamFrame(packet(index)))
    await tb.source.send(AxiStreamFrame(packet(index)))
    target = beats_in(dut, index) + max(1, beats_in(dut, index) // 2)   # the second packet half way in
    for _ in range(100 * target + 10_000):
        if tb.in_beats - before >= target:
            break
        await ClockCycles(dut.ap_clk, 1)
    accepted = tb.in_beats - before
    assert accepted >= target, f"only {accepted} of {target} input beats were taken before the reset"
    await tb.reset(4)
    tb.source.clear()
    tb.sink.clear()
    tb.set_pauses(0.2, 0.2)
    indices = [int(i) for i in CONFIG["queries"]][:6]
    mismatches = await tb.run_queries(indices[:2], loaded=False)   # a reset leaves no model
    await tb.load()
    mismatches += await tb.run_queries(indices)
    write_report("reset", {"beats_before_reset": accepted, "queries_after_reset": len(indices),
                           "mismatches": len(mismatches)})
    assert not mismatches, mismatches[:2]


@cocotb.test(skip=not CONFIG.get("check_load", True))
async def model_loads_and_bad_packets(dut: Any) -> None:
    """Queries before any load, a status request, a load for another shape, interrupted, overlong and
    bad-count loads, a bad header: each answered as docs/model-image.md says, and the model held (or not)
    afterwards shows in the next query's answer."""
    tb = KernelBench(dut, CONFIG["seed"] + 3)
    tb.set_pauses(0.2, 0.2)
    await tb.reset()
    some = [int(i) for i in CONFIG["queries"]][:3]
    head = IMAGE.packet[:3].astype("<u4")
    shape, n = IMAGE.shape_word, IMAGE.n_items
    s1, s2 = IMAGE.checksums
    steps: list[dict[str, Any]] = []

    async def expect(name: str, data: bytes, code: int, valid: bool, held: int) -> None:
        status = await tb.request(data)
        steps.append({"step": name, "code": status.code_name, "model_valid": status.model_valid,
                      "n_items": status.n_items})
        assert (status.shape_word, status.code, status.model_valid, status.n_items) == (shape, code, valid, held), \
            f"{name}: {status}"

    async def queries(name: str, loaded: bool) -> None:
        found = await tb.run_queries(some, loaded=loaded)
        steps.append({"step": name, "mismatches": len(found)})
        assert not found, f"{name}: {found[:1]}"

    status_packet = protocol.status_units().astype("<u2").tobytes()
    await queries("queries before any load: NO_MODEL", loaded=False)
    await expect("status without a model", status_packet, protocol.OK, False, 0)
    await tb.load()
    await expect("status with the model", status_packet, protocol.OK, True, n)
    status = await tb.request(status_packet)
    assert (status.s1, status.s2) == (s1, s2), "the status does not report the held image's checksums"
    other = head.copy()
    other[1] ^= 0x1
    # refused on its shape word: the rest of the packet is consumed unread, so a few words show it
    await expect("another shape's load", other.tobytes() + IMAGE.packet_bytes()[12:40], protocol.WRONG_SHAPE, True, n)
    await queries("queries after the refused load", loaded=True)
    await expect("a bad header", np.array([0x7A << 24, 5], dtype="<u4").tobytes(), protocol.BAD_HEADER, True, n)
    half = IMAGE.packet_bytes()[: 4 * (IMAGE.packet.size // 2)]
    await expect("a load cut half way", half, protocol.INTERRUPTED, False, 0)
    await queries("queries after the cut load: NO_MODEL", loaded=False)
    # a query sent right behind a load waits for it, and is answered with the model just loaded
    await tb.source.send(AxiStreamFrame(IMAGE.packet_bytes()))
    await tb.source.send(AxiStreamFrame(packet(some[0])))
    status = protocol.Status.from_words([int(w) for w in (await tb.sink.recv()).tdata])
    behind = [decode(int(w)) for w in (await tb.sink.recv()).tdata]
    steps.append({"step": "a query right behind a load", "code": status.code_name, "model_valid": status.model_valid,
                  "n_items": status.n_items, "mismatches": int(behind != expected(some[0]))})
    assert status.code == protocol.OK and status.model_valid and behind == expected(some[0])
    await queries("queries after a complete load", loaded=True)
    await expect("a load one word too long", IMAGE.packet_bytes() + bytes(4), protocol.OVERLONG, False, 0)
    await queries("queries after the overlong load: NO_MODEL", loaded=False)
    bad_count = head.copy()
    bad_count[2] = int(CONFIG["n_items_max"]) + 1
    await expect("a load of too many items", bad_count.tobytes() + IMAGE.packet_bytes()[12:40], protocol.BAD_COUNT,
                 False, 0)
    await tb.load()
    await queries("queries after the last load", loaded=True)
    write_report("load", {"steps": steps, "load_words": int(IMAGE.packet.size)})
