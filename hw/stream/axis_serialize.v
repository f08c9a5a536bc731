// axis_serialize.v: one wide AXI4-Stream beat -> N narrow beats (element 0 first), tlast on the last.
//
//   s_axis_tdata [N*W]  element i at [i*W +: W]
//   m_axis_tdata [W]    beat i carries element i; m_axis_tlast on beat N-1
//
// One narrow beat per cycle; a wide word is taken only while the serializer is empty, so back-to-back
// words have one idle cycle between them (N + 1 cycles per word). s_axis_tready, m_axis_tvalid and the
// data come from registers.
`default_nettype none

module axis_serialize #(
    parameter integer N = 4,   // narrow beats per wide beat (>= 1)
    parameter integer W = 8    // narrow beat width
) (
    input  wire           ap_clk,
    input  wire           ap_rst_n,
    input  wire [N*W-1:0] s_axis_tdata,
    input  wire           s_axis_tvalid,
    output wire           s_axis_tready,
    output wire [W-1:0]   m_axis_tdata,
    output wire           m_axis_tvalid,
    input  wire           m_axis_tready,
    output wire           m_axis_tlast
);
  localparam integer IW = (N > 1) ? $clog2(N) : 1;
  localparam integer LAST = N - 1;

  reg [N*W-1:0] word;
  reg           full;
  reg [IW-1:0]  idx;

  wire m_fire = full & m_axis_tready;
  wire at_end = (idx == LAST[IW-1:0]);

  // Ready only while empty: no ready chain runs from the consumer through here into the producer.
  assign s_axis_tready = ~full;
  assign m_axis_tvalid = full;
  assign m_axis_tdata  = word[W-1:0];
  assign m_axis_tlast  = at_end;

  always @(posedge ap_clk) begin
    if (!ap_rst_n) begin
      full <= 1'b0;
      idx  <= {IW{1'b0}};
    end else if (s_axis_tvalid & s_axis_tready) begin
      full <= 1'b1;
      idx  <= {IW{1'b0}};
    end else if (m_fire) begin
      full <= ~at_end;
      idx  <= idx + 1'b1;
    end
  end

  // Element i sits at the bottom after i shifts. While empty the word follows s_axis_tdata, so the load
  // that takes a beat is the same edge and the word's enable depends on this block's registers, not on
  // s_axis_tvalid (on the ECP5 the producer's valid into 768 enables was a 6 ns net).
  always @(posedge ap_clk) begin
    if (!full)       word <= s_axis_tdata;
    else if (m_fire) word <= word >> W;
  end
endmodule

`default_nettype wire
