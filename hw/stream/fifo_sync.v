// fifo_sync.v: a small synchronous FIFO with AXI4-Stream handshakes (LUT RAM or registers).
// DEPTH entries (a power of two); m_axis_tdata shows the oldest entry while m_axis_tvalid is high.
// Both handshakes leave from flip-flops, so a DEPTH-2 instance is a register slice between two blocks
// (one cycle, full throughput): no valid/ready chain runs from one block's logic into the other's.
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
  // Both flags are registers (computed from the next pointers): the handshakes leave this FIFO straight
  // from flip-flops, so no ready/valid chain runs through it into the enables on either side.
  reg         full, empty;

  wire push = s_axis_tvalid & ~full;
  wire pop  = m_axis_tready & ~empty;
  wire [AW:0] wr_next = wr + {{AW{1'b0}}, push};
  wire [AW:0] rd_next = rd + {{AW{1'b0}}, pop};

  assign s_axis_tready = ~full;
  assign m_axis_tvalid = ~empty;
  assign m_axis_tdata  = mem[rd[AW-1:0]];

  // Written whenever there is room, valid or not: entry wr is free until a push moves wr past it (a beat
  // that does arrive overwrites it), so s_axis_tvalid reaches no data enable.
  always @(posedge ap_clk) begin
    if (~full) mem[wr[AW-1:0]] <= s_axis_tdata;
  end

  always @(posedge ap_clk) begin
    if (!ap_rst_n) begin
      wr    <= {(AW+1){1'b0}};
      rd    <= {(AW+1){1'b0}};
      full  <= 1'b0;
      empty <= 1'b1;
    end else begin
      wr    <= wr_next;
      rd    <= rd_next;
      full  <= (wr_next[AW] != rd_next[AW]) & (wr_next[AW-1:0] == rd_next[AW-1:0]);
      empty <= (wr_next == rd_next);
    end
  end
endmodule

`default_nettype wire
