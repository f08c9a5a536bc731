// axis_register.v: an AXI4-Stream register slice whose every output is a flip-flop.
//
// An output register and a skid register: the output side's tdata/tvalid and the input side's tready all
// leave flip-flops, so logic behind the slice starts at a register (fifo_sync's data comes out of a LUT RAM
// read behind its read pointer: in front of the kernel's id checks that was too slow for 100 MHz on the
// ECP5). One cycle, full throughput.
`default_nettype none

module axis_register #(
    parameter integer W = 8
) (
    input  wire         ap_clk,
    input  wire         ap_rst_n,
    input  wire [W-1:0] s_axis_tdata,
    input  wire         s_axis_tvalid,
    output wire         s_axis_tready,
    output reg  [W-1:0] m_axis_tdata,
    output reg          m_axis_tvalid,
    input  wire         m_axis_tready
);
  reg [W-1:0] skid;
  reg         skid_valid;
  wire        take     = s_axis_tvalid & ~skid_valid;      // a beat enters (tready: the skid register is free)
  wire        out_free = ~m_axis_tvalid | m_axis_tready;   // the output register is empty or being taken
  assign s_axis_tready = ~skid_valid;

  always @(posedge ap_clk) begin
    if (!ap_rst_n) begin
      m_axis_tvalid <= 1'b0;
      skid_valid    <= 1'b0;
    end else if (out_free) begin
      m_axis_tvalid <= skid_valid | take;
      skid_valid    <= 1'b0;
    end else if (take) begin
      skid_valid <= 1'b1;
    end
  end
  always @(posedge ap_clk) begin
    if (out_free) m_axis_tdata <= skid_valid ? skid : s_axis_tdata;
    if (!skid_valid) skid <= s_axis_tdata;
  end
endmodule

`default_nettype wire
