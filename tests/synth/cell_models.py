"""What the netlist-pass tests share: behavioural models of the ECP5 hard blocks the passes touch (Yosys
ships MULT18X18D and DP16KD as black boxes only; the register features the passes use, not the whole
primitives) for simulating Yosys netlists (netlist_sim.py), and a design synthesised before and after a
pass."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Behaviour of the MULT18X18D features the pass uses (Yosys ships the cell as a black box only): A/B and P
# registers on CLK0 with a selectable enable, synchronous reset, SIGNEDA/SIGNEDB.
MULT_MODEL = r"""
module MULT18X18D #(
    parameter REG_INPUTA_CLK = "NONE", parameter REG_INPUTA_CE = "CE0", parameter REG_INPUTA_RST = "RST0",
    parameter REG_INPUTB_CLK = "NONE", parameter REG_INPUTB_CE = "CE0", parameter REG_INPUTB_RST = "RST0",
    parameter REG_OUTPUT_CLK = "NONE", parameter REG_OUTPUT_CE = "CE0", parameter REG_OUTPUT_RST = "RST0"
) (
    {ports}
);
    wire [17:0] A = {{{a_bits}}};
    wire [17:0] B = {{{b_bits}}};
    wire [3:0] CE = {{CE3, CE2, CE1, CE0}};
    wire [3:0] RST = {{RST3, RST2, RST1, RST0}};
    function integer idx; input [8*4-1:0] name; begin idx = name[7:0] - 8'd48; end endfunction
    reg [17:0] ar, br;
    reg [35:0] pr;
    always @(posedge CLK0) begin
        if (RST[idx(REG_INPUTA_RST)]) ar <= 18'd0; else if (CE[idx(REG_INPUTA_CE)]) ar <= A;
        if (RST[idx(REG_INPUTB_RST)]) br <= 18'd0; else if (CE[idx(REG_INPUTB_CE)]) br <= B;
    end
    wire [17:0] ai = (REG_INPUTA_CLK == "NONE") ? A : ar;
    wire [17:0] bi = (REG_INPUTB_CLK == "NONE") ? B : br;
    wire signed [18:0] ax = {{SIGNEDA & ai[17], ai}};
    wire signed [18:0] bx = {{SIGNEDB & bi[17], bi}};
    wire signed [37:0] prod = ax * bx;
    always @(posedge CLK0) begin
        if (RST[idx(REG_OUTPUT_RST)]) pr <= 36'd0; else if (CE[idx(REG_OUTPUT_CE)]) pr <= prod[35:0];
    end
    wire [35:0] P = (REG_OUTPUT_CLK == "NONE") ? prod[35:0] : pr;
    assign {{{p_bits}}} = P;
endmodule
"""


# Behaviour of the DP16KD features the pass touches (Yosys ships the cell as a black box only): a read
# register on CE (reset by RST), an output register on OCE where REGMODE is OUTREG (also gated by CE with
# OUTREG_NEEDS_CE, the other reading of the data sheet), the 36-bit mode read on port B's clock. Words sit
# at whole 14-bit addresses, their contents a fixed function of INITVAL_* and the address: not the
# silicon's bit layout, but the same cell for the netlists before and after the pass, which is what the
# comparison needs.
BRAM_MODEL = r"""
module DP16KD #(
    parameter DATA_WIDTH_A = 18, parameter DATA_WIDTH_B = 18,
    parameter REGMODE_A = "NOREG", parameter REGMODE_B = "NOREG",
    parameter CLKAMUX = "CLKA", parameter CLKBMUX = "CLKB", parameter WRITEMODE_A = "NORMAL",
    parameter WRITEMODE_B = "NORMAL", parameter CSDECODE_A = "0b000", parameter CSDECODE_B = "0b000",
    parameter GSR = "ENABLED", parameter RESETMODE = "SYNC", parameter ASYNC_RESET_RELEASE = "SYNC",
    {initvals}
) (
    {ports}
);
    localparam [64*320-1:0] INIT = {{{init_concat}}};
    localparam PDP = (DATA_WIDTH_A == 36);
    wire [13:0] ada = {{{ada}}};
    wire [13:0] adb = {{{adb}}};
    function [17:0] word; input [13:0] a; input integer half;
        word = INIT[((a * 37 + half * 4093) % (64 * 320 - 18)) +: 18] ^ {{a, 4'b0}};
    endfunction
    reg [17:0] la, lb, oa, ob;
    wire clk_a = PDP ? CLKB : CLKA;
    wire ce_a  = PDP ? CEB : CEA;
    wire [13:0] ra = PDP ? adb : ada;
    always @(posedge clk_a) begin
        if (RSTA) la <= 18'd0; else if (ce_a) la <= word(ra, 0);
`ifdef OUTREG_NEEDS_CE
        if (OCEA && ce_a) oa <= la;
`else
        if (OCEA) oa <= la;
`endif
    end
    always @(posedge CLKB) begin
        if (RSTB) lb <= 18'd0; else if (CEB) lb <= word(adb, PDP ? 1 : 2);
`ifdef OUTREG_NEEDS_CE
        if (OCEB && CEB) ob <= lb;
`else
        if (OCEB) ob <= lb;
`endif
    end
    wire [17:0] da = (REGMODE_A == "OUTREG") ? oa : la;
    wire [17:0] db = (REGMODE_B == "OUTREG") ? ob : lb;
    assign {{{doa}}} = da;
    assign {{{dob}}} = db;
    initial begin la = 0; lb = 0; oa = 0; ob = 0; end
endmodule
"""

def mult_model() -> str:
    names = ([f"{k}{i}" for k in "ABC" for i in range(18)] + ["SIGNEDA", "SIGNEDB", "SOURCEA", "SOURCEB"]
             + [f"{k}{i}" for k in ("CLK", "CE", "RST") for i in range(4)])
    ports = ", ".join([f"input wire {n}" for n in names] + [f"output wire P{i}" for i in range(36)])
    return MULT_MODEL.format(ports=ports, a_bits=", ".join(f"A{i}" for i in reversed(range(18))),
                             b_bits=", ".join(f"B{i}" for i in reversed(range(18))),
                             p_bits=", ".join(f"P{i}" for i in reversed(range(36))))



def bram_model() -> str:
    ins = ([f"AD{p}{i}" for p in "AB" for i in range(14)] + [f"DI{p}{i}" for p in "AB" for i in range(18)]
           + [f"{s}{p}" for p in "AB" for s in ("CE", "OCE", "CLK", "WE", "RST")]
           + [f"CS{p}{i}" for p in "AB" for i in range(3)])
    ports = ", ".join([f"input wire {n}" for n in ins] + [f"output wire DO{p}{i}" for p in "AB" for i in range(18)])
    initvals = ", ".join(f"parameter [319:0] INITVAL_{i:02X} = 320'd0" for i in range(64))
    return BRAM_MODEL.format(
        initvals=initvals, ports=ports, init_concat=", ".join(f"INITVAL_{i:02X}" for i in reversed(range(64))),
        ada=", ".join(f"ADA{i}" for i in reversed(range(14))), adb=", ".join(f"ADB{i}" for i in reversed(range(14))),
        doa=", ".join(f"DOA{i}" for i in reversed(range(18))), dob=", ".join(f"DOB{i}" for i in reversed(range(18))))


def synth_and_pass(yosys: Callable[[str, Path], str], work: Path,
                   apply: Callable[[dict], Any]) -> tuple[dict, dict, dict]:
    """``work/dut.v`` through synth_ecp5; (the netlist, the netlist after ``apply``, its stats as a dict)."""
    yosys("read_verilog dut.v\nsynth_ecp5 -top dut -json synth.json\n", work)
    before = json.loads((work / "synth.json").read_text())
    after = json.loads((work / "synth.json").read_text())
    stats = apply(after)
    return before, after, stats.as_dict()


def cells_of(netlist: dict, kind: str) -> list[dict]:
    return [c for c in netlist["modules"]["dut"]["cells"].values() if c["type"] == kind]
