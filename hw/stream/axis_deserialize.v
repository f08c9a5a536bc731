// axis_deserialize.v: N narrow AXI4-Stream beats -> one wide beat (the first beat in the low bits).
//
//   s_axis_tdata [W]    beat i of a group of N
//   m_axis_tdata [N*W]  beat i at [i*W +: W]
//
// Beats are counted (no tlast needed). Every beat goes into its slot; a complete group moves to the output
// register at the next edge where that register is free, so the next group streams in while it waits: one
// narrow beat per cycle, no gap, and the wide beat is valid from the edge after the one that took its last
// narrow beat.
// Only while a complete group waits for a busy output register does the input stall. The input beat reaches
// the slots only (the producer's register into the slots and the 256-bit output register, placed by the
// consumer, is too long a net for 100 MHz on the ECP5), and every enable is a flip-flop computed from next
// values: no data enable depends on s_axis_tvalid or m_axis_tready.
`default_nettype none

module axis_deserialize #(
    parameter integer N = 4,   // narrow beats per wide beat (>= 1)
    parameter integer W = 8,
    parameter integer G = 64   // output bits per copy of the load enable
) (
    input  wire           ap_clk,
    input  wire           ap_rst_n,
    input  wire [W-1:0]   s_axis_tdata,
    input  wire           s_axis_tvalid,
    output wire           s_axis_tready,
    output wire [N*W-1:0] m_axis_tdata,
    output wire           m_axis_tvalid,
    input  wire           m_axis_tready
);
  localparam integer IW   = (N > 1) ? $clog2(N) : 1;
  localparam integer LAST = N - 1;
  localparam integer NB   = N * W;
  localparam integer NG   = (NB + G - 1) / G;   // copies of the output register's load enable

  generate
    if (G < 1) begin : g_check_g
      axis_deserialize_error_G_must_be_positive u_error ();
    end
  endgenerate

  reg [NB-1:0] acc;         // slot i at [i*W +: W]
  reg [NB-1:0] out;
  reg          out_valid;
  reg          pend;        // acc holds a complete group that has not moved to out
  reg [IW-1:0] idx;         // the slot of the next beat

  wire at_end  = (idx == LAST[IW-1:0]);
  wire ready   = ~(pend & out_valid);
  wire s_fire  = s_axis_tvalid & ready;
  wire load    = pend & ~out_valid;               // the group moves to out at this edge

  // next values
  wire [IW-1:0] idx_n       = !ap_rst_n ? {IW{1'b0}} : (s_fire ? (at_end ? {IW{1'b0}} : idx + 1'b1) : idx);
  wire          pend_n      = ap_rst_n & ((s_fire & at_end) | (pend & ~load));
  wire          out_valid_n = ap_rst_n & (load | (out_valid & ~m_axis_tready));
  wire          ready_n     = ~(pend_n & out_valid_n);

  assign s_axis_tready = ready;
  assign m_axis_tvalid = out_valid;
  assign m_axis_tdata  = out;

  always @(posedge ap_clk) begin
    idx       <= idx_n;
    pend      <= pend_n;
    out_valid <= out_valid_n;
  end

  // Slot i is written whenever it is the next beat's and the input is ready, valid or not (a later write
  // replaces it): its enable is a register, (idx == i) & ready of this cycle. `keep`: Yosys merges equal
  // flip-flops (the load enables below are copies of one another).
  genvar i, g;
  generate
    for (i = 0; i < N; i = i + 1) begin : g_slot
      localparam [IW-1:0] I = i;
      reg en;
      (* keep *) always @(posedge ap_clk) en <= (idx_n == I) & ready_n;
      always @(posedge ap_clk) begin
        if (en) acc[i*W +: W] <= s_axis_tdata;
      end
    end
    for (g = 0; g < NG; g = g + 1) begin : g_out
      localparam integer LO = g * G;
      localparam integer GB = (NB - LO < G) ? NB - LO : G;
      reg ld;               // == load
      (* keep *) always @(posedge ap_clk) ld <= pend_n & ~out_valid_n;
      always @(posedge ap_clk) begin
        if (ld) out[LO +: GB] <= acc[LO +: GB];
      end
    end
  endgenerate
endmodule

`default_nettype wire
