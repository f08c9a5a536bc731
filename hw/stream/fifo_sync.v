// fifo_sync.v: a small synchronous FIFO with AXI4-Stream handshakes (LUT RAM or registers).
// DEPTH entries (a power of two); m_axis_tdata shows the oldest entry while m_axis_tvalid is high.
`default_nettype none

module fifo_sync #(
    parameter integer W     = 8,
    parameter integer DEPTH = 8
) (
    input  wire         ap_clk,
    input  wire         ap_rst_n,
    input  wire [W-1:0] s_axis_tdata,
    input  wire         s_axis_tvalid,
    output wire         s_axis_tready,
    output wire [W-1:0] m_axis_tdata,
    output wire         m_axis_tvalid,
    input  wire         m_axis_tready
);
  localparam integer AW = (DEPTH > 1) ? $clog2(DEPTH) : 1;

  generate
    if ((1 << $clog2(DEPTH)) != DEPTH || DEPTH < 2) begin : g_check_depth
      fifo_sync_error_DEPTH_not_a_power_of_two_ge_2 u_error ();
    end
  endgenerate

  reg [W-1:0] mem [0:DEPTH-1];
  reg [AW:0]  wr, rd;

  wire full  = (wr[AW] != rd[AW]) & (wr[AW-1:0] == rd[AW-1:0]);
  wire empty = (wr == rd);

  assign s_axis_tready = ~full;
  assign m_axis_tvalid = ~empty;
  assign m_axis_tdata  = mem[rd[AW-1:0]];

  always @(posedge ap_clk) begin
    if (s_axis_tvalid & ~full) mem[wr[AW-1:0]] <= s_axis_tdata;
  end

  always @(posedge ap_clk) begin
    if (!ap_rst_n) begin
      wr <= {(AW+1){1'b0}};
      rd <= {(AW+1){1'b0}};
    end else begin
      if (s_axis_tvalid & ~full)  wr <= wr + 1'b1;
      if (m_axis_tready & ~empty) rd <= rd + 1'b1;
    end
  end
endmodule

`default_nettype wire
