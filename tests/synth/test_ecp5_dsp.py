"""The DSP passes (hybrec.bitstream.ecp5_dsp: registers into the MULT18X18D, signed operands to the top of
its ports) on small designs through Yosys' synth_ecp5: what they move, what they leave, and (simulated under
Verilator, and Icarus Verilog where installed) that the rewritten netlist computes exactly what the RTL
does, cycle by cycle, on random inputs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from cell_models import cells_of, synth_and_pass
from netlist_sim import SIMULATORS, flatten, run_testbench

from hybrec.bitstream.ecp5_dsp import absorb_dsp_registers, align_dsp_operands, rewrite_dsps

pytestmark = [pytest.mark.synth]

# u0: inputs copied register to register (both ports move in), output with an enable (moves in);
# u1: inputs registered from ports (stay in the fabric), output with an inverted enable (moves in, a LUT
#     inverts the enable); u2: output register with a synchronous reset (stays in the fabric).
DUT = r"""
module dut (input wire clk, input wire rst, input wire en,
            input wire signed [7:0] a, input wire signed [9:0] b, input wire [5:0] c,
            output reg signed [17:0] p0, output reg signed [15:0] p1, output reg [13:0] p2);
    reg signed [7:0] a0, a1;
    reg signed [9:0] b0, b1;
    reg [5:0] c0;
    reg go;
    always @(posedge clk) begin
        a0 <= a; b0 <= b; a1 <= a0; b1 <= b0; c0 <= c; go <= en;
        if (en) p0 <= a1 * b1;
        if (!go) p1 <= a0 * $signed(c0);
        if (rst) p2 <= 14'd0; else p2 <= c0 * b0[7:0];
    end
endmodule
"""

# gold (the RTL) and gate (the rewritten netlist) on the same random inputs; an output is compared once the
# RTL's value is defined (its registers start unknown; the netlist's start at 0): not X under Icarus, and
# equal in a second copy of the RTL (twin) under Verilator, whose unknowns start at random values
TESTBENCH = r"""
`timescale 1ns/1ps
module tb;
    reg clk = 0, rst = 1, en = 0;
    reg signed [7:0] a = 0; reg signed [9:0] b = 0; reg [5:0] c = 0;
    wire signed [17:0] g0, t0, n0; wire signed [15:0] g1, t1, n1; wire [13:0] g2, t2, n2;
    dut  gold (.clk(clk), .rst(rst), .en(en), .a(a), .b(b), .c(c), .p0(g0), .p1(g1), .p2(g2));
    dut  twin (.clk(clk), .rst(rst), .en(en), .a(a), .b(b), .c(c), .p0(t0), .p1(t1), .p2(t2));
    gate gate (.clk(clk), .rst(rst), .en(en), .a(a), .b(b), .c(c), .p0(n0), .p1(n1), .p2(n2));
    always #5 clk = !clk;
    integer i, errors = 0, checked = 0;
    initial begin
        for (i = 0; i < 4000; i = i + 1) begin
            @(negedge clk);
            if (!$isunknown(g0) && g0 === t0) begin checked = checked + 1; if (g0 !== n0) errors = errors + 1; end
            if (!$isunknown(g1) && g1 === t1) begin checked = checked + 1; if (g1 !== n1) errors = errors + 1; end
            if (!$isunknown(g2) && g2 === t2) begin checked = checked + 1; if (g2 !== n2) errors = errors + 1; end
            if (errors == 1 && (g0 !== n0 || g1 !== n1 || g2 !== n2))
                $display("cycle %0d: rtl %h %h %h netlist %h %h %h", i, g0, g1, g2, n0, n1, n2);
            a = $random; b = $random; c = $random; en = $random; rst = ($random % 16) == 0;
        end
        if (errors == 0 && checked > 10000) $display("PASS %0d comparisons", checked);
        else $display("FAIL %0d of %0d comparisons differ", errors, checked);
        $finish;
    end
endmodule
"""


@pytest.fixture(scope="module")
def netlists(tmp_path_factory: pytest.TempPathFactory, yosys: Callable[[str, Path], str]) -> tuple[Path, dict, dict]:
    work = tmp_path_factory.mktemp("dsp")
    (work / "dut.v").write_text(DUT)
    before, after, stats = synth_and_pass(yosys, work, rewrite_dsps)
    return work, before, {"netlist": after, "stats": stats}


def test_the_pass_moves_what_it_can_and_nothing_else(netlists: tuple[Path, dict, dict]) -> None:
    _, before, after = netlists
    stats = after["stats"]
    assert stats["mult18x18d"] == 3
    assert stats["output_ports_registered"] == 2            # u0 and u1; u2's register has a reset
    assert stats["input_ports_registered"] == 2             # u0's A and B; u1's come from ports
    assert stats["skipped"].get("A/B: flip-flops fed by logic or block RAM") == 2
    dsps = cells_of(after["netlist"], "MULT18X18D")
    regs = sorted((c["parameters"].get("REG_INPUTA_CLK", "NONE"), c["parameters"].get("REG_OUTPUT_CLK", "NONE"))
                  for c in dsps)
    assert regs == [("CLK0", "CLK0"), ("NONE", "CLK0"), ("NONE", "NONE")]
    # p0 (18 bits) and p1 (14: Yosys shares its sign-extension bits) left the fabric; a1 and b1 (18) are
    # read by nothing else any more
    ffs_before, ffs_after = len(cells_of(before, "TRELLIS_FF")), len(cells_of(after["netlist"], "TRELLIS_FF"))
    assert ffs_before - ffs_after == stats["flipflops_removed"] == 18 + 14 + 8 + 10
    assert len(cells_of(after["netlist"], "LUT4")) == len(cells_of(before, "LUT4")) + 1   # the inverter
    # the signed operands (u0: 8 x 10 bits, u1: 8 x 6) enter at the top of their ports, their low pins
    # constant; u2's unsigned ones stay where they were
    assert stats["operands_aligned"] == 4 and stats["sign_pins_tied"] == 10 + 8 + 10 + 12
    for dsp in dsps:
        conn = dsp["connections"]
        for port in ("A", "B"):
            pins = [conn[f"{port}{i}"][0] for i in range(18)]
            nets = [p for p in pins if p not in ("0", "1")]
            if conn[f"SIGNED{port}"] == ["1"]:
                assert len(nets) == len(set(nets)) and pins[17] == nets[-1] and set(pins[:18 - len(nets)]) == {"0"}
            else:
                assert pins[0] not in ("0", "1")


def _mult(a_bits: int, b_bits: int, p_read: int) -> dict:
    """One MULT18X18D of a signed a_bits x b_bits product (sign-extended by pin copies) whose P bits
    0..p_read-1 feed a LUT4 each."""
    conn: dict[str, list] = {"SIGNEDA": ["1"], "SIGNEDB": ["1"], "SOURCEA": ["0"], "SOURCEB": ["0"]}
    conn.update({f"A{i}": [100 + min(i, a_bits - 1)] for i in range(18)})
    conn.update({f"B{i}": [200 + min(i, b_bits - 1)] for i in range(18)})
    conn.update({f"P{i}": [300 + i] for i in range(36)})
    cells = {"m": {"type": "MULT18X18D", "parameters": {}, "connections": conn,
                   "port_directions": {**{p: "input" for p in conn if not p.startswith("P")},
                                       **{f"P{i}": "output" for i in range(36)}}}}
    for i in range(p_read):
        cells[f"l{i}"] = {"type": "LUT4", "parameters": {}, "port_directions": {"A": "input", "Z": "output"},
                          "connections": {"A": [300 + i], "Z": [400 + i]}}
    return {"modules": {"m": {"ports": {}, "cells": cells}}}


def test_operands_move_only_as_far_as_the_read_product_bits_allow() -> None:
    """A 8 x 8 product whose P is read up to bit 30 (Yosys kept sign copies of the product) may move up 5
    bits only: A moves 5 (it is first), B stays; P rotates by 5, so the read bits keep their nets."""
    netlist = _mult(8, 8, 31)
    stats = align_dsp_operands(netlist)
    conn = netlist["modules"]["m"]["cells"]["m"]["connections"]
    assert (stats.operands_aligned, stats.sign_pins_tied) == (1, 5)
    assert [conn[f"A{i}"][0] for i in range(18)] == ["0"] * 5 + [100 + min(i, 7) for i in range(13)]
    assert [conn[f"B{i}"][0] for i in range(18)] == [200 + min(i, 7) for i in range(18)]
    assert [conn[f"P{i + 5}"][0] for i in range(31)] == [300 + i for i in range(31)]
    # read up to bit 15 only: both move all the way (10 + 10 pins) and P by 20
    netlist = _mult(8, 8, 16)
    stats = align_dsp_operands(netlist)
    conn = netlist["modules"]["m"]["cells"]["m"]["connections"]
    assert (stats.operands_aligned, stats.sign_pins_tied) == (2, 20)
    assert [conn[f"P{i + 20}"][0] for i in range(16)] == [300 + i for i in range(16)]
    # B unsigned: only A moves (all the way), B keeps its pins
    netlist = _mult(8, 8, 16)
    netlist["modules"]["m"]["cells"]["m"]["connections"]["SIGNEDB"] = ["0"]
    assert align_dsp_operands(netlist).operands_aligned == 1


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_the_rewritten_netlist_equals_the_rtl_cycle_by_cycle(netlists: tuple[Path, dict, dict],
                                                            yosys: Callable[[str, Path], str], simulator: str) -> None:
    """The RTL and the pass's netlist side by side, 4,000 cycles of random inputs: every output equal on every
    cycle (once the RTL's registers hold defined values). The ECP5 cells are Yosys' own simulation models, the
    MULT18X18D the model in cell_models.py."""
    work, _, after = netlists
    gate = flatten(yosys, work, after["netlist"], "gate")
    output = run_testbench(simulator, work, f"tb_{simulator}", TESTBENCH, [work / "dut.v", gate])
    assert "PASS " in output, output[-3000:]


def test_a_netlist_without_multipliers_is_left_alone() -> None:
    netlist = {"modules": {"m": {"ports": {}, "cells": {
        "ff": {"type": "TRELLIS_FF", "parameters": {}, "port_directions": {"DI": "input", "Q": "output"},
               "connections": {"DI": [2], "Q": [3]}}}}}}
    stats = absorb_dsp_registers(netlist)
    assert stats.as_dict()["mult18x18d"] == 0 and "ff" in netlist["modules"]["m"]["cells"]
