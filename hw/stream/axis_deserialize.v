// axis_deserialize.v: N narrow AXI4-Stream beats -> one wide beat (the first beat in the low bits).
//
//   s_axis_tdata [W]    beat i of a group of N
//   m_axis_tdata [N*W]  beat i at [i*W +: W]
//
// Beats are counted (no tlast needed). The wide word moves to an output register when its last beat
// arrives, so the next group streams in while it waits: one narrow beat per cycle, no gap. Beat i is
// written into slot i whenever i is the next beat due, valid or not (a later write replaces it), and the
// output register loads whenever the last beat is due and it is free: no data enable depends on
// s_axis_tvalid (on the ECP5 the producer's valid into 1k enables was the critical path).
`default_nettype none

module axis_deserialize #(
    parameter integer N = 4,   // narrow beats per wide beat (>= 1)
    parameter integer W = 8
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
  localparam integer IW = (N > 1) ? $clog2(N) : 1;
  localparam integer LAST = N - 1;

  reg [N*W-1:0] out;
  reg           out_valid;
  reg [IW-1:0]  idx;

  wire at_end = (idx == LAST[IW-1:0]);
  wire s_fire = s_axis_tvalid & s_axis_tready;
  wire [N*W-1:0] word;     // the group as it stands: beats 0..N-2 collected, beat N-1 the input

  genvar i;
  generate
    if (N > 1) begin : g_slots
      reg [(N-1)*W-1:0] acc;
      for (i = 0; i < N - 1; i = i + 1) begin : g_slot
        localparam [IW-1:0] I = i;
        always @(posedge ap_clk) begin
          if (idx == I) acc[i*W +: W] <= s_axis_tdata;
        end
      end
      assign word = {s_axis_tdata, acc};
    end else begin : g_one
      assign word = s_axis_tdata;
    end
  endgenerate

  assign s_axis_tready = ~at_end | ~out_valid | m_axis_tready;
  assign m_axis_tvalid = out_valid;
  assign m_axis_tdata  = out;

  always @(posedge ap_clk) begin
    if (!ap_rst_n) begin
      idx       <= {IW{1'b0}};
      out_valid <= 1'b0;
    end else begin
      if (s_fire) idx <= at_end ? {IW{1'b0}} : idx + 1'b1;
      if (s_fire & at_end)        out_valid <= 1'b1;
      else if (m_axis_tready)     out_valid <= 1'b0;
    end
  end

  always @(posedge ap_clk) begin
    if (at_end & (~out_valid | m_axis_tready)) out <= word;
  end
endmodule

`default_nettype wire
