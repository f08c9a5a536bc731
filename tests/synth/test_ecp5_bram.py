"""The block-RAM output-register pass (hybrec.bitstream.ecp5_bram) on a small design through Yosys'
synth_ecp5: what it moves, what it leaves, and (simulated under Verilator, and Icarus Verilog where installed)
that the netlist after the pass behaves exactly as the netlist before it, cycle by cycle, under either
reading of the DP16KD's output enable."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from cell_models import cells_of, synth_and_pass
from netlist_sim import SIMULATORS, flatten, run_testbench

from hybrec.bitstream.ecp5_bram import absorb_bram_registers

pytestmark = [pytest.mark.synth]

# Each ROM is read into its block RAM's read register (r*) and copied into a fabric register (q*):
#   m0: read enable en_a, copy enable en_a           -> moves in (CE == the copy's enable)
#   m1: read every cycle, copy enable en_b           -> moves in (CE == 1)
#   m2: read enable en_a, copy enable en_b           -> stays (CE neither 1 nor the copy's enable)
#   m3: read every cycle, copy with a reset          -> stays
#   m4: 36 bits wide (pseudo-dual-port), copy on en_b -> moves in, both halves
#   m5: read every cycle, copy on !en_b              -> moves in, a LUT inverts the enable
#   m6: read every cycle, plus one (logic)           -> stays
#   m7: read every cycle, copy into a multiplier     -> stays (the half-way register to the DSP row)
DUT = r"""
module dut (input wire clk, input wire rst, input wire en_a, input wire en_b,
            input wire [8:0] a0, input wire [8:0] a1, input wire [8:0] a2, input wire [8:0] a3,
            input wire [8:0] a4, input wire [8:0] a5, input wire [8:0] a6, input wire [8:0] a7,
            input wire [7:0] b7,
            output reg [15:0] q0, output reg [15:0] q1, output reg [15:0] q2, output reg [15:0] q3,
            output reg [35:0] q4, output reg [15:0] q5, output reg [15:0] q6, output reg [23:0] q7);
    (* rom_style = "block" *) reg [15:0] m0 [0:511];
    (* rom_style = "block" *) reg [15:0] m1 [0:511];
    (* rom_style = "block" *) reg [15:0] m2 [0:511];
    (* rom_style = "block" *) reg [15:0] m3 [0:511];
    (* rom_style = "block" *) reg [35:0] m4 [0:511];
    (* rom_style = "block" *) reg [15:0] m5 [0:511];
    (* rom_style = "block" *) reg [15:0] m6 [0:511];
    (* rom_style = "block" *) reg [15:0] m7 [0:511];
    initial begin
        $readmemh("m16_0.hex", m0); $readmemh("m16_1.hex", m1); $readmemh("m16_2.hex", m2);
        $readmemh("m16_3.hex", m3); $readmemh("m36.hex", m4); $readmemh("m16_5.hex", m5);
        $readmemh("m16_6.hex", m6); $readmemh("m16_7.hex", m7);
    end
    reg [8:0] ra0, ra1, ra2, ra3, ra4, ra5, ra6, ra7;
    reg [15:0] r0, r1, r2, r3, r5, r6, r7, c7;
    reg [35:0] r4;
    always @(posedge clk) begin
        ra0 <= a0; ra1 <= a1; ra2 <= a2; ra3 <= a3; ra4 <= a4; ra5 <= a5; ra6 <= a6; ra7 <= a7;
        if (en_a) r0 <= m0[ra0];
        r1 <= m1[ra1];
        if (en_a) r2 <= m2[ra2];
        r3 <= m3[ra3];
        r4 <= m4[ra4];
        r5 <= m5[ra5];
        r6 <= m6[ra6];
        r7 <= m7[ra7];
        if (en_a) q0 <= r0;
        if (en_b) q1 <= r1;
        if (en_b) q2 <= r2;
        if (rst) q3 <= 16'd0; else q3 <= r3;
        if (en_b) q4 <= r4;
        if (!en_b) q5 <= r5;
        q6 <= r6 + 16'd1;
        c7 <= r7;
        q7 <= c7 * b7;
    end
endmodule
"""

TESTBENCH = r"""
`timescale 1ns/1ps
module tb;
    reg clk = 0, rst = 0, en_a = 0, en_b = 0;
    reg [8:0] a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
    reg [7:0] b7 = 0;
    wire [15:0] b0, b1, b2, b3, b5, b6, n0, n1, n2, n3, n5, n6;
    wire [35:0] b4, n4;
    wire [23:0] g7, n7;
    gate_before u_before (.clk(clk), .rst(rst), .en_a(en_a), .en_b(en_b), .a0(a0), .a1(a1), .a2(a2), .a3(a3),
                     .a4(a4), .a5(a5), .a6(a6), .a7(a7), .b7(b7), .q0(b0), .q1(b1), .q2(b2), .q3(b3), .q4(b4),
                     .q5(b5), .q6(b6), .q7(g7));
    gate_after u_after (.clk(clk), .rst(rst), .en_a(en_a), .en_b(en_b), .a0(a0), .a1(a1), .a2(a2), .a3(a3),
                   .a4(a4), .a5(a5), .a6(a6), .a7(a7), .b7(b7), .q0(n0), .q1(n1), .q2(n2), .q3(n3), .q4(n4),
                   .q5(n5), .q6(n6), .q7(n7));
    always #5 clk = !clk;
    integer i, errors = 0, changes = 0;
    reg [171:0] prev = 0;
    initial begin
        for (i = 0; i < 4000; i = i + 1) begin
            @(negedge clk);
            if ({b0, b1, b2, b3, b4, b5, b6, g7} !== {n0, n1, n2, n3, n4, n5, n6, n7}) begin
                errors = errors + 1;
                if (errors < 4) $display("cycle %0d: before %h %h %h %h %h %h %h %h after %h %h %h %h %h %h %h %h",
                                         i, b0, b1, b2, b3, b4, b5, b6, g7, n0, n1, n2, n3, n4, n5, n6, n7);
            end
            if ({b0, b1, b2, b3, b4, b5, b6, g7} !== prev) changes = changes + 1;
            prev = {b0, b1, b2, b3, b4, b5, b6, g7};
            a0 = $random; a1 = $random; a2 = $random; a3 = $random; a4 = $random; a5 = $random; a6 = $random;
            a7 = $random; b7 = $random;
            en_a = $random; en_b = $random; rst = ($random % 8) == 0;
        end
        if (errors == 0 && changes > 3000) $display("PASS %0d cycles, outputs changed on %0d", i, changes);
        else $display("FAIL %0d cycles differ (outputs changed on %0d)", errors, changes);
        $finish;
    end
endmodule
"""


def write_roms(work: Path) -> None:
    for name, width in [(f"m16_{i}", 16) for i in (0, 1, 2, 3, 5, 6, 7)] + [("m36", 36)]:
        seed = sum(map(ord, name))
        words = [((a * 2654435761 + seed * 40503) >> 3) % (1 << width) for a in range(512)]
        (work / f"{name}.hex").write_text("".join(f"{w:0{(width + 3) // 4}x}\n" for w in words))


@pytest.fixture(scope="module")
def netlists(tmp_path_factory: pytest.TempPathFactory, yosys: Callable[[str, Path], str]) -> tuple[Path, dict, dict]:
    work = tmp_path_factory.mktemp("bram")
    (work / "dut.v").write_text(DUT)
    write_roms(work)
    before, after, stats = synth_and_pass(yosys, work, absorb_bram_registers)
    return work, before, {"netlist": after, "stats": stats}


def test_the_pass_moves_what_it_can_and_nothing_else(netlists: tuple[Path, dict, dict]) -> None:
    _, before, after = netlists
    stats = after["stats"]
    rams = cells_of(after["netlist"], "DP16KD")
    assert stats["dp16kd"] == len(rams) == 8
    assert stats["read_ports_registered"] == 4                      # m0, m1, m4 (one port, 36 bits), m5
    assert stats["skipped"] == {"data out: not only into a flip-flop": 1,            # m6
                                "flip-flops feed a multiplier": 1,                   # m7
                                "flip-flops differ or have set/reset": 1,            # m3
                                "read enable is neither 1 nor the flip-flops' enable": 1}   # m2
    ffs_before, ffs_after = len(cells_of(before, "TRELLIS_FF")), len(cells_of(after["netlist"], "TRELLIS_FF"))
    assert ffs_before - ffs_after == stats["flipflops_removed"] == 16 + 16 + 36 + 16
    assert len(cells_of(after["netlist"], "LUT4")) == len(cells_of(before, "LUT4")) + 1   # m5's inverter
    wide = [c for c in rams if int(str(c["parameters"]["DATA_WIDTH_A"]), 2) == 36]
    assert len(wide) == 1 and wide[0]["parameters"]["REGMODE_A"] == wide[0]["parameters"]["REGMODE_B"] == "OUTREG"
    assert wide[0]["connections"]["OCEA"] == wide[0]["connections"]["OCEB"] != ["1"]
    assert sorted(str(c["parameters"]["REGMODE_A"]).strip() for c in rams).count("OUTREG") == 4
    # a second run finds every output register taken
    again = json.loads(json.dumps(after["netlist"]))
    redo = absorb_bram_registers(again).as_dict()
    assert redo["read_ports_registered"] == 0 and redo["skipped"]["output register already in use"] == 4


@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("reading", ["oce", "oce_and_ce"])
def test_the_rewritten_netlist_equals_the_original_cycle_by_cycle(
        netlists: tuple[Path, dict, dict], yosys: Callable[[str, Path], str], reading: str, simulator: str) -> None:
    """The netlist before and after the pass side by side, 4,000 cycles of random addresses, enables and
    resets: every output equal on every cycle, with the output register enabled by OCE alone and by OCE and
    CE together."""
    work, before, after = netlists
    define = "OUTREG_NEEDS_CE" if reading == "oce_and_ce" else ""
    gates = [flatten(yosys, work, netlist, f"gate_{name}", define)
             for name, netlist in (("before", before), ("after", after["netlist"]))]
    output = run_testbench(simulator, work, f"tb_{reading}_{simulator}", TESTBENCH, gates)
    assert "PASS " in output, output[-3000:]
