// hist_mask.v: keeps a query's own history out of its top-K.
//
// The kernel's input stream is snooped: an id at position < LMAX of its packet and < N_ITEMS (exactly
// the ids hist_agg counts) sets its bit in the query's bank, one bank of N_ITEMS bits per query in
// flight. The scorer's rows pass through on their way to top-K: row r of a query carries items
// r*LANES + l, and lane l's valid bit (tuser) is cleared where the bank has the item; the row's bits
// are cleared as it passes, so the bank is empty again after the query's last row.
//
// NB banks bound the queries between the kernel input and this stage: in_allow is low while all NB
// are taken and a new packet would start (the kernel holds s_axis_tready low meanwhile).
// Pass-through is combinational (valid/ready/data; tuser through one mux of the bank row).
`default_nettype none

module hist_mask #(
    parameter integer N_ITEMS = 1682,
    parameter integer LANES   = 8,
    parameter integer ID_BITS = 11,    // ids >= N_ITEMS are ignored
    parameter integer LMAX    = 256,
    parameter integer NB      = 4,     // banks (queries in flight), a power of two >= 1
    parameter integer DATA_W  = 8      // scorer beat width, passed through
) (
    input  wire               ap_clk,
    input  wire               ap_rst_n,
    // snoop: a kernel input beat was accepted
    input  wire               in_fire,
    input  wire [ID_BITS-1:0] in_id,
    input  wire               in_last,
    output wire               in_allow,    // a new packet may start (or one is in progress)
    // scorer rows in, masked rows out
    input  wire [DATA_W-1:0]  s_axis_tdata,
    input  wire [LANES-1:0]   s_axis_tuser,
    input  wire               s_axis_tvalid,
    output wire               s_axis_tready,
    input  wire               s_axis_tlast,
    output wire [DATA_W-1:0]  m_axis_tdata,
    output wire [LANES-1:0]   m_axis_tuser,
    output wire               m_axis_tvalid,
    input  wire               m_axis_tready,
    output wire               m_axis_tlast
);
  localparam integer NROWS = (N_ITEMS + LANES - 1) / LANES;
  localparam integer NPAD  = NROWS * LANES;
  localparam integer BW    = (NB > 1) ? $clog2(NB) : 1;
  localparam integer PW    = $clog2(LMAX + 1);
  localparam integer RW    = (NROWS > 1) ? $clog2(NROWS) : 1;

  generate
    if ((1 << $clog2(NB)) != NB) begin : g_check_nb
      hist_mask_error_NB_not_a_power_of_two u_error ();
    end
  endgenerate

  reg  [NPAD-1:0] bank [0:NB-1];
  reg  [BW-1:0]   wb;          // bank of the packet being received
  reg  [BW-1:0]   rb;          // bank of the query being masked
  reg  [BW:0]     used;        // banks taken (packet started, last row not yet passed)
  reg             in_packet;   // a packet has started and not ended
  reg  [PW-1:0]   pos;         // ids of the current packet seen so far (saturates at LMAX)
  reg  [RW-1:0]   row;         // row of the query being masked

  wire [BW-1:0] wb_next = (NB == 1) ? {BW{1'b0}} : wb + 1'b1;   // NB = 1: a 1-bit index that stays 0
  wire [BW-1:0] rb_next = (NB == 1) ? {BW{1'b0}} : rb + 1'b1;
  wire start   = in_fire & ~in_packet;
  wire out_end = s_axis_tvalid & m_axis_tready & s_axis_tlast;
  wire counted = (pos < LMAX[PW-1:0]) & ({1'b0, in_id} < N_ITEMS[ID_BITS:0]);

  assign in_allow = in_packet | (used != NB[BW:0]);

  wire [LANES-1:0] row_bits = bank[rb][row*LANES +: LANES];
  assign m_axis_tdata  = s_axis_tdata;
  assign m_axis_tuser  = s_axis_tuser & ~row_bits;
  assign m_axis_tvalid = s_axis_tvalid;
  assign m_axis_tlast  = s_axis_tlast;
  assign s_axis_tready = m_axis_tready;

  integer b;
  always @(posedge ap_clk) begin
    if (!ap_rst_n) begin
      wb        <= {BW{1'b0}};
      rb        <= {BW{1'b0}};
      used      <= {(BW+1){1'b0}};
      in_packet <= 1'b0;
      pos       <= {PW{1'b0}};
      row       <= {RW{1'b0}};
      for (b = 0; b < NB; b = b + 1) bank[b] <= {NPAD{1'b0}};
    end else begin
      used <= used + {{BW{1'b0}}, start} - {{BW{1'b0}}, out_end};
      if (in_fire) begin
        if (counted) bank[wb][in_id] <= 1'b1;
        if (in_last) begin
          in_packet <= 1'b0;
          pos       <= {PW{1'b0}};
          wb        <= wb_next;
        end else begin
          in_packet <= 1'b1;
          if (pos != LMAX[PW-1:0]) pos <= pos + 1'b1;
        end
      end
      if (s_axis_tvalid & m_axis_tready) begin
        bank[rb][row*LANES +: LANES] <= {LANES{1'b0}};
        if (s_axis_tlast) begin
          row <= {RW{1'b0}};
          rb  <= rb_next;
        end else begin
          row <= row + 1'b1;
        end
      end
    end
  end
endmodule

`default_nettype wire
