"""The ULX3S self-test top (hw/boards/ulx3s/ulx3s_bist.v, USE_PLL = 0) with a simulated SPI flash holding a
self-test image (ulx3s_bist_tb.v): hold FIRE1 (reset), release it, clock until the LEDs show done (or
HYBREC_BIST_CYCLES run out), and write what the LEDs and the checker's counters show to HYBREC_BIST_REPORT.
The pytest side (tests/synth/test_bitstream.py) decides pass or fail from that report."""

from __future__ import annotations

import json
import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge


@cocotb.test()
async def bist_runs_to_done(dut) -> None:  # type: ignore[no-untyped-def]
    cocotb.start_soon(Clock(dut.clk_25mhz, 10, unit="ns").start())
    dut.btn_fire1.value = 1
    await ClockCycles(dut.clk_25mhz, 10)
    dut.btn_fire1.value = 0
    limit = int(os.environ["HYBREC_BIST_CYCLES"])
    cycles = 0
    while cycles < limit:
        await RisingEdge(dut.clk_25mhz)
        cycles += 1
        if int(dut.led.value) & 0b1:  # done
            break
    await ClockCycles(dut.clk_25mhz, 5)
    led = int(dut.led.value)
    top = dut.u_top
    seen = {"done": led & 1, "pass": (led >> 1) & 1, "fail": (led >> 2) & 1, "code": led >> 4, "cycles": cycles,
            "words": int(top.got_n.value), "lasts": int(top.got_last.value), "s1": int(top.got_s1.value),
            "s2": int(top.got_s2.value), "input_s1": int(top.got_in_s1.value), "input_s2": int(top.got_in_s2.value)}
    with open(os.environ["HYBREC_BIST_REPORT"], "w") as handle:
        json.dump(seen, handle)
